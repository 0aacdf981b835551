//! The sales report: quantity, revenue (net, base currency), cost of goods (what the
//! deliveries booked out of the stock ledger, else the item's standard cost), margin,
//! documents and average document value, grouped by up to two of customer, customer
//! group, item, item group, territory, sales person, sales partner, campaign and a
//! period (day, week, month, quarter, year), filtered by any of them, compared with
//! the previous period or the same period last year, sorted, top N. One grouped query
//! over the sales facts (per compared range), through their date index (on SQLite the
//! table itself is ordered by date).

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date as SqlDate, Nullable};
use ordo_core::{Caller, DomainError, Money, Page, PageRequest, Permission, Quantity, Rate, Result, Scope};
use ordo_db::schema::{
    campaigns, customer_groups, customers, item_groups, items, sales_partners, sales_persons, territories,
};
use ordo_db::DbConnection;
use ordo_pricing::engine::round_to;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use time::{Date, Duration, Month};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SalesDimension {
    Customer,
    CustomerGroup,
    Item,
    ItemGroup,
    Territory,
    SalesPerson,
    SalesPartner,
    Campaign,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl SalesDimension {
    pub const ALL: [SalesDimension; 13] = [
        Self::Customer,
        Self::CustomerGroup,
        Self::Item,
        Self::ItemGroup,
        Self::Territory,
        Self::SalesPerson,
        Self::SalesPartner,
        Self::Campaign,
        Self::Day,
        Self::Week,
        Self::Month,
        Self::Quarter,
        Self::Year,
    ];
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::CustomerGroup => "customer_group",
            Self::Item => "item",
            Self::ItemGroup => "item_group",
            Self::Territory => "territory",
            Self::SalesPerson => "sales_person",
            Self::SalesPartner => "sales_partner",
            Self::Campaign => "campaign",
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
            Self::Quarter => "quarter",
            Self::Year => "year",
        }
    }
    pub fn parse(s: &str) -> Option<SalesDimension> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }
    fn column(&self) -> Option<&'static str> {
        Some(match self {
            Self::Customer => "customer_id",
            Self::CustomerGroup => "customer_group_id",
            Self::Item => "item_id",
            Self::ItemGroup => "item_group_id",
            Self::Territory => "territory_id",
            Self::SalesPerson => "sales_person_id",
            Self::SalesPartner => "sales_partner_id",
            Self::Campaign => "campaign_id",
            _ => return None,
        })
    }
    fn is_period(&self) -> bool {
        self.column().is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SalesBasis {
    /// Confirmed sales orders, by order date.
    Orders,
    /// Posted invoices net of credit notes, by posting date.
    #[default]
    Invoices,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SalesCompare {
    /// The period before: the same length right before `from` (with a period grouping,
    /// each bucket against the one before it).
    PreviousPeriod,
    /// The same dates a year earlier.
    LastYear,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum SalesSort {
    #[serde(rename = "revenue")]
    Revenue,
    #[serde(rename = "-revenue")]
    RevenueDesc,
    #[serde(rename = "quantity")]
    Quantity,
    #[serde(rename = "-quantity")]
    QuantityDesc,
    #[serde(rename = "margin")]
    Margin,
    #[serde(rename = "-margin")]
    MarginDesc,
    #[serde(rename = "key")]
    Key,
}

/// The filters: every dimension by id.
#[derive(Debug, Clone, Default)]
pub struct SalesFilters {
    pub customer_id: Option<i64>,
    pub customer_group_id: Option<i64>,
    pub item_id: Option<i64>,
    pub item_group_id: Option<i64>,
    pub territory_id: Option<i64>,
    pub sales_person_id: Option<i64>,
    pub sales_partner_id: Option<i64>,
    pub campaign_id: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct SalesQuery {
    pub by: Vec<SalesDimension>,
    pub basis: SalesBasis,
    pub from: Date,
    pub to: Date,
    pub filters: SalesFilters,
    pub compare: Option<SalesCompare>,
    pub sort: SalesSort,
    pub top: Option<usize>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SalesRow {
    /// The first grouping's key: an id, or the period (`2026-11-30`, `2026-W48`,
    /// `2026-11`, `2026-Q4`, `2026`); null: none.
    pub key: Option<String>,
    pub label: String,
    /// The second grouping's key and label, when `by` names two.
    pub key2: Option<String>,
    pub label2: Option<String>,
    /// In base units.
    pub quantity: Quantity,
    /// Net, base currency.
    pub revenue: Money,
    pub cost: Money,
    pub margin: Money,
    /// margin / revenue in percent; null without revenue.
    pub margin_percent: Option<Rate>,
    /// Orders (or invoices and credit notes) with lines in the row.
    pub documents: i64,
    pub average_document_value: Option<Money>,
    /// With `compare`: the revenue of the compared period and the change in percent.
    pub compared_revenue: Option<Money>,
    pub revenue_change_percent: Option<Rate>,
}

#[derive(QueryableByName, Debug)]
struct Agg {
    #[diesel(sql_type = Nullable<BigInt>)]
    k1: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    k2: Option<i64>,
    #[diesel(sql_type = Nullable<SqlDate>)]
    day: Option<Date>,
    #[diesel(sql_type = BigInt)]
    quantity: i64,
    #[diesel(sql_type = BigInt)]
    net: i64,
    #[diesel(sql_type = BigInt)]
    cost: i64,
    #[diesel(sql_type = BigInt)]
    docs: i64,
}

type Key = (Option<String>, Option<String>);

#[derive(Default, Clone, Copy)]
struct Sum {
    quantity: i64,
    net: i64,
    cost: i64,
    docs: i64,
}

fn period_key(d: SalesDimension, day: Date) -> String {
    match d {
        SalesDimension::Day => day.to_string(),
        SalesDimension::Week => {
            let (y, w, _) = day.to_iso_week_date();
            format!("{y}-W{w:02}")
        }
        SalesDimension::Month => format!("{}-{:02}", day.year(), u8::from(day.month())),
        SalesDimension::Quarter => format!("{}-Q{}", day.year(), (u8::from(day.month()) - 1) / 3 + 1),
        _ => day.year().to_string(),
    }
}

/// `day` moved by `n` months, the day of month kept where the month has it.
fn add_months(day: Date, n: i32) -> Date {
    let m0 = day.year() * 12 + i32::from(u8::from(day.month())) - 1 + n;
    let month = Month::try_from((m0.rem_euclid(12) + 1) as u8).unwrap_or(Month::January);
    let year = m0.div_euclid(12);
    let last = month.length(year);
    Date::from_calendar_date(year, month, day.day().min(last)).unwrap_or(day)
}

/// `day` moved by `n` buckets of the period dimension `d`.
fn shift(d: SalesDimension, day: Date, n: i32) -> Date {
    match d {
        SalesDimension::Day => day + Duration::days(n.into()),
        SalesDimension::Week => day + Duration::weeks(n.into()),
        SalesDimension::Month => add_months(day, n),
        SalesDimension::Quarter => add_months(day, 3 * n),
        _ => add_months(day, 12 * n),
    }
}

fn run(conn: &mut DbConnection, q: &SalesQuery, from: Date, to: Date, scope: Scope) -> Result<Vec<Agg>> {
    let basis = match q.basis {
        SalesBasis::Orders => crate::facts::ORDER,
        SalesBasis::Invoices => crate::facts::INVOICE,
    };
    let mut cols = ["NULL".to_string(), "NULL".to_string()];
    let mut group = vec![];
    let mut day = "NULL".to_string();
    let mut n = 0;
    for d in &q.by {
        match d.column() {
            Some(c) => {
                cols[n] = format!("sales_facts.{c}");
                group.push(format!("sales_facts.{c}"));
                n += 1;
            }
            None if matches!(d, SalesDimension::Day | SalesDimension::Week) => {
                day = "sales_facts.doc_date".into();
                group.push(day.clone());
            }
            None => {
                // Months suffice for months, quarters and years; the key is built
                // from the month's first day.
                cols[n] = "CAST(sales_facts.month AS BIGINT)".into();
                group.push("sales_facts.month".into());
                n += 1;
            }
        }
    }
    // Every literal below is a typed value (basis constant, date, integer id).
    let mut wh = vec![
        format!("sales_facts.basis = '{basis}'"),
        format!("sales_facts.doc_date >= '{from}'"),
        format!("sales_facts.doc_date <= '{to}'"),
    ];
    let f = &q.filters;
    for (c, v) in [
        ("customer_id", f.customer_id),
        ("customer_group_id", f.customer_group_id),
        ("item_id", f.item_id),
        ("item_group_id", f.item_group_id),
        ("territory_id", f.territory_id),
        ("sales_person_id", f.sales_person_id),
        ("sales_partner_id", f.sales_partner_id),
        ("campaign_id", f.campaign_id),
    ] {
        if let Some(v) = v {
            wh.push(format!("sales_facts.{c} = {v}"));
        }
    }
    if let Scope::OwnCustomers(me) = scope {
        wh.push(format!("sales_facts.customer_id IN (SELECT id FROM customers WHERE owner_id = {me})"));
    }
    // Documents are counted by summing a first-line marker (no DISTINCT, so no sort):
    // a document's lines share its header dimensions and date, so its first line
    // counts it once in any header grouping; with items or item groups in the
    // grouping or the filter, the first of its lines per item or per item group does.
    let item_level = |d: SalesDimension, f: Option<i64>| q.by.contains(&d) || f.is_some();
    let marker = if item_level(SalesDimension::Item, q.filters.item_id) {
        "item_first"
    } else if item_level(SalesDimension::ItemGroup, q.filters.item_group_id) {
        "group_first"
    } else {
        "doc_first"
    };
    let sql = format!(
        "SELECT {} AS k1, {} AS k2, {day} AS day, CAST(SUM(sales_facts.quantity) AS BIGINT) AS quantity, \
         CAST(SUM(sales_facts.net_base) AS BIGINT) AS net, CAST(SUM(sales_facts.cost_base) AS BIGINT) AS cost, \
         CAST(SUM(sales_facts.{marker}) AS BIGINT) AS docs FROM sales_facts WHERE {} {}",
        cols[0],
        cols[1],
        wh.join(" AND "),
        if group.is_empty() { String::new() } else { format!("GROUP BY {}", group.join(", ")) },
    );
    Ok(diesel::sql_query(sql).load::<Agg>(conn)?)
}

/// Folds the grouped rows into report keys; `shift` moves period keys (comparison).
fn fold(q: &SalesQuery, rows: Vec<Agg>, shift: impl Fn(SalesDimension, Date) -> Date) -> BTreeMap<Key, Sum> {
    let mut out: BTreeMap<Key, Sum> = BTreeMap::new();
    for r in rows {
        let mut keys: Vec<Option<String>> = vec![];
        let mut ints = [r.k1, r.k2].into_iter();
        for d in &q.by {
            let k = if d.column().is_some() {
                ints.next().flatten().map(|v| v.to_string())
            } else if let Some(day) = r.day.filter(|_| matches!(d, SalesDimension::Day | SalesDimension::Week)) {
                Some(period_key(*d, shift(*d, day)))
            } else {
                ints.next().flatten().and_then(|m| {
                    let month = Month::try_from((m % 100) as u8).ok()?;
                    let first = Date::from_calendar_date((m / 100) as i32, month, 1).ok()?;
                    Some(period_key(*d, shift(*d, first)))
                })
            };
            keys.push(k);
        }
        let key = (keys.first().cloned().flatten(), keys.get(1).cloned().flatten());
        let s = out.entry(key).or_default();
        s.quantity += r.quantity;
        s.net += r.net;
        s.cost += r.cost;
        s.docs += r.docs;
    }
    out
}

fn labels(conn: &mut DbConnection, d: SalesDimension, ids: &[i64]) -> Result<HashMap<String, String>> {
    let rows: Vec<(i64, String)> = match d {
        SalesDimension::Customer => {
            customers::table.filter(customers::id.eq_any(ids)).select((customers::id, customers::name)).load(conn)?
        }
        SalesDimension::CustomerGroup => customer_groups::table
            .filter(customer_groups::id.eq_any(ids))
            .select((customer_groups::id, customer_groups::name))
            .load(conn)?,
        SalesDimension::Item => {
            items::table.filter(items::id.eq_any(ids)).select((items::id, items::name)).load(conn)?
        }
        SalesDimension::ItemGroup => item_groups::table
            .filter(item_groups::id.eq_any(ids))
            .select((item_groups::id, item_groups::name))
            .load(conn)?,
        SalesDimension::Territory => territories::table
            .filter(territories::id.eq_any(ids))
            .select((territories::id, territories::name))
            .load(conn)?,
        SalesDimension::SalesPerson => sales_persons::table
            .filter(sales_persons::id.eq_any(ids))
            .select((sales_persons::id, sales_persons::name))
            .load(conn)?,
        SalesDimension::SalesPartner => sales_partners::table
            .filter(sales_partners::id.eq_any(ids))
            .select((sales_partners::id, sales_partners::name))
            .load(conn)?,
        SalesDimension::Campaign => {
            campaigns::table.filter(campaigns::id.eq_any(ids)).select((campaigns::id, campaigns::name)).load(conn)?
        }
        _ => vec![],
    };
    Ok(rows.into_iter().map(|(id, n)| (id.to_string(), n)).collect())
}

fn pct(part: Decimal, whole: Decimal) -> Option<Rate> {
    (!whole.is_zero()).then(|| Rate::new(round_to(part * Decimal::from(100) / whole, 2)).ok()).flatten()
}

fn money(scaled: i64) -> Money {
    let d = round_to(Decimal::new(scaled, 4), 2);
    Money::new(d).unwrap_or(Money::ZERO)
}

pub fn sales(conn: &mut DbConnection, caller: &Caller, q: &SalesQuery, page: &PageRequest) -> Result<Page<SalesRow>> {
    caller.require(Permission::ReportsRead)?;
    if q.to < q.from {
        return Err(DomainError::field("to", "before_start", "must not be before from"));
    }
    if q.to - q.from > Duration::days(3 * 366) {
        return Err(DomainError::field("to", "too_long", "at most three years at once"));
    }
    let current = fold(q, run(conn, q, q.from, q.to, caller.scope())?, |_, d| d);
    let period = q.by.iter().copied().find(SalesDimension::is_period);
    let compared = match (q.compare, period) {
        (None, _) => None,
        (Some(SalesCompare::LastYear), _) => {
            let rows = run(conn, q, add_months(q.from, -12), add_months(q.to, -12), caller.scope())?;
            Some(fold(q, rows, |_, day| add_months(day, 12)))
        }
        (Some(SalesCompare::PreviousPeriod), None) => {
            let len = q.to - q.from + Duration::days(1);
            Some(fold(q, run(conn, q, q.from - len, q.from - Duration::days(1), caller.scope())?, |_, day| day))
        }
        (Some(SalesCompare::PreviousPeriod), Some(p)) => {
            // Each bucket against the one before it.
            let rows = run(conn, q, shift(p, q.from, -1), shift(p, q.to, -1), caller.scope())?;
            Some(fold(q, rows, |d, day| shift(d, day, 1)))
        }
    };
    let mut rows: Vec<(Key, Sum)> = current.into_iter().collect();
    let by_net = |s: &Sum| s.net;
    match q.sort {
        SalesSort::Revenue => rows.sort_by_key(|r| (by_net(&r.1), r.0.clone())),
        SalesSort::RevenueDesc => rows.sort_by_key(|r| (std::cmp::Reverse(by_net(&r.1)), r.0.clone())),
        SalesSort::Quantity => rows.sort_by_key(|r| (r.1.quantity, r.0.clone())),
        SalesSort::QuantityDesc => rows.sort_by_key(|r| (std::cmp::Reverse(r.1.quantity), r.0.clone())),
        SalesSort::Margin => rows.sort_by_key(|r| (r.1.net - r.1.cost, r.0.clone())),
        SalesSort::MarginDesc => rows.sort_by_key(|r| (std::cmp::Reverse(r.1.net - r.1.cost), r.0.clone())),
        SalesSort::Key => {}
    }
    if let Some(n) = q.top {
        rows.truncate(n);
    }
    // The page: positions as ids (the rows are computed whole, then paged).
    let start = page.after_id.unwrap_or(0).max(0) as usize;
    let limit = page.limit as usize;
    let more = rows.len() > start + limit;
    let slice: Vec<(usize, (Key, Sum))> = rows.into_iter().enumerate().skip(start).take(limit).collect();
    let mut names: Vec<HashMap<String, String>> = vec![];
    for (n, d) in q.by.iter().enumerate() {
        let ids: Vec<i64> = slice
            .iter()
            .filter_map(|(_, (k, _))| if n == 0 { k.0.as_ref() } else { k.1.as_ref() })
            .filter_map(|v| v.parse().ok())
            .collect();
        names.push(if d.is_period() { HashMap::new() } else { labels(conn, *d, &ids)? });
    }
    let label = |n: usize, k: &Option<String>| -> String {
        match k {
            None => "(none)".into(),
            Some(k) => names.get(n).and_then(|m| m.get(k)).cloned().unwrap_or_else(|| k.clone()),
        }
    };
    let last = slice.last().map(|(i, _)| *i as i64 + 1);
    let data: Vec<SalesRow> = slice
        .iter()
        .map(|(_, (k, s))| {
            let revenue = Decimal::new(s.net, 4);
            let margin = s.net - s.cost;
            let before = compared.as_ref().map(|c| c.get(k).copied().unwrap_or_default());
            SalesRow {
                label: label(0, &k.0),
                key: k.0.clone(),
                label2: (q.by.len() > 1).then(|| label(1, &k.1)),
                key2: k.1.clone(),
                quantity: Quantity::from_scaled(s.quantity),
                revenue: money(s.net),
                cost: money(s.cost),
                margin: money(margin),
                margin_percent: pct(Decimal::new(margin, 4), revenue),
                documents: s.docs,
                average_document_value: (s.docs > 0).then(|| money(s.net / s.docs)),
                compared_revenue: before.map(|b| money(b.net)),
                revenue_change_percent: before
                    .and_then(|b| pct(revenue - Decimal::new(b.net, 4), Decimal::new(b.net, 4))),
            }
        })
        .collect();
    let next_cursor = if more {
        last.map(|id| ordo_core::Cursor { sort: page.sort.label(), after_id: id, after_key: None }.encode())
    } else {
        None
    };
    Ok(Page { data, next_cursor, total: None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn period_keys_and_steps() {
        let d = date!(2026 - 11 - 30);
        assert_eq!(period_key(SalesDimension::Week, d), "2026-W49");
        assert_eq!(period_key(SalesDimension::Quarter, d), "2026-Q4");
        assert_eq!(shift(SalesDimension::Month, date!(2026 - 12 - 01), 1), date!(2027 - 01 - 01));
        assert_eq!(shift(SalesDimension::Quarter, date!(2026 - 11 - 30), -1), date!(2026 - 08 - 30));
        assert_eq!(add_months(date!(2026 - 03 - 31), -1), date!(2026 - 02 - 28));
        assert_eq!(shift(SalesDimension::Year, date!(2028 - 02 - 29), -1), date!(2027 - 02 - 28));
    }
}
