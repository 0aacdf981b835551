//! Commissions of sales persons and sales partners. A plan gives a rate per item group
//! (and a default rate) and a basis: `invoiced` (earned on the net of posted invoices,
//! credit notes take back what they correct) or `paid` (earned as payments settle those
//! invoices, in proportion). Amounts are in the base currency at each invoice's posting
//! rate. A statement freezes a plan's period; once marked paid it never changes.

use diesel::prelude::*;
use ordo_core::error::Checks;
use ordo_core::time_util::now;
use ordo_core::util::to_json;
use ordo_core::{Caller, Currency, DomainError, Money, Page, PageRequest, Permission, Rate, Result};
use ordo_db::crud::Record;
use ordo_db::schema::{allocations, commission_plans, commission_statements, document_lines, invoices, items};
use ordo_db::DbConnection;
use ordo_pricing::engine::round_to;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime};
use validator::Validate;

/// Commission figures are for accountants and managers; a sales agent sees only the
/// plans of the sales person linked to their user (their own earnings, not their
/// colleagues'). Returns that user for an agent.
fn read(caller: &Caller) -> Result<Option<i64>> {
    caller.require(Permission::BillingRead)?;
    Ok(match caller.scope() {
        ordo_core::Scope::OwnCustomers(me) => Some(me),
        ordo_core::Scope::All => None,
    })
}

/// The sales persons linked to this user.
fn persons_of(conn: &mut DbConnection, user: i64) -> Result<Vec<i64>> {
    use ordo_db::schema::sales_persons;
    Ok(sales_persons::table.filter(sales_persons::user_id.eq(user)).select(sales_persons::id).load(conn)?)
}
fn write(caller: &Caller) -> Result<()> {
    caller.require(Permission::BillingWrite)
}
fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CommissionBasis {
    /// On the net of posted invoices, in the month they are dated.
    Invoiced,
    /// On what payments settle of those invoices, in the month of the payment.
    Paid,
}

impl CommissionBasis {
    fn as_str(&self) -> &'static str {
        match self {
            Self::Invoiced => "invoiced",
            Self::Paid => "paid",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        [Self::Invoiced, Self::Paid].into_iter().find(|b| b.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupRate {
    pub item_group_id: i64,
    /// Percent of the net.
    #[validate(custom(function = "ordo_core::validate::percent_0_100"))]
    pub rate: Rate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommissionPlanCreate {
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// Whose commission: a sales person (the invoices' `sales_person_id`) ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sales_person_id: Option<i64>,
    /// ... or a sales partner (the invoices' `sales_partner_id`); exactly one of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sales_partner_id: Option<i64>,
    pub basis: CommissionBasis,
    /// Percent of the net for items of groups without a rate of their own.
    #[validate(custom(function = "ordo_core::validate::percent_0_100"))]
    pub default_rate: Rate,
    #[serde(default)]
    #[validate(length(max = 200), nested)]
    #[schema(max_items = 200)]
    pub group_rates: Vec<GroupRate>,
    #[serde(default = "yes")]
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CommissionPlan {
    pub id: i64,
    #[serde(flatten)]
    pub data: CommissionPlanCreate,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = commission_plans, treat_none_as_null = true)]
pub struct PlanRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub name: String,
    pub sales_person_id: Option<i64>,
    pub sales_partner_id: Option<i64>,
    pub basis: String,
    pub default_rate: i64,
    pub group_rates: String,
    pub active: bool,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

impl Record for PlanRow {
    type Create = CommissionPlanCreate;
    type Model = CommissionPlan;
    fn from_create(id: i64, c: &CommissionPlanCreate, version: i64, created_at: PrimitiveDateTime) -> Self {
        PlanRow {
            id,
            name: c.name.trim().to_string(),
            sales_person_id: c.sales_person_id,
            sales_partner_id: c.sales_partner_id,
            basis: c.basis.as_str().into(),
            default_rate: c.default_rate.to_scaled(),
            group_rates: ordo_core::util::json_text(&c.group_rates),
            active: c.active,
            version,
            created_at,
            updated_at: created_at,
        }
    }
    fn to_create(&self) -> Result<CommissionPlanCreate> {
        let bad = |w: &str| DomainError::Internal(format!("commission plan {}: {w}", self.id));
        Ok(CommissionPlanCreate {
            name: self.name.clone(),
            sales_person_id: self.sales_person_id,
            sales_partner_id: self.sales_partner_id,
            basis: CommissionBasis::parse(&self.basis).ok_or_else(|| bad("basis"))?,
            default_rate: Rate::from_scaled(self.default_rate),
            group_rates: serde_json::from_str(&self.group_rates).map_err(|_| bad("group rates"))?,
            active: self.active,
        })
    }
    fn to_model(&self) -> Result<CommissionPlan> {
        Ok(CommissionPlan {
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

pub mod plan_service {
    use super::*;
    #[derive(Debug, Clone, Default)]
    pub struct Filter {
        pub sales_person_id: Option<i64>,
        pub sales_partner_id: Option<i64>,
    }
    fn filter<'a>(mut q: Query<'a>, f: &Filter) -> Query<'a> {
        if let Some(p) = f.sales_person_id {
            q = q.filter(commission_plans::sales_person_id.eq(p));
        }
        if let Some(p) = f.sales_partner_id {
            q = q.filter(commission_plans::sales_partner_id.eq(p));
        }
        q
    }
    fn check(conn: &mut DbConnection, _caller: &Caller, c: &CommissionPlanCreate, _id: Option<i64>) -> Result<()> {
        use ordo_db::schema::{item_groups, sales_partners, sales_persons};
        if c.sales_person_id.is_some() == c.sales_partner_id.is_some() {
            return Err(DomainError::field(
                "sales_person_id",
                "one_of",
                "a plan is for a sales person or for a sales partner: name exactly one",
            ));
        }
        ordo_db::require_opt_ref!(conn, sales_persons, c.sales_person_id, "sales person", "sales_person_id");
        ordo_db::require_opt_ref!(conn, sales_partners, c.sales_partner_id, "sales partner", "sales_partner_id");
        let ids: Vec<i64> = c.group_rates.iter().map(|g| g.item_group_id).collect();
        let found: Vec<i64> =
            item_groups::table.filter(item_groups::id.eq_any(&ids)).select(item_groups::id).load(conn)?;
        let mut checks = Checks::new();
        for (n, g) in c.group_rates.iter().enumerate() {
            checks.check(
                found.contains(&g.item_group_id),
                &format!("group_rates[{n}].item_group_id"),
                "not_found",
                "no such item group",
            );
        }
        checks.finish()
    }
    ordo_db::crud_service!(entity: "commission_plan", name: "commission plan", table: commission_plans, row: PlanRow);
}

// ---- what a plan earned -------------------------------------------------------------------

/// One invoice's (or credit note's, or payment's share's) commission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CommissionEntry {
    /// `invoice`, `credit_note` or `payment`.
    pub kind: String,
    pub invoice_id: i64,
    pub number: String,
    /// The allocation (basis `paid`).
    pub allocation_id: Option<i64>,
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub date: Date,
    /// The net the commission is on, base currency (negative for credit notes).
    pub base_net: Money,
    pub commission: Money,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CommissionReport {
    /// `YYYY-MM`.
    pub period: String,
    pub plan_id: i64,
    pub plan_name: String,
    pub sales_person_id: Option<i64>,
    pub sales_partner_id: Option<i64>,
    pub basis: CommissionBasis,
    pub base_currency: Currency,
    pub entries: Vec<CommissionEntry>,
    pub total: Money,
    /// The period's statement, when one was made: `open` or `paid`.
    pub statement_id: Option<i64>,
    pub statement_status: Option<String>,
}

pub fn parse_period(s: &str) -> Result<(Date, Date)> {
    let bad = || DomainError::field("period", "invalid", "a month as `YYYY-MM`");
    let (y, m) = s.split_once('-').ok_or_else(bad)?;
    let (y, m): (i32, u8) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    let month = Month::try_from(m).map_err(|_| bad())?;
    let start = Date::from_calendar_date(y, month, 1).map_err(|_| bad())?;
    let next = if month == Month::December {
        Date::from_calendar_date(y + 1, Month::January, 1)
    } else {
        Date::from_calendar_date(y, month.next(), 1)
    }
    .map_err(|_| bad())?;
    Ok((start, next))
}

type Doc = (i64, String, String, Date, i64, i64);

/// Per invoice or credit note of the plan's person (posted), its commission: Σ over
/// lines of net × the line's group rate, in base currency at the posting rate.
fn document_commissions(
    conn: &mut DbConnection,
    plan: &PlanRow,
    docs: &[Doc],
    base: Currency,
) -> Result<HashMap<i64, (Decimal, Decimal)>> {
    let ids: Vec<i64> = docs.iter().map(|d| d.0).collect();
    let lines: Vec<(i64, i64, Option<i64>)> = document_lines::table
        .inner_join(items::table.on(items::id.eq(document_lines::item_id)))
        .filter(document_lines::doc_kind.eq_any(["invoice", "credit_note"]))
        .filter(document_lines::doc_id.eq_any(&ids))
        .select((document_lines::doc_id, document_lines::net, items::item_group_id))
        .load(conn)?;
    let groups: Vec<GroupRate> = serde_json::from_str(&plan.group_rates).unwrap_or_default();
    let rate_of = |g: Option<i64>| -> Decimal {
        g.and_then(|g| groups.iter().find(|r| r.item_group_id == g))
            .map(|r| r.rate.value())
            .unwrap_or(Rate::from_scaled(plan.default_rate).value())
    };
    let bdp = u32::from(base.minor_units());
    let fx: HashMap<i64, i64> = docs.iter().map(|d| (d.0, d.5)).collect();
    let mut out: HashMap<i64, (Decimal, Decimal)> = HashMap::new();
    for (doc, net, group) in lines {
        let base_net = round_to(Money::from_scaled(net).value() * Rate::from_scaled(fx[&doc]).value(), bdp);
        let e = out.entry(doc).or_default();
        e.0 += base_net;
        e.1 += base_net * rate_of(group) / Decimal::from(100);
    }
    for v in out.values_mut() {
        v.1 = round_to(v.1, bdp);
    }
    Ok(out)
}

fn plan_docs(conn: &mut DbConnection, plan: &PlanRow, from: Option<(Date, Date)>) -> Result<Vec<Doc>> {
    let mut q = invoices::table
        .filter(invoices::status.eq("posted"))
        .select((
            invoices::id,
            invoices::kind,
            invoices::number,
            invoices::doc_date,
            invoices::gross,
            invoices::base_rate,
        ))
        .into_boxed();
    q = match (plan.sales_person_id, plan.sales_partner_id) {
        (Some(p), _) => q.filter(invoices::sales_person_id.eq(p)),
        (_, Some(p)) => q.filter(invoices::sales_partner_id.eq(p)),
        _ => return Ok(vec![]),
    };
    if let Some((start, next)) = from {
        q = q.filter(invoices::doc_date.ge(start)).filter(invoices::doc_date.lt(next));
    }
    Ok(q.order(invoices::id.asc()).load(conn)?)
}

pub fn report(conn: &mut DbConnection, plan: &PlanRow, period: &str, base: Currency) -> Result<CommissionReport> {
    let (start, next) = parse_period(period)?;
    let basis = CommissionBasis::parse(&plan.basis).ok_or_else(|| DomainError::Internal("plan basis".into()))?;
    let bdp = u32::from(base.minor_units());
    let m = |d: Decimal| Money::new(d).map_err(|e| DomainError::Internal(format!("commission: {e}")));
    let mut entries = vec![];
    match basis {
        CommissionBasis::Invoiced => {
            let docs = plan_docs(conn, plan, Some((start, next)))?;
            let c = document_commissions(conn, plan, &docs, base)?;
            for (id, kind, number, date, _, _) in &docs {
                let (net, com) = c.get(id).copied().unwrap_or_default();
                let sign = if kind == "credit_note" { -Decimal::ONE } else { Decimal::ONE };
                entries.push(CommissionEntry {
                    kind: kind.clone(),
                    invoice_id: *id,
                    number: number.clone(),
                    allocation_id: None,
                    date: *date,
                    base_net: m(net * sign)?,
                    commission: m(com * sign)?,
                });
            }
        }
        CommissionBasis::Paid => {
            // Payments in the period settling the person's invoices: that share of
            // each invoice's commission (credit notes settling it earn nothing).
            let allocs: Vec<(i64, Option<i64>, i64, Date)> = allocations::table
                .filter(allocations::kind.eq("payment"))
                .filter(allocations::reversed_at.is_null())
                .filter(allocations::alloc_date.ge(start))
                .filter(allocations::alloc_date.lt(next))
                .select((allocations::id, allocations::invoice_id, allocations::amount, allocations::alloc_date))
                .load(conn)?;
            let docs = plan_docs(conn, plan, None)?;
            let docs: Vec<Doc> =
                docs.into_iter().filter(|d| d.1 == "invoice" && allocs.iter().any(|a| a.1 == Some(d.0))).collect();
            let c = document_commissions(conn, plan, &docs, base)?;
            for (aid, inv, amount, date) in allocs {
                let Some(d) = docs.iter().find(|d| Some(d.0) == inv) else { continue };
                let (net, com) = c.get(&d.0).copied().unwrap_or_default();
                let share = Decimal::from(amount) / Decimal::from(d.4.max(1));
                entries.push(CommissionEntry {
                    kind: "payment".into(),
                    invoice_id: d.0,
                    number: d.2.clone(),
                    allocation_id: Some(aid),
                    date,
                    base_net: m(round_to(net * share, bdp))?,
                    commission: m(round_to(com * share, bdp))?,
                });
            }
        }
    }
    let total: Decimal = entries.iter().map(|e| e.commission.value()).sum();
    let st: Option<(i64, String)> = commission_statements::table
        .filter(commission_statements::plan_id.eq(plan.id))
        .filter(commission_statements::period.eq(period))
        .select((commission_statements::id, commission_statements::status))
        .first(conn)
        .optional()?;
    Ok(CommissionReport {
        period: period.into(),
        plan_id: plan.id,
        plan_name: plan.name.clone(),
        sales_person_id: plan.sales_person_id,
        sales_partner_id: plan.sales_partner_id,
        basis,
        base_currency: base,
        entries,
        total: m(total)?,
        statement_id: st.as_ref().map(|s| s.0),
        statement_status: st.map(|s| s.1),
    })
}

/// `GET /commissions?period=&sales_person_id=&sales_partner_id=`: every active plan's
/// (or the person's or partner's) commission in a month.
pub fn commissions(
    conn: &mut DbConnection,
    caller: &Caller,
    period: &str,
    sales_person_id: Option<i64>,
    sales_partner_id: Option<i64>,
    base: Currency,
) -> Result<Vec<CommissionReport>> {
    let own = read(caller)?;
    parse_period(period)?;
    let mut q =
        commission_plans::table.filter(commission_plans::active.eq(true)).select(PlanRow::as_select()).into_boxed();
    if let Some(me) = own {
        q = q.filter(commission_plans::sales_person_id.eq_any(persons_of(conn, me)?));
    }
    if let Some(p) = sales_person_id {
        q = q.filter(commission_plans::sales_person_id.eq(p));
    }
    if let Some(p) = sales_partner_id {
        q = q.filter(commission_plans::sales_partner_id.eq(p));
    }
    let plans: Vec<PlanRow> = q.order(commission_plans::id.asc()).load(conn)?;
    plans.iter().map(|p| report(conn, p, period, base)).collect()
}

// ---- statements ---------------------------------------------------------------------------

#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatementRequest {
    /// `YYYY-MM`.
    #[validate(length(equal = 7))]
    #[schema(pattern = "^[0-9]{4}-[0-9]{2}$")]
    pub period: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CommissionStatement {
    pub id: i64,
    pub plan_id: i64,
    pub period: String,
    pub total: Money,
    pub base_currency: Currency,
    pub entries: Vec<CommissionEntry>,
    /// `open` (made again when asked again) or `paid` (final).
    pub status: String,
    #[serde(serialize_with = "ordo_core::serde_util::rfc3339_opt::serialize")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub paid_at: Option<OffsetDateTime>,
    pub paid_by: Option<String>,
    pub version: i64,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = commission_statements)]
struct StatementRow {
    id: i64,
    plan_id: i64,
    period: String,
    total: i64,
    currency: String,
    entries: String,
    status: String,
    paid_at: Option<PrimitiveDateTime>,
    paid_by: Option<String>,
    version: i64,
}

impl StatementRow {
    fn to_model(&self) -> Result<CommissionStatement> {
        Ok(CommissionStatement {
            id: self.id,
            plan_id: self.plan_id,
            period: self.period.clone(),
            total: Money::from_scaled(self.total),
            base_currency: Currency::from_code(&self.currency)
                .ok_or_else(|| DomainError::Internal("statement currency".into()))?,
            entries: serde_json::from_str(&self.entries)
                .map_err(|_| DomainError::Internal("statement entries".into()))?,
            status: self.status.clone(),
            paid_at: self.paid_at.map(|t| t.assume_utc()),
            paid_by: self.paid_by.clone(),
            version: self.version,
        })
    }
}

fn statement_of(conn: &mut DbConnection, plan: i64, period: &str) -> Result<Option<StatementRow>> {
    Ok(commission_statements::table
        .filter(commission_statements::plan_id.eq(plan))
        .filter(commission_statements::period.eq(period))
        .select(StatementRow::as_select())
        .first(conn)
        .optional()?)
}

/// `POST /commission-plans/{id}/statements`: freezes the period's commission (again,
/// while it is open; 409 `statement_paid` once paid).
pub fn make_statement(
    conn: &mut DbConnection,
    caller: &Caller,
    plan_id: i64,
    input: StatementRequest,
    base: Currency,
) -> Result<CommissionStatement> {
    write(caller)?;
    let plan = plan_service::find(conn, plan_id)?;
    let r = report(conn, &plan, &input.period, base)?;
    if let Some(st) = statement_of(conn, plan_id, &input.period)? {
        if st.status == "paid" {
            return Err(DomainError::conflict(
                "statement_paid",
                format!("the {} statement is paid and final", input.period),
            ));
        }
        diesel::delete(commission_statements::table.find(st.id)).execute(conn)?;
    }
    let ts = now();
    diesel::insert_into(commission_statements::table)
        .values((
            commission_statements::plan_id.eq(plan_id),
            commission_statements::period.eq(&input.period),
            commission_statements::total.eq(r.total.to_scaled()),
            commission_statements::currency.eq(base.code()),
            commission_statements::entries.eq(ordo_core::util::json_text(&r.entries)),
            commission_statements::status.eq("open"),
            commission_statements::created_at.eq(ts),
            commission_statements::updated_at.eq(ts),
        ))
        .execute(conn)?;
    let st = statement_of(conn, plan_id, &input.period)?.ok_or_else(|| DomainError::Internal("statement".into()))?;
    let v = st.to_model()?;
    ordo_db::audit::record(conn, caller, "commission_statement", st.id, "create", &to_json(&v))?;
    Ok(v)
}

pub fn statements(
    conn: &mut DbConnection,
    caller: &Caller,
    plan_id: i64,
    page: &PageRequest,
) -> Result<Page<CommissionStatement>> {
    if let Some(me) = read(caller)? {
        let persons = persons_of(conn, me)?;
        let mine: i64 = commission_plans::table
            .filter(commission_plans::id.eq(plan_id))
            .filter(commission_plans::sales_person_id.eq_any(&persons))
            .count()
            .get_result(conn)?;
        if mine == 0 {
            return Err(DomainError::not_found("commission plan", plan_id));
        }
    }
    plan_service::find(conn, plan_id)?;
    let q = commission_statements::table
        .filter(commission_statements::plan_id.eq(plan_id))
        .select(StatementRow::as_select())
        .into_boxed();
    let rows = ordo_db::keyset_page!(conn, q, page, commission_statements::id => |r: &StatementRow| r.id);
    Ok(Page {
        data: rows.data.iter().map(StatementRow::to_model).collect::<Result<_>>()?,
        next_cursor: rows.next_cursor,
        total: rows.total,
    })
}

/// `POST /commission-statements/{id}/pay`: paid and final.
pub fn pay_statement(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
) -> Result<CommissionStatement> {
    write(caller)?;
    let st: StatementRow = commission_statements::table
        .find(id)
        .select(StatementRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| DomainError::not_found("commission statement", id))?;
    ordo_core::util::check_version(if_match, st.version)?;
    let n = diesel::update(
        commission_statements::table
            .filter(commission_statements::id.eq(id))
            .filter(commission_statements::status.eq("open")),
    )
    .set((
        commission_statements::status.eq("paid"),
        commission_statements::paid_at.eq(now()),
        commission_statements::paid_by.eq(&caller.principal.name),
        commission_statements::version.eq(commission_statements::version + 1),
        commission_statements::updated_at.eq(now()),
    ))
    .execute(conn)?;
    if n == 0 {
        return Err(DomainError::conflict("statement_paid", "the statement is paid already"));
    }
    ordo_db::audit::record(
        conn,
        caller,
        "commission_statement",
        id,
        "pay",
        &serde_json::json!({"status": {"from": "open", "to": "paid"}}),
    )?;
    commission_statements::table.find(id).select(StatementRow::as_select()).first(conn)?.to_model()
}
