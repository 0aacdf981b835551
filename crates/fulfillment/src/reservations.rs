//! Reservations: confirming an order reserves each stock line in its sourcing
//! warehouse in the same transaction (what cannot be reserved is back-ordered and
//! reserved automatically when stock arrives there, oldest requested date first);
//! reservations can also be made, moved and released by hand. Every reservation goes
//! through the conditional UPDATE in [`crate::stock`], so reserved never exceeds on
//! hand; every change of an order line's stock runs with the order's row and the
//! balances it touches locked (see [`crate::holdings`]).

use diesel::prelude::*;
use ordo_core::time_util::now;
use ordo_core::util::{check_version, to_json};
use ordo_core::{Caller, DomainError, FieldError, Page, PageRequest, Permission, Quantity, Result, Scope};
use ordo_db::audit;
use ordo_db::schema::{customers, deliveries, order_line_stock, reservations, sales_orders};
use ordo_db::DbConnection;
use ordo_sales_docs::lines;
use ordo_sales_docs::orders::{self, SalesOrder};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use time::{Date, OffsetDateTime, PrimitiveDateTime};
use validator::Validate;

use crate::holdings::{self, Holdings};
use crate::stock;

pub const ENTITY: &str = "reservation";

/// Stock a receipt (or release) reserved for a back-ordered order line.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Allocation {
    pub sales_order_id: i64,
    pub line_id: i64,
    pub quantity: Quantity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReservationStatus {
    Active,
    Released,
    /// Delivered (shipping consumes the reservation).
    Consumed,
}

impl ReservationStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Released => "released",
            Self::Consumed => "consumed",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        [Self::Active, Self::Released, Self::Consumed].into_iter().find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = reservations, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct ReservationRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub item_id: i64,
    pub warehouse_id: i64,
    pub quantity: i64,
    pub order_line_id: Option<i64>,
    pub sales_order_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub note: Option<String>,
    pub status: String,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

/// Stock held for an order line or a customer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Reservation {
    pub id: i64,
    pub item_id: i64,
    pub warehouse_id: i64,
    /// In the item's base unit.
    pub quantity: Quantity,
    pub order_line_id: Option<i64>,
    pub sales_order_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub note: Option<String>,
    pub status: ReservationStatus,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl ReservationRow {
    pub fn to_model(&self) -> Result<Reservation> {
        Ok(Reservation {
            id: self.id,
            item_id: self.item_id,
            warehouse_id: self.warehouse_id,
            quantity: Quantity::from_scaled(self.quantity),
            order_line_id: self.order_line_id,
            sales_order_id: self.sales_order_id,
            customer_id: self.customer_id,
            note: self.note.clone(),
            status: ReservationStatus::parse(&self.status)
                .ok_or_else(|| DomainError::Internal(format!("reservation {}: status", self.id)))?,
            version: self.version,
            created_at: self.created_at.assume_utc(),
            updated_at: self.updated_at.assume_utc(),
        })
    }
}

fn new_row(
    item: i64,
    wh: i64,
    q: i64,
    line: Option<(i64, i64)>,
    customer: Option<i64>,
    note: Option<String>,
) -> ReservationRow {
    let ts = now();
    ReservationRow {
        id: 0,
        item_id: item,
        warehouse_id: wh,
        quantity: q,
        order_line_id: line.map(|l| l.0),
        sales_order_id: line.map(|l| l.1),
        customer_id: customer,
        note,
        status: ReservationStatus::Active.as_str().into(),
        version: 1,
        created_at: ts,
        updated_at: ts,
    }
}

/// An active reservation of an order line.
pub(crate) fn line_hold(item: i64, wh: i64, q: i64, line: i64, order: i64, customer: i64) -> ReservationRow {
    new_row(item, wh, q, Some((line, order)), Some(customer), None)
}

// ---- order lines ---------------------------------------------------------------------------

/// The stock side of a confirmed order line.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = order_line_stock, treat_none_as_default_value = false)]
pub struct LineStockRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub line_id: i64,
    pub sales_order_id: i64,
    pub item_id: i64,
    pub warehouse_id: i64,
    pub requested_date: Date,
    pub ordered: i64,
    pub reserved: i64,
    pub backordered: i64,
    pub delivered: i64,
    pub returned: i64,
    pub promised_date: Option<Date>,
    pub version: i64,
}

/// Where one order line stands (base units): reserved + back-ordered + delivered =
/// ordered (more only while an open delivery carries more than was ordered, within the
/// item's over-delivery tolerance).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LineStock {
    pub line_id: i64,
    pub item_id: i64,
    /// The sourcing warehouse: confirmation reserved here, and back-orders wait here
    /// for stock to arrive.
    pub warehouse_id: i64,
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub requested_date: Date,
    pub ordered: Quantity,
    pub reserved: Quantity,
    pub backordered: Quantity,
    pub delivered: Quantity,
    pub returned: Quantity,
    /// The part of `reserved` that open (draft or picked) deliveries carry.
    pub on_delivery: Quantity,
    /// Where the reserved stock is held: one entry per warehouse.
    pub warehouses: Vec<LineStockWarehouse>,
    #[serde(serialize_with = "ordo_core::serde_util::date::option::serialize")]
    #[schema(value_type = Option<String>, format = Date)]
    pub promised_date: Option<Date>,
}

/// What an order line holds in one warehouse.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LineStockWarehouse {
    pub warehouse_id: i64,
    pub reserved: Quantity,
    /// Of that, on open deliveries from this warehouse.
    pub on_delivery: Quantity,
}

impl LineStockRow {
    fn to_model(&self, h: &Holdings) -> LineStock {
        LineStock {
            line_id: self.line_id,
            item_id: self.item_id,
            warehouse_id: self.warehouse_id,
            requested_date: self.requested_date,
            ordered: Quantity::from_scaled(self.ordered),
            reserved: Quantity::from_scaled(self.reserved),
            backordered: Quantity::from_scaled(self.backordered),
            delivered: Quantity::from_scaled(self.delivered),
            returned: Quantity::from_scaled(self.returned),
            on_delivery: Quantity::from_scaled(h.carried_total(self.line_id)),
            warehouses: h
                .warehouses(self.line_id)
                .into_iter()
                .map(|w| LineStockWarehouse {
                    warehouse_id: w,
                    reserved: Quantity::from_scaled(h.held(self.line_id, w)),
                    on_delivery: Quantity::from_scaled(h.carried(self.line_id, w)),
                })
                .collect(),
            promised_date: self.promised_date,
        }
    }
}

/// The warehouse each stock line of an order is sourced from: the line's own, else the
/// order's, else the customer's default, else the company's default warehouse.
/// `customer_default`: the customer's default warehouse when the caller has read it.
pub(crate) fn sourcing(
    conn: &mut DbConnection,
    order: &SalesOrder,
    stock_lines: &[&lines::LineRow],
    customer_default: Option<Option<i64>>,
) -> Result<HashMap<i64, i64>> {
    let customer_default: Option<i64> =
        if stock_lines.iter().any(|l| l.warehouse_id.is_none()) && order.warehouse_id.is_none() {
            match customer_default {
                Some(d) => d,
                None => customers::table.find(order.customer_id).select(customers::default_warehouse_id).first(conn)?,
            }
        } else {
            None
        };
    let fallback = order.warehouse_id.or(customer_default);
    let company = if stock_lines.iter().any(|l| l.warehouse_id.or(fallback).is_none()) {
        Some(stock::default_warehouse(conn)?)
    } else {
        None
    };
    let out: HashMap<i64, i64> =
        stock_lines.iter().map(|l| (l.id, l.warehouse_id.or(fallback).or(company).unwrap_or_default())).collect();
    // A warehouse named when the order was written may have been deactivated since.
    let mut named: Vec<(String, i64)> = out.values().map(|w| ("warehouse_id".to_string(), *w)).collect();
    named.sort();
    named.dedup();
    ordo_db::refs::sellable_warehouses(conn, &named)?;
    Ok(out)
}

/// Approved → in execution, each stock line reserved in its sourcing warehouse, in one
/// transaction. What is missing is back-ordered there.
pub fn confirm(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<SalesOrder> {
    let orders::Confirmed { order, lines: doc_lines, default_warehouse_id, stock_items } =
        orders::confirm_with_lines(conn, caller, id, if_match)?;
    let stock_lines: Vec<&lines::LineRow> = doc_lines.iter().filter(|l| stock_items.contains(&l.item_id)).collect();
    if stock_lines.is_empty() {
        return Ok(order);
    }
    let wh = sourcing(conn, &order, &stock_lines, Some(default_warehouse_id))?;
    let pairs: Vec<(i64, i64)> = stock_lines.iter().map(|l| (l.item_id, wh[&l.id])).collect();
    let balances = stock::lock_balances(conn, &pairs, false)?;
    let mut free: HashMap<(i64, i64), i64> = balances.iter().map(|(k, (h, r))| (*k, h - r)).collect();
    let mut taken: HashMap<(i64, i64), i64> = HashMap::new();
    let mut line_rows = vec![];
    let mut holds = vec![];
    for l in stock_lines {
        let key = (l.item_id, wh[&l.id]);
        let left = free.entry(key).or_default();
        let got = (*left).clamp(0, l.base_quantity);
        *left -= got;
        *taken.entry(key).or_default() += got;
        line_rows.push(LineStockRow {
            id: 0,
            line_id: l.id,
            sales_order_id: id,
            item_id: l.item_id,
            warehouse_id: key.1,
            requested_date: l.requested_date.or(order.requested_date).unwrap_or(order.date),
            ordered: l.base_quantity,
            reserved: got,
            backordered: l.base_quantity - got,
            delivered: 0,
            returned: 0,
            // What promising committed to before confirmation stays with the line.
            promised_date: l.promised_date,
            version: 1,
        });
        if got > 0 {
            holds.push(line_hold(l.item_id, key.1, got, l.id, id, order.customer_id));
        }
    }
    reserve_locked(conn, &taken)?;
    ordo_db::insert_batch!(conn, order_line_stock::table, &line_rows);
    if !holds.is_empty() {
        ordo_db::insert_batch!(conn, reservations::table, &holds);
    }
    Ok(order)
}

/// Reserves what was computed from balances this transaction has locked: the
/// conditional UPDATE cannot miss then, and a miss is a bug, not a shortage.
fn reserve_locked(conn: &mut DbConnection, taken: &HashMap<(i64, i64), i64>) -> Result<()> {
    let mut keys: Vec<((i64, i64), i64)> = taken.iter().filter(|(_, q)| **q > 0).map(|(k, q)| (*k, *q)).collect();
    keys.sort();
    if stock::reserve_all(conn, &keys)? != keys.len() {
        return Err(DomainError::Internal("a locked stock balance changed while reserving".into()));
    }
    Ok(())
}

/// Gives back everything an order holds (cancelling or closing it): its draft
/// deliveries are cancelled, its reservations released, its back-orders dropped; the
/// freed stock serves other back-orders at once. A picked delivery is refused (409
/// `delivery_picked`): its goods are at the dock, so someone ships it or cancels it
/// (putting the goods back) first. Call with the order's row locked.
fn release_order(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<()> {
    let open: Vec<(i64, String, String, i64)> = deliveries::table
        .filter(deliveries::sales_order_id.eq(id))
        .filter(deliveries::status.eq_any(crate::deliveries::OPEN))
        .select((deliveries::id, deliveries::number, deliveries::status, deliveries::version))
        .load(conn)?;
    if let Some((_, number, _, _)) = open.iter().find(|d| d.2 == "picked") {
        return Err(DomainError::conflict(
            "delivery_picked",
            format!(
                "delivery {number} is picked: its goods are ready to leave. Ship it, or cancel it to put them back, first"
            ),
        ));
    }
    crate::deliveries::cancel_drafts(conn, caller, &open.iter().map(|d| (d.0, d.3)).collect::<Vec<_>>())?;
    let line_ids: Vec<i64> = order_line_stock::table
        .filter(order_line_stock::sales_order_id.eq(id))
        .select(order_line_stock::line_id)
        .load(conn)?;
    if line_ids.is_empty() {
        return Ok(());
    }
    let (rows, held, _) = holdings::lock_lines(conn, &line_ids, &[])?;
    let mut freed: HashMap<(i64, i64), i64> = HashMap::new();
    for r in &rows {
        for w in held.warehouses(r.line_id) {
            *freed.entry((r.item_id, w)).or_default() += held.held(r.line_id, w);
        }
    }
    diesel::update(
        reservations::table
            .filter(reservations::sales_order_id.eq(id))
            .filter(reservations::status.eq(ReservationStatus::Active.as_str())),
    )
    .set((
        reservations::status.eq(ReservationStatus::Released.as_str()),
        reservations::version.eq(reservations::version + 1),
        reservations::updated_at.eq(now()),
    ))
    .execute(conn)?;
    diesel::update(order_line_stock::table.filter(order_line_stock::sales_order_id.eq(id)))
        .set((
            order_line_stock::reserved.eq(0i64),
            order_line_stock::backordered.eq(0i64),
            order_line_stock::version.eq(order_line_stock::version + 1),
        ))
        .execute(conn)?;
    give_back(conn, &freed)
}

/// Unreserves freed stock per balance and lets it serve back-orders waiting there.
fn give_back(conn: &mut DbConnection, freed: &HashMap<(i64, i64), i64>) -> Result<()> {
    let mut keys: Vec<_> = freed.iter().filter(|(_, q)| **q > 0).collect();
    keys.sort();
    for ((item, wh), q) in keys {
        stock::unreserve(conn, *item, *wh, *q)?;
        fill_backorders(conn, *item, *wh)?;
    }
    Ok(())
}

/// Cancels the order: its draft deliveries are cancelled and its stock released.
pub fn cancel(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    reason: String,
) -> Result<SalesOrder> {
    let order = orders::cancel(conn, caller, id, if_match, reason)?;
    release_order(conn, caller, id)?;
    Ok(order)
}

/// Closes an order in execution short: what was delivered stays delivered, what it still
/// holds or waits for is released, its draft deliveries are cancelled.
pub fn close(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    reason: String,
) -> Result<SalesOrder> {
    let order = orders::close(conn, caller, id, if_match, reason)?;
    release_order(conn, caller, id)?;
    Ok(order)
}

/// Reserves free stock of this item and warehouse for back-ordered lines sourced there,
/// oldest requested date first (then oldest line), until the stock or the back-orders
/// run out. The caller holds the balance's lock.
pub fn fill_backorders(conn: &mut DbConnection, item: i64, wh: i64) -> Result<Vec<Allocation>> {
    let free: i64 = ordo_db::schema::stock_balances::table
        .filter(ordo_db::schema::stock_balances::item_id.eq(item))
        .filter(ordo_db::schema::stock_balances::warehouse_id.eq(wh))
        .select(ordo_db::schema::stock_balances::on_hand - ordo_db::schema::stock_balances::reserved)
        .first::<i64>(conn)
        .optional()?
        .unwrap_or(0);
    if free <= 0 {
        return Ok(vec![]);
    }
    let waiting: Vec<(i64, i64, i64, i64)> = order_line_stock::table
        .filter(order_line_stock::item_id.eq(item))
        .filter(order_line_stock::warehouse_id.eq(wh))
        .filter(order_line_stock::backordered.gt(0i64))
        .order((order_line_stock::requested_date.asc(), order_line_stock::id.asc()))
        .select((
            order_line_stock::id,
            order_line_stock::line_id,
            order_line_stock::sales_order_id,
            order_line_stock::backordered,
        ))
        .load(conn)?;
    if waiting.is_empty() {
        return Ok(vec![]);
    }
    let customers_of: HashMap<i64, i64> = {
        let ids: Vec<i64> = waiting.iter().map(|w| w.2).collect();
        sales_orders::table
            .filter(sales_orders::id.eq_any(&ids))
            .select((sales_orders::id, sales_orders::customer_id))
            .load::<(i64, i64)>(conn)?
            .into_iter()
            .collect()
    };
    let mut left = free;
    let mut out = vec![];
    let mut holds = vec![];
    for (sid, line, order, missing) in waiting {
        let got = left.min(missing);
        if got <= 0 {
            break;
        }
        // Conditional: a line whose order was closed meanwhile waits for nothing.
        let n = diesel::update(order_line_stock::table.find(sid).filter(order_line_stock::backordered.ge(got)))
            .set((
                order_line_stock::reserved.eq(order_line_stock::reserved + got),
                order_line_stock::backordered.eq(order_line_stock::backordered - got),
                order_line_stock::version.eq(order_line_stock::version + 1),
            ))
            .execute(conn)?;
        if n == 0 {
            continue;
        }
        left -= got;
        holds.push(new_row(item, wh, got, Some((line, order)), customers_of.get(&order).copied(), None));
        out.push(Allocation { sales_order_id: order, line_id: line, quantity: Quantity::from_scaled(got) });
    }
    reserve_locked(conn, &HashMap::from([((item, wh), free - left)]))?;
    if !holds.is_empty() {
        ordo_db::insert_batch!(conn, reservations::table, &holds);
    }
    Ok(out)
}

/// Takes quantities off order lines' active reservations in one warehouse, oldest
/// first, marking the used-up ones `to` (consumed by shipping, released when no longer
/// needed): one query to read them, one to mark the used-up ones, and an update only
/// for one partly used. `taken` is (line, warehouse, quantity).
pub(crate) fn take_from(conn: &mut DbConnection, taken: &[(i64, i64, i64)], to: ReservationStatus) -> Result<()> {
    let lines: Vec<i64> = taken.iter().map(|t| t.0).collect();
    let held: Vec<(i64, i64, Option<i64>, i64)> = reservations::table
        .filter(reservations::order_line_id.eq_any(&lines))
        .filter(reservations::status.eq(ReservationStatus::Active.as_str()))
        .order(reservations::id.asc())
        .select((reservations::id, reservations::quantity, reservations::order_line_id, reservations::warehouse_id))
        .load(conn)?;
    let mut left: HashMap<(i64, i64), i64> = HashMap::new();
    for (l, w, q) in taken {
        *left.entry((*l, *w)).or_default() += q;
    }
    let mut used_up = vec![];
    for (rid, have, line, wh) in held {
        let Some(q) = line.and_then(|l| left.get_mut(&(l, wh))) else { continue };
        if *q <= 0 {
            continue;
        }
        let take = have.min(*q);
        *q -= take;
        if take == have {
            used_up.push(rid);
        } else {
            diesel::update(reservations::table.find(rid))
                .set((
                    reservations::quantity.eq(have - take),
                    reservations::version.eq(reservations::version + 1),
                    reservations::updated_at.eq(now()),
                ))
                .execute(conn)?;
        }
    }
    if let Some(((l, w), q)) = left.iter().find(|(_, q)| **q > 0) {
        return Err(DomainError::Internal(format!("line {l} holds {q} less in warehouse {w} than it gives up")));
    }
    if !used_up.is_empty() {
        diesel::update(reservations::table.filter(reservations::id.eq_any(&used_up)))
            .set((
                reservations::status.eq(to.as_str()),
                reservations::version.eq(reservations::version + 1),
                reservations::updated_at.eq(now()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Gives back what order lines hold beyond what they still need (after a line was
/// reduced, or a delivery over the ordered quantity was cancelled): the back-order
/// shrinks first, then reservations not on open deliveries. Freed stock serves other
/// back-orders at once. Call with the order's row locked.
pub(crate) fn release_excess(conn: &mut DbConnection, line_ids: &[i64]) -> Result<()> {
    let (rows, held, _) = holdings::lock_lines(conn, line_ids, &[])?;
    release_excess_of(conn, &rows, &held)
}

fn release_excess_of(conn: &mut DbConnection, rows: &[LineStockRow], held: &Holdings) -> Result<()> {
    let mut freed: HashMap<(i64, i64), i64> = HashMap::new();
    let mut taken = vec![];
    for s in rows {
        let need = s.ordered.max(s.delivered + held.carried_total(s.line_id));
        let excess = s.reserved + s.backordered + s.delivered - need;
        if excess <= 0 {
            continue;
        }
        let cut_back = excess.min(s.backordered);
        let mut rest = excess - cut_back;
        let mut cut_held = 0;
        // Away from other warehouses first: the sourcing warehouse is where the line
        // is meant to be served from.
        let mut whs = held.warehouses(s.line_id);
        whs.sort_by_key(|w| (*w == s.warehouse_id, *w));
        for w in whs {
            let take = rest.min(held.free(s.line_id, w)).max(0);
            if take > 0 {
                rest -= take;
                cut_held += take;
                taken.push((s.line_id, w, take));
                *freed.entry((s.item_id, w)).or_default() += take;
            }
        }
        diesel::update(order_line_stock::table.find(s.id))
            .set((
                order_line_stock::backordered.eq(order_line_stock::backordered - cut_back),
                order_line_stock::reserved.eq(order_line_stock::reserved - cut_held),
                order_line_stock::version.eq(order_line_stock::version + 1),
            ))
            .execute(conn)?;
    }
    if taken.is_empty() {
        return Ok(());
    }
    take_from(conn, &taken, ReservationStatus::Released)?;
    give_back(conn, &freed)
}

/// The customer takes less of a line: the document line shrinks at its agreed price
/// (sales-docs) and, on a confirmed order, the stock it no longer needs is released in
/// the same transaction. Less than is delivered or on open deliveries is refused.
pub fn reduce_line(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    line_id: i64,
    if_match: Option<i64>,
    r: orders::LineReduction,
) -> Result<SalesOrder> {
    let reduced = orders::reduce_line(conn, caller, id, line_id, if_match, r)?;
    let (rows, held, _) = holdings::lock_lines(conn, &[line_id], &[])?;
    if let Some(s) = rows.first() {
        let carried = held.carried_total(line_id);
        let new_base = reduced.base_quantity;
        if new_base < s.delivered + carried {
            return Err(DomainError::Rule {
                code: "below_delivered",
                detail: format!(
                    "line {line_id}: {} (base units) is delivered and {} is on open deliveries",
                    Quantity::from_scaled(s.delivered),
                    Quantity::from_scaled(carried)
                ),
                errors: vec![FieldError::new(
                    "quantity",
                    "below_delivered",
                    "cannot be less than what is delivered or on open deliveries; cancel those deliveries first",
                )],
            });
        }
        diesel::update(order_line_stock::table.find(s.id))
            .set((order_line_stock::ordered.eq(new_base), order_line_stock::version.eq(order_line_stock::version + 1)))
            .execute(conn)?;
        let mut now_row = s.clone();
        now_row.ordered = new_base;
        release_excess_of(conn, &[now_row], &held)?;
        complete_if_delivered(conn, caller, id)?;
    }
    orders::get(conn, caller, id)
}

/// Completes the order once every stock line is delivered in full (and something was
/// delivered at all): after shipping, and after a line is reduced to what it received.
pub(crate) fn complete_if_delivered(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<()> {
    let progress: Vec<(i64, i64)> = order_line_stock::table
        .filter(order_line_stock::sales_order_id.eq(id))
        .select((order_line_stock::ordered, order_line_stock::delivered))
        .load(conn)?;
    if progress.iter().all(|(o, d)| d >= o) && progress.iter().any(|(_, d)| *d > 0) {
        orders::mark_delivered(conn, caller, id)?;
    }
    Ok(())
}

/// The stock lines of an order the caller may see, with where their stock is held.
pub fn order_stock(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<Vec<LineStock>> {
    caller.require(Permission::StockRead)?;
    orders::find(conn, caller, id)?;
    let rows: Vec<LineStockRow> = order_line_stock::table
        .filter(order_line_stock::sales_order_id.eq(id))
        .order(order_line_stock::id.asc())
        .select(LineStockRow::as_select())
        .load(conn)?;
    let ids: Vec<i64> = rows.iter().map(|r| r.line_id).collect();
    let held = Holdings::load(conn, &ids)?;
    Ok(rows.iter().map(|r| r.to_model(&held)).collect())
}

// ---- by hand ------------------------------------------------------------------------------

/// `POST /reservations`: hold stock for a back-ordered order line or for a customer.
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReservationCreate {
    pub item_id: i64,
    pub warehouse_id: i64,
    /// In the item's base unit.
    #[validate(custom(function = "ordo_core::validate::positive_qty"))]
    pub quantity: Quantity,
    /// A line of an order in execution: at most its back-ordered quantity.
    pub order_line_id: Option<i64>,
    /// Hold stock for this customer (a sales agent must name their own customer or line).
    pub customer_id: Option<i64>,
    #[validate(length(min = 1, max = 500))]
    pub note: Option<String>,
}

/// `POST /reservations/{id}/move`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReservationMove {
    pub warehouse_id: i64,
}

fn visible(caller: &Caller) -> reservations::BoxedQuery<'static, ordo_db::DbBackend> {
    match caller.scope() {
        Scope::All => reservations::table.into_boxed(),
        Scope::OwnCustomers(me) => reservations::table
            .filter(reservations::customer_id.eq_any(ordo_crm::scope::own_customer_ids(me).nullable()))
            .into_boxed(),
    }
}

pub fn find(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<ReservationRow> {
    visible(caller)
        .filter(reservations::id.eq(id))
        .select(ReservationRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| DomainError::not_found("reservation", id))
}

/// The order line a manual reservation is for, as the caller may see it: another
/// agent's line is answered exactly like a missing one.
fn referenced_line(conn: &mut DbConnection, caller: &Caller, lid: i64) -> Result<(LineStockRow, i64)> {
    let missing = || DomainError::reference_not_found("order line", "order_line_id", lid);
    let order: Option<i64> = order_line_stock::table
        .filter(order_line_stock::line_id.eq(lid))
        .select(order_line_stock::sales_order_id)
        .first(conn)
        .optional()?;
    let order = order.ok_or_else(missing)?;
    orders::lock(conn, order)?;
    let o = orders::find(conn, caller, order).map_err(|_| missing())?;
    let rows = holdings::line_rows(conn, &[lid])?;
    Ok((rows.into_iter().next().ok_or_else(missing)?, o.customer_id))
}

pub fn create(conn: &mut DbConnection, caller: &Caller, r: ReservationCreate) -> Result<Reservation> {
    caller.require(Permission::ReservationsWrite)?;
    stock::stock_item(conn, "item_id", r.item_id)?;
    stock::sellable_warehouse(conn, "warehouse_id", r.warehouse_id)?;
    let q = r.quantity.to_scaled();
    let mut customer = match r.customer_id {
        Some(c) => Some(ordo_crm::scope::referenced_customer(conn, caller.scope(), "customer_id", c)?.id),
        None => None,
    };
    let mut line = None;
    if let Some(lid) = r.order_line_id {
        let (ls, order_customer) = referenced_line(conn, caller, lid)?;
        // Locks the line's sourcing balance too, so a receipt's back-order fill waits.
        let (rows, _, _) = holdings::lock_lines(conn, &[lid], &[(r.item_id, r.warehouse_id)])?;
        let ls = rows.into_iter().next().unwrap_or(ls);
        let mut errs = vec![];
        if ls.item_id != r.item_id {
            errs.push(FieldError::new("item_id", "other_item", "the order line is for another item"));
        }
        if q > ls.backordered {
            errs.push(FieldError::new("quantity", "exceeds_backorder", "more than the line has back-ordered"));
        }
        if !errs.is_empty() {
            return Err(DomainError::Validation(errs));
        }
        customer = Some(order_customer);
        line = Some(ls);
    } else {
        stock::lock_balances(conn, &[(r.item_id, r.warehouse_id)], false)?;
    }
    if customer.is_none() && matches!(caller.scope(), Scope::OwnCustomers(_)) {
        return Err(DomainError::field("customer_id", "required", "name your customer or an order line"));
    }
    if !stock::reserve_exact(conn, r.item_id, r.warehouse_id, q)? {
        return Err(stock::insufficient(r.item_id, r.warehouse_id, "quantity"));
    }
    if let Some(ls) = &line {
        diesel::update(order_line_stock::table.find(ls.id))
            .set((
                order_line_stock::reserved.eq(order_line_stock::reserved + q),
                order_line_stock::backordered.eq(order_line_stock::backordered - q),
                order_line_stock::version.eq(order_line_stock::version + 1),
            ))
            .execute(conn)?;
    }
    let row = new_row(
        r.item_id,
        r.warehouse_id,
        q,
        line.as_ref().map(|ls| (ls.line_id, ls.sales_order_id)),
        customer,
        r.note,
    );
    let saved: ReservationRow =
        diesel::insert_into(reservations::table).values(&row).returning(reservations::all_columns).get_result(conn)?;
    let v = saved.to_model()?;
    audit::record(conn, caller, ENTITY, v.id, "create", &to_json(&v))?;
    Ok(v)
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub item_id: Option<i64>,
    pub warehouse_id: Option<i64>,
    pub sales_order_id: Option<i64>,
    pub status: Option<ReservationStatus>,
}

pub fn list(conn: &mut DbConnection, caller: &Caller, f: &Filter, page: &PageRequest) -> Result<Page<Reservation>> {
    caller.require(Permission::StockRead)?;
    let mut q = visible(caller).select(ReservationRow::as_select());
    if let Some(i) = f.item_id {
        q = q.filter(reservations::item_id.eq(i));
    }
    if let Some(w) = f.warehouse_id {
        q = q.filter(reservations::warehouse_id.eq(w));
    }
    if let Some(o) = f.sales_order_id {
        q = q.filter(reservations::sales_order_id.eq(o));
    }
    if let Some(s) = f.status {
        q = q.filter(reservations::status.eq(s.as_str()));
    }
    let rows =
        Page::from_rows(ordo_db::keyset!(q, page, reservations::id).load(conn)?, page, |r: &ReservationRow| r.id);
    Ok(Page {
        data: rows.data.iter().map(ReservationRow::to_model).collect::<Result<_>>()?,
        next_cursor: rows.next_cursor,
        total: rows.total,
    })
}

pub fn get(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<Reservation> {
    caller.require(Permission::StockRead)?;
    find(conn, caller, id)?.to_model()
}

/// A reservation about to be moved or released, read after its order (if any) is
/// locked together with the balances the change touches: `extra` is the warehouse it
/// moves to. For an order line, also what the line holds there.
fn active_for_write(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    extra: Option<i64>,
) -> Result<(ReservationRow, Option<Holdings>)> {
    let r = find(conn, caller, id)?;
    caller.require(Permission::ReservationsWrite)?;
    let mut pairs = vec![(r.item_id, r.warehouse_id)];
    pairs.extend(extra.map(|w| (r.item_id, w)));
    let (r, held) = match (r.sales_order_id, r.order_line_id) {
        (Some(order), Some(line)) => {
            orders::lock(conn, order)?;
            let (_, held, _) = holdings::lock_lines(conn, &[line], &pairs)?;
            (find(conn, caller, id)?, Some(held))
        }
        _ => {
            stock::lock_balances(conn, &pairs, false)?;
            (find(conn, caller, id)?, None)
        }
    };
    check_version(if_match, r.version)?;
    if r.status != ReservationStatus::Active.as_str() {
        return Err(DomainError::conflict("not_active", format!("reservation {id} is {}", r.status)));
    }
    // What open deliveries carry out of this warehouse must stay reserved there.
    if let (Some(h), Some(line)) = (&held, r.order_line_id) {
        if h.free(line, r.warehouse_id) < r.quantity {
            return Err(DomainError::conflict(
                "on_open_delivery",
                format!(
                    "reservation {id} holds stock that delivery {} carries: ship or cancel it first",
                    h.carrier_numbers(line, r.warehouse_id)
                ),
            ));
        }
    }
    Ok((r, held))
}

/// Moves the whole reservation to another warehouse (reserved there first, released
/// here); an order line's stock is then held there, and deliveries from there ship it.
pub fn move_to(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    m: ReservationMove,
) -> Result<Reservation> {
    let (current, _) = active_for_write(conn, caller, id, if_match, Some(m.warehouse_id))?;
    if m.warehouse_id == current.warehouse_id {
        return Err(DomainError::field("warehouse_id", "same_warehouse", "the reservation is already there"));
    }
    stock::sellable_warehouse(conn, "warehouse_id", m.warehouse_id)?;
    if !stock::reserve_exact(conn, current.item_id, m.warehouse_id, current.quantity)? {
        return Err(stock::insufficient(current.item_id, m.warehouse_id, "warehouse_id"));
    }
    stock::unreserve(conn, current.item_id, current.warehouse_id, current.quantity)?;
    fill_backorders(conn, current.item_id, current.warehouse_id)?;
    let mut row = current.clone();
    row.warehouse_id = m.warehouse_id;
    row.version += 1;
    row.updated_at = now();
    let saved: ReservationRow = ordo_db::save_versioned!(conn, reservations, &row, current.version)?;
    audit::record(
        conn,
        caller,
        ENTITY,
        id,
        "move",
        &serde_json::json!({"warehouse_id": {"from": current.warehouse_id, "to": m.warehouse_id}}),
    )?;
    saved.to_model()
}

/// Releases the reservation; an order line's quantity goes back to back-ordered (in
/// its sourcing warehouse). The freed stock is not re-reserved for back-orders at
/// once: releasing by hand is usually meant to free it for something else.
pub fn release(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<Reservation> {
    let (current, _) = active_for_write(conn, caller, id, if_match, None)?;
    stock::unreserve(conn, current.item_id, current.warehouse_id, current.quantity)?;
    if let Some(line) = current.order_line_id {
        diesel::update(order_line_stock::table.filter(order_line_stock::line_id.eq(line)))
            .set((
                order_line_stock::reserved.eq(order_line_stock::reserved - current.quantity),
                order_line_stock::backordered.eq(order_line_stock::backordered + current.quantity),
                order_line_stock::version.eq(order_line_stock::version + 1),
            ))
            .execute(conn)?;
    }
    let mut row = current.clone();
    row.status = ReservationStatus::Released.as_str().into();
    row.version += 1;
    row.updated_at = now();
    let saved: ReservationRow = ordo_db::save_versioned!(conn, reservations, &row, current.version)?;
    audit::record(
        conn,
        caller,
        ENTITY,
        id,
        "release",
        &serde_json::json!({"status": {"from": "active", "to": "released"}}),
    )?;
    saved.to_model()
}

pub fn history(conn: &mut DbConnection, caller: &Caller, id: i64, page: &PageRequest) -> Result<Page<audit::Entry>> {
    caller.require(Permission::StockRead)?;
    find(conn, caller, id)?;
    audit::history(conn, ENTITY, id, page)
}
