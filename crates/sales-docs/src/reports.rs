//! Reports and the demand register. Each reads a fixed number of queries (never one
//! per row) and aggregates in code; amounts are converted to the base currency at
//! today's rates and rounded once per group.

use diesel::prelude::*;
use ordo_core::{Caller, Currency, DomainError, Money, Page, PageRequest, Permission, Quantity, Rate, Result, Scope};
use ordo_db::schema::{
    activities, blanket_orders, blanket_schedule_lines, customers, document_lines, opportunities, opportunity_items,
    opportunity_stage_changes, pipeline_stages, quotations, sales_orders, territories, users,
};
use ordo_db::DbConnection;
use ordo_pricing::engine::round_to;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use time::{Date, Duration, PrimitiveDateTime};

use crate::lines::{DocKind, HeaderPricing};
use crate::quotations::today;

fn read(caller: &Caller) -> Result<()> {
    caller.require(Permission::ReportsRead)
}

fn money(d: Decimal, dp: u32) -> Money {
    Money::new(round_to(d, dp)).unwrap_or(Money::ZERO)
}

/// An agent's reports are about their own data; others may narrow to one owner.
fn owner_scope(caller: &Caller, requested: Option<i64>) -> Option<i64> {
    match caller.scope() {
        Scope::OwnCustomers(me) => Some(me),
        Scope::All => requested,
    }
}

// ---- pipeline ------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PipelineGroup {
    Owner,
    #[default]
    Stage,
    Territory,
    /// Expected-close month (`YYYY-MM`).
    Month,
}

#[derive(Debug, Clone, Default)]
pub struct PipelineQuery {
    pub group_by: PipelineGroup,
    pub owner_id: Option<i64>,
    pub from: Option<Date>,
    pub to: Option<Date>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PipelineGroupRow {
    /// The group's id (owner, stage, territory) or month `YYYY-MM`; null for "none".
    pub key: Option<String>,
    pub label: String,
    pub count: i64,
    /// Open amount in the base currency.
    pub open_amount: Money,
    /// Σ amount × probability, in the base currency.
    pub weighted_amount: Money,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WinRate {
    pub won: i64,
    pub lost: i64,
    /// won / (won + lost) in percent; null when nothing closed in the period.
    pub rate: Option<Rate>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StageDuration {
    pub stage_id: i64,
    pub stage: String,
    /// Average days an opportunity spent in the stage (stints that ended in the period).
    pub average_days: Rate,
    pub samples: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PipelineReport {
    pub base_currency: Currency,
    pub group_by: PipelineGroup,
    pub groups: Vec<PipelineGroupRow>,
    pub open_count: i64,
    pub open_amount: Money,
    pub weighted_amount: Money,
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub from: Date,
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub to: Date,
    pub win_rate: WinRate,
    pub stage_durations: Vec<StageDuration>,
}

type OppRow =
    (i64, Option<i64>, i64, i64, String, Option<Date>, Option<i64>, String, Option<i64>, Option<PrimitiveDateTime>);

pub fn pipeline(conn: &mut DbConnection, caller: &Caller, q: &PipelineQuery, base: Currency) -> Result<PipelineReport> {
    read(caller)?;
    let to = q.to.unwrap_or_else(today);
    let from = q.from.unwrap_or(to - Duration::days(365));
    if to < from {
        return Err(DomainError::field("to", "before_start", "must not be before from"));
    }
    let mut oq = opportunities::table
        .select((
            opportunities::id,
            opportunities::owner_id,
            opportunities::stage_id,
            opportunities::amount,
            opportunities::currency,
            opportunities::expected_close,
            opportunities::probability,
            opportunities::status,
            opportunities::territory_id,
            opportunities::closed_at,
        ))
        .into_boxed();
    if let Some(o) = owner_scope(caller, q.owner_id) {
        oq = oq.filter(opportunities::owner_id.eq(o));
    }
    let opps: Vec<OppRow> = oq.load(conn)?;
    let stages: Vec<(i64, String, i64)> = pipeline_stages::table
        .select((pipeline_stages::id, pipeline_stages::name, pipeline_stages::probability))
        .load(conn)?;
    let stage_of: HashMap<i64, (String, i64)> = stages.iter().map(|(id, n, p)| (*id, (n.clone(), *p))).collect();
    let currencies: BTreeSet<String> =
        opps.iter().map(|o| o.4.clone()).chain(std::iter::once(base.code().to_string())).collect();
    let d = today();
    let fx = ordo_pricing::fx::load(conn, &currencies, d)?;
    let hundred = Decimal::from(100);
    let mut groups: BTreeMap<Option<String>, (i64, Decimal, Decimal)> = BTreeMap::new();
    let (mut won, mut lost) = (0, 0);
    for o in &opps {
        let closed_in_period = o.9.is_some_and(|c| c.date() >= from && c.date() <= to);
        match o.7.as_str() {
            "won" if closed_in_period => won += 1,
            "lost" if closed_in_period => lost += 1,
            "open" => {
                let cur = Currency::from_code(&o.4).unwrap_or(base);
                let amount = Money::from_scaled(o.3).value() * ordo_pricing::fx::rate(&fx, d, cur, base)?;
                let p = Rate::from_scaled(o.6.unwrap_or(stage_of.get(&o.2).map(|s| s.1).unwrap_or(0))).value();
                let key = match q.group_by {
                    PipelineGroup::Owner => o.1.map(|v| v.to_string()),
                    PipelineGroup::Stage => Some(o.2.to_string()),
                    PipelineGroup::Territory => o.8.map(|v| v.to_string()),
                    PipelineGroup::Month => o.5.map(|e| format!("{:04}-{:02}", e.year(), u8::from(e.month()))),
                };
                let g = groups.entry(key).or_default();
                g.0 += 1;
                g.1 += amount;
                g.2 += amount * p / hundred;
            }
            _ => {}
        }
    }
    let labels: HashMap<String, String> = match q.group_by {
        PipelineGroup::Stage => stages.iter().map(|(id, n, _)| (id.to_string(), n.clone())).collect(),
        PipelineGroup::Owner => {
            let ids: Vec<i64> = groups.keys().flatten().filter_map(|k| k.parse().ok()).collect();
            users::table
                .filter(users::id.eq_any(&ids))
                .select((users::id, users::display_name))
                .load::<(i64, String)>(conn)?
                .into_iter()
                .map(|(id, n)| (id.to_string(), n))
                .collect()
        }
        PipelineGroup::Territory => {
            let ids: Vec<i64> = groups.keys().flatten().filter_map(|k| k.parse().ok()).collect();
            territories::table
                .filter(territories::id.eq_any(&ids))
                .select((territories::id, territories::name))
                .load::<(i64, String)>(conn)?
                .into_iter()
                .map(|(id, n)| (id.to_string(), n))
                .collect()
        }
        PipelineGroup::Month => BTreeMap::new().into_iter().collect(),
    };
    let dp = u32::from(base.minor_units());
    let rows: Vec<PipelineGroupRow> = groups
        .iter()
        .map(|(k, (n, a, w))| PipelineGroupRow {
            key: k.clone(),
            label: match k {
                Some(k) => labels.get(k).cloned().unwrap_or_else(|| k.clone()),
                None => "(none)".into(),
            },
            count: *n,
            open_amount: money(*a, dp),
            weighted_amount: money(*w, dp),
        })
        .collect();
    let stage_durations = stage_durations(conn, caller, q, &opps, &stage_of, from, to)?;
    Ok(PipelineReport {
        base_currency: base,
        group_by: q.group_by,
        open_count: rows.iter().map(|r| r.count).sum(),
        open_amount: money(groups.values().map(|g| g.1).sum(), dp),
        weighted_amount: money(groups.values().map(|g| g.2).sum(), dp),
        groups: rows,
        from,
        to,
        win_rate: WinRate {
            won,
            lost,
            rate: (won + lost > 0).then(|| {
                Rate::new(round_to(Decimal::from(won) * hundred / Decimal::from(won + lost), 2)).unwrap_or_default()
            }),
        },
        stage_durations,
    })
}

/// Average time in each stage: a stint runs from a stage change to the next change or
/// the close, and counts when it ended inside the period.
fn stage_durations(
    conn: &mut DbConnection,
    _caller: &Caller,
    _q: &PipelineQuery,
    opps: &[OppRow],
    stage_of: &HashMap<i64, (String, i64)>,
    from: Date,
    to: Date,
) -> Result<Vec<StageDuration>> {
    let ids: Vec<i64> = opps.iter().map(|o| o.0).collect();
    let closed: HashMap<i64, PrimitiveDateTime> = opps.iter().filter_map(|o| o.9.map(|c| (o.0, c))).collect();
    let changes: Vec<(i64, i64, PrimitiveDateTime)> = opportunity_stage_changes::table
        .filter(opportunity_stage_changes::opportunity_id.eq_any(&ids))
        .order((opportunity_stage_changes::opportunity_id.asc(), opportunity_stage_changes::id.asc()))
        .select((
            opportunity_stage_changes::opportunity_id,
            opportunity_stage_changes::to_stage_id,
            opportunity_stage_changes::changed_at,
        ))
        .load(conn)?;
    let mut per_stage: BTreeMap<i64, (Decimal, i64)> = BTreeMap::new();
    for (i, (opp, stage, at)) in changes.iter().enumerate() {
        let end = match changes.get(i + 1) {
            Some((next_opp, _, next_at)) if next_opp == opp => Some(*next_at),
            _ => closed.get(opp).copied(),
        };
        if let Some(end) = end.filter(|e| e.date() >= from && e.date() <= to) {
            let secs = Decimal::from((end - *at).whole_seconds().max(0));
            let e = per_stage.entry(*stage).or_default();
            e.0 += secs / Decimal::from(86_400);
            e.1 += 1;
        }
    }
    Ok(per_stage
        .into_iter()
        .map(|(stage_id, (days, n))| StageDuration {
            stage_id,
            stage: stage_of.get(&stage_id).map(|s| s.0.clone()).unwrap_or_default(),
            average_days: Rate::new(round_to(days / Decimal::from(n), 2)).unwrap_or_default(),
            samples: n,
        })
        .collect())
}

// ---- contact discipline ------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OverdueCustomer {
    pub customer_id: i64,
    pub number: String,
    pub name: String,
    pub contact_frequency_days: i32,
    /// The last completed call, meeting or email; null if there never was one.
    #[serde(serialize_with = "ordo_core::serde_util::rfc3339_opt::serialize")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_contact_at: Option<time::OffsetDateTime>,
    pub days_overdue: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OverdueOwner {
    pub owner_id: Option<i64>,
    pub owner_name: Option<String>,
    /// Most overdue first.
    pub customers: Vec<OverdueCustomer>,
}

/// Customers whose last completed contact is older than their contact frequency
/// (never contacted: counted from when the customer was created), per owner.
pub fn contact_overdue(conn: &mut DbConnection, caller: &Caller, owner_id: Option<i64>) -> Result<Vec<OverdueOwner>> {
    read(caller)?;
    let mut cq = customers::table
        .filter(customers::contact_frequency_days.is_not_null())
        .filter(customers::archived_at.is_null())
        .select((
            customers::id,
            customers::number,
            customers::name,
            customers::contact_frequency_days.assume_not_null(),
            customers::owner_id,
            customers::created_at,
        ))
        .into_boxed();
    if let Some(o) = owner_scope(caller, owner_id) {
        cq = cq.filter(customers::owner_id.eq(o));
    }
    let rows: Vec<(i64, String, String, i32, Option<i64>, PrimitiveDateTime)> = cq.load(conn)?;
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let last: HashMap<i64, PrimitiveDateTime> = activities::table
        .filter(activities::customer_id.eq_any(&ids))
        .filter(activities::done.eq(true))
        .filter(activities::kind.eq_any(ordo_crm::activities::ActivityKind::CONTACT))
        .group_by(activities::customer_id)
        .select((activities::customer_id.assume_not_null(), diesel::dsl::max(activities::done_at)))
        .load::<(i64, Option<PrimitiveDateTime>)>(conn)?
        .into_iter()
        .filter_map(|(c, t)| t.map(|t| (c, t)))
        .collect();
    let now = ordo_core::time_util::now();
    let mut by_owner: BTreeMap<Option<i64>, Vec<OverdueCustomer>> = BTreeMap::new();
    for (id, number, name, freq, owner, created) in rows {
        let since = last.get(&id).copied();
        let due = since.unwrap_or(created) + Duration::days(freq.into());
        let overdue = (now - due).whole_days();
        if now > due && overdue >= 1 {
            by_owner.entry(owner).or_default().push(OverdueCustomer {
                customer_id: id,
                number,
                name,
                contact_frequency_days: freq,
                last_contact_at: since.map(|t| t.assume_utc()),
                days_overdue: overdue,
            });
        }
    }
    let owner_ids: Vec<i64> = by_owner.keys().flatten().copied().collect();
    let names: HashMap<i64, String> = users::table
        .filter(users::id.eq_any(&owner_ids))
        .select((users::id, users::display_name))
        .load::<(i64, String)>(conn)?
        .into_iter()
        .collect();
    Ok(by_owner
        .into_iter()
        .map(|(owner, mut customers)| {
            customers.sort_by(|a, b| b.days_overdue.cmp(&a.days_overdue).then(a.customer_id.cmp(&b.customer_id)));
            OverdueOwner { owner_id: owner, owner_name: owner.and_then(|o| names.get(&o).cloned()), customers }
        })
        .collect())
}

// ---- what customers asked for ---------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    Day,
    Week,
    #[default]
    Month,
}

impl Bucket {
    /// The first day of the bucket `d` falls in (weeks start on Monday).
    pub fn start(&self, d: Date) -> Date {
        match self {
            Bucket::Day => d,
            Bucket::Week => d - Duration::days(d.weekday().number_days_from_monday().into()),
            Bucket::Month => d.replace_day(1).unwrap_or(d),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct DemandQuery {
    pub from: Option<Date>,
    pub to: Option<Date>,
    pub item_id: Option<i64>,
    pub bucket: Bucket,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LostReason {
    pub reason: String,
    pub quantity: Quantity,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DemandRow {
    pub item_id: i64,
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub period_start: Date,
    /// On quotations (latest revisions), in base units, and their net value in the base currency.
    pub quoted_quantity: Quantity,
    pub quoted_value: Money,
    /// On orders that were not cancelled.
    pub ordered_quantity: Quantity,
    pub ordered_value: Money,
    /// On quotations rejected, expired or cancelled, and on lost opportunities.
    pub lost_quantity: Quantity,
    pub lost_value: Money,
    pub lost_reasons: Vec<LostReason>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DemandReport {
    pub base_currency: Currency,
    pub bucket: Bucket,
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub from: Date,
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub to: Date,
    pub rows: Vec<DemandRow>,
}

fn period(q: &DemandQuery, default_days: i64, forward: bool) -> Result<(Date, Date)> {
    let d = today();
    let (from, to) = match (q.from, q.to, forward) {
        (Some(f), Some(t), _) => (f, t),
        (Some(f), None, _) => (f, f + Duration::days(default_days)),
        (None, Some(t), _) => (t - Duration::days(default_days), t),
        (None, None, true) => (d, d + Duration::days(default_days)),
        (None, None, false) => (d - Duration::days(default_days), d),
    };
    if to < from {
        return Err(DomainError::field("to", "before_start", "must not be before from"));
    }
    if (to - from).whole_days() > 3660 {
        return Err(DomainError::field("to", "range", "at most ten years at once"));
    }
    Ok((from, to))
}

#[derive(Default)]
struct Acc {
    quoted: (Decimal, Decimal),
    ordered: (Decimal, Decimal),
    lost: (Decimal, Decimal),
    reasons: BTreeMap<String, Decimal>,
}

type HeadRow = (i64, Date, String, Option<String>, String);
/// item, quantity, estimated price, currency, lost reason, closed at
type LostItemRow = (i64, i64, Option<i64>, String, Option<String>, Option<PrimitiveDateTime>);
/// item, base quantity, line requested date, order requested date, order date
type FirmRow = (i64, i64, Option<Date>, Option<Date>, Date);
/// item, quantity, expected close, probability override, stage probability
type PipelineItemRow = (i64, i64, Option<Date>, Option<i64>, i64);

/// Quoted vs ordered vs lost per item and period, with the lost reasons. Archived
/// documents count like any other.
pub fn demand(conn: &mut DbConnection, caller: &Caller, q: &DemandQuery, base: Currency) -> Result<DemandReport> {
    read(caller)?;
    let (from, to) = period(q, 365, false)?;
    let own = match caller.scope() {
        Scope::OwnCustomers(me) => Some(me),
        Scope::All => None,
    };
    let mut qq = quotations::table
        .filter(quotations::doc_date.between(from, to))
        .filter(quotations::status.ne("superseded"))
        .select((
            quotations::id,
            quotations::doc_date,
            quotations::status,
            quotations::status_reason,
            quotations::pricing,
        ))
        .into_boxed();
    let mut oq = sales_orders::table
        .filter(sales_orders::doc_date.between(from, to))
        .filter(sales_orders::status.ne("draft"))
        .filter(sales_orders::status.ne("cancelled"))
        .filter(sales_orders::status.ne("archived").or(sales_orders::status_reason.is_null()))
        .select((
            sales_orders::id,
            sales_orders::doc_date,
            sales_orders::status,
            sales_orders::status_reason,
            sales_orders::pricing,
        ))
        .into_boxed();
    if let Some(me) = own {
        qq = qq.filter(
            quotations::customer_id.eq_any(customers::table.filter(customers::owner_id.eq(me)).select(customers::id)),
        );
        oq = oq.filter(
            sales_orders::customer_id.eq_any(customers::table.filter(customers::owner_id.eq(me)).select(customers::id)),
        );
    }
    let qheads: Vec<HeadRow> = qq.load(conn)?;
    let oheads: Vec<HeadRow> = oq.load(conn)?;
    let mut acc: BTreeMap<(i64, Date), Acc> = BTreeMap::new();
    for (kind, heads) in [(DocKind::Quotation, &qheads), (DocKind::SalesOrder, &oheads)] {
        let ids: Vec<i64> = heads.iter().map(|h| h.0).collect();
        let head: HashMap<i64, &HeadRow> = heads.iter().map(|h| (h.0, h)).collect();
        let mut lq = document_lines::table
            .filter(document_lines::doc_kind.eq(kind.as_str()))
            .filter(document_lines::doc_id.eq_any(&ids))
            .select((
                document_lines::doc_id,
                document_lines::item_id,
                document_lines::base_quantity,
                document_lines::net,
            ))
            .into_boxed();
        if let Some(i) = q.item_id {
            lq = lq.filter(document_lines::item_id.eq(i));
        }
        let lines: Vec<(i64, i64, i64, i64)> = lq.load(conn)?;
        let rates: HashMap<i64, Decimal> = heads
            .iter()
            .map(|h| {
                (
                    h.0,
                    HeaderPricing::parse(&h.4, "document").map(|p| p.totals.base_rate.value()).unwrap_or(Decimal::ONE),
                )
            })
            .collect();
        for (doc, item, qty, net) in lines {
            let Some(h) = head.get(&doc) else { continue };
            let (qty, value) = (
                Quantity::from_scaled(qty).value(),
                Money::from_scaled(net).value() * rates.get(&doc).copied().unwrap_or(Decimal::ONE),
            );
            let a = acc.entry((item, q.bucket.start(h.1))).or_default();
            match kind {
                DocKind::SalesOrder => {
                    a.ordered.0 += qty;
                    a.ordered.1 += value;
                }
                _ => {
                    a.quoted.0 += qty;
                    a.quoted.1 += value;
                    if matches!(h.2.as_str(), "rejected" | "expired" | "cancelled") {
                        a.lost.0 += qty;
                        a.lost.1 += value;
                        let reason = h.3.clone().unwrap_or_else(|| format!("quotation {}", h.2));
                        *a.reasons.entry(reason).or_default() += qty;
                    }
                }
            }
        }
    }
    // Lost opportunities that never got as far as a quotation.
    let mut lo = opportunities::table
        .inner_join(opportunity_items::table.on(opportunity_items::opportunity_id.eq(opportunities::id)))
        .filter(opportunities::status.eq("lost"))
        .filter(opportunities::closed_at.ge(PrimitiveDateTime::new(from, time::Time::MIDNIGHT)))
        .filter(opportunities::closed_at.lt(PrimitiveDateTime::new(to + Duration::days(1), time::Time::MIDNIGHT)))
        .select((
            opportunity_items::item_id,
            opportunity_items::quantity,
            opportunity_items::estimated_price,
            opportunities::currency,
            opportunities::lost_reason,
            opportunities::closed_at,
        ))
        .into_boxed();
    if let Some(me) = own {
        lo = lo.filter(opportunities::owner_id.eq(me));
    }
    if let Some(i) = q.item_id {
        lo = lo.filter(opportunity_items::item_id.eq(i));
    }
    let lost_opps: Vec<LostItemRow> = lo.load(conn)?;
    let currencies: BTreeSet<String> =
        lost_opps.iter().map(|l| l.3.clone()).chain(std::iter::once(base.code().to_string())).collect();
    let fx = ordo_pricing::fx::load(conn, &currencies, today())?;
    for (item, qty, price, cur, reason, closed) in lost_opps {
        let Some(closed) = closed else { continue };
        let qty = Quantity::from_scaled(qty).value();
        let rate = ordo_pricing::fx::rate(&fx, today(), Currency::from_code(&cur).unwrap_or(base), base)
            .unwrap_or(Decimal::ONE);
        let value = price.map(|p| Money::from_scaled(p).value() * qty * rate).unwrap_or_default();
        let a = acc.entry((item, q.bucket.start(closed.date()))).or_default();
        a.lost.0 += qty;
        a.lost.1 += value;
        *a.reasons.entry(reason.unwrap_or_else(|| "opportunity lost".into())).or_default() += qty;
    }
    let dp = u32::from(base.minor_units());
    let qty = |d: Decimal| Quantity::new(round_to(d, Quantity::SCALE)).unwrap_or(Quantity::ZERO);
    Ok(DemandReport {
        base_currency: base,
        bucket: q.bucket,
        from,
        to,
        rows: acc
            .into_iter()
            .map(|((item_id, period_start), a)| DemandRow {
                item_id,
                period_start,
                quoted_quantity: qty(a.quoted.0),
                quoted_value: money(a.quoted.1, dp),
                ordered_quantity: qty(a.ordered.0),
                ordered_value: money(a.ordered.1, dp),
                lost_quantity: qty(a.lost.0),
                lost_value: money(a.lost.1, dp),
                lost_reasons: a
                    .reasons
                    .into_iter()
                    .map(|(reason, q)| LostReason { reason, quantity: qty(q) })
                    .collect(),
            })
            .collect(),
    })
}

// ---- the demand register for planning ------------------------------------------------------

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DemandBucket {
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub start: Date,
    /// Open sales order lines (pending approval, approved, in execution) by requested date, base units.
    pub firm: Quantity,
    /// Blanket order schedule lines not yet called off (active blanket orders).
    pub planned: Quantity,
    /// Open opportunities' items × win probability, by expected close.
    pub pipeline: Quantity,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ItemDemand {
    pub item_id: i64,
    pub buckets: Vec<DemandBucket>,
}

const FIRM: [&str; 3] = ["pending_approval", "approved", "in_execution"];

/// Demand per item and date bucket for a planning system's master schedule. Items are
/// paged by id; each page costs three queries to find the items and three for their
/// demand, however many items it holds.
pub fn register(
    conn: &mut DbConnection,
    caller: &Caller,
    q: &DemandQuery,
    page: &PageRequest,
) -> Result<Page<ItemDemand>> {
    caller.require(Permission::SalesDocsRead)?;
    if matches!(caller.scope(), Scope::OwnCustomers(_)) {
        return Err(DomainError::forbidden("the demand register covers every customer; agents use /reports/demand"));
    }
    let (from, to) = period(q, 365, true)?;
    let after = page.after_id.unwrap_or(0);
    let limit = page.fetch();
    // Requested date: the line's, else the order's, else the order date.
    let firm_date = document_lines::requested_date.nullable();
    let mut firm_items = document_lines::table
        .inner_join(sales_orders::table.on(sales_orders::id.eq(document_lines::doc_id)))
        .filter(document_lines::doc_kind.eq(DocKind::SalesOrder.as_str()))
        .filter(sales_orders::status.eq_any(FIRM))
        .filter(document_lines::item_id.gt(after))
        .select(document_lines::item_id)
        .distinct()
        .order(document_lines::item_id.asc())
        .limit(limit)
        .into_boxed();
    let mut planned_items = blanket_schedule_lines::table
        .inner_join(document_lines::table.on(document_lines::id.eq(blanket_schedule_lines::line_id)))
        .inner_join(blanket_orders::table.on(blanket_orders::id.eq(blanket_schedule_lines::blanket_order_id)))
        .filter(blanket_orders::status.eq("active"))
        .filter(blanket_schedule_lines::due_date.le(to))
        .filter(document_lines::item_id.gt(after))
        .select(document_lines::item_id)
        .distinct()
        .order(document_lines::item_id.asc())
        .limit(limit)
        .into_boxed();
    let mut pipeline_items = opportunity_items::table
        .inner_join(opportunities::table.on(opportunities::id.eq(opportunity_items::opportunity_id)))
        .filter(opportunities::status.eq("open"))
        .filter(opportunities::expected_close.between(from, to))
        .filter(opportunity_items::item_id.gt(after))
        .select(opportunity_items::item_id)
        .distinct()
        .order(opportunity_items::item_id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(i) = q.item_id {
        firm_items = firm_items.filter(document_lines::item_id.eq(i));
        planned_items = planned_items.filter(document_lines::item_id.eq(i));
        pipeline_items = pipeline_items.filter(opportunity_items::item_id.eq(i));
    }
    let mut ids: BTreeSet<i64> = firm_items.load::<i64>(conn)?.into_iter().collect();
    ids.extend(planned_items.load::<i64>(conn)?);
    ids.extend(pipeline_items.load::<i64>(conn)?);
    let mut ids: Vec<i64> = ids.into_iter().collect();
    let more = ids.len() as i64 > page.limit;
    ids.truncate(page.limit as usize);
    let mut acc: BTreeMap<(i64, Date), (Decimal, Decimal, Decimal)> = BTreeMap::new();
    // Firm: open order lines.
    let firm: Vec<FirmRow> = document_lines::table
        .inner_join(sales_orders::table.on(sales_orders::id.eq(document_lines::doc_id)))
        .filter(document_lines::doc_kind.eq(DocKind::SalesOrder.as_str()))
        .filter(sales_orders::status.eq_any(FIRM))
        .filter(document_lines::item_id.eq_any(&ids))
        .select((
            document_lines::item_id,
            document_lines::base_quantity,
            firm_date,
            sales_orders::requested_date,
            sales_orders::doc_date,
        ))
        .load(conn)?;
    for (item, qty, line_date, order_date, doc_date) in firm {
        let d = line_date.or(order_date).unwrap_or(doc_date);
        if d >= from && d <= to {
            acc.entry((item, q.bucket.start(d))).or_default().0 += Quantity::from_scaled(qty).value();
        }
    }
    // Planned: schedule lines, consumed earliest first by what was called off.
    let sched: Vec<(i64, i64, i64, Date, i64)> = blanket_schedule_lines::table
        .inner_join(document_lines::table.on(document_lines::id.eq(blanket_schedule_lines::line_id)))
        .inner_join(blanket_orders::table.on(blanket_orders::id.eq(blanket_schedule_lines::blanket_order_id)))
        .filter(blanket_orders::status.eq("active"))
        .filter(document_lines::item_id.eq_any(&ids))
        .filter(blanket_schedule_lines::due_date.le(to))
        .order((
            blanket_schedule_lines::line_id.asc(),
            blanket_schedule_lines::due_date.asc(),
            blanket_schedule_lines::id.asc(),
        ))
        .select((
            document_lines::item_id,
            blanket_schedule_lines::line_id,
            document_lines::called_off_quantity,
            blanket_schedule_lines::due_date,
            blanket_schedule_lines::quantity,
        ))
        .load(conn)?;
    let mut consumed: HashMap<i64, i64> = HashMap::new();
    for (item, line, called_off, due, qty) in sched {
        let used = consumed.entry(line).or_insert(0);
        let left_to_consume = (called_off - *used).max(0);
        let take = left_to_consume.min(qty);
        *used += take;
        let open = qty - take;
        if open > 0 && due >= from {
            acc.entry((item, q.bucket.start(due))).or_default().1 += Quantity::from_scaled(open).value();
        }
    }
    // Pipeline: open opportunities' items × probability.
    let pipe: Vec<PipelineItemRow> = opportunity_items::table
        .inner_join(opportunities::table.on(opportunities::id.eq(opportunity_items::opportunity_id)))
        .inner_join(pipeline_stages::table.on(pipeline_stages::id.eq(opportunities::stage_id)))
        .filter(opportunities::status.eq("open"))
        .filter(opportunities::expected_close.between(from, to))
        .filter(opportunity_items::item_id.eq_any(&ids))
        .select((
            opportunity_items::item_id,
            opportunity_items::quantity,
            opportunities::expected_close,
            opportunities::probability,
            pipeline_stages::probability,
        ))
        .load(conn)?;
    for (item, qty, close, p, stage_p) in pipe {
        let Some(close) = close else { continue };
        let prob = Rate::from_scaled(p.unwrap_or(stage_p)).value() / Decimal::from(100);
        acc.entry((item, q.bucket.start(close))).or_default().2 += Quantity::from_scaled(qty).value() * prob;
    }
    let qty = |d: Decimal| Quantity::new(round_to(d, Quantity::SCALE)).unwrap_or(Quantity::ZERO);
    let mut data: Vec<ItemDemand> = ids.iter().map(|i| ItemDemand { item_id: *i, buckets: vec![] }).collect();
    for ((item, start), (f, pl, pi)) in acc {
        if let Some(d) = data.iter_mut().find(|d| d.item_id == item) {
            d.buckets.push(DemandBucket { start, firm: qty(f), planned: qty(pl), pipeline: qty(pi) });
        }
    }
    data.retain(|d| !d.buckets.is_empty());
    let next_cursor = if more {
        ids.last().map(|l| ordo_core::Cursor { sort: page.sort.label(), after_id: *l, after_key: None }.encode())
    } else {
        None
    };
    Ok(Page { data, next_cursor, total: None })
}

// ---- sales process -------------------------------------------------------------------

#[derive(Debug, Clone, Default)]
pub struct ProcessQuery {
    pub owner_id: Option<i64>,
    pub from: Option<Date>,
    pub to: Option<Date>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LostReasonCount {
    pub reason: String,
    pub count: i64,
}

/// One row per owner and stage, and one per owner for all stages (`stage_id` null):
/// how the opportunities closed in the period went through the pipeline.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SalesProcessRow {
    pub owner_id: Option<i64>,
    pub owner: String,
    /// Null: the owner's whole pipeline.
    pub stage_id: Option<i64>,
    pub stage: String,
    /// Opportunities closed in the period that were in this stage (all: closed).
    pub reached: i64,
    pub won: i64,
    pub lost: i64,
    /// won / reached in percent: how often an opportunity in this stage ends won.
    pub conversion_rate: Option<Rate>,
    /// Average days in the stage (stints that ended in the period); for all stages,
    /// the average cycle from creation to close.
    pub average_days: Option<Rate>,
    /// Won opportunities' average amount in the base currency (today's rates); all
    /// stages only.
    pub average_deal_size: Option<Money>,
    /// Why the lost ones were lost, most frequent first; all stages only.
    pub lost_reasons: Vec<LostReasonCount>,
}

type ProcOpp = (i64, Option<i64>, i64, String, String, Option<String>, PrimitiveDateTime, Option<PrimitiveDateTime>);

/// The measurable sales process: per sales person and stage, the conversion to won,
/// days in stage, and per sales person the win rate, deal size, cycle time and lost
/// reasons, over opportunities closed in a period (default the last 365 days). A fixed
/// number of queries.
pub fn sales_process(
    conn: &mut DbConnection,
    caller: &Caller,
    q: &ProcessQuery,
    base: Currency,
) -> Result<Vec<SalesProcessRow>> {
    read(caller)?;
    caller.require(Permission::PipelineRead)?;
    let to = q.to.unwrap_or_else(today);
    let from = q.from.unwrap_or(to - Duration::days(365));
    if to < from {
        return Err(DomainError::field("to", "before_start", "must not be before from"));
    }
    let (start, end) = (from.midnight(), to.next_day().unwrap_or(to).midnight());
    let mut oq = opportunities::table
        .filter(opportunities::status.eq_any(["won", "lost"]))
        .filter(opportunities::closed_at.ge(start))
        .filter(opportunities::closed_at.lt(end))
        .select((
            opportunities::id,
            opportunities::owner_id,
            opportunities::amount,
            opportunities::currency,
            opportunities::status,
            opportunities::lost_reason,
            opportunities::created_at,
            opportunities::closed_at,
        ))
        .into_boxed();
    if let Some(o) = owner_scope(caller, q.owner_id) {
        oq = oq.filter(opportunities::owner_id.eq(o));
    }
    let opps: Vec<ProcOpp> = oq.load(conn)?;
    let ids: Vec<i64> = opps.iter().map(|o| o.0).collect();
    let changes: Vec<(i64, i64, PrimitiveDateTime)> = if ids.is_empty() {
        vec![]
    } else {
        opportunity_stage_changes::table
            .filter(opportunity_stage_changes::opportunity_id.eq_any(&ids))
            .order((opportunity_stage_changes::opportunity_id.asc(), opportunity_stage_changes::id.asc()))
            .select((
                opportunity_stage_changes::opportunity_id,
                opportunity_stage_changes::to_stage_id,
                opportunity_stage_changes::changed_at,
            ))
            .load(conn)?
    };
    let stages: Vec<(i64, String, i32)> = pipeline_stages::table
        .select((pipeline_stages::id, pipeline_stages::name, pipeline_stages::position))
        .load(conn)?;
    let currencies: BTreeSet<String> = opps.iter().map(|o| o.3.clone()).chain([base.code().to_string()]).collect();
    let d = today();
    let fx = ordo_pricing::fx::load(conn, &currencies, d)?;
    let by_id: HashMap<i64, &ProcOpp> = opps.iter().map(|o| (o.0, o)).collect();
    // Per (owner, stage): the opportunities that were in it, and the days of each stint.
    let mut reached: BTreeMap<(Option<i64>, i64), BTreeSet<i64>> = BTreeMap::new();
    let mut stints: BTreeMap<(Option<i64>, i64), (Decimal, i64)> = BTreeMap::new();
    for (i, (opp, stage, at)) in changes.iter().enumerate() {
        let Some(o) = by_id.get(opp) else { continue };
        reached.entry((o.1, *stage)).or_default().insert(*opp);
        let end = match changes.get(i + 1) {
            Some((next, _, next_at)) if next == opp => Some(*next_at),
            _ => o.7,
        };
        if let Some(end) = end {
            let e = stints.entry((o.1, *stage)).or_default();
            e.0 += Decimal::from((end - *at).whole_seconds().max(0)) / Decimal::from(86_400);
            e.1 += 1;
        }
    }
    let hundred = Decimal::from(100);
    let pct = |a: i64, b: i64| {
        (b > 0).then(|| Rate::new(round_to(Decimal::from(a) * hundred / Decimal::from(b), 2)).unwrap_or_default())
    };
    let avg =
        |sum: Decimal, n: i64| (n > 0).then(|| Rate::new(round_to(sum / Decimal::from(n), 2)).unwrap_or_default());
    let owners: BTreeSet<Option<i64>> = opps.iter().map(|o| o.1).collect();
    let owner_ids: Vec<i64> = owners.iter().flatten().copied().collect();
    let names: HashMap<i64, String> = users::table
        .filter(users::id.eq_any(&owner_ids))
        .select((users::id, users::display_name))
        .load(conn)?
        .into_iter()
        .collect();
    let dp = u32::from(base.minor_units());
    let mut out = vec![];
    for owner in owners {
        let mine: Vec<&ProcOpp> = opps.iter().filter(|o| o.1 == owner).collect();
        let won: Vec<&&ProcOpp> = mine.iter().filter(|o| o.4 == "won").collect();
        let lost = mine.len() as i64 - won.len() as i64;
        let mut deal = Decimal::ZERO;
        for o in &won {
            let cur = Currency::from_code(&o.3).unwrap_or(base);
            deal += Money::from_scaled(o.2).value() * ordo_pricing::fx::rate(&fx, d, cur, base)?;
        }
        let mut cycle = Decimal::ZERO;
        for o in &mine {
            if let Some(c) = o.7 {
                cycle += Decimal::from((c - o.6).whole_seconds().max(0)) / Decimal::from(86_400);
            }
        }
        let mut reasons: BTreeMap<String, i64> = BTreeMap::new();
        for o in mine.iter().filter(|o| o.4 == "lost") {
            *reasons.entry(o.5.clone().unwrap_or_else(|| "(none given)".into())).or_default() += 1;
        }
        let mut lost_reasons: Vec<LostReasonCount> =
            reasons.into_iter().map(|(reason, count)| LostReasonCount { reason, count }).collect();
        lost_reasons.sort_by_key(|r| std::cmp::Reverse(r.count));
        let owner_name = owner.and_then(|o| names.get(&o).cloned()).unwrap_or_else(|| "(no owner)".into());
        out.push(SalesProcessRow {
            owner_id: owner,
            owner: owner_name.clone(),
            stage_id: None,
            stage: "(all)".into(),
            reached: mine.len() as i64,
            won: won.len() as i64,
            lost,
            conversion_rate: pct(won.len() as i64, mine.len() as i64),
            average_days: avg(cycle, mine.len() as i64),
            average_deal_size: (!won.is_empty()).then(|| money(deal / Decimal::from(won.len() as i64), dp)),
            lost_reasons,
        });
        let mut ordered = stages.clone();
        ordered.sort_by_key(|s| (s.2, s.0));
        for (stage_id, name, _) in ordered {
            let Some(set) = reached.get(&(owner, stage_id)) else { continue };
            let w = set.iter().filter(|id| by_id.get(id).is_some_and(|o| o.4 == "won")).count() as i64;
            let (days, n) = stints.get(&(owner, stage_id)).copied().unwrap_or_default();
            out.push(SalesProcessRow {
                owner_id: owner,
                owner: owner_name.clone(),
                stage_id: Some(stage_id),
                stage: name,
                reached: set.len() as i64,
                won: w,
                lost: set.len() as i64 - w,
                conversion_rate: pct(w, set.len() as i64),
                average_days: avg(days, n),
                average_deal_size: None,
                lost_reasons: vec![],
            });
        }
    }
    Ok(out)
}
