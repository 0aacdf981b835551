//! Sales targets and their attainment. A target is a value for a period (month,
//! quarter, year) and any of a sales person (alone or with the people reporting to
//! them), an item group (with its subgroups) and a territory (with its children):
//! an amount in the base currency or a quantity in base units, measured on confirmed
//! orders, on posted invoices net of credit notes, or on payments received. Actuals
//! come from the sales facts (orders, invoices) and the payments table in one grouped
//! query per basis, whatever the number of targets; the forecast adds the open
//! pipeline expected to close in the period, weighted by its probability.

use diesel::prelude::*;
use ordo_core::{Caller, Currency, DomainError, FieldError, Permission, Quantity, Rate, Result, Role};
use ordo_db::schema::{
    customers, item_groups, items, opportunities, opportunity_items, payments, pipeline_stages, sales_facts,
    sales_persons, sales_targets, territories,
};
use ordo_db::DbConnection;
use ordo_pricing::engine::round_to;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use time::{Date, Month, PrimitiveDateTime};
use validator::Validate;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetMeasure {
    /// Net amount in the base currency.
    Amount,
    /// Quantity in the items' base units.
    Quantity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetBasis {
    /// Confirmed sales orders, by order date.
    Orders,
    /// Posted invoices net of credit notes, by posting date.
    #[default]
    Invoices,
    /// Payments received (not bounced), by payment date; amounts only, no item group.
    Payments,
}

impl TargetMeasure {
    fn as_str(&self) -> &'static str {
        match self {
            TargetMeasure::Amount => "amount",
            TargetMeasure::Quantity => "quantity",
        }
    }
    /// As stored (written by `as_str`).
    fn parse(s: &str) -> TargetMeasure {
        if s == "quantity" {
            TargetMeasure::Quantity
        } else {
            TargetMeasure::Amount
        }
    }
}

impl TargetBasis {
    fn as_str(&self) -> &'static str {
        match self {
            TargetBasis::Orders => "orders",
            TargetBasis::Invoices => "invoices",
            TargetBasis::Payments => "payments",
        }
    }
    /// As stored (written by `as_str`).
    fn parse(s: &str) -> TargetBasis {
        match s {
            "orders" => TargetBasis::Orders,
            "payments" => TargetBasis::Payments,
            _ => TargetBasis::Invoices,
        }
    }
}

/// A period as written: `2026-11` (month), `2026-Q4` (quarter) or `2026` (year); its
/// first and last day.
pub fn period_range(p: &str) -> Option<(Date, Date)> {
    let month = |y: i32, m: u8| Date::from_calendar_date(y, Month::try_from(m).ok()?, 1).ok();
    let (start, months) = match p.len() {
        4 => (month(p.parse().ok()?, 1)?, 12),
        7 if &p[4..6] == "-Q" => {
            let q: u8 = p[6..].parse().ok().filter(|q| (1..=4).contains(q))?;
            (month(p[..4].parse().ok()?, (q - 1) * 3 + 1)?, 3)
        }
        7 if &p[4..5] == "-" => (month(p[..4].parse().ok()?, p[5..].parse().ok()?)?, 1),
        _ => return None,
    };
    if !(2000..=2100).contains(&start.year()) {
        return None;
    }
    let mut end = start;
    for _ in 0..months {
        end = month(end.year() + i32::from(end.month() == Month::December), u8::from(end.month().next()))?;
    }
    Some((start, end.previous_day()?))
}

fn period(p: &str) -> std::result::Result<(), validator::ValidationError> {
    period_range(p)
        .map(|_| ())
        .ok_or_else(|| validator::ValidationError::new("period").with_message("`2026-11`, `2026-Q4` or `2026`".into()))
}

/// `POST /sales-targets`; also the shape `PATCH` merges into.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SalesTargetCreate {
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// `2026-11` (a month), `2026-Q4` (a quarter) or `2026` (a year).
    #[validate(custom(function = "period"))]
    #[schema(pattern = "^[0-9]{4}(-[0-9]{2}|-Q[1-4])?$", example = "2026-Q4")]
    pub period: String,
    /// None: the whole company.
    #[serde(default)]
    pub sales_person_id: Option<i64>,
    /// Count the sales person's team too (everyone reporting to them, at any depth).
    #[serde(default)]
    pub include_team: bool,
    /// The group and its subgroups.
    #[serde(default)]
    pub item_group_id: Option<i64>,
    /// The territory and its children.
    #[serde(default)]
    pub territory_id: Option<i64>,
    pub measure: TargetMeasure,
    #[serde(default)]
    pub basis: TargetBasis,
    /// The amount (base currency) or quantity (base units) to reach.
    #[validate(custom(function = "ordo_core::validate::positive_qty"))]
    pub value: Quantity,
}

ordo_db::stored_model!(SalesTarget, SalesTargetCreate, "A sales target for a period.");

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = sales_targets, treat_none_as_null = true)]
pub struct SalesTargetRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub name: String,
    pub period: String,
    pub period_start: Date,
    pub period_end: Date,
    pub sales_person_id: Option<i64>,
    pub include_team: bool,
    pub item_group_id: Option<i64>,
    pub territory_id: Option<i64>,
    pub measure: String,
    pub basis: String,
    pub value: i64,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

ordo_db::record!(
    SalesTargetRow,
    SalesTargetCreate,
    SalesTarget,
    from | c,
    id,
    version,
    created_at | {
        let (start, end) = period_range(&c.period).unwrap_or((created_at.date(), created_at.date()));
        SalesTargetRow {
            id,
            name: c.name.trim().to_string(),
            period: c.period.clone(),
            period_start: start,
            period_end: end,
            sales_person_id: c.sales_person_id,
            include_team: c.include_team,
            item_group_id: c.item_group_id,
            territory_id: c.territory_id,
            measure: c.measure.as_str().into(),
            basis: c.basis.as_str().into(),
            value: c.value.to_scaled(),
            version,
            created_at,
            updated_at: created_at,
        }
    },
    to | r
        | SalesTargetCreate {
            name: r.name.clone(),
            period: r.period.clone(),
            sales_person_id: r.sales_person_id,
            include_team: r.include_team,
            item_group_id: r.item_group_id,
            territory_id: r.territory_id,
            measure: TargetMeasure::parse(&r.measure),
            basis: TargetBasis::parse(&r.basis),
            value: Quantity::from_scaled(r.value),
        }
);

pub mod target_service {
    use super::*;

    pub(super) fn read(caller: &Caller) -> Result<()> {
        caller.require(Permission::ReportsRead)
    }
    fn write(caller: &Caller) -> Result<()> {
        caller.require(Permission::SalesSetupWrite)
    }

    #[derive(Debug, Clone, Default)]
    pub struct Filter {
        pub period: Option<String>,
        pub sales_person_id: Option<i64>,
    }
    fn filter<'a>(mut q: Query<'a>, f: &Filter) -> Query<'a> {
        if let Some(p) = &f.period {
            q = q.filter(sales_targets::period.eq(p.clone()));
        }
        if let Some(p) = f.sales_person_id {
            q = q.filter(sales_targets::sales_person_id.eq(p));
        }
        q
    }
    fn check(conn: &mut DbConnection, _caller: &Caller, c: &SalesTargetCreate, id: Option<i64>) -> Result<()> {
        let mut errs = vec![];
        if c.include_team && c.sales_person_id.is_none() {
            errs.push(FieldError::new("include_team", "requires_sales_person", "a team is a sales person's"));
        }
        if c.basis == TargetBasis::Payments {
            if c.measure == TargetMeasure::Quantity {
                errs.push(FieldError::new("measure", "invalid", "payments have amounts, not quantities"));
            }
            if c.item_group_id.is_some() {
                errs.push(FieldError::new("item_group_id", "invalid", "payments are not per item"));
            }
        }
        if !errs.is_empty() {
            return Err(DomainError::Validation(errs));
        }
        ordo_db::require_opt_ref!(conn, sales_persons, c.sales_person_id, "sales person", "sales_person_id");
        ordo_db::require_opt_ref!(conn, item_groups, c.item_group_id, "item group", "item_group_id");
        ordo_db::require_opt_ref!(conn, territories, c.territory_id, "territory", "territory_id");
        // The same period, dimensions, measure and basis twice would count twice.
        let mut q = sales_targets::table
            .filter(sales_targets::period.eq(&c.period))
            .filter(sales_targets::include_team.eq(c.include_team))
            .filter(sales_targets::measure.eq(c.measure.as_str()))
            .filter(sales_targets::basis.eq(c.basis.as_str()))
            .filter(sales_targets::id.ne(id.unwrap_or(0)))
            .select(sales_targets::id)
            .into_boxed();
        q = match c.sales_person_id {
            Some(v) => q.filter(sales_targets::sales_person_id.eq(v)),
            None => q.filter(sales_targets::sales_person_id.is_null()),
        };
        q = match c.item_group_id {
            Some(v) => q.filter(sales_targets::item_group_id.eq(v)),
            None => q.filter(sales_targets::item_group_id.is_null()),
        };
        q = match c.territory_id {
            Some(v) => q.filter(sales_targets::territory_id.eq(v)),
            None => q.filter(sales_targets::territory_id.is_null()),
        };
        if let Some(other) = q.first::<i64>(conn).optional()? {
            return Err(DomainError::conflict(
                "duplicate",
                format!(
                    "target {other} already covers this period, sales person, item group, territory, measure and basis"
                ),
            ));
        }
        Ok(())
    }
    ordo_db::crud_service!(entity: "sales_target", name: "sales target", table: sales_targets, row: SalesTargetRow);
}

// ---- attainment --------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttainmentGroup {
    #[default]
    SalesPerson,
    ItemGroup,
    Territory,
}

/// One group of targets with the same measure and basis.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AttainmentRow {
    /// The sales person, item group or territory id; null: the whole company / all.
    pub key: Option<i64>,
    pub label: String,
    pub measure: TargetMeasure,
    pub basis: TargetBasis,
    /// How many targets the row adds up.
    pub targets: i64,
    pub target: Quantity,
    pub actual: Quantity,
    /// actual / target in percent.
    pub percent: Rate,
    /// target − actual (negative: exceeded).
    pub gap: Quantity,
    /// actual + the open pipeline expected to close in the period, weighted by its
    /// probability (today's exchange rates).
    pub forecast: Quantity,
}

/// Item groups or territories: id → parent.
fn descendants(parents: &[(i64, Option<i64>)], root: i64) -> BTreeSet<i64> {
    let mut out: BTreeSet<i64> = [root].into_iter().collect();
    loop {
        let more: Vec<i64> = parents
            .iter()
            .filter(|(id, p)| p.is_some_and(|p| out.contains(&p)) && !out.contains(id))
            .map(|x| x.0)
            .collect();
        if more.is_empty() {
            return out;
        }
        out.extend(more);
    }
}

/// The sales persons whose targets the caller sees: an agent their own, a sales
/// manager their team's (when they are a sales person), everyone else all.
fn visible_persons(caller: &Caller, persons: &[(i64, Option<i64>, Option<i64>)]) -> Option<BTreeSet<i64>> {
    let me = caller.principal.user_id()?;
    let unrestricted = caller.principal.roles.iter().any(|r| !matches!(r, Role::SalesAgent | Role::SalesManager));
    if unrestricted {
        return None;
    }
    let mine: Vec<i64> = persons.iter().filter(|p| p.2 == Some(me)).map(|p| p.0).collect();
    if caller.principal.has_role(Role::SalesManager) {
        if mine.is_empty() {
            return None;
        }
        let parents: Vec<(i64, Option<i64>)> = persons.iter().map(|p| (p.0, p.1)).collect();
        return Some(mine.iter().flat_map(|m| descendants(&parents, *m)).collect());
    }
    Some(mine.into_iter().collect())
}

#[derive(Debug, Clone)]
pub struct AttainmentQuery {
    pub period: String,
    pub by: AttainmentGroup,
}

/// Actuals per (month, sales person, item group, territory): quantity, amount.
type Cell = (i32, Option<i64>, Option<i64>, Option<i64>, i64, i64);
/// An open opportunity: id, owner, amount, currency, probability, stage, territory.
type OppRow = (i64, Option<i64>, i64, String, Option<i64>, i64, Option<i64>);
/// A report row's group: key, measure, basis.
type RowKey = (Option<i64>, &'static str, &'static str);

pub fn attainment(
    conn: &mut DbConnection,
    caller: &Caller,
    q: &AttainmentQuery,
    base: Currency,
) -> Result<Vec<AttainmentRow>> {
    target_service::read(caller)?;
    let Some((start, end)) = period_range(&q.period) else {
        return Err(DomainError::field("period", "invalid", "`2026-11`, `2026-Q4` or `2026`"));
    };
    let persons: Vec<(i64, Option<i64>, Option<i64>)> = sales_persons::table
        .select((sales_persons::id, sales_persons::manager_id, sales_persons::user_id))
        .load(conn)?;
    let visible = visible_persons(caller, &persons);
    let mut tq = sales_targets::table
        .filter(sales_targets::period_start.ge(start))
        .filter(sales_targets::period_end.le(end))
        .select(SalesTargetRow::as_select())
        .into_boxed();
    if let Some(v) = &visible {
        tq = tq.filter(sales_targets::sales_person_id.eq_any(v.iter().copied().collect::<Vec<_>>()));
    }
    let targets: Vec<SalesTargetRow> = tq.order(sales_targets::id.asc()).load(conn)?;
    if targets.is_empty() {
        return Ok(vec![]);
    }
    let groups: Vec<(i64, Option<i64>)> =
        item_groups::table.select((item_groups::id, item_groups::parent_id)).load(conn)?;
    let terrs: Vec<(i64, Option<i64>)> =
        territories::table.select((territories::id, territories::parent_id)).load(conn)?;
    let team_of: Vec<(i64, Option<i64>)> = persons.iter().map(|p| (p.0, p.1)).collect();
    let mut cells: HashMap<&'static str, Vec<Cell>> = HashMap::new();
    for basis in ["orders", "invoices"] {
        if !targets.iter().any(|t| t.basis == basis) {
            continue;
        }
        let fact = if basis == "orders" { crate::facts::ORDER } else { crate::facts::INVOICE };
        let rows: Vec<Cell> = sales_facts::table
            .filter(sales_facts::basis.eq(fact))
            .filter(sales_facts::doc_date.between(start, end))
            .group_by((
                sales_facts::month,
                sales_facts::sales_person_id,
                sales_facts::item_group_id,
                sales_facts::territory_id,
            ))
            .select((
                sales_facts::month,
                sales_facts::sales_person_id,
                sales_facts::item_group_id,
                sales_facts::territory_id,
                diesel::dsl::sql::<diesel::sql_types::BigInt>("CAST(SUM(sales_facts.quantity) AS BIGINT)"),
                diesel::dsl::sql::<diesel::sql_types::BigInt>("CAST(SUM(sales_facts.net_base) AS BIGINT)"),
            ))
            .load(conn)?;
        cells.insert(basis, rows);
    }
    if targets.iter().any(|t| t.basis == "payments") {
        let rows: Vec<(Date, Option<i64>, Option<i64>, i64)> = payments::table
            .inner_join(customers::table.on(customers::id.eq(payments::customer_id)))
            .filter(payments::pay_date.between(start, end))
            .filter(payments::status.ne("bounced"))
            .select((payments::pay_date, customers::sales_person_id, customers::territory_id, payments::base_amount))
            .load(conn)?;
        cells.insert(
            "payments",
            rows.into_iter().map(|(d, p, t, a)| (crate::facts::month_of(d), p, None, t, 0, a)).collect(),
        );
    }
    // The forecast: open opportunities expected to close in the period.
    let opps: Vec<OppRow> = opportunities::table
        .filter(opportunities::status.eq("open"))
        .filter(opportunities::expected_close.between(start, end))
        .select((
            opportunities::id,
            opportunities::owner_id,
            opportunities::amount,
            opportunities::currency,
            opportunities::probability,
            opportunities::stage_id,
            opportunities::territory_id,
        ))
        .load(conn)?;
    let stage_p: HashMap<i64, i64> = pipeline_stages::table
        .select((pipeline_stages::id, pipeline_stages::probability))
        .load::<(i64, i64)>(conn)?
        .into_iter()
        .collect();
    let opp_ids: Vec<i64> = opps.iter().map(|o| o.0).collect();
    let opp_items: Vec<(i64, i64, Option<i64>, Option<i64>)> = if opp_ids.is_empty() {
        vec![]
    } else {
        opportunity_items::table
            .inner_join(items::table.on(items::id.eq(opportunity_items::item_id)))
            .filter(opportunity_items::opportunity_id.eq_any(&opp_ids))
            .select((
                opportunity_items::opportunity_id,
                opportunity_items::quantity,
                items::item_group_id,
                opportunity_items::estimated_price,
            ))
            .load(conn)?
    };
    let currencies: BTreeSet<String> = opps.iter().map(|o| o.3.clone()).chain([base.code().to_string()]).collect();
    let today = ordo_core::time_util::now().date();
    let fx = ordo_pricing::fx::load(conn, &currencies, today)?;
    let person_of_user: HashMap<i64, i64> = persons.iter().filter_map(|p| p.2.map(|u| (u, p.0))).collect();
    let hundred = Decimal::from(100);

    let mut rows: BTreeMap<RowKey, (i64, Decimal, Decimal, Decimal)> = BTreeMap::new();
    for t in &targets {
        let (measure, basis) = (TargetMeasure::parse(&t.measure), TargetBasis::parse(&t.basis));
        let people: Option<BTreeSet<i64>> =
            t.sales_person_id.map(
                |p| {
                    if t.include_team {
                        descendants(&team_of, p)
                    } else {
                        [p].into_iter().collect()
                    }
                },
            );
        let item_set = t.item_group_id.map(|g| descendants(&groups, g));
        let terr_set = t.territory_id.map(|g| descendants(&terrs, g));
        let fits = |p: Option<i64>, g: Option<i64>, te: Option<i64>| {
            people.as_ref().is_none_or(|s| p.is_some_and(|p| s.contains(&p)))
                && item_set.as_ref().is_none_or(|s| g.is_some_and(|g| s.contains(&g)))
                && terr_set.as_ref().is_none_or(|s| te.is_some_and(|x| s.contains(&x)))
        };
        let (tm, tmax) = (crate::facts::month_of(t.period_start), crate::facts::month_of(t.period_end));
        let actual: i64 = cells
            .get(basis.as_str())
            .map(|cs| {
                cs.iter()
                    .filter(|c| c.0 >= tm && c.0 <= tmax && fits(c.1, c.2, c.3))
                    .map(|c| if measure == TargetMeasure::Amount { c.5 } else { c.4 })
                    .sum()
            })
            .unwrap_or(0);
        let actual = Decimal::new(actual, 4);
        let mut pipeline = Decimal::ZERO;
        for o in &opps {
            let close_person = o.1.and_then(|u| person_of_user.get(&u).copied());
            if !people.as_ref().is_none_or(|s| close_person.is_some_and(|p| s.contains(&p)))
                || !terr_set.as_ref().is_none_or(|s| o.6.is_some_and(|x| s.contains(&x)))
            {
                continue;
            }
            let p = Decimal::new(o.4.unwrap_or(stage_p.get(&o.5).copied().unwrap_or(0)), 8) / hundred;
            let cur = Currency::from_code(&o.3).unwrap_or(base);
            let rate = ordo_pricing::fx::rate(&fx, today, cur, base)?;
            let its: Vec<&(i64, i64, Option<i64>, Option<i64>)> = opp_items.iter().filter(|i| i.0 == o.0).collect();
            let value = match (measure, &item_set) {
                (TargetMeasure::Amount, None) => Decimal::new(o.2, 4) * rate,
                (TargetMeasure::Amount, Some(s)) => its
                    .iter()
                    .filter(|i| i.2.is_some_and(|g| s.contains(&g)))
                    .map(|i| Decimal::new(i.3.unwrap_or(0), 4) * Decimal::new(i.1, 4) * rate)
                    .sum(),
                (TargetMeasure::Quantity, s) => its
                    .iter()
                    .filter(|i| s.as_ref().is_none_or(|s| i.2.is_some_and(|g| s.contains(&g))))
                    .map(|i| Decimal::new(i.1, 4))
                    .sum(),
            };
            pipeline += value * p;
        }
        let key = match q.by {
            AttainmentGroup::SalesPerson => t.sales_person_id,
            AttainmentGroup::ItemGroup => t.item_group_id,
            AttainmentGroup::Territory => t.territory_id,
        };
        let e = rows.entry((key, measure.as_str(), basis.as_str())).or_default();
        e.0 += 1;
        e.1 += Decimal::new(t.value, 4);
        e.2 += actual;
        e.3 += actual + pipeline;
    }
    let labels: HashMap<i64, String> = match q.by {
        AttainmentGroup::SalesPerson => {
            sales_persons::table.select((sales_persons::id, sales_persons::name)).load(conn)?
        }
        AttainmentGroup::ItemGroup => item_groups::table.select((item_groups::id, item_groups::name)).load(conn)?,
        AttainmentGroup::Territory => territories::table.select((territories::id, territories::name)).load(conn)?,
    }
    .into_iter()
    .collect();
    let dp = |d: Decimal| Quantity::new(round_to(d, 2)).map_err(|e| DomainError::Internal(format!("attainment: {e}")));
    rows.into_iter()
        .map(|((key, measure, basis), (n, target, actual, forecast))| {
            Ok(AttainmentRow {
                label: key.and_then(|k| labels.get(&k).cloned()).unwrap_or_else(|| "(all)".into()),
                key,
                measure: TargetMeasure::parse(measure),
                basis: TargetBasis::parse(basis),
                targets: n,
                target: dp(target)?,
                actual: dp(actual)?,
                percent: Rate::new(round_to(actual * hundred / target, 2)).unwrap_or_default(),
                gap: dp(target - actual)?,
                forecast: dp(forecast)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn periods() {
        assert_eq!(period_range("2026-11"), Some((date!(2026 - 11 - 01), date!(2026 - 11 - 30))));
        assert_eq!(period_range("2026-12"), Some((date!(2026 - 12 - 01), date!(2026 - 12 - 31))));
        assert_eq!(period_range("2026-Q1"), Some((date!(2026 - 01 - 01), date!(2026 - 03 - 31))));
        assert_eq!(period_range("2026-Q4"), Some((date!(2026 - 10 - 01), date!(2026 - 12 - 31))));
        assert_eq!(period_range("2028"), Some((date!(2028 - 01 - 01), date!(2028 - 12 - 31))));
        for bad in ["2026-13", "2026-Q5", "26", "2026-1", "abcd", "1999"] {
            assert_eq!(period_range(bad), None, "{bad}");
        }
    }

    #[test]
    fn teams_and_trees_include_their_descendants() {
        let tree = [(1, None), (2, Some(1)), (3, Some(2)), (4, None)];
        assert_eq!(descendants(&tree, 1), [1, 2, 3].into_iter().collect());
        assert_eq!(descendants(&tree, 4), [4].into_iter().collect());
    }
}
