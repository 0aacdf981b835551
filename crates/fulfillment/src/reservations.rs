//! Reservations: confirming an order reserves its stock lines in the same transaction
//! (what cannot be reserved is back-ordered and reserved automatically when stock
//! arrives, oldest requested date first); reservations can also be made, moved and
//! released by hand. Every reservation goes through the conditional UPDATE in
//! [`crate::stock`], so reserved never exceeds on hand.

use diesel::prelude::*;
use ordo_core::time_util::now;
use ordo_core::util::{check_version, to_json};
use ordo_core::{Caller, DomainError, FieldError, Page, PageRequest, Permission, Quantity, Result, Scope};
use ordo_db::audit;
use ordo_db::schema::{customers, items, order_line_stock, reservations, sales_orders};
use ordo_db::DbConnection;
use ordo_sales_docs::lines::{self, DocKind};
use ordo_sales_docs::orders::{self, SalesOrder};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use time::{Date, OffsetDateTime, PrimitiveDateTime};
use validator::Validate;

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

/// Where one order line stands: ordered = reserved + back-ordered + delivered (in the
/// item's base unit).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LineStock {
    pub line_id: i64,
    pub item_id: i64,
    pub warehouse_id: i64,
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub requested_date: Date,
    pub ordered: Quantity,
    pub reserved: Quantity,
    pub backordered: Quantity,
    pub delivered: Quantity,
    pub returned: Quantity,
    #[serde(serialize_with = "ordo_core::serde_util::date::option::serialize")]
    #[schema(value_type = Option<String>, format = Date)]
    pub promised_date: Option<Date>,
}

impl LineStockRow {
    fn to_model(&self) -> LineStock {
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
            promised_date: self.promised_date,
        }
    }
}

/// Approved → in execution, and its stock lines reserved from the default warehouse,
/// in one transaction. What is missing is back-ordered.
pub fn confirm(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<SalesOrder> {
    let order = orders::confirm(conn, caller, id, if_match)?;
    let doc_lines = lines::load(conn, DocKind::SalesOrder, id)?;
    let item_ids: Vec<i64> = doc_lines.iter().map(|l| l.item_id).collect();
    let stock_items: Vec<i64> = items::table
        .filter(items::id.eq_any(&item_ids))
        .filter(items::kind.eq("stock"))
        .select(items::id)
        .load(conn)?;
    let stock_lines: Vec<&lines::LineRow> = doc_lines.iter().filter(|l| stock_items.contains(&l.item_id)).collect();
    if stock_lines.is_empty() {
        return Ok(order);
    }
    let wh = stock::default_warehouse(conn)?;
    let mut line_rows = vec![];
    let mut holds = vec![];
    for l in stock_lines {
        let got = stock::reserve_up_to(conn, l.item_id, wh.id, l.base_quantity)?;
        line_rows.push(LineStockRow {
            id: 0,
            line_id: l.id,
            sales_order_id: id,
            item_id: l.item_id,
            warehouse_id: wh.id,
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
            holds.push(new_row(l.item_id, wh.id, got, Some((l.id, id)), Some(order.customer_id), None));
        }
    }
    ordo_db::insert_batch!(conn, order_line_stock::table, &line_rows);
    if !holds.is_empty() {
        ordo_db::insert_batch!(conn, reservations::table, &holds);
    }
    Ok(order)
}

/// Gives back everything the order holds (cancel, or closing it).
fn release_order(conn: &mut DbConnection, id: i64) -> Result<()> {
    let held: Vec<(i64, i64, i64, i64)> = reservations::table
        .filter(reservations::sales_order_id.eq(id))
        .filter(reservations::status.eq(ReservationStatus::Active.as_str()))
        .select((reservations::id, reservations::item_id, reservations::warehouse_id, reservations::quantity))
        .load(conn)?;
    let mut per_balance: HashMap<(i64, i64), i64> = HashMap::new();
    for (_, item, wh, q) in &held {
        *per_balance.entry((*item, *wh)).or_default() += q;
    }
    for ((item, wh), q) in per_balance {
        stock::unreserve(conn, item, wh, q)?;
        // Freed stock serves other back-orders.
        fill_backorders(conn, item, wh)?;
    }
    if !held.is_empty() {
        let ids: Vec<i64> = held.iter().map(|h| h.0).collect();
        diesel::update(reservations::table.filter(reservations::id.eq_any(&ids)))
            .set((
                reservations::status.eq(ReservationStatus::Released.as_str()),
                reservations::version.eq(reservations::version + 1),
                reservations::updated_at.eq(now()),
            ))
            .execute(conn)?;
    }
    diesel::update(order_line_stock::table.filter(order_line_stock::sales_order_id.eq(id)))
        .set((order_line_stock::reserved.eq(0i64), order_line_stock::backordered.eq(0i64)))
        .execute(conn)?;
    Ok(())
}

/// Cancels the order and releases its stock.
pub fn cancel(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    reason: String,
) -> Result<SalesOrder> {
    let order = orders::cancel(conn, caller, id, if_match, reason)?;
    release_order(conn, id)?;
    Ok(order)
}

/// Closes an order in execution and releases what it still holds.
pub fn complete(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<SalesOrder> {
    let order = orders::complete(conn, caller, id, if_match)?;
    release_order(conn, id)?;
    Ok(order)
}

/// Reserves arrived stock for back-ordered lines of this item and warehouse, oldest
/// requested date first (then oldest line), until the stock or the back-orders run out.
pub fn fill_backorders(conn: &mut DbConnection, item: i64, wh: i64) -> Result<Vec<Allocation>> {
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
    let mut out = vec![];
    let mut holds = vec![];
    let customers_of: HashMap<i64, i64> = {
        let ids: Vec<i64> = waiting.iter().map(|w| w.2).collect();
        if ids.is_empty() {
            HashMap::new()
        } else {
            sales_orders::table
                .filter(sales_orders::id.eq_any(&ids))
                .select((sales_orders::id, sales_orders::customer_id))
                .load::<(i64, i64)>(conn)?
                .into_iter()
                .collect()
        }
    };
    for (sid, line, order, missing) in waiting {
        let got = stock::reserve_up_to(conn, item, wh, missing)?;
        if got == 0 {
            break;
        }
        diesel::update(order_line_stock::table.find(sid))
            .set((
                order_line_stock::reserved.eq(order_line_stock::reserved + got),
                order_line_stock::backordered.eq(order_line_stock::backordered - got),
                order_line_stock::version.eq(order_line_stock::version + 1),
            ))
            .execute(conn)?;
        holds.push(new_row(item, wh, got, Some((line, order)), customers_of.get(&order).copied(), None));
        out.push(Allocation { sales_order_id: order, line_id: line, quantity: Quantity::from_scaled(got) });
    }
    if !holds.is_empty() {
        ordo_db::insert_batch!(conn, reservations::table, &holds);
    }
    Ok(out)
}

/// Takes quantities off order lines' active reservations, oldest first, marking the
/// used-up ones `to` (consumed by shipping, released when no longer needed): one query
/// to read them, one to mark the used-up ones, and an update only for one partly used.
pub(crate) fn take_from(conn: &mut DbConnection, taken: &[(i64, i64)], to: ReservationStatus) -> Result<()> {
    let lines: Vec<i64> = taken.iter().map(|t| t.0).collect();
    let held: Vec<(i64, i64, Option<i64>)> = reservations::table
        .filter(reservations::order_line_id.eq_any(&lines))
        .filter(reservations::status.eq(ReservationStatus::Active.as_str()))
        .order(reservations::id.asc())
        .select((reservations::id, reservations::quantity, reservations::order_line_id))
        .load(conn)?;
    let mut left: HashMap<i64, i64> = taken.iter().copied().collect();
    let mut used_up = vec![];
    for (rid, have, line) in held {
        let Some(q) = line.and_then(|l| left.get_mut(&l)) else { continue };
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
/// shrinks first, then the reservation, never below what open deliveries carry. Freed
/// stock serves other back-orders at once.
pub(crate) fn release_excess(conn: &mut DbConnection, line_ids: &[i64]) -> Result<()> {
    let rows: Vec<LineStockRow> = order_line_stock::table
        .filter(order_line_stock::line_id.eq_any(line_ids))
        .select(LineStockRow::as_select())
        .load(conn)?;
    let on_way = crate::deliveries::on_open_deliveries(conn, line_ids)?;
    let mut freed = vec![];
    for s in rows {
        let carried = on_way.get(&s.line_id).copied().unwrap_or(0);
        let need = s.ordered.max(s.delivered + carried);
        let excess = s.reserved + s.backordered + s.delivered - need;
        if excess <= 0 {
            continue;
        }
        let cut_back = excess.min(s.backordered);
        let cut_held = (excess - cut_back).min(s.reserved - carried).max(0);
        diesel::update(order_line_stock::table.find(s.id))
            .set((
                order_line_stock::backordered.eq(order_line_stock::backordered - cut_back),
                order_line_stock::reserved.eq(order_line_stock::reserved - cut_held),
                order_line_stock::version.eq(order_line_stock::version + 1),
            ))
            .execute(conn)?;
        if cut_held > 0 {
            freed.push((s.line_id, s.item_id, s.warehouse_id, cut_held));
        }
    }
    if freed.is_empty() {
        return Ok(());
    }
    let taken: Vec<(i64, i64)> = freed.iter().map(|f| (f.0, f.3)).collect();
    take_from(conn, &taken, ReservationStatus::Released)?;
    for (_, item, wh, q) in freed {
        stock::unreserve(conn, item, wh, q)?;
        fill_backorders(conn, item, wh)?;
    }
    Ok(())
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
    let held: Option<LineStockRow> = order_line_stock::table
        .filter(order_line_stock::line_id.eq(line_id))
        .select(LineStockRow::as_select())
        .first(conn)
        .optional()?;
    if let Some(s) = held {
        let carried = crate::deliveries::on_open_deliveries(conn, &[line_id])?.get(&line_id).copied().unwrap_or(0);
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
        release_excess(conn, &[line_id])?;
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

/// The stock lines of an order the caller may see.
pub fn order_stock(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<Vec<LineStock>> {
    caller.require(Permission::SalesDocsRead)?;
    orders::find(conn, caller, id)?;
    let rows: Vec<LineStockRow> = order_line_stock::table
        .filter(order_line_stock::sales_order_id.eq(id))
        .order(order_line_stock::id.asc())
        .select(LineStockRow::as_select())
        .load(conn)?;
    Ok(rows.iter().map(LineStockRow::to_model).collect())
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
            .filter(
                reservations::customer_id
                    .eq_any(customers::table.filter(customers::owner_id.eq(me)).select(customers::id).nullable()),
            )
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
        let ls: LineStockRow = order_line_stock::table
            .filter(order_line_stock::line_id.eq(lid))
            .select(LineStockRow::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| DomainError::reference_not_found("order line", "order_line_id", lid))?;
        let order = orders::find(conn, caller, ls.sales_order_id)
            .map_err(|_| DomainError::reference_not_found("order line", "order_line_id", lid))?;
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
        customer = Some(order.customer_id);
        line = Some((ls, order.id));
    }
    if customer.is_none() && matches!(caller.scope(), Scope::OwnCustomers(_)) {
        return Err(DomainError::field("customer_id", "required", "name your customer or an order line"));
    }
    if !stock::reserve_exact(conn, r.item_id, r.warehouse_id, q)? {
        return Err(stock::insufficient(r.item_id, r.warehouse_id, "quantity"));
    }
    if let Some((ls, _)) = &line {
        diesel::update(order_line_stock::table.find(ls.id))
            .set((
                order_line_stock::reserved.eq(order_line_stock::reserved + q),
                order_line_stock::backordered.eq(order_line_stock::backordered - q),
                order_line_stock::version.eq(order_line_stock::version + 1),
            ))
            .execute(conn)?;
    }
    let row = new_row(r.item_id, r.warehouse_id, q, line.as_ref().map(|(ls, o)| (ls.line_id, *o)), customer, r.note);
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
    let mut q = visible(caller).select(ReservationRow::as_select()).order(reservations::id.asc()).limit(page.fetch());
    if let Some(after) = page.after_id {
        q = q.filter(reservations::id.gt(after));
    }
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
    let rows = Page::from_rows(q.load(conn)?, page, |r: &ReservationRow| r.id);
    Ok(Page {
        data: rows.data.iter().map(ReservationRow::to_model).collect::<Result<_>>()?,
        next_cursor: rows.next_cursor,
    })
}

pub fn get(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<Reservation> {
    caller.require(Permission::StockRead)?;
    find(conn, caller, id)?.to_model()
}

fn active_for_write(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
) -> Result<ReservationRow> {
    let r = find(conn, caller, id)?;
    caller.require(Permission::ReservationsWrite)?;
    check_version(if_match, r.version)?;
    if r.status != ReservationStatus::Active.as_str() {
        return Err(DomainError::conflict("not_active", format!("reservation {id} is {}", r.status)));
    }
    Ok(r)
}

/// Moves the whole reservation to another warehouse (reserved there first, released here).
pub fn move_to(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    m: ReservationMove,
) -> Result<Reservation> {
    let current = active_for_write(conn, caller, id, if_match)?;
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

/// Releases the reservation; an order line's quantity goes back to back-ordered.
pub fn release(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<Reservation> {
    let current = active_for_write(conn, caller, id, if_match)?;
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
