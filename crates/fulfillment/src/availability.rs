//! Expected receipts, the availability projection with available-to-promise, and the
//! order completeness analysis. All read through indexed queries (balances, open
//! expected receipts, back-ordered lines, open order lines), never the ledger.

use diesel::prelude::*;
use ordo_core::{Caller, DomainError, Page, PageRequest, Permission, Quantity, Result};
use ordo_db::crud::Record;
use ordo_db::schema::{document_lines, expected_receipts, items, order_line_stock, sales_orders, stock_balances};
use ordo_db::DbConnection;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime};
use validator::Validate;

use crate::stock::{read, write};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptSource {
    SupplierOrder,
    ProductionOrder,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExpectedStatus {
    Open,
    /// Arrived (post the receipt too); drops out of the projection.
    Received,
    Cancelled,
}

fn source_str(s: ReceiptSource) -> &'static str {
    match s {
        ReceiptSource::SupplierOrder => "supplier_order",
        ReceiptSource::ProductionOrder => "production_order",
        ReceiptSource::Other => "other",
    }
}
fn status_str(s: ExpectedStatus) -> &'static str {
    match s {
        ExpectedStatus::Open => "open",
        ExpectedStatus::Received => "received",
        ExpectedStatus::Cancelled => "cancelled",
    }
}
fn open() -> ExpectedStatus {
    ExpectedStatus::Open
}

/// An incoming quantity announced by a purchasing or planning system.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectedReceiptCreate {
    pub item_id: i64,
    pub warehouse_id: i64,
    /// In the item's base unit.
    #[validate(custom(function = "ordo_core::validate::positive_qty"))]
    pub quantity: Quantity,
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub expected_date: Date,
    pub source: ReceiptSource,
    /// The supplier or production order number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub reference: Option<String>,
    #[serde(default = "open")]
    pub status: ExpectedStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ExpectedReceipt {
    pub id: i64,
    #[serde(flatten)]
    pub data: ExpectedReceiptCreate,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = expected_receipts, treat_none_as_null = true)]
pub struct ExpectedReceiptRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub item_id: i64,
    pub warehouse_id: i64,
    pub quantity: i64,
    pub expected_date: Date,
    pub source: String,
    pub reference: Option<String>,
    pub status: String,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

impl Record for ExpectedReceiptRow {
    type Create = ExpectedReceiptCreate;
    type Model = ExpectedReceipt;
    fn from_create(id: i64, c: &ExpectedReceiptCreate, version: i64, created_at: PrimitiveDateTime) -> Self {
        ExpectedReceiptRow {
            id,
            item_id: c.item_id,
            warehouse_id: c.warehouse_id,
            quantity: c.quantity.to_scaled(),
            expected_date: c.expected_date,
            source: source_str(c.source).into(),
            reference: c.reference.clone(),
            status: status_str(c.status).into(),
            version,
            created_at,
            updated_at: created_at,
        }
    }
    fn to_create(&self) -> Result<ExpectedReceiptCreate> {
        let bad = || DomainError::Internal(format!("expected receipt {}: unreadable", self.id));
        Ok(ExpectedReceiptCreate {
            item_id: self.item_id,
            warehouse_id: self.warehouse_id,
            quantity: Quantity::from_scaled(self.quantity),
            expected_date: self.expected_date,
            source: [ReceiptSource::SupplierOrder, ReceiptSource::ProductionOrder, ReceiptSource::Other]
                .into_iter()
                .find(|s| source_str(*s) == self.source)
                .ok_or_else(bad)?,
            reference: self.reference.clone(),
            status: [ExpectedStatus::Open, ExpectedStatus::Received, ExpectedStatus::Cancelled]
                .into_iter()
                .find(|s| status_str(*s) == self.status)
                .ok_or_else(bad)?,
        })
    }
    fn to_model(&self) -> Result<ExpectedReceipt> {
        Ok(ExpectedReceipt {
            id: self.id,
            data: self.to_create()?,
            version: self.version,
            created_at: self.created_at.assume_utc(),
            updated_at: self.updated_at.assume_utc(),
        })
    }
    fn version(&self) -> i64 {
        self.version
    }
}

pub mod expected_receipt_service {
    use super::*;
    #[derive(Debug, Clone, Default)]
    pub struct Filter {
        pub item_id: Option<i64>,
        pub warehouse_id: Option<i64>,
        pub status: Option<ExpectedStatus>,
    }
    fn filter<'a>(mut q: Query<'a>, f: &Filter) -> Query<'a> {
        if let Some(i) = f.item_id {
            q = q.filter(expected_receipts::item_id.eq(i));
        }
        if let Some(w) = f.warehouse_id {
            q = q.filter(expected_receipts::warehouse_id.eq(w));
        }
        if let Some(s) = f.status {
            q = q.filter(expected_receipts::status.eq(status_str(s)));
        }
        q
    }
    fn check(conn: &mut DbConnection, _caller: &Caller, c: &ExpectedReceiptCreate, _id: Option<i64>) -> Result<()> {
        crate::stock::stock_item(conn, "item_id", c.item_id)?;
        crate::stock::referenced_warehouse(conn, "warehouse_id", c.warehouse_id)?;
        Ok(())
    }
    ordo_db::crud_service!(entity: "expected_receipt", name: "expected receipt", table: expected_receipts, row: ExpectedReceiptRow);
}

// ---- availability --------------------------------------------------------------------------

/// One date of the projection.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProjectedDay {
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub date: Date,
    /// Expected receipts due that day.
    pub receipts: Quantity,
    /// Firm demand not yet covered by a reservation, by requested date.
    pub demand: Quantity,
    /// Available after that day's movements.
    pub projected_available: Quantity,
    /// What can still be promised for that day without breaking a later commitment.
    pub available_to_promise: Quantity,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Availability {
    pub item_id: i64,
    /// Null: all warehouses except quarantine ones.
    pub warehouse_id: Option<i64>,
    pub on_hand: Quantity,
    pub reserved: Quantity,
    /// on hand − reserved.
    pub available: Quantity,
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub to: Date,
    /// Today first, then every date with a movement.
    pub projection: Vec<ProjectedDay>,
}

fn today() -> Date {
    ordo_core::time_util::now().date()
}

/// Dated movements per item asked for (each with at least today): receipts (+) and
/// uncovered firm demand (−), three indexed queries for any number of items.
fn movements(
    conn: &mut DbConnection,
    items: &[i64],
    wh: Option<i64>,
    to: Date,
    exclude_order: Option<i64>,
) -> Result<HashMap<i64, Movements>> {
    let skip = exclude_order.unwrap_or(-1);
    let mut out: HashMap<i64, Movements> = HashMap::new();
    let d0 = today();
    let mut rq = expected_receipts::table
        .filter(expected_receipts::item_id.eq_any(items))
        .filter(expected_receipts::status.eq("open"))
        .filter(expected_receipts::expected_date.le(to))
        .select((expected_receipts::item_id, expected_receipts::expected_date, expected_receipts::quantity))
        .into_boxed();
    // Back-orders of confirmed orders.
    let mut bq = order_line_stock::table
        .filter(order_line_stock::item_id.eq_any(items))
        .filter(order_line_stock::backordered.gt(0i64))
        .filter(order_line_stock::requested_date.le(to))
        .filter(order_line_stock::sales_order_id.ne(skip))
        .select((order_line_stock::item_id, order_line_stock::requested_date, order_line_stock::backordered))
        .into_boxed();
    if let Some(w) = wh {
        rq = rq.filter(expected_receipts::warehouse_id.eq(w));
        bq = bq.filter(order_line_stock::warehouse_id.eq(w));
    }
    for (i, d, q) in rq.load::<(i64, Date, i64)>(conn)? {
        out.entry(i).or_default().entry(d.max(d0)).or_default().0 += q;
    }
    for (i, d, q) in bq.load::<(i64, Date, i64)>(conn)? {
        out.entry(i).or_default().entry(d.max(d0)).or_default().1 += q;
    }
    // Approved or pending orders, not confirmed yet: all of their quantity is demand.
    // (item, line date, order date, document date, base quantity)
    type Demand = (i64, Option<Date>, Option<Date>, Date, i64);
    let unconfirmed: Vec<Demand> = document_lines::table
        .inner_join(sales_orders::table.on(sales_orders::id.eq(document_lines::doc_id)))
        .filter(document_lines::doc_kind.eq("sales_order"))
        .filter(document_lines::item_id.eq_any(items))
        .filter(sales_orders::status.eq_any(["pending_approval", "approved"]))
        .filter(sales_orders::id.ne(skip))
        .select((
            document_lines::item_id,
            document_lines::requested_date,
            sales_orders::requested_date,
            sales_orders::doc_date,
            document_lines::base_quantity,
        ))
        .load(conn)?;
    for (i, line, order, doc, q) in unconfirmed {
        let d = line.or(order).unwrap_or(doc).max(d0);
        if d <= to {
            out.entry(i).or_default().entry(d).or_default().1 += q;
        }
    }
    // Every item asked for has a projection, starting today.
    for i in items {
        out.entry(*i).or_default().entry(d0).or_default();
    }
    Ok(out)
}

/// On hand, reserved, available now, and the dated projection with ATP per date.
pub fn availability(
    conn: &mut DbConnection,
    caller: &Caller,
    item: i64,
    wh: Option<i64>,
    to: Option<Date>,
) -> Result<Availability> {
    read(caller)?;
    let exists: i64 = items::table.filter(items::id.eq(item)).count().get_result(conn)?;
    if exists == 0 {
        return Err(DomainError::not_found("item", item));
    }
    if let Some(w) = wh {
        crate::stock::referenced_warehouse(conn, "warehouse_id", w)?;
    }
    let to = to.unwrap_or(today() + Duration::days(90));
    if to < today() {
        return Err(DomainError::field("to", "past", "must not be before today"));
    }
    let mut bq = stock_balances::table
        .filter(stock_balances::item_id.eq(item))
        .select((stock_balances::on_hand, stock_balances::reserved))
        .into_boxed();
    match wh {
        Some(w) => bq = bq.filter(stock_balances::warehouse_id.eq(w)),
        // Over all warehouses: quarantined goods are not available.
        None => bq = bq.filter(stock_balances::warehouse_id.ne_all(crate::stock::quarantine_ids(conn)?)),
    }
    let (on_hand, reserved) = bq.load::<(i64, i64)>(conn)?.into_iter().fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    let days = movements(conn, &[item], wh, to, None)?.remove(&item).unwrap_or_default();
    let projection = project(on_hand - reserved, &days);
    Ok(Availability {
        item_id: item,
        warehouse_id: wh,
        on_hand: Quantity::from_scaled(on_hand),
        reserved: Quantity::from_scaled(reserved),
        available: Quantity::from_scaled(on_hand - reserved),
        to,
        projection,
    })
}

/// Receipts in and demand out per date (scaled quantities).
pub type Movements = BTreeMap<Date, (i64, i64)>;

/// Unreserved stock per (item, warehouse) of these items.
pub fn free_stock(conn: &mut DbConnection, items: &[i64]) -> Result<HashMap<(i64, i64), i64>> {
    Ok(stock_balances::table
        .filter(stock_balances::item_id.eq_any(items))
        .select((
            stock_balances::item_id,
            stock_balances::warehouse_id,
            stock_balances::on_hand - stock_balances::reserved,
        ))
        .load::<(i64, i64, i64)>(conn)?
        .into_iter()
        .map(|(i, w, f)| ((i, w), f))
        .collect())
}

/// Per (item, warehouse): available now and the dated movements, leaving out one
/// order's own demand (the order being promised). One query for the balances and
/// three per distinct warehouse, however many lines.
pub fn projections_for(
    conn: &mut DbConnection,
    pairs: &[(i64, i64)],
    to: Date,
    exclude_order: Option<i64>,
) -> Result<HashMap<(i64, i64), (i64, Movements)>> {
    let items: Vec<i64> = pairs.iter().map(|p| p.0).collect();
    let free = free_stock(conn, &items)?;
    let mut by_wh: BTreeMap<i64, std::collections::BTreeSet<i64>> = BTreeMap::new();
    for (i, w) in pairs {
        by_wh.entry(*w).or_default().insert(*i);
    }
    let mut out = HashMap::new();
    for (w, its) in by_wh {
        let its: Vec<i64> = its.into_iter().collect();
        let mut moves = movements(conn, &its, Some(w), to, exclude_order)?;
        for i in its {
            let days = moves.remove(&i).unwrap_or_default();
            out.insert((i, w), (free.get(&(i, w)).copied().unwrap_or(0), days));
        }
    }
    Ok(out)
}

/// Running availability per date and ATP: the least projected availability from that
/// date on (nothing promised today may be missing on a later date), never below 0.
pub fn project(start: i64, days: &BTreeMap<Date, (i64, i64)>) -> Vec<ProjectedDay> {
    let mut running = start;
    let mut out: Vec<(Date, i64, i64, i64)> = vec![];
    for (d, (inn, out_q)) in days {
        running += inn - out_q;
        out.push((*d, *inn, *out_q, running));
    }
    let mut min_after = i64::MAX;
    let mut atp = vec![0; out.len()];
    for (n, row) in out.iter().enumerate().rev() {
        min_after = min_after.min(row.3);
        atp[n] = min_after.max(0);
    }
    out.into_iter()
        .zip(atp)
        .map(|((date, r, d, p), a)| ProjectedDay {
            date,
            receipts: Quantity::from_scaled(r),
            demand: Quantity::from_scaled(d),
            projected_available: Quantity::from_scaled(p),
            available_to_promise: Quantity::from_scaled(a),
        })
        .collect()
}

// ---- completeness ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Completeness {
    /// Every stock line is reserved in full.
    Full,
    Partial,
    /// Nothing is reserved.
    None,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MissingLine {
    pub line_id: i64,
    pub item_id: i64,
    pub missing: Quantity,
    /// When open expected receipts (served oldest requested date first) cover it; null if they do not.
    #[serde(serialize_with = "ordo_core::serde_util::date::option::serialize")]
    #[schema(value_type = Option<String>, format = Date)]
    pub expected_date: Option<Date>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrderCompleteness {
    pub sales_order_id: i64,
    pub number: String,
    pub customer_id: i64,
    pub can_ship: Completeness,
    pub missing: Vec<MissingLine>,
    /// When the whole order could ship: the latest expected date of its missing lines.
    #[serde(serialize_with = "ordo_core::serde_util::date::option::serialize")]
    #[schema(value_type = Option<String>, format = Date)]
    pub complete_by: Option<Date>,
}

/// Open orders (in execution) that can ship now in full, in part or not at all, with
/// what is missing and the expected date that would complete them. Paged by order id.
pub fn completeness(conn: &mut DbConnection, caller: &Caller, page: &PageRequest) -> Result<Page<OrderCompleteness>> {
    caller.require(Permission::StockRead)?;
    let mut q = sales_orders::table
        .filter(sales_orders::status.eq("in_execution"))
        .select((sales_orders::id, sales_orders::number, sales_orders::customer_id))
        .into_boxed();
    q = ordo_sales_docs::scoped!(q, caller, sales_orders::customer_id);
    let orders =
        Page::from_rows(ordo_db::keyset!(q, page, sales_orders::id).load::<(i64, String, i64)>(conn)?, page, |o| o.0);
    let ids: Vec<i64> = orders.data.iter().map(|o| o.0).collect();
    let lines: Vec<crate::reservations::LineStockRow> = order_line_stock::table
        .filter(order_line_stock::sales_order_id.eq_any(&ids))
        .select(crate::reservations::LineStockRow::as_select())
        .load(conn)?;
    // Expected dates: for the items short on this page, allocate open receipts to all
    // their back-orders (every order, not just this page) oldest requested date first.
    let short: Vec<i64> = lines.iter().filter(|l| l.backordered > 0).map(|l| l.item_id).collect();
    let all_backorders: Vec<(i64, i64, i64, Date, i64)> = order_line_stock::table
        .filter(order_line_stock::item_id.eq_any(&short))
        .filter(order_line_stock::backordered.gt(0i64))
        .order((order_line_stock::requested_date.asc(), order_line_stock::id.asc()))
        .select((
            order_line_stock::line_id,
            order_line_stock::item_id,
            order_line_stock::warehouse_id,
            order_line_stock::requested_date,
            order_line_stock::backordered,
        ))
        .load(conn)?;
    let receipts: Vec<(i64, i64, Date, i64)> = expected_receipts::table
        .filter(expected_receipts::item_id.eq_any(&short))
        .filter(expected_receipts::status.eq("open"))
        .order(expected_receipts::expected_date.asc())
        .select((
            expected_receipts::item_id,
            expected_receipts::warehouse_id,
            expected_receipts::expected_date,
            expected_receipts::quantity,
        ))
        .load(conn)?;
    let mut covered: HashMap<i64, Date> = HashMap::new();
    let mut queues: HashMap<(i64, i64), Vec<(Date, i64)>> = HashMap::new();
    for (item, wh, d, q) in receipts {
        queues.entry((item, wh)).or_default().push((d, q));
    }
    for (line, item, wh, _, mut need) in all_backorders {
        let Some(queue) = queues.get_mut(&(item, wh)) else { continue };
        while need > 0 {
            let Some(front) = queue.first_mut() else { break };
            let take = front.1.min(need);
            need -= take;
            front.1 -= take;
            let date = front.0;
            if front.1 == 0 {
                queue.remove(0);
            }
            if need == 0 {
                covered.insert(line, date);
            }
        }
    }
    let data = orders
        .data
        .into_iter()
        .map(|(id, number, customer_id)| {
            let mine: Vec<&crate::reservations::LineStockRow> =
                lines.iter().filter(|l| l.sales_order_id == id).collect();
            let needed: i64 = mine.iter().map(|l| (l.ordered - l.delivered).max(0)).sum();
            let reserved: i64 = mine.iter().map(|l| l.reserved).sum();
            let missing: Vec<MissingLine> = mine
                .iter()
                .filter(|l| l.backordered > 0)
                .map(|l| MissingLine {
                    line_id: l.line_id,
                    item_id: l.item_id,
                    missing: Quantity::from_scaled(l.backordered),
                    expected_date: covered.get(&l.line_id).copied(),
                })
                .collect();
            let complete_by = if missing.iter().all(|m| m.expected_date.is_some()) {
                missing.iter().filter_map(|m| m.expected_date).max()
            } else {
                None
            };
            OrderCompleteness {
                sales_order_id: id,
                number,
                customer_id,
                can_ship: if missing.is_empty() && needed > 0 || needed == 0 {
                    Completeness::Full
                } else if reserved > 0 {
                    Completeness::Partial
                } else {
                    Completeness::None
                },
                missing,
                complete_by,
            }
        })
        .collect();
    Ok(Page { data, next_cursor: orders.next_cursor, total: orders.total })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn atp_never_promises_what_a_later_date_needs() {
        let mut days = BTreeMap::new();
        days.insert(date!(2026 - 01 - 01), (0, 0));
        days.insert(date!(2026 - 01 - 05), (0, 80_000)); // 8 out
        days.insert(date!(2026 - 01 - 10), (50_000, 0)); // 5 in
        days.insert(date!(2026 - 01 - 12), (0, 40_000)); // 4 out
        let p = project(100_000, &days); // 10 available now
        let projected: Vec<String> = p.iter().map(|d| d.projected_available.to_string()).collect();
        assert_eq!(projected, vec!["10", "2", "7", "3"]);
        let atp: Vec<String> = p.iter().map(|d| d.available_to_promise.to_string()).collect();
        assert_eq!(atp, vec!["2", "2", "3", "3"]);
    }
}
