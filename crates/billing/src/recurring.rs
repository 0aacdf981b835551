//! Recurring invoices: a template (customer, lines, period, day of the period,
//! start and end) from which the `recurring_invoices` job makes an invoice for every
//! period that is due, priced by the engine on its invoice date and posted when the
//! template says so. Generation is idempotent per template and period by a unique key
//! on the run row, inserted first in the period's transaction: a restart, a second
//! process or a clock jump finds the key taken and makes nothing twice.

use diesel::prelude::*;
use ordo_core::time_util::now;
use ordo_core::{Caller, Currency, DomainError, Page, PageRequest, Permission, Result};
use ordo_db::crud::Record;
use ordo_db::schema::{recurring_invoice_runs, recurring_invoices};
use ordo_db::{Db, DbConnection, Stats};
use ordo_sales_docs::lines::LineInput;
use serde::{Deserialize, Serialize};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime};
use validator::Validate;

use crate::invoices::{self, InvoiceCreate, PostRequest};

fn read(caller: &Caller) -> Result<()> {
    caller.require(Permission::BillingWrite)
}
fn write(caller: &Caller) -> Result<()> {
    caller.require(Permission::BillingWrite)
}
fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Monthly,
    Quarterly,
    Yearly,
}

impl Period {
    fn months(&self) -> i32 {
        match self {
            Period::Monthly => 1,
            Period::Quarterly => 3,
            Period::Yearly => 12,
        }
    }
    fn as_str(&self) -> &'static str {
        match self {
            Period::Monthly => "monthly",
            Period::Quarterly => "quarterly",
            Period::Yearly => "yearly",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        [Self::Monthly, Self::Quarterly, Self::Yearly].into_iter().find(|p| p.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecurringInvoiceCreate {
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    pub customer_id: i64,
    /// Default: the customer's currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    pub period: Period,
    /// The day of the period's first month the invoice is dated (1–28).
    #[validate(range(min = 1, max = 28))]
    #[schema(minimum = 1, maximum = 28)]
    pub day_of_period: i32,
    /// The first period is the one this day falls in.
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub start_date: Date,
    /// No periods starting after this day.
    #[serde(default, with = "ordo_core::serde_util::date::option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub end_date: Option<Date>,
    /// Post each invoice as it is made (its legal number then).
    #[serde(default)]
    pub auto_post: bool,
    /// Send each posted invoice to the customer. Kept for the document outbox: Ordo
    /// does not send email yet, so today this only marks the template.
    #[serde(default)]
    pub auto_send: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(range(min = 0, max = 3650))]
    #[schema(minimum = 0, maximum = 3650)]
    pub payment_terms_days: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 4000))]
    #[schema(max_length = 4000)]
    pub notes: Option<String>,
    #[validate(length(min = 1, max = 200), nested)]
    #[schema(min_items = 1, max_items = 200)]
    pub lines: Vec<LineInput>,
    #[serde(default = "yes")]
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RecurringInvoice {
    pub id: i64,
    #[serde(flatten)]
    pub data: RecurringInvoiceCreate,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = recurring_invoices, treat_none_as_null = true)]
pub struct RecurringRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub name: String,
    pub customer_id: i64,
    pub currency: String,
    pub period: String,
    pub day_of_period: i32,
    pub start_date: Date,
    pub end_date: Option<Date>,
    pub auto_post: bool,
    pub auto_send: bool,
    pub payment_terms_days: Option<i32>,
    pub notes: Option<String>,
    pub lines: String,
    pub active: bool,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

impl Record for RecurringRow {
    type Create = RecurringInvoiceCreate;
    type Model = RecurringInvoice;
    fn from_create(id: i64, c: &RecurringInvoiceCreate, version: i64, created_at: PrimitiveDateTime) -> Self {
        RecurringRow {
            id,
            name: c.name.trim().to_string(),
            customer_id: c.customer_id,
            // Empty: the customer's currency when each invoice is made.
            currency: c.currency.map(|x| x.code().to_string()).unwrap_or_default(),
            period: c.period.as_str().into(),
            day_of_period: c.day_of_period,
            start_date: c.start_date,
            end_date: c.end_date,
            auto_post: c.auto_post,
            auto_send: c.auto_send,
            payment_terms_days: c.payment_terms_days,
            notes: c.notes.clone(),
            lines: ordo_core::util::json_text(&c.lines),
            active: c.active,
            version,
            created_at,
            updated_at: created_at,
        }
    }
    fn to_create(&self) -> Result<RecurringInvoiceCreate> {
        let bad = |what: &str| DomainError::Internal(format!("recurring invoice {}: {what}", self.id));
        Ok(RecurringInvoiceCreate {
            name: self.name.clone(),
            customer_id: self.customer_id,
            currency: Currency::from_code(&self.currency),
            period: Period::parse(&self.period).ok_or_else(|| bad("period"))?,
            day_of_period: self.day_of_period,
            start_date: self.start_date,
            end_date: self.end_date,
            auto_post: self.auto_post,
            auto_send: self.auto_send,
            payment_terms_days: self.payment_terms_days,
            notes: self.notes.clone(),
            lines: serde_json::from_str(&self.lines).map_err(|_| bad("lines"))?,
            active: self.active,
        })
    }
    fn to_model(&self) -> Result<RecurringInvoice> {
        Ok(RecurringInvoice {
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

pub mod service {
    use super::*;
    #[derive(Debug, Clone, Default)]
    pub struct Filter {
        pub customer_id: Option<i64>,
        pub active: Option<bool>,
    }
    fn filter<'a>(mut q: Query<'a>, f: &Filter) -> Query<'a> {
        if let Some(c) = f.customer_id {
            q = q.filter(recurring_invoices::customer_id.eq(c));
        }
        if let Some(a) = f.active {
            q = q.filter(recurring_invoices::active.eq(a));
        }
        q
    }
    fn check(conn: &mut DbConnection, caller: &Caller, c: &RecurringInvoiceCreate, _id: Option<i64>) -> Result<()> {
        // Visible to the caller, not blocked, not archived.
        ordo_sales_docs::docs::document_customer(conn, caller, c.customer_id)?;
        if c.end_date.is_some_and(|e| e < c.start_date) {
            return Err(DomainError::field("end_date", "before_start", "ends before it starts"));
        }
        ordo_sales_docs::lines::no_call_offs(c.lines.iter().enumerate().map(|(n, l)| (format!("lines[{n}]."), l)))?;
        let overrides: Vec<_> = c.lines.iter().enumerate().map(|(n, l)| (n, l, None)).collect();
        ordo_sales_docs::lines::check_overrides(caller, &overrides)?;
        Ok(())
    }
    ordo_db::crud_service!(entity: "recurring_invoice", name: "recurring invoice", table: recurring_invoices, row: RecurringRow);
}

/// What a template generated for one period.
#[derive(Debug, Clone, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = recurring_invoice_runs)]
pub struct RecurringRun {
    pub id: i64,
    pub template_id: i64,
    /// The first day of the period.
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub period_start: Date,
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub invoice_date: Date,
    /// None when the invoice (a draft) was deleted since, or generation failed.
    pub invoice_id: Option<i64>,
    /// `generated` or `failed` (with `error`; failed periods are not retried by
    /// themselves: fix the template and delete the run to make it again).
    pub status: String,
    pub error: Option<String>,
    #[serde(skip)]
    pub created_at: PrimitiveDateTime,
}

/// `GET /recurring-invoices/{id}/runs`, newest period first.
pub fn runs(conn: &mut DbConnection, caller: &Caller, id: i64, page: &PageRequest) -> Result<Page<RecurringRun>> {
    read(caller)?;
    service::find(conn, id)?;
    let q = recurring_invoice_runs::table
        .filter(recurring_invoice_runs::template_id.eq(id))
        .select(RecurringRun::as_select())
        .into_boxed();
    Ok(ordo_db::keyset_page!(conn, q, page, recurring_invoice_runs::id => |r: &RecurringRun| r.id))
}

/// The first day of the period `n` periods after the one `d` falls in.
fn period_start(p: Period, d: Date, n: i32) -> Option<Date> {
    let months = p.months();
    let m0 = (d.month() as i32 - 1) / months * months; // 0-based first month of d's period
    let total = d.year() * 12 + m0 + n * months;
    let (y, m) = (total.div_euclid(12), total.rem_euclid(12) + 1);
    Date::from_calendar_date(y, Month::try_from(m as u8).ok()?, 1).ok()
}

/// The periods of a template due by `today` that have no run yet, oldest first, at
/// most `limit` (a long outage catches up over several job runs).
fn due_periods(t: &RecurringRow, done: &[Date], today: Date, limit: usize) -> Vec<(Date, Date)> {
    let Some(p) = Period::parse(&t.period) else { return vec![] };
    let mut out = vec![];
    for n in 0..1200 {
        let Some(start) = period_start(p, t.start_date, n) else { break };
        if t.end_date.is_some_and(|e| start > e) {
            break;
        }
        let Some(date) = start.replace_day(t.day_of_period as u8).ok() else { break };
        if date > today {
            break;
        }
        if date >= t.start_date && !done.contains(&start) {
            out.push((start, date));
            if out.len() >= limit {
                break;
            }
        }
    }
    out
}

/// What else happens when the job posts an invoice, in the same transaction (the API
/// queues the mail for customers with `invoice_delivery: email`): the invoice and its
/// customer.
pub type OnPosted<'a> = &'a dyn Fn(&mut DbConnection, &Caller, i64, i64) -> Result<()>;

/// The job: every active template's due periods, each in its own transaction.
/// Returns how many invoices were made.
pub fn generate_due(db: &Db, base: Currency, today: Date, on_posted: OnPosted) -> Result<usize> {
    let caller = Caller::system();
    let stats = Stats::default();
    let templates: Vec<(RecurringRow, Vec<Date>)> = db.read(&stats, |c| {
        let ts: Vec<RecurringRow> = recurring_invoices::table
            .filter(recurring_invoices::active.eq(true))
            .filter(recurring_invoices::start_date.le(today))
            .select(RecurringRow::as_select())
            .load(c)?;
        let ids: Vec<i64> = ts.iter().map(|t| t.id).collect();
        let runs: Vec<(i64, Date)> = recurring_invoice_runs::table
            .filter(recurring_invoice_runs::template_id.eq_any(&ids))
            .select((recurring_invoice_runs::template_id, recurring_invoice_runs::period_start))
            .load(c)?;
        Ok(ts
            .into_iter()
            .map(|t| {
                let done = runs.iter().filter(|r| r.0 == t.id).map(|r| r.1).collect();
                (t, done)
            })
            .collect())
    })?;
    let mut made = 0;
    for (t, done) in templates {
        for (start, date) in due_periods(&t, &done, today, 24) {
            match db.write(&stats, |c| generate_one(c, &caller, &t, start, date, base, on_posted)) {
                Ok(true) => made += 1,
                Ok(false) => {}
                Err(e) => {
                    // Recorded as a failed run (so it is visible and not retried in a loop).
                    let msg = e.to_string();
                    let _ = db.write(&stats, |c| record_failure(c, &t, start, date, &msg));
                }
            }
        }
    }
    Ok(made)
}

#[derive(QueryableByName)]
struct Claimed {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

/// Claims the period by inserting its run row first; None when the key is taken:
/// another process (or an earlier run) has the period, and nothing else is written.
/// On PostgreSQL a second process's insert waits for the first one's transaction.
fn claim(
    conn: &mut DbConnection,
    t: &RecurringRow,
    start: Date,
    date: Date,
    status: &str,
    error: Option<&str>,
) -> Result<Option<i64>> {
    use diesel::sql_types::{BigInt, Date as SqlDate, Nullable, Text, Timestamp};
    const SQL: &str =
        "INSERT INTO recurring_invoice_runs (template_id, period_start, invoice_date, status, error, created_at) \
        VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (template_id, period_start) DO NOTHING RETURNING id";
    macro_rules! run {
        ($c:expr) => {
            diesel::sql_query(SQL)
                .bind::<BigInt, _>(t.id)
                .bind::<SqlDate, _>(start)
                .bind::<SqlDate, _>(date)
                .bind::<Text, _>(status)
                .bind::<Nullable<Text>, _>(error)
                .bind::<Timestamp, _>(now())
                .load::<Claimed>($c)?
        };
    }
    // SQLite numbers `$n` parameters in order of appearance: the same text works.
    let rows = match conn {
        DbConnection::Pg(c) => run!(c),
        DbConnection::Sqlite(c) => run!(c),
    };
    Ok(rows.first().map(|r| r.id))
}

fn generate_one(
    conn: &mut DbConnection,
    caller: &Caller,
    t: &RecurringRow,
    start: Date,
    date: Date,
    base: Currency,
    on_posted: OnPosted,
) -> Result<bool> {
    let Some(run) = claim(conn, t, start, date, "generated", None)? else {
        return Ok(false);
    };
    let input = InvoiceCreate {
        customer_id: t.customer_id,
        contact_id: None,
        currency: Currency::from_code(&t.currency),
        payment_terms_days: t.payment_terms_days,
        price_list_id: None,
        customer_po: None,
        notes: Some(match &t.notes {
            Some(n) => format!("{n}\n{} {start}", t.name),
            None => format!("{} {start}", t.name),
        }),
        lines: serde_json::from_str(&t.lines)
            .map_err(|_| DomainError::Internal(format!("recurring invoice {}: lines", t.id)))?,
    };
    let inv = invoices::create_dated(conn, caller, input, base, date)?;
    if t.auto_post {
        let on = crate::numbering::earliest(conn, crate::invoices::INVOICE, date)?;
        let posted = invoices::post(conn, caller, inv.id, None, PostRequest { date: Some(on) }, base)?;
        on_posted(conn, caller, posted.id, posted.customer_id)?;
    }
    diesel::update(recurring_invoice_runs::table.find(run))
        .set(recurring_invoice_runs::invoice_id.eq(inv.id))
        .execute(conn)?;
    Ok(true)
}

fn record_failure(conn: &mut DbConnection, t: &RecurringRow, start: Date, date: Date, msg: &str) -> Result<()> {
    claim(conn, t, start, date, "failed", Some(msg))?;
    Ok(())
}
