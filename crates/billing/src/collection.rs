//! Collection (dunning): levels by days overdue, each with a fee and a letter text per
//! language; a collection run proposes, per customer, the notices its overdue invoices
//! have reached and, confirmed, records them (once per invoice and level: a unique
//! key) with a collection task for the customer's sales agent. A promise to pay
//! pauses dunning of the customer until its date; it is kept when the customer paid
//! at least the promised amount from the promise on, else broken and dunning resumes.

use diesel::prelude::*;
use ordo_core::error::Checks;
use ordo_core::time_util::now;
use ordo_core::{Caller, DomainError, Money, Page, PageRequest, Permission, Result, Scope};
use ordo_db::crud::Record;
use ordo_db::schema::{customers, dunning_levels, dunning_notices, invoices, payments, promises_to_pay};
use ordo_db::DbConnection;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use time::{Date, OffsetDateTime, PrimitiveDateTime};
use validator::Validate;

use crate::invoices::{InvoiceKind, POSTED};

fn read(caller: &Caller) -> Result<()> {
    caller.require(Permission::BillingRead)
}
fn write(caller: &Caller) -> Result<()> {
    caller.require(Permission::BillingWrite)
}

// ---- dunning levels ----------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DunningLevelCreate {
    /// 1 for the first reminder, 2 for the second, ...
    #[validate(range(min = 1, max = 9))]
    #[schema(minimum = 1, maximum = 9)]
    pub level: i32,
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// An invoice reaches the level this many days after its due date.
    #[validate(range(min = 1, max = 3650))]
    #[schema(minimum = 1, maximum = 3650)]
    pub days_overdue: i32,
    /// Charged per notice, in the base currency (recorded on the notice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(custom(function = "ordo_core::validate::non_negative_money"))]
    pub fee: Option<Money>,
    /// The letter per language (`en`, `pl`, `de`, ...); `{customer}`, `{invoices}`,
    /// `{total}` and `{days}` are filled in.
    #[validate(length(min = 1, max = 20))]
    pub letters: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DunningLevel {
    pub id: i64,
    #[serde(flatten)]
    pub data: DunningLevelCreate,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = dunning_levels, treat_none_as_null = true)]
pub struct DunningLevelRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub level: i32,
    pub name: String,
    pub days_overdue: i32,
    pub fee: Option<i64>,
    pub letters: String,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

impl Record for DunningLevelRow {
    type Create = DunningLevelCreate;
    type Model = DunningLevel;
    fn from_create(id: i64, c: &DunningLevelCreate, version: i64, created_at: PrimitiveDateTime) -> Self {
        DunningLevelRow {
            id,
            level: c.level,
            name: c.name.trim().to_string(),
            days_overdue: c.days_overdue,
            fee: c.fee.map(|f| f.to_scaled()),
            letters: ordo_core::util::json_text(&c.letters),
            version,
            created_at,
            updated_at: created_at,
        }
    }
    fn to_create(&self) -> Result<DunningLevelCreate> {
        Ok(DunningLevelCreate {
            level: self.level,
            name: self.name.clone(),
            days_overdue: self.days_overdue,
            fee: self.fee.map(Money::from_scaled),
            letters: serde_json::from_str(&self.letters)
                .map_err(|_| DomainError::Internal(format!("dunning level {}: letters", self.id)))?,
        })
    }
    fn to_model(&self) -> Result<DunningLevel> {
        Ok(DunningLevel {
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

pub mod level_service {
    use super::*;
    pub type Filter = ();
    fn filter<'a>(q: Query<'a>, _f: &Filter) -> Query<'a> {
        q
    }
    fn check(conn: &mut DbConnection, _caller: &Caller, c: &DunningLevelCreate, id: Option<i64>) -> Result<()> {
        let mut checks = Checks::new();
        for (lang, text) in &c.letters {
            checks.check(
                lang.len() == 2 && lang.chars().all(|ch| ch.is_ascii_lowercase()),
                &format!("letters.{lang}"),
                "language",
                "an ISO 639-1 code such as `en`",
            );
            checks.check(
                !text.trim().is_empty() && text.len() <= 10_000,
                &format!("letters.{lang}"),
                "length",
                "1 to 10,000 characters",
            );
        }
        checks.finish()?;
        let taken: i64 = dunning_levels::table
            .filter(dunning_levels::level.eq(c.level))
            .filter(dunning_levels::id.ne(id.unwrap_or(-1)))
            .count()
            .get_result(conn)?;
        if taken > 0 {
            return Err(DomainError::conflict("duplicate_level", format!("dunning level {} exists", c.level)));
        }
        Ok(())
    }
    ordo_db::crud_service!(entity: "dunning_level", name: "dunning level", table: dunning_levels, row: DunningLevelRow);
}

// ---- promises to pay -----------------------------------------------------------------------

#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromiseToPayCreate {
    /// The day the customer promised to pay by (not in the past).
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub date: Date,
    #[validate(custom(function = "ordo_core::validate::positive_money"))]
    pub amount: Money,
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000)]
    pub note: Option<String>,
}

/// `open` until its date; then `kept` when the customer paid at least the amount since
/// the promise was made, else `broken`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PromiseToPay {
    pub id: i64,
    pub customer_id: i64,
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub date: Date,
    pub amount: Money,
    pub note: Option<String>,
    /// Paid (in any currency's amount, payments not bounced) since the promise was made.
    pub paid_since: Money,
    pub status: String,
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

type PromiseRow = (i64, i64, Date, i64, Option<String>, String, PrimitiveDateTime);

fn promises_of(conn: &mut DbConnection, customer_ids: &[i64], today: Date) -> Result<Vec<PromiseToPay>> {
    let rows: Vec<PromiseRow> = promises_to_pay::table
        .filter(promises_to_pay::customer_id.eq_any(customer_ids))
        .order(promises_to_pay::id.asc())
        .select((
            promises_to_pay::id,
            promises_to_pay::customer_id,
            promises_to_pay::promised_date,
            promises_to_pay::amount,
            promises_to_pay::note,
            promises_to_pay::created_by,
            promises_to_pay::created_at,
        ))
        .load(conn)?;
    let pays: Vec<(i64, Date, i64)> = payments::table
        .filter(payments::customer_id.eq_any(customer_ids))
        .filter(payments::status.ne("bounced"))
        .select((payments::customer_id, payments::pay_date, payments::amount))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, customer_id, date, amount, note, by, at)| {
            let paid: i64 =
                pays.iter().filter(|p| p.0 == customer_id && p.1 >= at.date() && p.1 <= date).map(|p| p.2).sum();
            let status = if paid >= amount {
                "kept"
            } else if date >= today {
                "open"
            } else {
                "broken"
            };
            PromiseToPay {
                id,
                customer_id,
                date,
                amount: Money::from_scaled(amount),
                note,
                paid_since: Money::from_scaled(paid),
                status: status.into(),
                created_by: by,
                created_at: at.assume_utc(),
            }
        })
        .collect())
}

pub fn create_promise(
    conn: &mut DbConnection,
    caller: &Caller,
    customer_id: i64,
    input: PromiseToPayCreate,
) -> Result<PromiseToPay> {
    write(caller)?;
    ordo_crm::scope::customer(conn, caller.scope(), customer_id)?;
    let today = now().date();
    if input.date < today {
        return Err(DomainError::field("date", "in_past", "a promise to pay is for today or later"));
    }
    let id: i64 = diesel::insert_into(promises_to_pay::table)
        .values((
            promises_to_pay::customer_id.eq(customer_id),
            promises_to_pay::promised_date.eq(input.date),
            promises_to_pay::amount.eq(input.amount.to_scaled()),
            promises_to_pay::note.eq(&input.note),
            promises_to_pay::created_by.eq(&caller.principal.name),
            promises_to_pay::created_at.eq(now()),
        ))
        .returning(promises_to_pay::id)
        .get_result(conn)?;
    let p = promises_of(conn, &[customer_id], today)?
        .into_iter()
        .find(|p| p.id == id)
        .ok_or_else(|| DomainError::Internal("promise just made".into()))?;
    ordo_db::audit::record(conn, caller, "customer", customer_id, "promise_to_pay", &ordo_core::util::to_json(&p))?;
    Ok(p)
}

pub fn list_promises(conn: &mut DbConnection, caller: &Caller, customer_id: i64) -> Result<Vec<PromiseToPay>> {
    read(caller)?;
    ordo_crm::scope::customer(conn, caller.scope(), customer_id)?;
    promises_of(conn, &[customer_id], now().date())
}

// ---- the collection run --------------------------------------------------------------------

/// `POST /collection/run`
#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CollectionRun {
    /// Default today.
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub as_of: Option<Date>,
    /// false (default): only propose; true: record the notices and the tasks.
    #[serde(default)]
    pub confirm: bool,
    /// The letter language (default `en`; a level without it uses its first letter).
    #[validate(length(equal = 2))]
    #[schema(min_length = 2, max_length = 2)]
    pub language: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NoticeInvoice {
    pub invoice_id: i64,
    pub number: String,
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub due_date: Date,
    pub days_overdue: i64,
    pub currency: String,
    pub open_amount: Money,
    /// The level this invoice has reached (and gets a notice for).
    pub level: i32,
}

/// What one customer gets from a run.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CustomerNotice {
    pub customer_id: i64,
    pub customer_name: String,
    /// The highest level among its invoices.
    pub level: i32,
    pub invoices: Vec<NoticeInvoice>,
    /// Σ the levels' fees for the new notices (base currency).
    pub fees: Money,
    pub letter: String,
    /// Set when confirmed: the collection task made for the customer's agent.
    pub activity_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CollectionProposal {
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub as_of: Date,
    pub confirmed: bool,
    pub customers: Vec<CustomerNotice>,
    /// Customers left out because a promise to pay is open.
    pub paused_by_promise: Vec<i64>,
}

type Open = (i64, i64, String, String, Option<Date>, i64, i64, String);

pub fn run(conn: &mut DbConnection, caller: &Caller, input: CollectionRun) -> Result<CollectionProposal> {
    write(caller)?;
    let as_of = input.as_of.unwrap_or(now().date());
    let lang = input.language.clone().unwrap_or_else(|| "en".into());
    let levels: Vec<DunningLevelRow> = dunning_levels::table
        .order(dunning_levels::days_overdue.asc())
        .select(DunningLevelRow::as_select())
        .load(conn)?;
    if levels.is_empty() {
        return Err(DomainError::rule("no_dunning_levels", "set up dunning levels first (`/dunning-levels`)"));
    }
    let first = i64::from(levels[0].days_overdue);
    let mut q = invoices::table
        .inner_join(customers::table.on(customers::id.eq(invoices::customer_id)))
        .filter(invoices::kind.eq(InvoiceKind::Invoice.as_str()))
        .filter(invoices::status.eq(POSTED))
        .filter(invoices::settled.lt(invoices::gross))
        .filter(invoices::due_date.le(as_of - time::Duration::days(first)))
        .select((
            invoices::id,
            invoices::customer_id,
            invoices::number,
            customers::name,
            invoices::due_date,
            invoices::gross,
            invoices::settled,
            invoices::currency,
        ))
        .into_boxed();
    if let Scope::OwnCustomers(me) = caller.scope() {
        q = q.filter(customers::owner_id.eq(me));
    }
    let open: Vec<Open> = q.order(invoices::id.asc()).load(conn)?;
    let ids: Vec<i64> = open.iter().map(|o| o.0).collect();
    let done: Vec<(i64, i32)> = dunning_notices::table
        .filter(dunning_notices::invoice_id.eq_any(&ids))
        .select((dunning_notices::invoice_id, dunning_notices::level))
        .load(conn)?;
    let customer_ids: Vec<i64> = {
        let mut c: Vec<i64> = open.iter().map(|o| o.1).collect();
        c.sort_unstable();
        c.dedup();
        c
    };
    let promises = promises_of(conn, &customer_ids, as_of)?;
    let paused: Vec<i64> = customer_ids
        .iter()
        .copied()
        .filter(|c| promises.iter().any(|p| p.customer_id == *c && p.status == "open"))
        .collect();
    let mut by_customer: BTreeMap<i64, CustomerNotice> = BTreeMap::new();
    let mut fees: HashMap<i64, i64> = HashMap::new();
    for (id, customer, number, name, due, gross, settled, currency) in open {
        if paused.contains(&customer) {
            continue;
        }
        let Some(due) = due else { continue };
        let days = (as_of - due).whole_days();
        let Some(level) = levels.iter().rev().find(|l| i64::from(l.days_overdue) <= days) else { continue };
        if done.iter().any(|(i, l)| *i == id && *l >= level.level) {
            continue;
        }
        let n = by_customer.entry(customer).or_insert_with(|| CustomerNotice {
            customer_id: customer,
            customer_name: name.clone(),
            level: 0,
            invoices: vec![],
            fees: Money::ZERO,
            letter: String::new(),
            activity_id: None,
        });
        n.level = n.level.max(level.level);
        *fees.entry(customer).or_default() += level.fee.unwrap_or(0);
        n.invoices.push(NoticeInvoice {
            invoice_id: id,
            number,
            due_date: due,
            days_overdue: days,
            currency,
            open_amount: Money::from_scaled(gross - settled),
            level: level.level,
        });
    }
    let mut out = vec![];
    for (customer, mut n) in by_customer {
        n.fees = Money::from_scaled(fees.get(&customer).copied().unwrap_or(0));
        let level = levels.iter().find(|l| l.level == n.level).expect("a level of the run");
        let letters: BTreeMap<String, String> = serde_json::from_str(&level.letters).unwrap_or_default();
        let text = letters.get(&lang).or_else(|| letters.values().next()).cloned().unwrap_or_default();
        let total: BTreeMap<&str, i64> = n.invoices.iter().fold(BTreeMap::new(), |mut m, i| {
            *m.entry(i.currency.as_str()).or_default() += i.open_amount.to_scaled();
            m
        });
        let total = total.iter().map(|(c, a)| format!("{} {c}", Money::from_scaled(*a))).collect::<Vec<_>>().join(", ");
        let max_days = n.invoices.iter().map(|i| i.days_overdue).max().unwrap_or(0);
        n.letter = text
            .replace("{customer}", &n.customer_name)
            .replace("{invoices}", &n.invoices.iter().map(|i| i.number.clone()).collect::<Vec<_>>().join(", "))
            .replace("{total}", &total)
            .replace("{days}", &max_days.to_string());
        if input.confirm {
            n.activity_id = Some(record(conn, caller, &mut n, as_of, &levels, &total)?);
        }
        if !n.invoices.is_empty() {
            out.push(n);
        }
    }
    Ok(CollectionProposal { as_of, confirmed: input.confirm, customers: out, paused_by_promise: paused })
}

/// Records a customer's notices (a notice already recorded for that invoice and level
/// is skipped: the unique key decides) and the collection task for its agent.
fn record(
    conn: &mut DbConnection,
    caller: &Caller,
    n: &mut CustomerNotice,
    as_of: Date,
    levels: &[DunningLevelRow],
    total: &str,
) -> Result<i64> {
    use diesel::sql_types::{BigInt, Date as SqlDate, Integer, Nullable, Text, Timestamp};
    #[derive(QueryableByName)]
    struct Made {
        #[diesel(sql_type = BigInt)]
        invoice_id: i64,
    }
    const SQL: &str = "INSERT INTO dunning_notices (customer_id, invoice_id, level, as_of, days_overdue, open_amount, fee, letter, actor, created_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (invoice_id, level) DO NOTHING RETURNING invoice_id";
    let mut made = vec![];
    for i in &n.invoices {
        let fee = levels.iter().find(|l| l.level == i.level).and_then(|l| l.fee);
        macro_rules! go {
            ($c:expr) => {
                diesel::sql_query(SQL)
                    .bind::<BigInt, _>(n.customer_id)
                    .bind::<BigInt, _>(i.invoice_id)
                    .bind::<Integer, _>(i.level)
                    .bind::<SqlDate, _>(as_of)
                    .bind::<BigInt, _>(i.days_overdue)
                    .bind::<BigInt, _>(i.open_amount.to_scaled())
                    .bind::<Nullable<BigInt>, _>(fee)
                    .bind::<Text, _>(&n.letter)
                    .bind::<Text, _>(caller.principal.actor_key())
                    .bind::<Timestamp, _>(now())
                    .load::<Made>($c)?
            };
        }
        let rows = match conn {
            DbConnection::Pg(c) => go!(c),
            DbConnection::Sqlite(c) => go!(c),
        };
        made.extend(rows.into_iter().map(|r| r.invoice_id));
    }
    n.invoices.retain(|i| made.contains(&i.invoice_id));
    let owner: Option<i64> = customers::table.find(n.customer_id).select(customers::owner_id).first(conn)?;
    // The task is the collection run's, for the customer's agent.
    let task = ordo_crm::activities::create(
        conn,
        &Caller::system(),
        ordo_crm::activities::ActivityCreate {
            kind: ordo_crm::activities::ActivityKind::Task,
            subject: format!("Collect from {}: level {} reminder", n.customer_name, n.level),
            body: Some(format!(
                "{} overdue invoice(s), {total} open: {}.\n\n{}",
                n.invoices.len(),
                n.invoices.iter().map(|i| i.number.clone()).collect::<Vec<_>>().join(", "),
                n.letter
            )),
            due_at: Some((as_of + time::Duration::days(3)).midnight().assume_utc()),
            start_at: None,
            end_at: None,
            assignee_id: owner,
            customer_id: Some(n.customer_id),
            contact_id: None,
            lead_id: None,
            opportunity_id: None,
            quotation_id: None,
            sales_order_id: None,
            done: false,
            outcome: None,
        },
    )?;
    diesel::update(
        dunning_notices::table
            .filter(dunning_notices::invoice_id.eq_any(&made))
            .filter(dunning_notices::activity_id.is_null()),
    )
    .set(dunning_notices::activity_id.eq(task.id))
    .execute(conn)?;
    Ok(task.id)
}

/// A notice as recorded.
#[derive(Debug, Clone, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = dunning_notices)]
pub struct DunningNotice {
    pub id: i64,
    pub customer_id: i64,
    pub invoice_id: i64,
    pub level: i32,
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub as_of: Date,
    pub days_overdue: i64,
    #[schema(value_type = String)]
    #[serde(serialize_with = "scaled")]
    pub open_amount: i64,
    #[schema(value_type = Option<String>)]
    #[serde(serialize_with = "scaled_opt")]
    pub fee: Option<i64>,
    pub letter: String,
    pub activity_id: Option<i64>,
    pub actor: String,
    #[serde(skip)]
    pub created_at: PrimitiveDateTime,
}

fn scaled<S: serde::Serializer>(v: &i64, s: S) -> std::result::Result<S::Ok, S::Error> {
    Money::from_scaled(*v).serialize(s)
}
fn scaled_opt<S: serde::Serializer>(v: &Option<i64>, s: S) -> std::result::Result<S::Ok, S::Error> {
    v.map(Money::from_scaled).serialize(s)
}

/// `GET /collection/notices?customer_id=`
pub fn notices(
    conn: &mut DbConnection,
    caller: &Caller,
    customer_id: Option<i64>,
    page: &PageRequest,
) -> Result<Page<DunningNotice>> {
    read(caller)?;
    let mut q = dunning_notices::table.select(DunningNotice::as_select()).into_boxed();
    q = ordo_sales_docs::scoped!(q, caller, dunning_notices::customer_id);
    if let Some(c) = customer_id {
        q = q.filter(dunning_notices::customer_id.eq(c));
    }
    Ok(ordo_db::keyset_page!(conn, q, page, dunning_notices::id => |r: &DunningNotice| r.id))
}
