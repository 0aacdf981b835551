//! Blanket orders (long-term framework agreements): agreed quantities and prices per
//! item, or a value ceiling, over a validity period, with an optional delivery
//! schedule. Call-off orders consume them with conditional atomic updates, so two
//! concurrent call-offs cannot take more than is left. Blanket orders reserve nothing;
//! their schedule is planned demand.

use crate::docs::DOC_CUSTOMER;
use diesel::prelude::*;
use ordo_core::time_util::now;
use ordo_core::util::{check_version, to_json, Removal};
use ordo_core::{Caller, Currency, DomainError, FieldError, Money, Page, PageRequest, Permission, Quantity, Result};
use ordo_db::audit::{self};
use ordo_db::schema::{blanket_orders, blanket_schedule_lines, customers, document_lines, sales_orders};
use ordo_db::{series, DbConnection};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime};
use validator::Validate;

use crate::core::{self, Document, Priced};
use crate::docs::{self, read, write};
use crate::lines::{self, DocKind, Line, LineInput, LineRow, PricingHeader, PricingLine};
use crate::quotations::today;

pub const ENTITY: &str = "blanket_order";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BlanketKind {
    /// Agreed quantities per line: call-offs consume each line's quantity.
    Quantity,
    /// A total value ceiling: call-offs consume value (net, document currency).
    Value,
}

impl BlanketKind {
    fn as_str(&self) -> &'static str {
        match self {
            BlanketKind::Quantity => "quantity",
            BlanketKind::Value => "value",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        [Self::Quantity, Self::Value].into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BlanketStatus {
    Draft,
    /// Call-offs may be made (within the validity dates).
    Active,
    Closed,
    Cancelled,
}

impl BlanketStatus {
    fn as_str(&self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Active => "active",
            Self::Closed => "closed",
            Self::Cancelled => "cancelled",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        [Self::Draft, Self::Active, Self::Closed, Self::Cancelled].into_iter().find(|k| k.as_str() == s)
    }
}

/// A blanket order as written. On PATCH (drafts only) header fields merge; lines
/// change through `/blanket-orders/{id}/lines`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlanketOrderCreate {
    pub customer_id: i64,
    pub kind: BlanketKind,
    /// Default: the customer's currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub valid_from: Date,
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub valid_to: Date,
    /// Required for `value` blanket orders: the most that may be called off (net).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(custom(function = "crate::blanket::positive_money"))]
    pub value_ceiling: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub contract_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sales_person_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 4000))]
    #[schema(max_length = 4000)]
    pub notes: Option<String>,
    /// Agreed quantities and prices (from the price engine unless set by hand).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[validate(length(max = 1000), nested)]
    #[schema(max_items = 1000)]
    pub lines: Vec<LineInput>,
}

pub fn positive_money(m: &Money) -> Result<(), validator::ValidationError> {
    if m.value() > Decimal::ZERO {
        Ok(())
    } else {
        let mut e = validator::ValidationError::new("range");
        e.message = Some("must be greater than 0".into());
        Err(e)
    }
}

/// A blanket line with what is left of it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BlanketLine {
    #[serde(flatten)]
    pub line: Line,
    /// Agreed quantity not yet called off.
    pub remaining_quantity: Quantity,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BlanketOrder {
    pub id: i64,
    /// e.g. `BO-2026-000003`.
    pub number: String,
    pub status: BlanketStatus,
    pub status_reason: Option<String>,
    pub customer_id: i64,
    pub kind: BlanketKind,
    pub currency: Currency,
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub valid_from: Date,
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub valid_to: Date,
    pub value_ceiling: Option<Money>,
    /// Net value of all call-offs so far.
    pub called_off_value: Money,
    /// `value` blanket orders: ceiling minus called off.
    pub remaining_value: Option<Money>,
    pub contract_number: Option<String>,
    pub quotation_id: Option<i64>,
    pub sales_person_id: Option<i64>,
    pub notes: Option<String>,
    /// Net value of the agreed lines at their agreed prices.
    pub agreed_value: Money,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<BlanketLine>>,
    /// With `?expand=`: the customer, contact, owner and sales person, embedded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expanded: Option<crate::expand::Expanded>,
    #[serde(serialize_with = "ordo_core::serde_util::rfc3339_opt::serialize")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub archived_at: Option<OffsetDateTime>,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = blanket_orders, treat_none_as_null = true)]
pub struct BlanketRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub number: String,
    pub customer_id: i64,
    pub kind: String,
    pub currency: String,
    pub valid_from: Date,
    pub valid_to: Date,
    pub value_ceiling: Option<i64>,
    pub called_off_value: i64,
    pub contract_number: Option<String>,
    pub quotation_id: Option<i64>,
    pub sales_person_id: Option<i64>,
    pub notes: Option<String>,
    pub status: String,
    pub status_reason: Option<String>,
    pub archived_at: Option<PrimitiveDateTime>,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

fn bad(id: i64, what: &str) -> DomainError {
    DomainError::Internal(format!("blanket order {id}: stored {what} is unreadable"))
}

impl BlanketRow {
    fn stored_status(&self) -> Result<BlanketStatus> {
        BlanketStatus::parse(&self.status).ok_or_else(|| bad(self.id, "status"))
    }
    fn currency(&self) -> Result<Currency> {
        Currency::from_code(&self.currency).ok_or_else(|| bad(self.id, "currency"))
    }
    pub fn to_model(&self, lines: &[LineRow], with_lines: bool) -> Result<BlanketOrder> {
        let agreed: i64 = lines.iter().map(|l| l.net).sum();
        Ok(BlanketOrder {
            id: self.id,
            number: self.number.clone(),
            status: self.stored_status()?,
            status_reason: self.status_reason.clone(),
            customer_id: self.customer_id,
            kind: BlanketKind::parse(&self.kind).ok_or_else(|| bad(self.id, "kind"))?,
            currency: self.currency()?,
            valid_from: self.valid_from,
            valid_to: self.valid_to,
            value_ceiling: self.value_ceiling.map(Money::from_scaled),
            called_off_value: Money::from_scaled(self.called_off_value),
            remaining_value: self.value_ceiling.map(|c| Money::from_scaled(c - self.called_off_value)),
            contract_number: self.contract_number.clone(),
            quotation_id: self.quotation_id,
            sales_person_id: self.sales_person_id,
            notes: self.notes.clone(),
            agreed_value: Money::from_scaled(agreed),
            lines: with_lines
                .then(|| {
                    lines
                        .iter()
                        .map(|l| {
                            Ok(BlanketLine {
                                line: l.to_model()?,
                                remaining_quantity: Quantity::from_scaled(l.quantity - l.called_off_quantity),
                            })
                        })
                        .collect::<Result<Vec<_>>>()
                })
                .transpose()?,
            expanded: None,
            archived_at: self.archived_at.map(|t| t.assume_utc()),
            version: self.version,
            created_at: self.created_at.assume_utc(),
            updated_at: self.updated_at.assume_utc(),
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub customer_id: Option<i64>,
    pub status: Option<BlanketStatus>,
    pub include_archived: bool,
    pub search: crate::docs::DocSearch,
}

pub fn find(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<BlanketRow> {
    core::find(conn, caller, id)
}

crate::document_table!(sales BlanketRow, blanket_orders, entity: ENTITY, noun: "blanket order", kind: DocKind::BlanketOrder,
    model: BlanketOrder, status: BlanketStatus, {
    fn status(&self) -> Result<BlanketStatus> {
        self.stored_status()
    }
    fn model(&self, lines: Option<&[LineRow]>) -> Result<BlanketOrder> {
        self.to_model(lines.unwrap_or_default(), lines.is_some())
    }
    /// The agreed value follows the lines, which the trail keeps apart.
    fn audit_view(&self, lines: &[LineRow]) -> Result<BlanketOrder> {
        self.to_model(lines, false)
    }
});

impl core::Priced for BlanketRow {
    type Header = BlanketOrderCreate;
    fn pricing_header(&self) -> Result<PricingHeader> {
        Ok(PricingHeader {
            customer_id: self.customer_id,
            currency: self.currency()?,
            date: self.valid_from.max(today()),
            price_list_id: None,
            coupon_code: None,
            campaign_id: None,
            territory_id: None,
            shipping_country: None,
        })
    }
    /// Blanket orders carry no totals of their own: their value is their lines'.
    fn set_pricing(&mut self, _: &lines::HeaderPricing) {}
    fn header(&self) -> Result<BlanketOrderCreate> {
        Ok(BlanketOrderCreate {
            customer_id: self.customer_id,
            kind: BlanketKind::parse(&self.kind).ok_or_else(|| bad(self.id, "kind"))?,
            currency: Some(self.currency()?),
            valid_from: self.valid_from,
            valid_to: self.valid_to,
            value_ceiling: self.value_ceiling.map(Money::from_scaled),
            contract_number: self.contract_number.clone(),
            sales_person_id: self.sales_person_id,
            notes: self.notes.clone(),
            lines: vec![],
        })
    }
    fn resolve(
        conn: &mut DbConnection,
        caller: &Caller,
        mut h: BlanketOrderCreate,
        current: Option<&Self>,
    ) -> Result<BlanketOrderCreate> {
        if current.is_none_or(|c| c.customer_id != h.customer_id) {
            let c = docs::document_customer(conn, caller, h.customer_id)?;
            if current.is_none() {
                h.currency = h.currency.or(Some(c.currency));
                h.sales_person_id = h.sales_person_id.or(c.sales_person_id);
            }
        }
        let mut errs = vec![];
        if h.valid_to < h.valid_from {
            errs.push(FieldError::new("valid_to", "before_start", "must not be before valid_from"));
        }
        if h.kind == BlanketKind::Value && h.value_ceiling.is_none() {
            errs.push(FieldError::new("value_ceiling", "required", "a value blanket order needs a ceiling"));
        }
        if !errs.is_empty() {
            return Err(DomainError::Validation(errs));
        }
        if let Some(sp) = h.sales_person_id.filter(|v| current.is_none_or(|c| c.sales_person_id != Some(*v))) {
            ordo_crm::service::check_team(
                conn,
                &ordo_crm::service::TeamRefs { sales_person_id: Some(sp), ..Default::default() },
            )?;
        }
        Ok(h)
    }
    fn apply(&mut self, h: &BlanketOrderCreate) {
        self.customer_id = h.customer_id;
        self.kind = h.kind.as_str().into();
        self.currency = h.currency.map(|c| c.code().to_string()).unwrap_or_default();
        self.valid_from = h.valid_from;
        self.valid_to = h.valid_to;
        self.value_ceiling = h.value_ceiling.map(|m| m.to_scaled());
        self.contract_number = h.contract_number.clone();
        self.sales_person_id = h.sales_person_id;
        self.notes = h.notes.clone();
    }
}

pub fn create(
    conn: &mut DbConnection,
    caller: &Caller,
    input: BlanketOrderCreate,
    base: Currency,
) -> Result<BlanketOrder> {
    write(caller)?;
    lines::no_call_offs(input.lines.iter().enumerate().map(|(n, l)| (format!("lines[{n}]."), l)))?;
    let overrides: Vec<_> = input.lines.iter().enumerate().map(|(n, l)| (n, l, None)).collect();
    lines::check_overrides(caller, &overrides)?;
    let lines_in = input.lines.clone();
    let h = BlanketRow::resolve(conn, caller, input, None)?;
    create_resolved(
        conn,
        caller,
        h,
        lines_in.into_iter().map(|input| PricingLine { input, locked: None }).collect(),
        base,
        None,
    )
}

fn create_resolved(
    conn: &mut DbConnection,
    caller: &Caller,
    h: BlanketOrderCreate,
    pricing_lines: Vec<PricingLine>,
    base: Currency,
    quotation_id: Option<i64>,
) -> Result<BlanketOrder> {
    let ts = now();
    let mut row = BlanketRow {
        id: 0,
        // Numbered after pricing (below), so the locked series row is held only for the inserts.
        number: String::new(),
        customer_id: 0,
        kind: String::new(),
        currency: String::new(),
        valid_from: h.valid_from,
        valid_to: h.valid_to,
        value_ceiling: None,
        called_off_value: 0,
        contract_number: None,
        quotation_id,
        sales_person_id: None,
        notes: None,
        status: BlanketStatus::Draft.as_str().into(),
        status_reason: None,
        archived_at: None,
        version: 1,
        created_at: ts,
        updated_at: ts,
    };
    row.apply(&h);
    let ph = row.pricing_header()?;
    let priced = lines::price(conn, caller, &ph, &pricing_lines, base, false)?;
    row.number = series::next_number(conn, ENTITY)?;
    let saved = row.insert(conn)?;
    let line_rows = lines::insert_all(conn, DocKind::BlanketOrder, saved.id, &priced.lines)?;
    let v = saved.to_model(&line_rows, true)?;
    audit::record(conn, caller, ENTITY, v.id, "create", &to_json(&v))?;
    Ok(v)
}

pub fn list(conn: &mut DbConnection, caller: &Caller, f: &Filter, page: &PageRequest) -> Result<Page<BlanketOrder>> {
    read(caller)?;
    let build = || {
        let mut q = blanket_orders::table
            .inner_join(DOC_CUSTOMER.on(DOC_CUSTOMER.field(customers::id).eq(blanket_orders::customer_id)))
            .select((BlanketRow::as_select(), DOC_CUSTOMER.field(customers::name)))
            .into_boxed();
        q = crate::scoped!(q, caller, blanket_orders::customer_id);
        q = crate::doc_search!(q, &f.search, number: blanket_orders::number, customer: blanket_orders::customer_id,
            date: blanket_orders::valid_from, updated: blanket_orders::updated_at);
        if !f.include_archived {
            q = q.filter(blanket_orders::archived_at.is_null());
        }
        if let Some(c) = f.customer_id {
            q = q.filter(blanket_orders::customer_id.eq(c));
        }
        if let Some(s) = f.status {
            q = q.filter(blanket_orders::status.eq(s.as_str()));
        }
        q
    };
    let total = ordo_db::total!(conn, page, build());
    let mut rows = crate::doc_page!(conn, build(), page, blanket_orders, BlanketRow, date: valid_from);
    rows.total = total;
    let rows = rows.map(|r| r.0);
    // Agreed values for the page in one query.
    let ids: Vec<i64> = rows.data.iter().map(|r| r.id).collect();
    let all_lines: Vec<LineRow> = document_lines::table
        .filter(document_lines::doc_kind.eq(DocKind::BlanketOrder.as_str()))
        .filter(document_lines::doc_id.eq_any(&ids))
        .select(LineRow::as_select())
        .load(conn)?;
    let data = rows
        .data
        .iter()
        .map(|r| {
            let mine: Vec<LineRow> = all_lines.iter().filter(|l| l.doc_id == r.id).cloned().collect();
            r.to_model(&mine, false)
        })
        .collect::<Result<_>>()?;
    let mut data: Vec<BlanketOrder> = data;
    crate::expand::apply(conn, &mut data, &f.search.expand)?;
    Ok(Page { data, next_cursor: rows.next_cursor, total: rows.total })
}

pub fn activate(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<BlanketOrder> {
    core::transition::<BlanketRow>(
        conn,
        caller,
        id,
        if_match,
        &[BlanketStatus::Draft],
        BlanketStatus::Active,
        None,
        true,
    )
}
pub fn close(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<BlanketOrder> {
    core::transition::<BlanketRow>(
        conn,
        caller,
        id,
        if_match,
        &[BlanketStatus::Active],
        BlanketStatus::Closed,
        None,
        false,
    )
}
pub fn cancel(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    reason: String,
) -> Result<BlanketOrder> {
    core::transition::<BlanketRow>(
        conn,
        caller,
        id,
        if_match,
        &[BlanketStatus::Draft, BlanketStatus::Active],
        BlanketStatus::Cancelled,
        Some(reason),
        false,
    )
}

/// Archives a closed or cancelled blanket order.
pub fn archive(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<BlanketOrder> {
    core::archive::<BlanketRow>(conn, caller, id, if_match, &[BlanketStatus::Closed, BlanketStatus::Cancelled], |row| {
        row.archived_at = Some(now())
    })
}

pub fn delete(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
) -> Result<Removal<BlanketOrder>> {
    let current: BlanketRow = core::editable(conn, caller, id, if_match)?;
    let stored = lines::load(conn, DocKind::BlanketOrder, id)?;
    diesel::delete(blanket_schedule_lines::table.filter(blanket_schedule_lines::blanket_order_id.eq(id)))
        .execute(conn)?;
    core::remove(conn, caller, &current, &stored)?;
    Ok(Removal::Deleted)
}

/// An accepted quotation as a draft blanket order: its lines with the quoted prices
/// as agreed quantities and prices, valid from today for a year.
pub fn from_quotation(
    conn: &mut DbConnection,
    caller: &Caller,
    quotation_id: i64,
    if_match: Option<i64>,
    base: Currency,
) -> Result<BlanketOrder> {
    let (q, qlines) = crate::quotations::for_conversion(conn, caller, quotation_id, if_match)?;
    let from = format!("quotation {} rev {}", q.number, q.revision);
    let h = BlanketOrderCreate {
        customer_id: q.customer_id,
        kind: BlanketKind::Quantity,
        currency: Currency::from_code(&q.currency),
        valid_from: today(),
        valid_to: today() + Duration::days(365),
        value_ceiling: None,
        contract_number: None,
        sales_person_id: q.sales_person_id,
        notes: Some(format!("From {from}.")),
        lines: vec![],
    };
    let h = BlanketRow::resolve(conn, caller, h, None)?;
    let b = create_resolved(conn, caller, h, crate::orders::locked_copies(&qlines, &from)?, base, Some(q.id))?;
    crate::quotations::mark_converted(conn, caller, &q, None, Some(b.id))?;
    Ok(b)
}

// ---- delivery schedule ------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Weekly,
    Monthly,
}

/// `POST /blanket-orders/{id}/schedule`: `quantity` per period for one line between two
/// dates, generated into dated schedule lines (replacing that line's schedule).
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    pub line_id: i64,
    pub period: Period,
    #[validate(custom(function = "ordo_core::validate::positive_qty"))]
    pub quantity: Quantity,
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub from: Date,
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub to: Date,
}

/// One dated quantity of a blanket line's delivery schedule.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScheduleLine {
    pub id: i64,
    pub line_id: i64,
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub due_date: Date,
    pub quantity: Quantity,
    pub version: i64,
}

/// `PATCH /blanket-orders/{id}/schedule/{schedule_id}`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SchedulePatch {
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub due_date: Option<Date>,
    #[validate(custom(function = "ordo_core::validate::positive_qty"))]
    pub quantity: Option<Quantity>,
}

type ScheduleRow = (i64, i64, Date, i64, i64);

/// The dates of each period from `from` to `to` inclusive.
pub fn period_dates(period: Period, from: Date, to: Date) -> Vec<Date> {
    let mut out = vec![];
    let mut d = from;
    let mut months = 0u32;
    while d <= to && out.len() < 1000 {
        out.push(d);
        d = match period {
            Period::Weekly => d + Duration::weeks(1),
            Period::Monthly => {
                months += 1;
                add_months(from, months)
            }
        };
    }
    out
}

/// `d` plus `n` months, clamped to the month's last day (31 Jan + 1 = 28/29 Feb).
fn add_months(d: Date, n: u32) -> Date {
    let total = d.month() as u32 - 1 + n;
    let year = d.year() + (total / 12) as i32;
    let month = Month::try_from((total % 12 + 1) as u8).unwrap_or(Month::January);
    let last = time::util::days_in_month(month, year);
    Date::from_calendar_date(year, month, d.day().min(last)).unwrap_or(d)
}

fn schedule_of(conn: &mut DbConnection, id: i64) -> Result<Vec<ScheduleLine>> {
    let rows: Vec<ScheduleRow> = blanket_schedule_lines::table
        .filter(blanket_schedule_lines::blanket_order_id.eq(id))
        .order((blanket_schedule_lines::due_date.asc(), blanket_schedule_lines::id.asc()))
        .select((
            blanket_schedule_lines::id,
            blanket_schedule_lines::line_id,
            blanket_schedule_lines::due_date,
            blanket_schedule_lines::quantity,
            blanket_schedule_lines::version,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, line_id, due_date, q, version)| ScheduleLine {
            id,
            line_id,
            due_date,
            quantity: Quantity::from_scaled(q),
            version,
        })
        .collect())
}

pub fn schedule(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<Vec<ScheduleLine>> {
    read(caller)?;
    find(conn, caller, id)?;
    schedule_of(conn, id)
}

fn schedulable(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<BlanketRow> {
    let row: BlanketRow = core::for_write(conn, caller, id, None)?;
    if !matches!(row.status()?, BlanketStatus::Draft | BlanketStatus::Active) {
        return Err(DomainError::conflict("blanket_closed", format!("blanket order {} is {}", row.number, row.status)));
    }
    Ok(row)
}

pub fn generate_schedule(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    r: ScheduleRequest,
) -> Result<Vec<ScheduleLine>> {
    let b = schedulable(conn, caller, id)?;
    if r.to < r.from {
        return Err(DomainError::field("to", "before_start", "must not be before from"));
    }
    if r.from < b.valid_from || r.to > b.valid_to {
        return Err(DomainError::field(
            "from",
            "outside_validity",
            format!("the schedule must lie within {} to {}", b.valid_from, b.valid_to),
        ));
    }
    let owned: i64 = document_lines::table
        .filter(document_lines::id.eq(r.line_id))
        .filter(document_lines::doc_kind.eq(DocKind::BlanketOrder.as_str()))
        .filter(document_lines::doc_id.eq(id))
        .count()
        .get_result(conn)?;
    if owned == 0 {
        return Err(DomainError::reference_not_found("blanket line", "line_id", r.line_id));
    }
    diesel::delete(blanket_schedule_lines::table.filter(blanket_schedule_lines::line_id.eq(r.line_id)))
        .execute(conn)?;
    #[derive(Insertable)]
    #[diesel(table_name = blanket_schedule_lines, treat_none_as_default_value = false)]
    struct NewSchedule {
        blanket_order_id: i64,
        line_id: i64,
        due_date: Date,
        quantity: i64,
        version: i64,
    }
    let rows: Vec<NewSchedule> = period_dates(r.period, r.from, r.to)
        .into_iter()
        .map(|d| NewSchedule {
            blanket_order_id: id,
            line_id: r.line_id,
            due_date: d,
            quantity: r.quantity.to_scaled(),
            version: 1,
        })
        .collect();
    let n = ordo_db::insert_batch!(conn, blanket_schedule_lines::table, &rows);
    audit::record(
        conn,
        caller,
        ENTITY,
        id,
        "schedule",
        &serde_json::json!({"line_id": r.line_id, "period": r.period, "quantity": r.quantity, "from": r.from.to_string(), "to": r.to.to_string(), "lines": n}),
    )?;
    schedule_of(conn, id)
}

pub fn update_schedule_line(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    sid: i64,
    if_match: Option<i64>,
    p: SchedulePatch,
) -> Result<ScheduleLine> {
    let b = schedulable(conn, caller, id)?;
    let (_, line_id, due, qty, version): ScheduleRow = blanket_schedule_lines::table
        .filter(blanket_schedule_lines::id.eq(sid))
        .filter(blanket_schedule_lines::blanket_order_id.eq(id))
        .select((
            blanket_schedule_lines::id,
            blanket_schedule_lines::line_id,
            blanket_schedule_lines::due_date,
            blanket_schedule_lines::quantity,
            blanket_schedule_lines::version,
        ))
        .first(conn)
        .optional()?
        .ok_or_else(|| DomainError::not_found("schedule line", sid))?;
    check_version(if_match, version)?;
    let due2 = p.due_date.unwrap_or(due);
    if due2 < b.valid_from || due2 > b.valid_to {
        return Err(DomainError::field(
            "due_date",
            "outside_validity",
            format!("must lie within {} to {}", b.valid_from, b.valid_to),
        ));
    }
    let qty2 = p.quantity.map(|q| q.to_scaled()).unwrap_or(qty);
    diesel::update(
        blanket_schedule_lines::table
            .filter(blanket_schedule_lines::id.eq(sid))
            .filter(blanket_schedule_lines::version.eq(version)),
    )
    .set((
        blanket_schedule_lines::due_date.eq(due2),
        blanket_schedule_lines::quantity.eq(qty2),
        blanket_schedule_lines::version.eq(version + 1),
    ))
    .execute(conn)?;
    audit::record(
        conn,
        caller,
        ENTITY,
        id,
        "schedule",
        &serde_json::json!({"schedule_line_id": sid, "due_date": {"from": due.to_string(), "to": due2.to_string()},
            "quantity": {"from": Quantity::from_scaled(qty), "to": Quantity::from_scaled(qty2)}}),
    )?;
    Ok(ScheduleLine { id: sid, line_id, due_date: due2, quantity: Quantity::from_scaled(qty2), version: version + 1 })
}

pub fn delete_schedule_line(conn: &mut DbConnection, caller: &Caller, id: i64, sid: i64) -> Result<()> {
    schedulable(conn, caller, id)?;
    let n = diesel::delete(
        blanket_schedule_lines::table
            .filter(blanket_schedule_lines::id.eq(sid))
            .filter(blanket_schedule_lines::blanket_order_id.eq(id)),
    )
    .execute(conn)?;
    if n == 0 {
        return Err(DomainError::not_found("schedule line", sid));
    }
    audit::record(
        conn,
        caller,
        ENTITY,
        id,
        "schedule",
        &serde_json::json!({"schedule_line_id": sid, "deleted": true}),
    )?;
    Ok(())
}

// ---- call-offs ---------------------------------------------------------------------------

#[derive(Debug, Clone, Deserialize, Serialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallOffLine {
    /// The blanket order line to call off.
    pub line_id: i64,
    #[validate(custom(function = "ordo_core::validate::positive_qty"))]
    pub quantity: Quantity,
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub requested_date: Option<Date>,
}

/// `POST /blanket-orders/{id}/call-off`: a draft sales order at the agreed prices.
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallOffRequest {
    #[validate(length(min = 1, max = 1000), nested)]
    #[schema(min_items = 1, max_items = 1000)]
    pub lines: Vec<CallOffLine>,
    #[validate(length(min = 1, max = 100))]
    pub customer_po: Option<String>,
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub requested_date: Option<Date>,
    /// Call off more than is left (needs the `blanket_override` permission).
    #[serde(default)]
    pub allow_exceeding: bool,
}

/// Creates a draft call-off order and consumes the blanket order in the same
/// transaction: per line `quantity - called_off >= q` (quantity kind) or
/// `ceiling - called_off_value >= net` (value kind) in the UPDATE itself.
pub fn call_off(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    r: CallOffRequest,
    base: Currency,
) -> Result<crate::orders::SalesOrder> {
    let b = find(conn, caller, id)?;
    write(caller)?;
    if r.allow_exceeding {
        caller.require(Permission::BlanketOverride)?;
    }
    if b.status()? != BlanketStatus::Active {
        return Err(DomainError::conflict("blanket_not_active", format!("blanket order {} is {}", b.number, b.status)));
    }
    let d = today();
    if d < b.valid_from || d > b.valid_to {
        return Err(DomainError::rule(
            "blanket_expired",
            format!("blanket order {} is valid {} to {}", b.number, b.valid_from, b.valid_to),
        ));
    }
    let stored = lines::load(conn, DocKind::BlanketOrder, id)?;
    let mut pricing_lines = vec![];
    for (n, l) in r.lines.iter().enumerate() {
        let bl = stored.iter().find(|s| s.id == l.line_id && s.free_of_rule_id.is_none()).ok_or_else(|| {
            DomainError::reference_not_found("blanket line", &format!("lines[{n}].line_id"), l.line_id)
        })?;
        let mut input = bl.input()?;
        // The agreed net unit price, as a hand-set price with the agreement as reason.
        let unit_net = Money::new(
            (Money::from_scaled(bl.net).value() / Quantity::from_scaled(bl.quantity).value())
                .round_dp_with_strategy(Money::SCALE, rust_decimal::RoundingStrategy::MidpointAwayFromZero),
        )
        .map_err(|e| DomainError::Internal(e.to_string()))?;
        input.quantity = l.quantity;
        input.requested_date = l.requested_date.or(r.requested_date);
        input.manual_price = Some(unit_net);
        input.manual_discount_percent = None;
        input.override_reason = Some(format!("agreed in blanket order {}", b.number));
        input.blanket_line_id = Some(bl.id);
        pricing_lines.push(PricingLine { input, locked: None });
    }
    let customer =
        ordo_crm::scope::referenced_customer(conn, caller.scope(), "customer_id", b.customer_id)?.to_model()?;
    let h = crate::orders::SalesOrderCreate {
        customer_id: b.customer_id,
        order_type: "standard".into(),
        contact_id: None,
        customer_po: r.customer_po.clone(),
        currency: Some(b.currency()?),
        date: Some(d),
        requested_date: r.requested_date,
        ship_to: customer.shipping_address.clone().or(customer.billing_address.clone()),
        payment_terms_days: Some(customer.payment_terms_days),
        delivery_terms: None,
        contract_number: b.contract_number.clone(),
        price_list_id: None,
        sales_person_id: b.sales_person_id,
        sales_partner_id: customer.sales_partner_id,
        campaign_id: None,
        territory_id: customer.territory_id,
        notes: None,
        coupon_code: None,
        shipping_country: None,
        warehouse_id: None,
        lines: vec![],
    };
    if customer.status == ordo_crm::model::CustomerStatus::Blocked {
        return Err(DomainError::rule("customer_blocked", format!("customer {} is blocked", customer.number)));
    }
    let order = crate::orders::create_resolved(conn, caller, h, pricing_lines, base, None, Some(id))?;
    consume(conn, &b, &r, order.totals.net.to_scaled(), r.allow_exceeding)?;
    audit::record(
        conn,
        caller,
        ENTITY,
        id,
        "call_off",
        &serde_json::json!({"sales_order_id": order.id, "lines": r.lines, "net": order.totals.net}),
    )?;
    docs::journal(
        conn,
        caller,
        DocKind::SalesOrder,
        order.id,
        "draft",
        "event",
        format!("Called off blanket order {}.", b.number),
    )?;
    crate::orders::get(conn, caller, order.id)
}

fn consume(conn: &mut DbConnection, b: &BlanketRow, r: &CallOffRequest, net: i64, allow: bool) -> Result<()> {
    let mut errs = vec![];
    let quantity_kind = b.kind == BlanketKind::Quantity.as_str();
    for (n, l) in r.lines.iter().enumerate() {
        let q = l.quantity.to_scaled();
        let target = document_lines::table.filter(document_lines::id.eq(l.line_id));
        let updated = if quantity_kind && !allow {
            diesel::update(target.filter((document_lines::quantity - document_lines::called_off_quantity).ge(q)))
                .set(document_lines::called_off_quantity.eq(document_lines::called_off_quantity + q))
                .execute(conn)?
        } else {
            diesel::update(target)
                .set(document_lines::called_off_quantity.eq(document_lines::called_off_quantity + q))
                .execute(conn)?
        };
        if updated == 0 {
            errs.push(FieldError::new(
                format!("lines[{n}].quantity"),
                "exceeds_remaining",
                "more than the blanket line has left",
            ));
        }
    }
    let value_target = blanket_orders::table.filter(blanket_orders::id.eq(b.id));
    let updated = if !quantity_kind && !allow {
        diesel::update(
            value_target
                .filter((blanket_orders::value_ceiling.assume_not_null() - blanket_orders::called_off_value).ge(net)),
        )
        .set(blanket_orders::called_off_value.eq(blanket_orders::called_off_value + net))
        .execute(conn)?
    } else {
        diesel::update(value_target)
            .set(blanket_orders::called_off_value.eq(blanket_orders::called_off_value + net))
            .execute(conn)?
    };
    if updated == 0 {
        errs.push(FieldError::new(
            "lines",
            "exceeds_remaining_value",
            "the call-off's net value is more than the blanket order has left",
        ));
    }
    if !errs.is_empty() {
        return Err(DomainError::Rule {
            code: "blanket_exceeded",
            detail: "the call-off exceeds what the blanket order has left".into(),
            errors: errs,
        });
    }
    Ok(())
}

/// Gives back what a cancelled call-off order took from its blanket order.
pub fn release(conn: &mut DbConnection, order_id: i64, blanket_id: i64) -> Result<()> {
    let taken: Vec<(Option<i64>, i64)> = document_lines::table
        .filter(document_lines::doc_kind.eq(DocKind::SalesOrder.as_str()))
        .filter(document_lines::doc_id.eq(order_id))
        .filter(document_lines::blanket_line_id.is_not_null())
        .select((document_lines::blanket_line_id, document_lines::quantity))
        .load(conn)?;
    for (line, q) in taken {
        if let Some(l) = line {
            diesel::update(document_lines::table.find(l))
                .set(document_lines::called_off_quantity.eq(document_lines::called_off_quantity - q))
                .execute(conn)?;
        }
    }
    let net: i64 = sales_orders::table.find(order_id).select(sales_orders::net).first(conn)?;
    diesel::update(blanket_orders::table.find(blanket_id))
        .set(blanket_orders::called_off_value.eq(blanket_orders::called_off_value - net))
        .execute(conn)?;
    Ok(())
}

/// Sales-order lines that name blanket lines are call-offs: grouped under one blanket
/// order and consumed like `POST /blanket-orders/{id}/call-off`.
pub fn call_off_from_order(
    conn: &mut DbConnection,
    caller: &Caller,
    input: &crate::orders::SalesOrderCreate,
    base: Currency,
) -> Result<crate::orders::SalesOrder> {
    let mut blanket: Option<(i64, i64)> = None;
    let mut lines_out = vec![];
    for (n, l) in input.lines.iter().enumerate() {
        let field = format!("lines[{n}].blanket_line_id");
        let Some(bl) = l.blanket_line_id else {
            return Err(DomainError::field(&field, "required", "a call-off order has only blanket lines"));
        };
        let (doc_kind, doc_id): (String, i64) = document_lines::table
            .find(bl)
            .select((document_lines::doc_kind, document_lines::doc_id))
            .first(conn)
            .optional()?
            .ok_or_else(|| DomainError::reference_not_found("blanket line", &field, bl))?;
        if doc_kind != DocKind::BlanketOrder.as_str() {
            return Err(DomainError::reference_not_found("blanket line", &field, bl));
        }
        if blanket.is_some_and(|b| b.0 != doc_id) {
            return Err(DomainError::field(&field, "mixed_blankets", "all lines must call off the same blanket order"));
        }
        blanket = blanket.or(Some((doc_id, bl)));
        lines_out.push(CallOffLine { line_id: bl, quantity: l.quantity, requested_date: l.requested_date });
    }
    let (id, first) = blanket.ok_or_else(|| DomainError::field("lines", "required", "no lines"))?;
    // Another agent's blanket order is answered exactly like a missing line.
    let b = find(conn, caller, id)
        .map_err(|_| DomainError::reference_not_found("blanket line", "lines[0].blanket_line_id", first))?;
    if b.customer_id != input.customer_id {
        return Err(DomainError::field(
            "customer_id",
            "other_customer",
            "the blanket order belongs to another customer",
        ));
    }
    call_off(
        conn,
        caller,
        id,
        CallOffRequest {
            lines: lines_out,
            customer_po: input.customer_po.clone(),
            requested_date: input.requested_date,
            allow_exceeding: false,
        },
        base,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn schedules_by_week_and_month() {
        let w = period_dates(Period::Weekly, date!(2026 - 01 - 05), date!(2026 - 01 - 26));
        assert_eq!(w, vec![date!(2026 - 01 - 05), date!(2026 - 01 - 12), date!(2026 - 01 - 19), date!(2026 - 01 - 26)]);
        let m = period_dates(Period::Monthly, date!(2026 - 01 - 31), date!(2026 - 05 - 01));
        assert_eq!(m, vec![date!(2026 - 01 - 31), date!(2026 - 02 - 28), date!(2026 - 03 - 31), date!(2026 - 04 - 30)]);
        assert!(period_dates(Period::Monthly, date!(2026 - 02 - 01), date!(2026 - 01 - 01)).is_empty());
    }
}
