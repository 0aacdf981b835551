//! The service report: per group (stage, team, agent, category, priority, kind or
//! period of opening) how many tickets were opened and resolved, the backlog and its
//! age, first-response and resolution times in business minutes (average, median,
//! 90th percentile) and SLA attainment; and the list of breaches. Read from the
//! tickets table in one query through its indexes (nothing precomputed can be stale).

use diesel::prelude::*;
use ordo_core::{Caller, Page, PageRequest, Permission, Rate, Result};
use ordo_db::schema::{service_teams, ticket_categories, tickets, users};
use ordo_db::DbConnection;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::{Date, OffsetDateTime, PrimitiveDateTime};

use crate::settings;
use crate::sla::{self, SlaState, Target};
use crate::tickets::{visible, TicketRow};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServiceGroup {
    #[default]
    Stage,
    Team,
    Agent,
    Category,
    Priority,
    Kind,
    /// Day of opening (`YYYY-MM-DD`).
    Day,
    /// ISO week of opening (`YYYY-Www`).
    Week,
    /// Month of opening (`YYYY-MM`).
    Month,
}

#[derive(Debug, Clone, Default)]
pub struct ServiceQuery {
    pub by: ServiceGroup,
    /// Tickets opened on or after this day.
    pub from: Option<Date>,
    /// Tickets opened before the end of this day.
    pub to: Option<Date>,
    pub customer_id: Option<i64>,
    pub team_id: Option<i64>,
}

/// Business-minute statistics of one measure.
#[derive(Debug, Clone, Default)]
struct Minutes {
    count: i64,
    average: Option<i64>,
    median: Option<i64>,
    p90: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ServiceReportRow {
    /// The group's id or code (`in_progress`, `7`, `2026-11`); null for "none".
    pub key: Option<String>,
    pub label: String,
    /// Tickets opened (in the period, if given).
    pub opened: i64,
    /// Of those, still open: the backlog.
    pub open: i64,
    /// Backlog by age since opening: under 1 day, 1–3, 3–7, 7–30, over 30 days.
    pub open_under_1d: i64,
    pub open_1_3d: i64,
    pub open_3_7d: i64,
    pub open_7_30d: i64,
    pub open_over_30d: i64,
    /// Tickets answered, and the business minutes from opening to the first public
    /// answer (or resolution): average, median, 90th percentile.
    pub first_responses: i64,
    pub first_response_average_minutes: Option<i64>,
    pub first_response_median_minutes: Option<i64>,
    pub first_response_p90_minutes: Option<i64>,
    /// Tickets resolved, and the business minutes from opening to resolution, pauses
    /// excluded.
    pub resolutions: i64,
    pub resolution_average_minutes: Option<i64>,
    pub resolution_median_minutes: Option<i64>,
    pub resolution_p90_minutes: Option<i64>,
    /// SLA targets decided (met, or breached) and how many were met.
    pub sla_targets: i64,
    pub sla_met: i64,
    pub sla_breached: i64,
    /// met / decided in percent; null when nothing is decided yet.
    pub sla_attainment: Option<Rate>,
}

fn stats(mut v: Vec<i64>) -> Minutes {
    if v.is_empty() {
        return Minutes::default();
    }
    v.sort_unstable();
    let n = v.len();
    // Nearest rank: the smallest value with at least p% of the values at or below it.
    let rank = |p: usize| v[((n * p).div_ceil(100)).clamp(1, n) - 1];
    let sum: i64 = v.iter().sum();
    Minutes {
        count: n as i64,
        average: Some((sum + n as i64 / 2) / n as i64),
        median: Some(rank(50)),
        p90: Some(rank(90)),
    }
}

#[derive(Default)]
struct Acc {
    opened: i64,
    open: i64,
    ages: [i64; 5],
    first: Vec<i64>,
    resolution: Vec<i64>,
    met: i64,
    breached: i64,
}

/// Tickets of the query in the caller's scope.
fn load(conn: &mut DbConnection, caller: &Caller, q: &ServiceQuery) -> Result<Vec<TicketRow>> {
    let mut s = visible(caller);
    if let Some(f) = q.from {
        s = s.filter(tickets::created_at.ge(f.midnight()));
    }
    if let Some(t) = q.to {
        s = s.filter(tickets::created_at.lt(t.next_day().unwrap_or(t).midnight()));
    }
    if let Some(c) = q.customer_id {
        s = s.filter(tickets::customer_id.eq(c));
    }
    if let Some(t) = q.team_id {
        s = s.filter(tickets::team_id.eq(t));
    }
    Ok(s.select(TicketRow::as_select()).load(conn)?)
}

fn period_key(by: ServiceGroup, t: PrimitiveDateTime) -> String {
    let d = t.date();
    match by {
        ServiceGroup::Day => d.to_string(),
        ServiceGroup::Week => {
            let (y, w, _) = d.to_iso_week_date();
            format!("{y}-W{w:02}")
        }
        _ => format!("{}-{:02}", d.year(), u8::from(d.month())),
    }
}

pub fn service(conn: &mut DbConnection, caller: &Caller, q: &ServiceQuery) -> Result<Vec<ServiceReportRow>> {
    caller.require(Permission::TicketsRead)?;
    let rows = load(conn, caller, q)?;
    let desk = settings::desk(conn)?;
    let clock = desk.clock(conn)?;
    let now = ordo_core::time_util::now();
    let mut groups: BTreeMap<Option<String>, Acc> = BTreeMap::new();
    if q.by == ServiceGroup::Stage {
        // Every stage shows, empty or not, in the desk's order (keys sort by position).
        for s in &desk.stages {
            groups.entry(Some(s.code.clone())).or_default();
        }
    }
    for t in &rows {
        let key = match q.by {
            ServiceGroup::Stage => Some(t.stage.clone()),
            ServiceGroup::Team => t.team_id.map(|v| v.to_string()),
            ServiceGroup::Agent => t.assignee_id.map(|v| v.to_string()),
            ServiceGroup::Category => t.category_id.map(|v| v.to_string()),
            ServiceGroup::Priority => Some(t.priority.clone()),
            ServiceGroup::Kind => Some(t.kind.clone()),
            ServiceGroup::Day | ServiceGroup::Week | ServiceGroup::Month => Some(period_key(q.by, t.created_at)),
        };
        let a = groups.entry(key).or_default();
        a.opened += 1;
        if let Some(r) = t.resolved_at {
            a.resolution.push((clock.minutes_between(t.created_at, r) - i64::from(t.paused_minutes)).max(0));
        }
        if t.is_open {
            a.open += 1;
            let days = (now - t.created_at).whole_days();
            let bucket = match days {
                d if d < 1 => 0,
                d if d < 3 => 1,
                d if d < 7 => 2,
                d if d < 30 => 3,
                _ => 4,
            };
            a.ages[bucket] += 1;
        }
        if let Some(f) = t.first_responded_at {
            a.first.push(clock.minutes_between(t.created_at, f));
        }
        for target in [Target::FirstResponse, Target::Resolution] {
            match sla::target_state(t, target, now) {
                Some(SlaState::Met) => a.met += 1,
                Some(SlaState::Breached) => a.breached += 1,
                _ => {}
            }
        }
    }
    let labels = labels(conn, q.by, &groups, &desk)?;
    let position = |k: &Option<String>| {
        k.as_deref().and_then(|c| desk.stages.iter().position(|s| s.code == c)).unwrap_or(usize::MAX)
    };
    let mut out: Vec<(usize, ServiceReportRow)> = groups
        .into_iter()
        .map(|(key, a)| {
            let decided = a.met + a.breached;
            let (first, resolution) = (stats(a.first), stats(a.resolution));
            let row = ServiceReportRow {
                label: labels.get(&key).cloned().unwrap_or_else(|| key.clone().unwrap_or_else(|| "(none)".into())),
                opened: a.opened,
                open: a.open,
                open_under_1d: a.ages[0],
                open_1_3d: a.ages[1],
                open_3_7d: a.ages[2],
                open_7_30d: a.ages[3],
                open_over_30d: a.ages[4],
                first_responses: first.count,
                first_response_average_minutes: first.average,
                first_response_median_minutes: first.median,
                first_response_p90_minutes: first.p90,
                resolutions: resolution.count,
                resolution_average_minutes: resolution.average,
                resolution_median_minutes: resolution.median,
                resolution_p90_minutes: resolution.p90,
                sla_targets: decided,
                sla_met: a.met,
                sla_breached: a.breached,
                sla_attainment: (decided > 0).then(|| {
                    let pct = Decimal::from(a.met * 100) / Decimal::from(decided);
                    Rate::new(pct.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero))
                        .unwrap_or_default()
                }),
                key,
            };
            (if q.by == ServiceGroup::Stage { position(&row.key) } else { 0 }, row)
        })
        .collect();
    out.sort_by_key(|(p, _)| *p);
    Ok(out.into_iter().map(|(_, r)| r).collect())
}

fn labels(
    conn: &mut DbConnection,
    by: ServiceGroup,
    groups: &BTreeMap<Option<String>, Acc>,
    desk: &settings::DeskSettings,
) -> Result<BTreeMap<Option<String>, String>> {
    let ids: Vec<i64> = groups.keys().flatten().filter_map(|k| k.parse().ok()).collect();
    let named: Vec<(i64, String)> = match by {
        ServiceGroup::Team => service_teams::table
            .filter(service_teams::id.eq_any(&ids))
            .select((service_teams::id, service_teams::name))
            .load(conn)?,
        ServiceGroup::Agent => {
            users::table.filter(users::id.eq_any(&ids)).select((users::id, users::display_name)).load(conn)?
        }
        ServiceGroup::Category => ticket_categories::table
            .filter(ticket_categories::id.eq_any(&ids))
            .select((ticket_categories::id, ticket_categories::name))
            .load(conn)?,
        ServiceGroup::Stage => {
            return Ok(desk.stages.iter().map(|s| (Some(s.code.clone()), s.name.clone())).collect());
        }
        _ => vec![],
    };
    Ok(named.into_iter().map(|(id, name)| (Some(id.to_string()), name)).collect())
}

/// One breached SLA target.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SlaBreach {
    pub ticket_id: i64,
    pub number: String,
    pub customer_id: i64,
    pub subject: String,
    pub priority: String,
    pub assignee_id: Option<i64>,
    pub team_id: Option<i64>,
    pub target: Target,
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
    /// When it was done after all (late); null: still not done.
    #[serde(serialize_with = "ordo_core::serde_util::rfc3339_opt::serialize")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub done_at: Option<OffsetDateTime>,
}

/// Breached targets of the tickets opened in the period, by ticket (cursor-paged).
pub fn breaches(
    conn: &mut DbConnection,
    caller: &Caller,
    q: &ServiceQuery,
    page: &PageRequest,
) -> Result<Page<SlaBreach>> {
    caller.require(Permission::TicketsRead)?;
    let now = ordo_core::time_util::now();
    let mut s = visible(caller)
        .filter(
            tickets::first_responded_at
                .gt(tickets::first_response_due_at)
                .or(tickets::first_responded_at.is_null().and(tickets::first_response_due_at.lt(now)))
                .or(tickets::resolved_at.gt(tickets::resolution_due_at))
                .or(tickets::resolved_at.is_null().and(tickets::resolution_due_at.lt(now))),
        )
        .select(TicketRow::as_select());
    if let Some(f) = q.from {
        s = s.filter(tickets::created_at.ge(f.midnight()));
    }
    if let Some(t) = q.to {
        s = s.filter(tickets::created_at.lt(t.next_day().unwrap_or(t).midnight()));
    }
    if let Some(c) = q.customer_id {
        s = s.filter(tickets::customer_id.eq(c));
    }
    if let Some(t) = q.team_id {
        s = s.filter(tickets::team_id.eq(t));
    }
    let rows = ordo_db::keyset_page!(conn, s, page, tickets::id => |r: &TicketRow| r.id);
    let mut data = vec![];
    for t in &rows.data {
        for target in [Target::FirstResponse, Target::Resolution] {
            if sla::target_state(t, target, now) != Some(SlaState::Breached) {
                continue;
            }
            let (due, done) = match target {
                Target::FirstResponse => (t.first_response_due_at, t.first_responded_at),
                Target::Resolution => (t.resolution_due_at, t.resolved_at),
            };
            data.push(SlaBreach {
                ticket_id: t.id,
                number: t.number.clone(),
                customer_id: t.customer_id,
                subject: t.subject.clone(),
                priority: t.priority.clone(),
                assignee_id: t.assignee_id,
                team_id: t.team_id,
                target,
                due_at: due.unwrap_or(t.created_at).assume_utc(),
                done_at: done.map(|d| d.assume_utc()),
            });
        }
    }
    Ok(Page { data, next_cursor: rows.next_cursor, total: None })
}
