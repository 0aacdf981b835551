//! Order promising: per line the earliest working day the quantity can be delivered,
//! and how — from stock now, from an expected receipt (available-to-promise), or
//! beyond that capable-to-promise from replenishment (purchase lead time, or
//! production lead time and the daily capacity left after production already
//! promised). All date arithmetic uses the company's working-day calendar.

use diesel::prelude::*;
use ordo_core::{Caller, DomainError, Permission, Quantity, Result};
use ordo_db::crud::Record;
use ordo_db::schema::{calendar_settings, document_lines, holidays, items, order_line_stock, replenishment_parameters};
use ordo_db::DbConnection;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime};
use validator::Validate;

use crate::stock::{read, write};

// ---- replenishment parameters -----------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplenishmentMethod {
    Purchase,
    Produce,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplenishmentCreate {
    pub item_id: i64,
    /// For one warehouse; without it the parameters hold for every warehouse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warehouse_id: Option<i64>,
    pub method: ReplenishmentMethod,
    /// Working days from order to availability.
    #[validate(range(min = 0, max = 3650))]
    #[schema(minimum = 0, maximum = 3650)]
    pub lead_time_days: i32,
    /// Kept back: never promised.
    #[serde(default)]
    #[validate(custom(function = "ordo_core::validate::non_negative_qty"))]
    pub safety_stock: Quantity,
    /// `produce`: units per working day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(custom(function = "ordo_core::validate::positive_qty"))]
    pub daily_capacity: Option<Quantity>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Replenishment {
    pub id: i64,
    #[serde(flatten)]
    pub data: ReplenishmentCreate,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = replenishment_parameters, treat_none_as_null = true)]
pub struct ReplenishmentRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub item_id: i64,
    pub warehouse_id: Option<i64>,
    pub method: String,
    pub lead_time_days: i32,
    pub safety_stock: i64,
    pub daily_capacity: Option<i64>,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

impl Record for ReplenishmentRow {
    type Create = ReplenishmentCreate;
    type Model = Replenishment;
    fn from_create(id: i64, c: &ReplenishmentCreate, version: i64, created_at: PrimitiveDateTime) -> Self {
        ReplenishmentRow {
            id,
            item_id: c.item_id,
            warehouse_id: c.warehouse_id,
            method: if c.method == ReplenishmentMethod::Produce { "produce".into() } else { "purchase".into() },
            lead_time_days: c.lead_time_days,
            safety_stock: c.safety_stock.to_scaled(),
            daily_capacity: c.daily_capacity.map(|q| q.to_scaled()),
            version,
            created_at,
            updated_at: created_at,
        }
    }
    fn to_create(&self) -> Result<ReplenishmentCreate> {
        Ok(ReplenishmentCreate {
            item_id: self.item_id,
            warehouse_id: self.warehouse_id,
            method: if self.method == "produce" { ReplenishmentMethod::Produce } else { ReplenishmentMethod::Purchase },
            lead_time_days: self.lead_time_days,
            safety_stock: Quantity::from_scaled(self.safety_stock),
            daily_capacity: self.daily_capacity.map(Quantity::from_scaled),
        })
    }
    fn to_model(&self) -> Result<Replenishment> {
        Ok(Replenishment {
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

pub mod replenishment_service {
    use super::*;
    #[derive(Debug, Clone, Default)]
    pub struct Filter {
        pub item_id: Option<i64>,
    }
    fn filter<'a>(q: Query<'a>, f: &Filter) -> Query<'a> {
        match f.item_id {
            Some(i) => q.filter(replenishment_parameters::item_id.eq(i)),
            None => q,
        }
    }
    fn check(conn: &mut DbConnection, _caller: &Caller, c: &ReplenishmentCreate, id: Option<i64>) -> Result<()> {
        crate::stock::stock_item(conn, "item_id", c.item_id)?;
        if let Some(w) = c.warehouse_id {
            crate::stock::referenced_warehouse(conn, "warehouse_id", w)?;
        }
        if c.method == ReplenishmentMethod::Produce && c.daily_capacity.is_none() {
            return Err(DomainError::field("daily_capacity", "required", "production needs a daily capacity"));
        }
        let mut q = replenishment_parameters::table
            .filter(replenishment_parameters::item_id.eq(c.item_id))
            .filter(replenishment_parameters::id.ne(id.unwrap_or(-1)))
            .into_boxed();
        q = match c.warehouse_id {
            Some(w) => q.filter(replenishment_parameters::warehouse_id.eq(w)),
            None => q.filter(replenishment_parameters::warehouse_id.is_null()),
        };
        if q.count().get_result::<i64>(conn)? > 0 {
            return Err(DomainError::conflict("duplicate", "this item already has parameters for that warehouse"));
        }
        Ok(())
    }
    ordo_db::crud_service!(entity: "replenishment_parameters", name: "replenishment parameters", table: replenishment_parameters, row: ReplenishmentRow);
}

// ---- the working-day calendar ------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Holiday {
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub date: Date,
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
}

/// The company's working days: every day except the weekend days and the holidays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Calendar {
    /// ISO weekday numbers that are not worked (Monday = 1 … Sunday = 7); default [6, 7].
    #[validate(length(max = 6), custom(function = "crate::promising::weekdays"))]
    pub weekend: Vec<u8>,
    #[validate(length(max = 1000), nested)]
    #[schema(max_items = 1000)]
    pub holidays: Vec<Holiday>,
}

pub fn weekdays(w: &[u8]) -> std::result::Result<(), validator::ValidationError> {
    if w.iter().all(|d| (1..=7).contains(d)) {
        Ok(())
    } else {
        let mut e = validator::ValidationError::new("weekday");
        e.message = Some("weekdays are 1 (Monday) to 7 (Sunday)".into());
        Err(e)
    }
}

/// Loaded once per request: working-day arithmetic without further queries.
#[derive(Debug, Clone)]
pub struct WorkDays {
    weekend: BTreeSet<u8>,
    holidays: BTreeSet<Date>,
}

impl WorkDays {
    /// A calendar from its parts (ISO weekday numbers off; holidays).
    pub fn new(weekend: impl IntoIterator<Item = u8>, holidays: impl IntoIterator<Item = Date>) -> WorkDays {
        WorkDays { weekend: weekend.into_iter().collect(), holidays: holidays.into_iter().collect() }
    }
    pub fn load(conn: &mut DbConnection) -> Result<WorkDays> {
        let weekend: String = calendar_settings::table
            .select(calendar_settings::weekend)
            .first(conn)
            .optional()?
            .unwrap_or("[6,7]".into());
        let holidays: Vec<Date> = holidays::table.select(holidays::day).load(conn)?;
        Ok(WorkDays {
            weekend: serde_json::from_str(&weekend).unwrap_or_else(|_| [6, 7].into_iter().collect()),
            holidays: holidays.into_iter().collect(),
        })
    }
    pub fn is_working(&self, d: Date) -> bool {
        !self.weekend.contains(&d.weekday().number_from_monday()) && !self.holidays.contains(&d)
    }
    /// `d` if it is a working day, else the next one.
    pub fn on_or_after(&self, mut d: Date) -> Date {
        for _ in 0..400 {
            if self.is_working(d) {
                return d;
            }
            d += Duration::days(1);
        }
        d
    }
    /// `n` working days after `d` (0: `d` itself or the next working day).
    pub fn add(&self, d: Date, n: i64) -> Date {
        let mut d = self.on_or_after(d);
        for _ in 0..n {
            d = self.on_or_after(d + Duration::days(1));
        }
        d
    }
}

pub fn get_calendar(conn: &mut DbConnection, caller: &Caller) -> Result<Calendar> {
    read(caller)?;
    let w = WorkDays::load(conn)?;
    let names: Vec<(Date, String)> =
        holidays::table.order(holidays::day.asc()).select((holidays::day, holidays::name)).load(conn)?;
    Ok(Calendar {
        weekend: w.weekend.into_iter().collect(),
        holidays: names.into_iter().map(|(date, name)| Holiday { date, name }).collect(),
    })
}

/// Replaces the calendar (weekend days and the whole holiday list).
pub fn put_calendar(conn: &mut DbConnection, caller: &Caller, c: Calendar) -> Result<Calendar> {
    write(caller)?;
    if c.weekend.len() >= 7 {
        return Err(DomainError::field("weekend", "no_working_day", "at least one weekday must be worked"));
    }
    let before = get_calendar(conn, caller)?;
    let weekend: BTreeSet<u8> = c.weekend.iter().copied().collect();
    diesel::update(calendar_settings::table)
        .set((
            calendar_settings::weekend.eq(serde_json::to_string(&weekend).unwrap_or_default()),
            calendar_settings::version.eq(calendar_settings::version + 1),
        ))
        .execute(conn)?;
    diesel::delete(holidays::table).execute(conn)?;
    let mut seen = BTreeSet::new();
    #[derive(Insertable)]
    #[diesel(table_name = holidays, treat_none_as_default_value = false)]
    struct NewHoliday {
        day: Date,
        name: String,
    }
    let rows: Vec<NewHoliday> = c
        .holidays
        .iter()
        .filter(|h| seen.insert(h.date))
        .map(|h| NewHoliday { day: h.date, name: h.name.clone() })
        .collect();
    if !rows.is_empty() {
        ordo_db::insert_batch!(conn, holidays::table, &rows);
    }
    let after = get_calendar(conn, caller)?;
    ordo_db::audit::record(
        conn,
        caller,
        "calendar",
        1,
        "update",
        &ordo_db::audit::diff(&ordo_core::util::to_json(&before), &ordo_core::util::to_json(&after)),
    )?;
    Ok(after)
}

// ---- promising ---------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromiseLine {
    pub item_id: i64,
    /// In the item's base unit.
    #[validate(custom(function = "ordo_core::validate::positive_qty"))]
    pub quantity: Quantity,
    /// Default today.
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub requested_date: Option<Date>,
    /// Default: the default warehouse.
    pub warehouse_id: Option<i64>,
}

/// `POST /promising`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromiseRequest {
    #[validate(length(min = 1, max = 1000), nested)]
    #[schema(min_items = 1, max_items = 1000)]
    pub lines: Vec<PromiseLine>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PromiseSource {
    /// From stock on hand now.
    Stock,
    /// From an expected receipt (available-to-promise).
    ExpectedReceipt,
    /// Beyond stock and receipts, from replenishment (lead time, capacity).
    CapableToPromise,
    /// Nothing known can cover it (no replenishment parameters).
    None,
}

impl PromiseSource {
    fn as_str(&self) -> &'static str {
        match self {
            Self::Stock => "stock",
            Self::ExpectedReceipt => "expected_receipt",
            Self::CapableToPromise => "capable_to_promise",
            Self::None => "none",
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PromisedLine {
    /// Index of the line in the request (or the document's line id).
    pub line: i64,
    pub item_id: i64,
    pub warehouse_id: i64,
    pub quantity: Quantity,
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub requested_date: Date,
    #[serde(serialize_with = "ordo_core::serde_util::date::option::serialize")]
    #[schema(value_type = Option<String>, format = Date)]
    pub promised_date: Option<Date>,
    pub source: PromiseSource,
    pub explanation: String,
}

/// When a basket or a document's lines can be delivered, line by line.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = DeliveryPromise)]
pub struct Promise {
    pub lines: Vec<PromisedLine>,
    /// The date by which everything can be delivered (null if some line cannot be promised).
    #[serde(serialize_with = "ordo_core::serde_util::date::option::serialize")]
    #[schema(value_type = Option<String>, format = Date)]
    pub complete_by: Option<Date>,
}

/// The replenishment parameters for an item in a warehouse: the warehouse's own, else
/// the item's general ones.
fn parameters_for(params: &[ReplenishmentRow], item: i64, wh: i64) -> Option<&ReplenishmentRow> {
    params
        .iter()
        .find(|p| p.item_id == item && p.warehouse_id == Some(wh))
        .or_else(|| params.iter().find(|p| p.item_id == item && p.warehouse_id.is_none()))
}

/// Warehouses named on lines must exist, be active and not be quarantine (one query,
/// only when a line names one).
fn check_warehouses(conn: &mut DbConnection, lines: &[(i64, PromiseLine)]) -> Result<()> {
    use ordo_db::schema::warehouses;
    let named: Vec<i64> = lines.iter().filter_map(|(_, l)| l.warehouse_id).collect();
    if named.is_empty() {
        return Ok(());
    }
    let found: Vec<(i64, bool, bool)> = warehouses::table
        .filter(warehouses::id.eq_any(&named))
        .select((warehouses::id, warehouses::active, warehouses::quarantine))
        .load(conn)?;
    for (n, (_, l)) in lines.iter().enumerate() {
        let Some(w) = l.warehouse_id else { continue };
        let field = format!("lines[{n}].warehouse_id");
        match found.iter().find(|f| f.0 == w) {
            None => return Err(DomainError::reference_not_found("warehouse", &field, w)),
            Some((_, false, _)) => return Err(DomainError::field(&field, "inactive", "the warehouse is deactivated")),
            Some((_, _, true)) => {
                return Err(DomainError::field(&field, "quarantine", "quarantined goods are not promised"))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Promises a basket. Lines of the same item and warehouse draw on the same stock,
/// receipts and capacity one after another.
pub fn promise(
    conn: &mut DbConnection,
    caller: &Caller,
    lines: &[(i64, PromiseLine)],
    exclude_order: Option<i64>,
) -> Result<Promise> {
    read(caller)?;
    let cal = WorkDays::load(conn)?;
    let today = ordo_core::time_util::now().date();
    let default_wh = if lines.iter().any(|(_, l)| l.warehouse_id.is_none()) {
        Some(crate::stock::default_warehouse(conn)?)
    } else {
        None
    };
    let item_ids: Vec<i64> = lines.iter().map(|(_, l)| l.item_id).collect();
    let known: Vec<i64> = items::table.filter(items::id.eq_any(&item_ids)).select(items::id).load(conn)?;
    if let Some((n, l)) = lines.iter().enumerate().find(|(_, (_, l))| !known.contains(&l.item_id)) {
        return Err(DomainError::reference_not_found("item", &format!("lines[{n}].item_id"), l.1.item_id));
    }
    check_warehouses(conn, lines)?;
    let params: Vec<ReplenishmentRow> = replenishment_parameters::table
        .filter(replenishment_parameters::item_id.eq_any(&item_ids))
        .select(ReplenishmentRow::as_select())
        .load(conn)?;
    // Production already promised per item (open order lines promised from capacity).
    let mut promised_production: HashMap<i64, BTreeMap<Date, i64>> = HashMap::new();
    let mut pq = document_lines::table
        .filter(document_lines::doc_kind.eq("sales_order"))
        .filter(document_lines::item_id.eq_any(&item_ids))
        .filter(document_lines::promise_source.eq(PromiseSource::CapableToPromise.as_str()))
        .filter(document_lines::promised_date.ge(today))
        .select((
            document_lines::item_id,
            document_lines::promised_date.assume_not_null(),
            document_lines::base_quantity,
        ))
        .into_boxed();
    if let Some(o) = exclude_order {
        pq = pq.filter(document_lines::doc_id.ne(o));
    }
    for (item, d, q) in pq.load::<(i64, Date, i64)>(conn)? {
        *promised_production.entry(item).or_default().entry(d).or_default() += q;
    }
    // The availability projection per (item, warehouse), consumed as lines are promised.
    let pairs: Vec<(i64, i64)> =
        lines.iter().map(|(_, l)| (l.item_id, l.warehouse_id.or(default_wh).unwrap_or_default())).collect();
    let mut projections =
        crate::availability::projections_for(conn, &pairs, today + Duration::days(730), exclude_order)?;
    // Safety stock is never promised.
    for ((item, wh), (available, _)) in projections.iter_mut() {
        *available -= parameters_for(&params, *item, *wh).map(|p| p.safety_stock).unwrap_or(0);
    }
    let mut out = vec![];
    for (n, l) in lines {
        let wh = l.warehouse_id.or(default_wh).unwrap_or_default();
        let requested = l.requested_date.unwrap_or(today).max(today);
        let param = parameters_for(&params, l.item_id, wh);
        let (start, days) = projections.get_mut(&(l.item_id, wh)).expect("every line's pair is projected");
        let q = l.quantity.to_scaled();
        let proj = crate::availability::project(*start, days);
        // The first date from which ATP covers the line (ATP is non-decreasing).
        let hit = proj.iter().find(|d| d.available_to_promise.to_scaled() >= q).map(|d| d.date);
        let (date, source, why) = match hit {
            Some(d) if d <= today => {
                (cal.on_or_after(requested), PromiseSource::Stock, format!("{} in stock now", l.quantity))
            }
            Some(d) => (
                cal.on_or_after(d.max(requested)),
                PromiseSource::ExpectedReceipt,
                format!("available to promise from the expected receipt of {d}"),
            ),
            None => {
                let covered = proj.last().map(|d| d.available_to_promise.to_scaled()).unwrap_or(0).max(0);
                let short = q - covered;
                match param {
                    None => (
                        requested,
                        PromiseSource::None,
                        format!("{} short and the item has no replenishment parameters", Quantity::from_scaled(short)),
                    ),
                    Some(p) if p.method == "purchase" => {
                        let d = cal.add(today, p.lead_time_days.into());
                        (
                            d.max(cal.on_or_after(requested)),
                            PromiseSource::CapableToPromise,
                            format!(
                                "{} to purchase: {} working days lead time",
                                Quantity::from_scaled(short),
                                p.lead_time_days
                            ),
                        )
                    }
                    Some(p) => {
                        let cap = p.daily_capacity.unwrap_or(1).max(1);
                        let booked = promised_production.entry(l.item_id).or_default();
                        // Fill working days from the end of the lead time with what capacity is left.
                        let mut day = cal.add(today, p.lead_time_days.into());
                        let mut left = short;
                        let mut guard = 0;
                        loop {
                            let used = booked.get(&day).copied().unwrap_or(0);
                            let free = (cap - used).max(0);
                            let take = free.min(left);
                            if take > 0 {
                                *booked.entry(day).or_default() += take;
                                left -= take;
                            }
                            guard += 1;
                            if left <= 0 || guard > 3650 {
                                break;
                            }
                            day = cal.add(day, 1);
                        }
                        let days_needed = Decimal::from(short) / Decimal::from(cap);
                        (
                            day.max(cal.on_or_after(requested)),
                            PromiseSource::CapableToPromise,
                            format!(
                                "{} to produce: {} working days lead time, then {} per day ({} days of capacity at the rate)",
                                Quantity::from_scaled(short),
                                p.lead_time_days,
                                Quantity::from_scaled(cap),
                                days_needed.round_dp(2)
                            ),
                        )
                    }
                }
            }
        };
        // The promise is demand from now on for later lines of the basket.
        if source != PromiseSource::None {
            days.entry(date).or_default().1 += q.min(match source {
                PromiseSource::CapableToPromise => {
                    proj.last().map(|d| d.available_to_promise.to_scaled()).unwrap_or(0).max(0)
                }
                _ => q,
            });
        }
        out.push(PromisedLine {
            line: *n,
            item_id: l.item_id,
            warehouse_id: wh,
            quantity: l.quantity,
            requested_date: requested,
            promised_date: (source != PromiseSource::None).then_some(date),
            source,
            explanation: why,
        });
    }
    let complete_by = if out.iter().all(|l| l.promised_date.is_some()) {
        out.iter().filter_map(|l| l.promised_date).max()
    } else {
        None
    };
    Ok(Promise { lines: out, complete_by })
}

/// Promises an order's (or quotation's) stock lines; with `accept` the promised dates
/// are written onto the order lines.
pub fn promise_document(
    conn: &mut DbConnection,
    caller: &Caller,
    kind: ordo_sales_docs::lines::DocKind,
    id: i64,
    accept: bool,
) -> Result<Promise> {
    use ordo_sales_docs::lines::{self, DocKind};
    // The warehouse a line without its own is served from: the order's, else the
    // customer's default (else the company's default, which `promise` fills in).
    let (doc_wh, customer) = match kind {
        DocKind::SalesOrder => {
            let o = ordo_sales_docs::orders::find(conn, caller, id)?;
            (o.warehouse_id, o.customer_id)
        }
        _ => (None, ordo_sales_docs::quotations::find(conn, caller, id)?.customer_id),
    };
    caller.require(Permission::SalesDocsRead)?;
    let doc_wh = match doc_wh {
        Some(w) => Some(w),
        None => ordo_db::schema::customers::table
            .find(customer)
            .select(ordo_db::schema::customers::default_warehouse_id)
            .first::<Option<i64>>(conn)?,
    };
    let doc_lines = lines::load(conn, kind, id)?;
    let ids: Vec<i64> = doc_lines.iter().map(|l| l.item_id).collect();
    let stock_items: Vec<i64> =
        items::table.filter(items::id.eq_any(&ids)).filter(items::kind.eq("stock")).select(items::id).load(conn)?;
    // A confirmed line's reserved part is already covered: promise what is back-ordered.
    let held: HashMap<i64, (i64, i64)> = order_line_stock::table
        .filter(order_line_stock::sales_order_id.eq(id))
        .select((order_line_stock::line_id, order_line_stock::backordered, order_line_stock::warehouse_id))
        .load::<(i64, i64, i64)>(conn)?
        .into_iter()
        .map(|(l, b, w)| (l, (b, w)))
        .collect();
    let basket: Vec<(i64, PromiseLine)> = doc_lines
        .iter()
        .filter(|l| stock_items.contains(&l.item_id))
        .map(|l| {
            let (q, wh) = match (kind, held.get(&l.id)) {
                (DocKind::SalesOrder, Some((b, w))) => (*b, Some(*w)),
                _ => (l.base_quantity, l.warehouse_id.or(doc_wh)),
            };
            (
                l.id,
                PromiseLine {
                    item_id: l.item_id,
                    quantity: Quantity::from_scaled(q),
                    requested_date: l.requested_date,
                    warehouse_id: wh,
                },
            )
        })
        .collect();
    if basket.is_empty() {
        return Ok(Promise { lines: vec![], complete_by: None });
    }
    let p = promise(conn, caller, &basket, (kind == DocKind::SalesOrder).then_some(id))?;
    if accept {
        if kind != DocKind::SalesOrder {
            return Err(DomainError::field(
                "accept",
                "orders_only",
                "promised dates are written onto sales orders only",
            ));
        }
        caller.require(Permission::SalesDocsWrite)?;
        for l in &p.lines {
            // A line not confirmed yet is served from where the promise found it.
            let fixes_warehouse = !held.contains_key(&l.line);
            diesel::update(document_lines::table.find(l.line))
                .set((
                    document_lines::promised_date.eq(l.promised_date),
                    document_lines::promise_source.eq(l.source.as_str()),
                ))
                .execute(conn)?;
            if fixes_warehouse {
                diesel::update(document_lines::table.find(l.line).filter(document_lines::warehouse_id.is_null()))
                    .set(document_lines::warehouse_id.eq(l.warehouse_id))
                    .execute(conn)?;
            }
            diesel::update(order_line_stock::table.filter(order_line_stock::line_id.eq(l.line)))
                .set(order_line_stock::promised_date.eq(l.promised_date))
                .execute(conn)?;
        }
        ordo_db::audit::record(
            conn,
            caller,
            ordo_sales_docs::orders::ENTITY,
            id,
            "promise",
            &ordo_core::util::to_json(&p),
        )?;
    }
    Ok(p)
}

/// The stock facts of each stock line of a quotation or sales order (`?include=availability`):
/// what is free now, what the line holds and has received, the earliest promise date for
/// what is still open, and the ledger cost of what was delivered.
pub fn line_availability(
    conn: &mut DbConnection,
    caller: &Caller,
    kind: ordo_sales_docs::lines::DocKind,
    id: i64,
) -> Result<HashMap<i64, ordo_sales_docs::lines::LineAvailability>> {
    use ordo_db::schema::delivery_lines;
    use ordo_sales_docs::lines::LineAvailability;
    let promise = promise_document(conn, caller, kind, id, false)?;
    let held: HashMap<i64, crate::reservations::LineStockRow> = order_line_stock::table
        .filter(order_line_stock::sales_order_id.eq(if kind == ordo_sales_docs::lines::DocKind::SalesOrder {
            id
        } else {
            -1
        }))
        .select(crate::reservations::LineStockRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|r: crate::reservations::LineStockRow| (r.line_id, r))
        .collect();
    let line_ids: Vec<i64> = promise.lines.iter().map(|l| l.line).collect();
    let costs: HashMap<i64, i64> = delivery_lines::table
        .filter(delivery_lines::order_line_id.eq_any(&line_ids))
        .select((delivery_lines::order_line_id, delivery_lines::quantity, delivery_lines::unit_cost))
        .load::<(i64, i64, Option<i64>)>(conn)?
        .into_iter()
        .fold(HashMap::new(), |mut m, (l, q, c)| {
            let cost = ordo_core::Money::from_scaled(c.unwrap_or(0)).value() * Quantity::from_scaled(q).value();
            *m.entry(l).or_insert(0) += ordo_core::Money::new(cost.round_dp(4)).map(|m| m.to_scaled()).unwrap_or(0);
            m
        });
    let items: Vec<i64> = promise.lines.iter().map(|l| l.item_id).collect();
    let free = crate::availability::free_stock(conn, &items)?;
    let q = |v: i64| Some(Quantity::from_scaled(v));
    Ok(promise
        .lines
        .into_iter()
        .map(|p| {
            let h = held.get(&p.line);
            (
                p.line,
                LineAvailability {
                    warehouse_id: Some(p.warehouse_id),
                    available_now: Quantity::from_scaled(free.get(&(p.item_id, p.warehouse_id)).copied().unwrap_or(0)),
                    ordered: h.and_then(|h| q(h.ordered)),
                    reserved: h.and_then(|h| q(h.reserved)),
                    backordered: h.and_then(|h| q(h.backordered)),
                    delivered: h.and_then(|h| q(h.delivered)),
                    returned: h.and_then(|h| q(h.returned)),
                    earliest_date: p.promised_date,
                    source: Some(p.source.as_str().to_string()),
                    delivered_cost: costs.get(&p.line).map(|c| ordo_core::Money::from_scaled(*c)),
                },
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn working_days_skip_weekends_and_holidays() {
        let cal =
            WorkDays { weekend: [6, 7].into_iter().collect(), holidays: [date!(2026 - 12 - 25)].into_iter().collect() };
        assert_eq!(cal.on_or_after(date!(2026 - 11 - 28)), date!(2026 - 11 - 30), "Saturday → Monday");
        assert_eq!(cal.add(date!(2026 - 11 - 27), 1), date!(2026 - 11 - 30), "Friday + 1 → Monday");
        assert_eq!(cal.add(date!(2026 - 12 - 23), 2), date!(2026 - 12 - 28), "over Christmas and a weekend");
        assert_eq!(cal.add(date!(2026 - 11 - 26), 0), date!(2026 - 11 - 26));
    }
}
