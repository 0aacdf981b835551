//! Deliveries (`draft → picked → shipped`, or `cancelled` before shipping) from the
//! stock an order has reserved, and return authorisations against shipped deliveries.
//! Shipping posts the ledger, consumes the reservation and counts the delivered
//! quantity on the order line, all in one transaction; an order whose stock lines are
//! all delivered is completed.

use diesel::prelude::*;
use ordo_core::time_util::now;
use ordo_core::util::{check_version, to_json};
use ordo_core::{Caller, DomainError, FieldError, Page, PageRequest, Permission, Quantity, Result};
use ordo_db::audit;
use ordo_db::schema::{
    deliveries, delivery_lines, items, order_line_stock, return_lines, returns, stock_balances, warehouses,
};
use ordo_db::{series, DbConnection};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use time::{OffsetDateTime, PrimitiveDateTime};
use validator::Validate;

use crate::holdings::{self, Holdings};
use crate::reservations::LineStockRow;
use crate::stock::{self, MovementKind};
use ordo_db::schema::customers;
use ordo_sales_docs::docs::DOC_CUSTOMER;
use ordo_sales_docs::expand::{Expanded, ItemRef};
use ordo_sales_docs::orders::OrderRow;

pub const DELIVERY: &str = "delivery";
pub const RETURN: &str = "return";
/// Deliveries that have not left yet: what they carry stays reserved for them.
pub const OPEN: [&str; 2] = ["draft", "picked"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Draft,
    Picked,
    Shipped,
    Cancelled,
}

impl DeliveryStatus {
    fn as_str(&self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Picked => "picked",
            Self::Shipped => "shipped",
            Self::Cancelled => "cancelled",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        [Self::Draft, Self::Picked, Self::Shipped, Self::Cancelled].into_iter().find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = deliveries, treat_none_as_null = true)]
pub struct DeliveryRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub number: String,
    pub sales_order_id: i64,
    pub customer_id: i64,
    pub warehouse_id: i64,
    pub status: String,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub packages: Option<i32>,
    pub weight: Option<i64>,
    pub shipped_at: Option<PrimitiveDateTime>,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = delivery_lines, treat_none_as_default_value = false)]
pub struct DeliveryLineRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub delivery_id: i64,
    pub order_line_id: i64,
    pub item_id: i64,
    pub quantity: i64,
    pub unit_cost: Option<i64>,
    /// How much of the line is on an invoice (billing's conditional update only).
    #[diesel(skip_insertion)]
    pub invoiced_quantity: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryLine {
    pub id: i64,
    pub order_line_id: i64,
    pub item_id: i64,
    /// In the item's base unit.
    pub quantity: Quantity,
    /// Cost per unit from the ledger when shipped (the item's standard cost).
    pub unit_cost: Option<ordo_core::Money>,
    /// How much of it is on invoices (drafts included), base unit.
    pub invoiced_quantity: Quantity,
    /// Only with `?expand=lines.item`: the item's SKU, name and base unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<ItemRef>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: i64,
    /// e.g. `DN-2026-000001`.
    pub number: String,
    pub sales_order_id: i64,
    pub customer_id: i64,
    pub warehouse_id: i64,
    pub status: DeliveryStatus,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub packages: Option<i32>,
    /// kg
    pub weight: Option<Quantity>,
    #[serde(serialize_with = "ordo_core::serde_util::rfc3339_opt::serialize")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub shipped_at: Option<OffsetDateTime>,
    pub lines: Vec<DeliveryLine>,
    /// With `?expand=`: the customer and its owner, embedded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expanded: Option<Expanded>,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl DeliveryRow {
    fn to_model(&self, lines: &[DeliveryLineRow]) -> Result<Delivery> {
        Ok(Delivery {
            id: self.id,
            number: self.number.clone(),
            sales_order_id: self.sales_order_id,
            customer_id: self.customer_id,
            warehouse_id: self.warehouse_id,
            status: DeliveryStatus::parse(&self.status)
                .ok_or_else(|| DomainError::Internal(format!("delivery {}: status", self.id)))?,
            carrier: self.carrier.clone(),
            tracking_number: self.tracking_number.clone(),
            packages: self.packages,
            weight: self.weight.map(Quantity::from_scaled),
            shipped_at: self.shipped_at.map(|t| t.assume_utc()),
            lines: lines
                .iter()
                .map(|l| DeliveryLine {
                    id: l.id,
                    order_line_id: l.order_line_id,
                    item_id: l.item_id,
                    quantity: Quantity::from_scaled(l.quantity),
                    unit_cost: l.unit_cost.map(ordo_core::Money::from_scaled),
                    invoiced_quantity: Quantity::from_scaled(l.invoiced_quantity),
                    item: None,
                })
                .collect(),
            expanded: None,
            version: self.version,
            created_at: self.created_at.assume_utc(),
            updated_at: self.updated_at.assume_utc(),
        })
    }
}

/// One line to deliver.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryLineInput {
    /// The sales order line.
    pub line_id: i64,
    /// In the item's base unit; default everything reserved and not yet on a delivery.
    #[validate(custom(function = "ordo_core::validate::positive_qty"))]
    pub quantity: Option<Quantity>,
}

/// `POST /sales-orders/{id}/deliveries`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryCreate {
    /// The warehouse the delivery ships from. Default: the one warehouse where the
    /// chosen lines hold stock not on a delivery yet (422 `warehouse_required` when
    /// that is several: one delivery per warehouse).
    pub warehouse_id: Option<i64>,
    /// Default: every stock line with stock reserved in that warehouse and not yet on
    /// a delivery.
    #[serde(default)]
    #[validate(nested)]
    pub lines: Vec<DeliveryLineInput>,
}

/// `POST /deliveries/{id}/ship`
#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipRequest {
    #[validate(length(min = 1, max = 100))]
    pub carrier: Option<String>,
    #[validate(length(min = 1, max = 100))]
    pub tracking_number: Option<String>,
    #[validate(range(min = 1, max = 10000))]
    pub packages: Option<i32>,
    /// Gross weight in kg.
    #[validate(custom(function = "ordo_core::validate::positive_qty"))]
    pub weight: Option<Quantity>,
}

fn read(caller: &Caller) -> Result<()> {
    caller.require(Permission::StockRead)
}
fn write(caller: &Caller) -> Result<()> {
    caller.require(Permission::StockWrite)
}

pub fn find(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<DeliveryRow> {
    let q = deliveries::table.filter(deliveries::id.eq(id)).select(DeliveryRow::as_select()).into_boxed();
    ordo_sales_docs::scoped!(q, caller, deliveries::customer_id)
        .first(conn)
        .optional()?
        .ok_or_else(|| DomainError::not_found("delivery", id))
}

fn lines_of(conn: &mut DbConnection, ids: &[i64]) -> Result<Vec<DeliveryLineRow>> {
    Ok(delivery_lines::table
        .filter(delivery_lines::delivery_id.eq_any(ids))
        .order(delivery_lines::id.asc())
        .select(DeliveryLineRow::as_select())
        .load(conn)?)
}

/// The order a delivery-side change belongs to, locked (all changes of one order's
/// stock queue behind each other), and then the delivery as it is now.
fn locked(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<(DeliveryRow, OrderRow)> {
    ordo_db::lock::parent(conn, "sales_orders", "deliveries", "sales_order_id", id)?;
    let d = find(conn, caller, id)?;
    let order = ordo_sales_docs::orders::find(conn, caller, d.sales_order_id)?;
    Ok((d, order))
}

fn order_not_open(order: &OrderRow) -> DomainError {
    DomainError::conflict(
        "order_not_in_execution",
        format!("sales order {} is {}: only orders in execution are delivered", order.number, order.status),
    )
}

pub fn create(conn: &mut DbConnection, caller: &Caller, order_id: i64, input: DeliveryCreate) -> Result<Delivery> {
    ordo_sales_docs::orders::lock(conn, order_id)?;
    let order = ordo_sales_docs::orders::find(conn, caller, order_id)?;
    write(caller)?;
    if order.status != "in_execution" {
        return Err(DomainError::conflict(
            "order_not_confirmed",
            format!("sales order {} is {}: only confirmed orders are delivered", order.number, order.status),
        ));
    }
    ordo_sales_docs::orders::credit_gate(conn, &order, &order.approval()?, "delivering", None)?;
    if let Some(w) = input.warehouse_id {
        stock::referenced_warehouse(conn, "warehouse_id", w)?;
    }
    let all: Vec<(i64, i64)> = order_line_stock::table
        .filter(order_line_stock::sales_order_id.eq(order_id))
        .order(order_line_stock::id.asc())
        .select((order_line_stock::line_id, order_line_stock::item_id))
        .load(conn)?;
    for (n, l) in input.lines.iter().enumerate() {
        if !all.iter().any(|(id, _)| *id == l.line_id) {
            return Err(DomainError::reference_not_found("order line", &format!("lines[{n}].line_id"), l.line_id));
        }
    }
    let chosen: Vec<i64> = if input.lines.is_empty() {
        all.iter().map(|a| a.0).collect()
    } else {
        input.lines.iter().map(|l| l.line_id).collect()
    };
    let extra: Vec<(i64, i64)> = match input.warehouse_id {
        Some(w) => all.iter().filter(|a| chosen.contains(&a.0)).map(|a| (a.1, w)).collect(),
        None => vec![],
    };
    let (stock, held, _) = holdings::lock_lines(conn, &chosen, &extra)?;
    let wh = match input.warehouse_id {
        Some(w) => w,
        None => delivery_warehouse(&stock, &held, &input)?,
    };
    let free = |s: &LineStockRow| held.free(s.line_id, wh);
    let mut wanted: Vec<(LineStockRow, i64)> = vec![];
    let mut errs = vec![];
    // Over-delivery beyond the ordered quantity: only within the item's tolerance, only
    // once nothing is back-ordered, and the extra is reserved here like any other stock.
    let mut extra: Vec<(LineStockRow, i64)> = vec![];
    if input.lines.is_empty() {
        wanted = stock.iter().filter(|s| free(s) > 0).map(|s| (s.clone(), free(s))).collect();
    } else {
        let item_ids: Vec<i64> = stock.iter().map(|s| s.item_id).collect();
        let tolerance: HashMap<i64, i64> = items::table
            .filter(items::id.eq_any(&item_ids))
            .select((items::id, items::over_delivery_tolerance))
            .load(conn)?
            .into_iter()
            .collect();
        for (n, l) in input.lines.iter().enumerate() {
            let Some(s) = stock.iter().find(|s| s.line_id == l.line_id) else {
                return Err(DomainError::reference_not_found("order line", &format!("lines[{n}].line_id"), l.line_id));
            };
            let q = l.quantity.map(|q| q.to_scaled()).unwrap_or(free(s));
            let pct = ordo_core::Rate::from_scaled(tolerance.get(&s.item_id).copied().unwrap_or(0));
            let allowed = s.ordered + tolerance_of(s.ordered, pct);
            // Everything of this line already on open deliveries (from any warehouse),
            // plus what this request asked for on earlier lines.
            let carried = held.carried_total(s.line_id)
                + wanted.iter().filter(|(w, _)| w.line_id == s.line_id).map(|(_, q)| q).sum::<i64>();
            let free_here =
                free(s) - wanted.iter().filter(|(w, _)| w.line_id == s.line_id).map(|(_, q)| q).sum::<i64>();
            let field = format!("lines[{n}].quantity");
            if q <= 0 {
                errs.push(FieldError::new(field, "not_reserved", "nothing is reserved here and not yet on a delivery"));
            } else if s.delivered + carried + q > allowed {
                let msg = if allowed > s.ordered {
                    format!("more than was ordered plus the item's {pct}% tolerance")
                } else {
                    "more than was ordered".to_string()
                };
                errs.push(FieldError::new(field, "exceeds_ordered", msg));
            } else if q > free_here && (s.backordered > 0 || s.delivered + carried + q <= s.ordered) {
                errs.push(FieldError::new(
                    field,
                    "not_reserved",
                    format!(
                        "only {} is reserved in this warehouse and not yet on a delivery",
                        Quantity::from_scaled(free_here.max(0))
                    ),
                ));
            } else {
                if q > free_here {
                    extra.push((s.clone(), q - free_here.max(0)));
                }
                wanted.push((s.clone(), q));
            }
        }
    }
    if !errs.is_empty() {
        return Err(DomainError::Rule {
            code: "not_deliverable",
            detail: "some lines cannot be delivered".into(),
            errors: errs,
        });
    }
    if wanted.is_empty() {
        return Err(DomainError::rule(
            "nothing_to_deliver",
            "no line has reserved stock that is not on a delivery yet",
        ));
    }
    if !extra.is_empty() {
        let pairs: Vec<(i64, i64)> = extra.iter().map(|(s, _)| (s.item_id, wh)).collect();
        stock::lock_balances(conn, &pairs, false)?;
    }
    for (s, q) in &extra {
        if !stock::reserve_exact(conn, s.item_id, wh, *q)? {
            return Err(stock::insufficient(s.item_id, wh, "lines"));
        }
        diesel::update(order_line_stock::table.find(s.id))
            .set((
                order_line_stock::reserved.eq(order_line_stock::reserved + q),
                order_line_stock::version.eq(order_line_stock::version + 1),
            ))
            .execute(conn)?;
    }
    if !extra.is_empty() {
        let holds: Vec<_> = extra
            .iter()
            .map(|(s, q)| crate::reservations::line_hold(s.item_id, wh, *q, s.line_id, order_id, order.customer_id))
            .collect();
        ordo_db::insert_batch!(conn, ordo_db::schema::reservations::table, &holds);
    }
    let ts = now();
    let row = DeliveryRow {
        id: 0,
        number: series::next_number(conn, DELIVERY)?,
        sales_order_id: order_id,
        customer_id: order.customer_id,
        warehouse_id: wh,
        status: DeliveryStatus::Draft.as_str().into(),
        carrier: None,
        tracking_number: None,
        packages: None,
        weight: None,
        shipped_at: None,
        version: 1,
        created_at: ts,
        updated_at: ts,
    };
    let saved: DeliveryRow =
        diesel::insert_into(deliveries::table).values(&row).returning(deliveries::all_columns).get_result(conn)?;
    // The cost the ledger books when the goods leave: the item's standard cost now.
    let item_ids: Vec<i64> = wanted.iter().map(|(s, _)| s.item_id).collect();
    let costs: HashMap<i64, i64> = items::table
        .filter(items::id.eq_any(&item_ids))
        .select((items::id, items::standard_cost))
        .load(conn)?
        .into_iter()
        .collect();
    let lines: Vec<DeliveryLineRow> = wanted
        .iter()
        .map(|(s, q)| DeliveryLineRow {
            id: 0,
            delivery_id: saved.id,
            order_line_id: s.line_id,
            item_id: s.item_id,
            quantity: *q,
            unit_cost: costs.get(&s.item_id).copied(),
            invoiced_quantity: 0,
        })
        .collect();
    let lines = ordo_db::insert_batch!(conn, delivery_lines::table, &lines, returning delivery_lines::all_columns => DeliveryLineRow);
    let v = saved.to_model(&lines)?;
    audit::record(conn, caller, DELIVERY, v.id, "create", &to_json(&v))?;
    Ok(v)
}

/// Where a delivery without `warehouse_id` ships from: the one warehouse where the
/// chosen lines hold stock that is not on a delivery yet; with nothing held, the one
/// warehouse the chosen lines are sourced from (an over-delivery reserves there).
fn delivery_warehouse(stock: &[LineStockRow], held: &Holdings, input: &DeliveryCreate) -> Result<i64> {
    let mut holding: Vec<i64> = stock
        .iter()
        .flat_map(|s| held.warehouses(s.line_id).into_iter().filter(|w| held.free(s.line_id, *w) > 0))
        .collect();
    holding.sort_unstable();
    holding.dedup();
    if holding.is_empty() && !input.lines.is_empty() {
        holding = stock.iter().map(|s| s.warehouse_id).collect();
        holding.sort_unstable();
        holding.dedup();
    }
    match holding.as_slice() {
        [] => Err(DomainError::rule("nothing_to_deliver", "no line has reserved stock that is not on a delivery yet")),
        [w] => Ok(*w),
        several => Err(DomainError::Rule {
            code: "warehouse_required",
            detail: format!(
                "the stock to deliver is held in warehouses {}: a delivery ships from one, so name it in `warehouse_id`",
                several.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
            ),
            errors: vec![FieldError::new("warehouse_id", "required", "the stock is held in several warehouses")],
        }),
    }
}

/// Cancels open draft deliveries of an order that is cancelled or closed; what they
/// carried is released with the rest of the order's stock. `drafts` are (id, version).
pub(crate) fn cancel_drafts(conn: &mut DbConnection, caller: &Caller, drafts: &[(i64, i64)]) -> Result<()> {
    if drafts.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = drafts.iter().map(|d| d.0).collect();
    diesel::update(deliveries::table.filter(deliveries::id.eq_any(&ids)).filter(deliveries::status.eq("draft")))
        .set((
            deliveries::status.eq(DeliveryStatus::Cancelled.as_str()),
            deliveries::version.eq(deliveries::version + 1),
            deliveries::updated_at.eq(now()),
        ))
        .execute(conn)?;
    for id in ids {
        audit::record(
            conn,
            caller,
            DELIVERY,
            id,
            "cancelled",
            &serde_json::json!({"status": {"from": "draft", "to": "cancelled"}, "reason": "the order was cancelled or closed"}),
        )?;
    }
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub sales_order_id: Option<i64>,
    pub status: Option<DeliveryStatus>,
    pub search: ordo_sales_docs::docs::DocSearch,
}

pub fn list(conn: &mut DbConnection, caller: &Caller, f: &Filter, page: &PageRequest) -> Result<Page<Delivery>> {
    read(caller)?;
    let build = || {
        let mut q = deliveries::table
            .inner_join(DOC_CUSTOMER.on(DOC_CUSTOMER.field(customers::id).eq(deliveries::customer_id)))
            .select((DeliveryRow::as_select(), DOC_CUSTOMER.field(customers::name)))
            .into_boxed();
        q = ordo_sales_docs::scoped!(q, caller, deliveries::customer_id);
        q = ordo_sales_docs::doc_search!(q, &f.search, number: deliveries::number, customer: deliveries::customer_id,
            created: deliveries::created_at, updated: deliveries::updated_at);
        if let Some(o) = f.sales_order_id {
            q = q.filter(deliveries::sales_order_id.eq(o));
        }
        if let Some(s) = f.status {
            q = q.filter(deliveries::status.eq(s.as_str()));
        }
        q
    };
    let total = ordo_db::total!(conn, page, build());
    let mut rows = ordo_sales_docs::doc_page!(conn, build(), page, deliveries, DeliveryRow);
    rows.total = total;
    let rows = rows.map(|r| r.0);
    let ids: Vec<i64> = rows.data.iter().map(|r| r.id).collect();
    let all = lines_of(conn, &ids)?;
    let data = rows
        .data
        .iter()
        .map(|r| r.to_model(&all.iter().filter(|l| l.delivery_id == r.id).cloned().collect::<Vec<_>>()))
        .collect::<Result<_>>()?;
    let mut data: Vec<Delivery> = data;
    ordo_sales_docs::expand::apply(conn, &mut data, &f.search.expand)?;
    Ok(Page { data, next_cursor: rows.next_cursor, total: rows.total })
}

pub fn get(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<Delivery> {
    read(caller)?;
    let row = find(conn, caller, id)?;
    let lines = lines_of(conn, &[id])?;
    row.to_model(&lines)
}

/// A delivery that may go from one of `from` to `to`: the order locked, the delivery
/// re-read, the caller's version matched.
fn for_transition(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    from: &[DeliveryStatus],
    to: DeliveryStatus,
) -> Result<(DeliveryRow, OrderRow)> {
    let (current, order) = locked(conn, caller, id)?;
    write(caller)?;
    check_version(if_match, current.version)?;
    let s = DeliveryStatus::parse(&current.status).unwrap_or(DeliveryStatus::Draft);
    if !from.contains(&s) {
        return Err(DomainError::conflict(
            "invalid_transition",
            format!("delivery {} is {} and cannot become {}", current.number, s.as_str(), to.as_str()),
        ));
    }
    Ok((current, order))
}

/// Saves the delivery in state `to` (with whatever else `row` changed) and records it.
fn save_transition(
    conn: &mut DbConnection,
    caller: &Caller,
    current: &DeliveryRow,
    mut row: DeliveryRow,
    to: DeliveryStatus,
) -> Result<DeliveryRow> {
    row.status = to.as_str().into();
    row.version = current.version + 1;
    row.updated_at = now();
    let saved: DeliveryRow = ordo_db::save_versioned!(conn, deliveries, &row, current.version)?;
    let mut changes = serde_json::json!({"status": {"from": current.status, "to": to.as_str()}});
    for (k, before, after) in [
        ("carrier", &current.carrier, &saved.carrier),
        ("tracking_number", &current.tracking_number, &saved.tracking_number),
    ] {
        if before != after {
            changes[k] = serde_json::json!({"from": before, "to": after});
        }
    }
    audit::record(conn, caller, DELIVERY, current.id, to.as_str(), &changes)?;
    Ok(saved)
}

pub fn pick(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<Delivery> {
    let (current, order) =
        for_transition(conn, caller, id, if_match, &[DeliveryStatus::Draft], DeliveryStatus::Picked)?;
    if order.status != "in_execution" {
        return Err(order_not_open(&order));
    }
    let row = save_transition(conn, caller, &current, current.clone(), DeliveryStatus::Picked)?;
    row.to_model(&lines_of(conn, &[id])?)
}

/// Cancels a delivery that has not shipped: what it carried stays reserved for the
/// order (an extra reserved for an over-delivery is released).
pub fn cancel(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<Delivery> {
    let (current, _) = for_transition(
        conn,
        caller,
        id,
        if_match,
        &[DeliveryStatus::Draft, DeliveryStatus::Picked],
        DeliveryStatus::Cancelled,
    )?;
    let row = save_transition(conn, caller, &current, current.clone(), DeliveryStatus::Cancelled)?;
    let lines = lines_of(conn, &[id])?;
    let ids: Vec<i64> = lines.iter().map(|l| l.order_line_id).collect();
    crate::reservations::release_excess(conn, &ids)?;
    row.to_model(&lines)
}

/// Ships from the delivery's warehouse: per line the stock leaves (on hand and reserved
/// both go down, in one conditional UPDATE), a ledger entry at the item's standard
/// cost, the line's reservation there is consumed and the line counts it delivered.
/// Only an order in execution ships (409 `order_not_in_execution`).
pub fn ship(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    r: ShipRequest,
) -> Result<Delivery> {
    let (current, order) = for_transition(
        conn,
        caller,
        id,
        if_match,
        &[DeliveryStatus::Draft, DeliveryStatus::Picked],
        DeliveryStatus::Shipped,
    )?;
    if order.status != "in_execution" {
        return Err(order_not_open(&order));
    }
    let wh = current.warehouse_id;
    let lines = lines_of(conn, &[id])?;
    // Only this warehouse's stock changes: its balances are the locks to hold (what
    // the lines hold here cannot change without them; take_from checks it).
    let pairs: Vec<(i64, i64)> = lines.iter().map(|l| (l.item_id, wh)).collect();
    stock::lock_balances(conn, &pairs, false)?;
    let mut shipped = vec![];
    let mut taken = vec![];
    for l in &lines {
        let n = diesel::update(
            stock_balances::table
                .filter(stock_balances::item_id.eq(l.item_id))
                .filter(stock_balances::warehouse_id.eq(wh))
                .filter(stock_balances::reserved.ge(l.quantity))
                .filter(stock_balances::on_hand.ge(l.quantity)),
        )
        .set((
            stock_balances::on_hand.eq(stock_balances::on_hand - l.quantity),
            stock_balances::reserved.eq(stock_balances::reserved - l.quantity),
        ))
        .execute(conn)?;
        if n == 0 {
            return Err(DomainError::Internal(format!(
                "item {} in warehouse {wh}: reserved but not on hand",
                l.item_id
            )));
        }
        shipped.push(stock::LedgerRow {
            id: 0,
            item_id: l.item_id,
            warehouse_id: wh,
            kind: MovementKind::Delivery.as_str().into(),
            quantity: -l.quantity,
            unit_cost: l.unit_cost,
            doc_kind: Some(DELIVERY.into()),
            doc_id: Some(id),
            reason: None,
            actor: caller.principal.actor_key(),
            at: now(),
        });
        diesel::update(order_line_stock::table.filter(order_line_stock::line_id.eq(l.order_line_id)))
            .set((
                order_line_stock::reserved.eq(order_line_stock::reserved - l.quantity),
                order_line_stock::delivered.eq(order_line_stock::delivered + l.quantity),
                order_line_stock::version.eq(order_line_stock::version + 1),
            ))
            .execute(conn)?;
        taken.push((l.order_line_id, wh, l.quantity));
    }
    crate::reservations::take_from(conn, &taken, crate::reservations::ReservationStatus::Consumed)?;
    ordo_db::insert_batch!(conn, ordo_db::schema::stock_ledger::table, &shipped);
    let mut row = current.clone();
    row.carrier = r.carrier;
    row.tracking_number = r.tracking_number;
    row.packages = r.packages;
    row.weight = r.weight.map(|w| w.to_scaled());
    row.shipped_at = Some(now());
    let saved = save_transition(conn, caller, &current, row, DeliveryStatus::Shipped)?;
    crate::reservations::complete_if_delivered(conn, caller, saved.sales_order_id)?;
    let v = saved.to_model(&lines)?;
    ordo_db::events::emit(conn, caller, "delivery.shipped", ("delivery", id), Some(v.customer_id), &v)?;
    Ok(v)
}

/// The quantity `pct` percent of `ordered` allows on top, rounded down to the
/// quantity's precision.
fn tolerance_of(ordered: i64, pct: ordo_core::Rate) -> i64 {
    let v = rust_decimal::Decimal::from(ordered) * pct.value() / rust_decimal::Decimal::from(100);
    v.floor().try_into().unwrap_or(0)
}

pub fn history(conn: &mut DbConnection, caller: &Caller, id: i64, page: &PageRequest) -> Result<Page<audit::Entry>> {
    read(caller)?;
    find(conn, caller, id)?;
    audit::history(conn, DELIVERY, id, page)
}

pub fn return_history(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    page: &PageRequest,
) -> Result<Page<audit::Entry>> {
    read(caller)?;
    find_return(conn, caller, id)?;
    audit::history(conn, RETURN, id, page)
}

/// What a delivery note prints: the delivery as the API returns it, each line with its
/// item (`sku`, `name`, `base_unit`), the order's number and customer PO, the ship-to
/// address and the warehouse's name (`note.*`).
pub fn note(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<serde_json::Value> {
    let d = get(conn, caller, id)?;
    let order = ordo_sales_docs::orders::find(conn, caller, d.sales_order_id)?;
    let customer = ordo_crm::scope::customer(conn, caller.scope(), d.customer_id)?.to_model()?;
    let (wh_code, wh_name): (String, String) =
        warehouses::table.find(d.warehouse_id).select((warehouses::code, warehouses::name)).first(conn)?;
    let ids: Vec<i64> = d.lines.iter().map(|l| l.item_id).collect();
    let items: HashMap<i64, serde_json::Value> = items::table
        .filter(items::id.eq_any(&ids))
        .select((items::id, items::sku, items::name, items::base_unit))
        .load::<(i64, String, String, String)>(conn)?
        .into_iter()
        .map(|(i, sku, name, unit)| (i, serde_json::json!({"id": i, "sku": sku, "name": name, "base_unit": unit})))
        .collect();
    let ship_to = order.terms().ship_to.or(customer.shipping_address.clone()).or(customer.billing_address.clone());
    let mut v = ordo_core::util::to_json(&d);
    if let Some(lines) = v["lines"].as_array_mut() {
        for l in lines {
            let item = l["item_id"].as_i64().and_then(|i| items.get(&i).cloned()).unwrap_or_default();
            l["item"] = item;
        }
    }
    v["note"] = serde_json::json!({
        "order_number": order.number,
        "customer_po": order.customer_po,
        "ship_to": ship_to,
        "warehouse_code": wh_code,
        "warehouse_name": wh_name,
    });
    Ok(v)
}

// ---- returns ------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReturnCondition {
    /// Fit to sell again.
    Resaleable,
    Damaged,
}

#[derive(Debug, Clone, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnLineInput {
    pub delivery_line_id: i64,
    #[validate(custom(function = "ordo_core::validate::positive_qty"))]
    pub quantity: Quantity,
}

/// `POST /returns`: a return authorisation against a shipped delivery.
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnCreate {
    pub delivery_id: i64,
    #[validate(length(min = 1, max = 500))]
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
    pub condition: ReturnCondition,
    #[validate(length(min = 1, max = 200), nested)]
    #[schema(min_items = 1, max_items = 200)]
    pub lines: Vec<ReturnLineInput>,
}

/// `POST /returns/{id}/receive`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnReceive {
    /// Where the goods go back (a quarantine warehouse for damaged goods).
    pub warehouse_id: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = returns, treat_none_as_null = true)]
pub struct ReturnRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub number: String,
    pub delivery_id: i64,
    pub sales_order_id: i64,
    pub customer_id: i64,
    pub status: String,
    pub reason: String,
    pub condition: String,
    pub warehouse_id: Option<i64>,
    pub received_at: Option<PrimitiveDateTime>,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = return_lines, treat_none_as_default_value = false)]
pub struct ReturnLineRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub return_id: i64,
    pub delivery_line_id: i64,
    pub item_id: i64,
    pub quantity: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReturnLine {
    pub delivery_line_id: i64,
    pub item_id: i64,
    pub quantity: Quantity,
    /// Only with `?expand=lines.item`: the item's SKU, name and base unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<ItemRef>,
}

/// A return authorisation; once `received`, it is what a credit note will credit.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = ReturnAuthorization)]
pub struct Return {
    pub id: i64,
    /// e.g. `RMA-2026-000001`.
    pub number: String,
    pub delivery_id: i64,
    pub sales_order_id: i64,
    pub customer_id: i64,
    /// `authorised`, `received` or `cancelled`.
    pub status: String,
    pub reason: String,
    pub condition: ReturnCondition,
    pub warehouse_id: Option<i64>,
    #[serde(serialize_with = "ordo_core::serde_util::rfc3339_opt::serialize")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub received_at: Option<OffsetDateTime>,
    pub lines: Vec<ReturnLine>,
    /// With `?expand=`: the customer and its owner, embedded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expanded: Option<Expanded>,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl ReturnRow {
    fn to_model(&self, lines: &[ReturnLineRow]) -> Return {
        Return {
            id: self.id,
            number: self.number.clone(),
            delivery_id: self.delivery_id,
            sales_order_id: self.sales_order_id,
            customer_id: self.customer_id,
            status: self.status.clone(),
            reason: self.reason.clone(),
            condition: if self.condition == "damaged" { ReturnCondition::Damaged } else { ReturnCondition::Resaleable },
            warehouse_id: self.warehouse_id,
            received_at: self.received_at.map(|t| t.assume_utc()),
            lines: lines
                .iter()
                .map(|l| ReturnLine {
                    delivery_line_id: l.delivery_line_id,
                    item_id: l.item_id,
                    quantity: Quantity::from_scaled(l.quantity),
                    item: None,
                })
                .collect(),
            expanded: None,
            version: self.version,
            created_at: self.created_at.assume_utc(),
        }
    }
}

fn return_lines_of(conn: &mut DbConnection, id: i64) -> Result<Vec<ReturnLineRow>> {
    Ok(return_lines::table
        .filter(return_lines::return_id.eq(id))
        .order(return_lines::id.asc())
        .select(ReturnLineRow::as_select())
        .load(conn)?)
}

pub fn find_return(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<ReturnRow> {
    let q = returns::table.filter(returns::id.eq(id)).select(ReturnRow::as_select()).into_boxed();
    ordo_sales_docs::scoped!(q, caller, returns::customer_id)
        .first(conn)
        .optional()?
        .ok_or_else(|| DomainError::not_found("return", id))
}

pub fn create_return(conn: &mut DbConnection, caller: &Caller, r: ReturnCreate) -> Result<Return> {
    // The order is locked first: concurrent returns of the same delivery queue, and
    // each sees what the ones before it authorised.
    let (d, _) = locked(conn, caller, r.delivery_id).map_err(|e| match e {
        DomainError::NotFound { .. } => DomainError::reference_not_found("delivery", "delivery_id", r.delivery_id),
        e => e,
    })?;
    caller.require(Permission::ReturnsWrite)?;
    if d.status != DeliveryStatus::Shipped.as_str() {
        return Err(DomainError::conflict(
            "not_shipped",
            format!("delivery {} is {}: only shipped goods come back", d.number, d.status),
        ));
    }
    let dlines = lines_of(conn, &[d.id])?;
    // Already returned (authorised or received) per delivery line.
    let ids: Vec<i64> = dlines.iter().map(|l| l.id).collect();
    let taken: Vec<(i64, i64)> = return_lines::table
        .inner_join(returns::table.on(returns::id.eq(return_lines::return_id)))
        .filter(return_lines::delivery_line_id.eq_any(&ids))
        .filter(returns::status.ne("cancelled"))
        .select((return_lines::delivery_line_id, return_lines::quantity))
        .load(conn)?;
    let mut errs = vec![];
    let mut rows = vec![];
    for (n, l) in r.lines.iter().enumerate() {
        let Some(dl) = dlines.iter().find(|x| x.id == l.delivery_line_id) else {
            return Err(DomainError::reference_not_found(
                "delivery line",
                &format!("lines[{n}].delivery_line_id"),
                l.delivery_line_id,
            ));
        };
        let before: i64 = taken.iter().filter(|t| t.0 == dl.id).map(|t| t.1).sum::<i64>()
            + rows.iter().filter(|x: &&ReturnLineRow| x.delivery_line_id == dl.id).map(|x| x.quantity).sum::<i64>();
        if before + l.quantity.to_scaled() > dl.quantity {
            errs.push(FieldError::new(
                format!("lines[{n}].quantity"),
                "exceeds_delivered",
                format!(
                    "only {} was delivered and is not on a return yet",
                    Quantity::from_scaled(dl.quantity - before)
                ),
            ));
        }
        rows.push(ReturnLineRow {
            id: 0,
            return_id: 0,
            delivery_line_id: dl.id,
            item_id: dl.item_id,
            quantity: l.quantity.to_scaled(),
        });
    }
    if !errs.is_empty() {
        return Err(DomainError::Rule {
            code: "exceeds_delivered",
            detail: "more would come back than was delivered".into(),
            errors: errs,
        });
    }
    let ts = now();
    let head = ReturnRow {
        id: 0,
        number: series::next_number(conn, RETURN)?,
        delivery_id: d.id,
        sales_order_id: d.sales_order_id,
        customer_id: d.customer_id,
        status: "authorised".into(),
        reason: r.reason,
        condition: if r.condition == ReturnCondition::Damaged { "damaged".into() } else { "resaleable".into() },
        warehouse_id: None,
        received_at: None,
        version: 1,
        created_at: ts,
        updated_at: ts,
    };
    let saved: ReturnRow =
        diesel::insert_into(returns::table).values(&head).returning(returns::all_columns).get_result(conn)?;
    for x in rows.iter_mut() {
        x.return_id = saved.id;
    }
    let lines =
        ordo_db::insert_batch!(conn, return_lines::table, &rows, returning return_lines::all_columns => ReturnLineRow);
    let v = saved.to_model(&lines);
    audit::record(conn, caller, RETURN, v.id, "create", &to_json(&v))?;
    Ok(v)
}

/// Puts the goods back through the ledger into the chosen warehouse; the order lines
/// count them returned, and back-orders there are served from them.
pub fn receive_return(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    r: ReturnReceive,
) -> Result<Return> {
    ordo_db::lock::parent(conn, "sales_orders", "returns", "sales_order_id", id)?;
    let current = find_return(conn, caller, id)?;
    write(caller)?;
    check_version(if_match, current.version)?;
    if current.status != "authorised" {
        return Err(DomainError::conflict(
            "invalid_transition",
            format!("return {} is {}", current.number, current.status),
        ));
    }
    stock::referenced_warehouse(conn, "warehouse_id", r.warehouse_id)?;
    let lines = return_lines_of(conn, id)?;
    let pairs: Vec<(i64, i64)> = lines.iter().map(|l| (l.item_id, r.warehouse_id)).collect();
    stock::lock_balances(conn, &pairs, true)?;
    let dl: HashMap<i64, (i64, Option<i64>)> = delivery_lines::table
        .filter(delivery_lines::delivery_id.eq(current.delivery_id))
        .select((delivery_lines::id, delivery_lines::order_line_id, delivery_lines::unit_cost))
        .load::<(i64, i64, Option<i64>)>(conn)?
        .into_iter()
        .map(|(i, l, c)| (i, (l, c)))
        .collect();
    for l in &lines {
        let (order_line, cost) = dl.get(&l.delivery_line_id).copied().unwrap_or((0, None));
        stock::post(
            conn,
            caller,
            stock::Movement {
                item_id: l.item_id,
                warehouse_id: r.warehouse_id,
                kind: MovementKind::Return,
                quantity: l.quantity,
                unit_cost: cost,
                doc: Some((RETURN, id)),
                reason: Some(current.reason.clone()),
                field: "warehouse_id",
            },
            true,
        )?;
        diesel::update(order_line_stock::table.filter(order_line_stock::line_id.eq(order_line)))
            .set((
                order_line_stock::returned.eq(order_line_stock::returned + l.quantity),
                order_line_stock::version.eq(order_line_stock::version + 1),
            ))
            .execute(conn)?;
        crate::reservations::fill_backorders(conn, l.item_id, r.warehouse_id)?;
    }
    let mut row = current.clone();
    row.status = "received".into();
    row.warehouse_id = Some(r.warehouse_id);
    row.received_at = Some(now());
    row.version += 1;
    row.updated_at = now();
    let saved: ReturnRow = ordo_db::save_versioned!(conn, returns, &row, current.version)?;
    audit::record(conn, caller, RETURN, id, "receive", &serde_json::json!({"warehouse_id": r.warehouse_id}))?;
    Ok(saved.to_model(&lines))
}

pub fn get_return(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<Return> {
    read(caller)?;
    let row = find_return(conn, caller, id)?;
    Ok(row.to_model(&return_lines_of(conn, id)?))
}

#[derive(Debug, Clone, Default)]
pub struct ReturnFilter {
    pub delivery_id: Option<i64>,
    pub search: ordo_sales_docs::docs::DocSearch,
}

pub fn list_returns(
    conn: &mut DbConnection,
    caller: &Caller,
    f: &ReturnFilter,
    page: &PageRequest,
) -> Result<Page<Return>> {
    read(caller)?;
    let build = || {
        let mut q = returns::table
            .inner_join(DOC_CUSTOMER.on(DOC_CUSTOMER.field(customers::id).eq(returns::customer_id)))
            .select((ReturnRow::as_select(), DOC_CUSTOMER.field(customers::name)))
            .into_boxed();
        q = ordo_sales_docs::scoped!(q, caller, returns::customer_id);
        q = ordo_sales_docs::doc_search!(q, &f.search, number: returns::number, customer: returns::customer_id,
            created: returns::created_at, updated: returns::updated_at);
        if let Some(d) = f.delivery_id {
            q = q.filter(returns::delivery_id.eq(d));
        }
        q
    };
    let total = ordo_db::total!(conn, page, build());
    let mut rows = ordo_sales_docs::doc_page!(conn, build(), page, returns, ReturnRow);
    rows.total = total;
    let rows = rows.map(|r| r.0);
    let ids: Vec<i64> = rows.data.iter().map(|r| r.id).collect();
    let all: Vec<ReturnLineRow> = return_lines::table
        .filter(return_lines::return_id.eq_any(&ids))
        .select(ReturnLineRow::as_select())
        .load(conn)?;
    let data = rows
        .data
        .iter()
        .map(|r| r.to_model(&all.iter().filter(|l| l.return_id == r.id).cloned().collect::<Vec<_>>()))
        .collect();
    let mut data: Vec<Return> = data;
    ordo_sales_docs::expand::apply(conn, &mut data, &f.search.expand)?;
    Ok(Page { data, next_cursor: rows.next_cursor, total: rows.total })
}

ordo_sales_docs::expandable!(Delivery, lines: |d| d.lines.iter_mut().map(|l| (l.item_id, &mut l.item)).collect());
ordo_sales_docs::expandable!(Return, lines: |d| d.lines.iter_mut().map(|l| (l.item_id, &mut l.item)).collect());
