//! SLA clocks of a ticket. A target (first response, resolution) is due a number of
//! business minutes after the ticket was opened, plus the business minutes its clock
//! stood still (waiting for the customer; resolved until reopened). The due and
//! at-risk instants are stored, so the leased `sla_timers` job finds the tickets whose
//! next instant has passed with one indexed query (`sla_next_at`) and escalates each
//! at-risk or breached target once (the `sla_notified` bits).

use diesel::prelude::*;
use ordo_core::{Caller, Result};
use ordo_db::schema::{sla_policies, ticket_escalations, tickets, users};
use ordo_db::{events, DbConnection};
use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::clock::BusinessClock;
use crate::settings::Priority;
use crate::setup::{EscalationLevel, EscalationTarget, SlaPolicyRow};
use crate::tickets::TicketRow;

pub const FIRST_RESPONSE_AT_RISK: i32 = 1;
pub const FIRST_RESPONSE_BREACHED: i32 = 2;
pub const RESOLUTION_AT_RISK: i32 = 4;
pub const RESOLUTION_BREACHED: i32 = 8;

/// Where a target stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SlaState {
    /// Running, with time to spare.
    OnTrack,
    /// Running, and the policy's at-risk share of the time is used.
    AtRisk,
    /// Not done in time (or done late).
    Breached,
    /// Done in time.
    Met,
    /// The clock stands still (waiting for the customer) and the target is not due yet.
    Paused,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    FirstResponse,
    Resolution,
}

impl Target {
    pub fn as_str(&self) -> &'static str {
        match self {
            Target::FirstResponse => "first_response",
            Target::Resolution => "resolution",
        }
    }
    fn bits(&self) -> (i32, i32) {
        match self {
            Target::FirstResponse => (FIRST_RESPONSE_AT_RISK, FIRST_RESPONSE_BREACHED),
            Target::Resolution => (RESOLUTION_AT_RISK, RESOLUTION_BREACHED),
        }
    }
    fn minutes(&self, p: &SlaPolicyRow) -> i64 {
        i64::from(match self {
            Target::FirstResponse => p.first_response_minutes,
            Target::Resolution => p.resolution_minutes,
        })
    }
    /// (due, at risk, done) of the ticket.
    fn times(
        &self,
        t: &TicketRow,
    ) -> (Option<PrimitiveDateTime>, Option<PrimitiveDateTime>, Option<PrimitiveDateTime>) {
        match self {
            Target::FirstResponse => (t.first_response_due_at, t.first_response_risk_at, t.first_responded_at),
            Target::Resolution => (t.resolution_due_at, t.resolution_risk_at, t.resolved_at),
        }
    }
    fn set(&self, t: &mut TicketRow, due: PrimitiveDateTime, risk: PrimitiveDateTime) {
        match self {
            Target::FirstResponse => {
                t.first_response_due_at = Some(due);
                t.first_response_risk_at = Some(risk);
            }
            Target::Resolution => {
                t.resolution_due_at = Some(due);
                t.resolution_risk_at = Some(risk);
            }
        }
    }
}

const TARGETS: [Target; 2] = [Target::FirstResponse, Target::Resolution];

/// One target of a ticket as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SlaTarget {
    /// Business minutes the policy allows.
    pub target_minutes: i64,
    /// Business minutes used so far (or until done), pauses excluded.
    pub used_minutes: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub at_risk_at: OffsetDateTime,
    /// When the target was met (first public answer, or resolution).
    #[serde(serialize_with = "ordo_core::serde_util::rfc3339_opt::serialize")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub done_at: Option<OffsetDateTime>,
    pub state: SlaState,
}

/// A ticket's SLA: its policy and both targets.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TicketSla {
    pub policy_id: i64,
    pub policy_name: String,
    pub first_response: SlaTarget,
    pub resolution: SlaTarget,
    /// The clock stands still (waiting for the customer).
    pub paused: bool,
    /// Business minutes the clock has stood still so far.
    pub paused_minutes: i64,
}

fn risk_minutes(target: i64, pct: i32) -> i64 {
    // Rounded up: "80% used" is never announced before 80% is really used.
    (target * i64::from(pct) + 99) / 100
}

/// The instant the clock reads "now" at: when paused, the moment it stopped.
fn clock_at(t: &TicketRow, now: PrimitiveDateTime) -> PrimitiveDateTime {
    t.paused_since.unwrap_or(now).min(now)
}

/// (Re)computes the due and at-risk instants of the targets still running. A target
/// already breached keeps its due time: pausing or re-prioritising never turns a
/// breach back into "on track".
pub fn schedule(t: &mut TicketRow, policy: Option<&SlaPolicyRow>, clock: &BusinessClock, now: PrimitiveDateTime) {
    let Some(p) = policy else {
        t.sla_policy_id = None;
        t.first_response_due_at = None;
        t.first_response_risk_at = None;
        t.resolution_due_at = None;
        t.resolution_risk_at = None;
        t.sla_next_at = None;
        return;
    };
    if t.sla_policy_id != Some(p.id) {
        // Another policy: its own notices.
        t.sla_policy_id = Some(p.id);
        t.sla_notified = 0;
    }
    let paused = i64::from(t.paused_minutes);
    for target in TARGETS {
        let (due, _, done) = target.times(t);
        if done.is_some() || due.is_some_and(|d| d < clock_at(t, now)) {
            continue;
        }
        let m = target.minutes(p);
        let new_due = clock.add_minutes(t.created_at, m + paused);
        let new_risk = clock.add_minutes(t.created_at, risk_minutes(m, p.at_risk_percent) + paused);
        if due != Some(new_due) {
            // A moved deadline may be at risk again.
            t.sla_notified &= !target.bits().0;
        }
        target.set(t, new_due, new_risk);
    }
    t.sla_next_at = next_check(t);
}

/// The next instant the job must look at this ticket: the earliest at-risk or due
/// instant not yet announced of a running target; none while paused or done.
pub fn next_check(t: &TicketRow) -> Option<PrimitiveDateTime> {
    if t.sla_policy_id.is_none() || t.paused_since.is_some() || !t.is_open {
        return None;
    }
    TARGETS
        .iter()
        .filter_map(|target| {
            let (due, risk, done) = target.times(t);
            if done.is_some() {
                return None;
            }
            let (risk_bit, breach_bit) = target.bits();
            if t.sla_notified & breach_bit != 0 {
                None
            } else if t.sla_notified & risk_bit != 0 {
                due
            } else {
                risk
            }
        })
        .min()
}

/// Stops the clock (waiting for the customer, or resolved).
pub fn pause(t: &mut TicketRow, now: PrimitiveDateTime) {
    if t.paused_since.is_none() {
        t.paused_since = Some(now);
    }
    t.sla_next_at = None;
}

/// Starts the clock again: the standstill is added to the paused minutes and the
/// running targets move out by it.
pub fn resume(t: &mut TicketRow, policy: Option<&SlaPolicyRow>, clock: &BusinessClock, now: PrimitiveDateTime) {
    if let Some(since) = t.paused_since {
        let stood = clock.minutes_between(since, now);
        t.paused_minutes = t.paused_minutes.saturating_add(i32::try_from(stood).unwrap_or(i32::MAX));
        // Measured against the stop, a target due during the standstill was breached then.
        schedule(t, policy, clock, since);
        t.paused_since = None;
    }
    t.sla_next_at = next_check(t);
}

fn state(
    due: PrimitiveDateTime,
    risk: PrimitiveDateTime,
    done: Option<PrimitiveDateTime>,
    at: PrimitiveDateTime,
    paused: bool,
) -> SlaState {
    match done {
        Some(d) if d <= due => SlaState::Met,
        Some(_) => SlaState::Breached,
        None if at > due => SlaState::Breached,
        None if paused => SlaState::Paused,
        None if at >= risk => SlaState::AtRisk,
        None => SlaState::OnTrack,
    }
}

/// The SLA as shown on a ticket at `now`.
pub fn view(
    t: &TicketRow,
    policy: Option<&SlaPolicyRow>,
    clock: &BusinessClock,
    now: PrimitiveDateTime,
) -> Option<TicketSla> {
    let p = policy?;
    let at = clock_at(t, now);
    let paused = t.paused_since.is_some();
    let target_view = |target: Target| -> Option<SlaTarget> {
        let (due, risk, done) = target.times(t);
        let (due, risk) = (due?, risk?);
        let until = done.unwrap_or(at);
        Some(SlaTarget {
            target_minutes: target.minutes(p),
            used_minutes: (clock.minutes_between(t.created_at, until) - i64::from(t.paused_minutes)).max(0),
            due_at: due.assume_utc(),
            at_risk_at: risk.assume_utc(),
            done_at: done.map(|d| d.assume_utc()),
            state: state(due, risk, done, at, paused),
        })
    };
    Some(TicketSla {
        policy_id: p.id,
        policy_name: p.name.clone(),
        first_response: target_view(Target::FirstResponse)?,
        resolution: target_view(Target::Resolution)?,
        paused,
        paused_minutes: i64::from(t.paused_minutes) + t.paused_since.map_or(0, |s| clock.minutes_between(s, now)),
    })
}

/// The state of one target at `now` (reports and list filters).
pub fn target_state(t: &TicketRow, target: Target, now: PrimitiveDateTime) -> Option<SlaState> {
    let (due, risk, done) = target.times(t);
    Some(state(due?, risk?, done, clock_at(t, now), t.paused_since.is_some()))
}

/// The policy for a ticket: the most specific active one (see `SlaPolicyCreate`).
pub fn choose(
    conn: &mut DbConnection,
    customer_id: i64,
    customer_group_id: Option<i64>,
    priority: Priority,
) -> Result<Option<SlaPolicyRow>> {
    let candidates: Vec<SlaPolicyRow> = sla_policies::table
        .filter(sla_policies::active.eq(true))
        .filter(sla_policies::customer_id.is_null().or(sla_policies::customer_id.eq(customer_id)))
        .order(sla_policies::id.asc())
        .select(SlaPolicyRow::as_select())
        .load(conn)?;
    let mut best: Option<(u8, SlaPolicyRow)> = None;
    for p in candidates {
        if let Some(r) = p.rank(customer_id, customer_group_id, priority) {
            if best.as_ref().is_none_or(|(b, _)| r > *b) {
                best = Some((r, p));
            }
        }
    }
    Ok(best.map(|(_, p)| p))
}

/// One escalation as recorded on the ticket.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Escalation {
    pub target: Target,
    pub level: EscalationLevel,
    /// What was done: `notified`, `reassigned to user 4`, `priority high → critical`,
    /// `e-mailed lead@example.com`.
    pub actions: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = ticket_escalations, treat_none_as_default_value = false)]
struct NewEscalation<'a> {
    ticket_id: i64,
    target: &'a str,
    level: &'a str,
    actions: String,
    at: PrimitiveDateTime,
}

/// An escalation of the ticket at hand before its actions are final (the e-mails are
/// added last).
struct Draft {
    target: &'static str,
    level: &'static str,
    actions: Vec<String>,
}

/// An escalation e-mail, handed to the outbox in the escalation's transaction.
pub struct SlaMail<'a> {
    pub ticket: &'a crate::tickets::Ticket,
    pub level: EscalationLevel,
    /// The targets that reached the level in this run.
    pub targets: Vec<Target>,
    pub to: Vec<String>,
}

/// Writes an escalation e-mail to the outbox (the API crate's mailer).
pub type Mailer<'a> = &'a dyn Fn(&mut DbConnection, &SlaMail) -> Result<()>;

/// What the job did in one run.
#[derive(Debug, Clone, Default)]
pub struct RunOutcome {
    pub at_risk: usize,
    pub breached: usize,
}

/// The `sla_timers` job: every ticket whose next SLA instant has passed gets its
/// at-risk and breach escalations, once each (the notice bits are set in the same
/// transaction as the escalation, the event and the actions). Up to 500 tickets per
/// run; the rest are found by the next run. Rules that e-mail hand one message per
/// ticket and level to `mail`.
pub fn run_due(conn: &mut DbConnection, now: PrimitiveDateTime, mail: Mailer) -> Result<RunOutcome> {
    let caller = Caller::system();
    let due: Vec<TicketRow> = tickets::table
        .filter(tickets::sla_next_at.le(now))
        .order(tickets::sla_next_at.asc())
        .limit(500)
        .select(TicketRow::as_select())
        .load(conn)?;
    if due.is_empty() {
        return Ok(RunOutcome::default());
    }
    let ids: Vec<i64> = due.iter().filter_map(|t| t.sla_policy_id).collect();
    let policies: Vec<SlaPolicyRow> =
        sla_policies::table.filter(sla_policies::id.eq_any(&ids)).select(SlaPolicyRow::as_select()).load(conn)?;
    let scoring = Some(crate::settings::scoring(conn)?);
    let mut out = RunOutcome::default();
    for mut t in due {
        let Some(p) = t.sla_policy_id.and_then(|id| policies.iter().find(|p| p.id == id)) else { continue };
        let before = t.clone();
        let mut fired = vec![];
        for target in TARGETS {
            let (due, risk, done) = target.times(&t);
            let (Some(due), Some(risk), None) = (due, risk, done) else { continue };
            let (risk_bit, breach_bit) = target.bits();
            if now > due && t.sla_notified & breach_bit == 0 {
                t.sla_notified |= breach_bit | risk_bit;
                fired.push((target, EscalationLevel::Breached));
            } else if now >= risk && t.sla_notified & (risk_bit | breach_bit) == 0 {
                t.sla_notified |= risk_bit;
                fired.push((target, EscalationLevel::AtRisk));
            }
        }
        let mut records = vec![];
        let mut notify = vec![];
        // Per level: whether the assignee is mailed, other addresses, the records' index.
        let mut mails: Vec<(EscalationLevel, bool, Vec<String>, usize)> = vec![];
        let rules = p.rules();
        for (target, level) in &fired {
            let mut actions = vec![];
            for rule in rules.iter().filter(|r| {
                r.when == *level
                    && match r.target {
                        EscalationTarget::Any => true,
                        EscalationTarget::FirstResponse => *target == Target::FirstResponse,
                        EscalationTarget::Resolution => *target == Target::Resolution,
                    }
            }) {
                if rule.notify && !notify.contains(level) {
                    notify.push(*level);
                    actions.push("notified".to_string());
                }
                if let Some(u) = rule.reassign_to_user_id {
                    if t.assignee_id != Some(u) {
                        t.assignee_id = Some(u);
                        actions.push(format!("reassigned to user {u}"));
                    }
                }
                if let Some(team) = rule.reassign_to_team_id {
                    if t.team_id != Some(team) {
                        t.team_id = Some(team);
                        actions.push(format!("reassigned to team {team}"));
                    }
                }
                if rule.email_assignee || !rule.email_to.is_empty() {
                    let m = match mails.iter().position(|m| m.0 == *level) {
                        Some(i) => &mut mails[i],
                        None => {
                            mails.push((*level, false, vec![], records.len()));
                            mails.last_mut().expect("pushed")
                        }
                    };
                    m.1 |= rule.email_assignee;
                    m.2.extend(rule.email_to.iter().cloned());
                }
                if rule.raise_priority {
                    let from = Priority::parse(&t.priority);
                    let to = from.raised();
                    if to != from {
                        t.priority = to.as_str().into();
                        t.priority_set_by_hand = true;
                        actions.push(format!("priority {} → {}", from.as_str(), to.as_str()));
                    }
                }
            }
            match level {
                EscalationLevel::AtRisk => out.at_risk += 1,
                EscalationLevel::Breached => out.breached += 1,
            }
            records.push(Draft {
                target: target.as_str(),
                level: match level {
                    EscalationLevel::AtRisk => "at_risk",
                    EscalationLevel::Breached => "breached",
                },
                actions,
            });
        }
        // The job's own instants are final for this ticket: the next one is later.
        t.sla_next_at = next_check(&t);
        if fired.is_empty() {
            diesel::update(tickets::table.find(t.id)).set(tickets::sla_next_at.eq(t.sla_next_at)).execute(conn)?;
            continue;
        }
        if t.priority != before.priority {
            crate::tickets::rescore(conn, scoring.as_ref(), crate::tickets::Rescore::One(&mut t))?;
        }
        t.version += 1;
        t.updated_at = now;
        crate::tickets::save(conn, &t, before.version)?;
        // Addresses are resolved after every rule ran: a reassigned ticket mails its new assignee.
        let assignee_email: Option<String> = match t.assignee_id {
            Some(u) if mails.iter().any(|m| m.1) => {
                users::table.find(u).select(users::email).first::<Option<String>>(conn).optional()?.flatten()
            }
            _ => None,
        };
        let mut outgoing = vec![];
        for (level, to_assignee, mut to, record) in mails {
            if to_assignee {
                match &assignee_email {
                    Some(a) => to.insert(0, a.clone()),
                    None if t.assignee_id.is_none() => records[record].actions.push("no assignee to e-mail".into()),
                    None => records[record].actions.push("no e-mail address for the assignee".into()),
                }
            }
            // Each address once, the assignee first (two rules may name the same one).
            let mut seen: Vec<String> = vec![];
            to.retain(|a| {
                let new = !seen.contains(a);
                if new {
                    seen.push(a.clone());
                }
                new
            });
            if !to.is_empty() {
                records[record].actions.push(format!("e-mailed {}", to.join(", ")));
                let targets = fired.iter().filter(|f| f.1 == level).map(|f| f.0).collect();
                outgoing.push((level, targets, to));
            }
        }
        let rows: Vec<NewEscalation> = records
            .iter()
            .map(|r| NewEscalation {
                ticket_id: t.id,
                target: r.target,
                level: r.level,
                actions: ordo_core::util::json_text(&r.actions),
                at: now,
            })
            .collect();
        ordo_db::insert_batch!(conn, ticket_escalations::table, &rows);
        let model = crate::tickets::model_of(conn, t.clone())?;
        for (level, targets, to) in outgoing {
            mail(conn, &SlaMail { ticket: &model, level, targets, to })?;
        }
        ordo_db::audit::record(
            conn,
            &caller,
            crate::tickets::ENTITY,
            t.id,
            "escalate",
            &serde_json::json!({ "escalations": fired.iter().map(|(tg, l)| serde_json::json!({"target": tg, "level": l})).collect::<Vec<_>>() }),
        )?;
        for level in notify {
            let kind = match level {
                EscalationLevel::AtRisk => "ticket.sla_at_risk",
                EscalationLevel::Breached => "ticket.sla_breached",
            };
            events::emit(conn, &caller, kind, ("ticket", t.id), Some(t.customer_id), &model)?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ordo_fulfillment::promising::WorkDays;
    use time::macros::{datetime, time};

    /// Mon–Fri 08:00–16:00 UTC.
    fn clock() -> BusinessClock {
        BusinessClock::new(WorkDays::new([6, 7], []), time!(08:00), time!(16:00), 0)
    }

    fn policy() -> SlaPolicyRow {
        let t = datetime!(2026-11-30 00:00);
        SlaPolicyRow {
            id: 1,
            name: "Standard".into(),
            customer_id: None,
            customer_group_id: None,
            priority: None,
            first_response_minutes: 60,
            resolution_minutes: 480,
            at_risk_percent: 75,
            escalations: "[]".into(),
            active: true,
            version: 1,
            created_at: t,
            updated_at: t,
        }
    }

    /// A ticket opened on Monday 30 Nov 2026 at 09:00.
    fn ticket() -> TicketRow {
        TicketRow::blank("user:1".into(), datetime!(2026-11-30 09:00))
    }

    #[test]
    fn targets_run_in_business_minutes() {
        let (c, p, mut t) = (clock(), policy(), ticket());
        let opened = t.created_at;
        schedule(&mut t, Some(&p), &c, opened);
        assert_eq!(t.first_response_due_at, Some(datetime!(2026-11-30 10:00)));
        assert_eq!(t.first_response_risk_at, Some(datetime!(2026-11-30 09:45)));
        // 480 business minutes: the rest of Monday (420) and an hour of Tuesday.
        assert_eq!(t.resolution_due_at, Some(datetime!(2026-12-01 09:00)));
        assert_eq!(t.sla_next_at, Some(datetime!(2026-11-30 09:45)));
        let v = view(&t, Some(&p), &c, datetime!(2026-11-30 09:50)).unwrap();
        assert_eq!(v.first_response.state, SlaState::AtRisk);
        assert_eq!(v.first_response.used_minutes, 50);
        assert_eq!(v.resolution.state, SlaState::OnTrack);
        let v = view(&t, Some(&p), &c, datetime!(2026-11-30 10:01)).unwrap();
        assert_eq!(v.first_response.state, SlaState::Breached);
    }

    #[test]
    fn waiting_moves_the_running_targets_by_the_business_minutes_paused() {
        let (c, p, mut t) = (clock(), policy(), ticket());
        let opened = t.created_at;
        schedule(&mut t, Some(&p), &c, opened);
        pause(&mut t, datetime!(2026-11-30 09:30));
        assert_eq!(t.sla_next_at, None, "the job leaves a paused ticket alone");
        let v = view(&t, Some(&p), &c, datetime!(2026-11-30 15:00)).unwrap();
        assert_eq!(v.first_response.state, SlaState::Paused);
        assert_eq!(v.first_response.used_minutes, 30, "the clock stood at 09:30");
        // Over the night: 390 minutes on Monday, 90 on Tuesday.
        resume(&mut t, Some(&p), &c, datetime!(2026-12-01 09:30));
        assert_eq!(t.paused_minutes, 480);
        assert_eq!(t.first_response_due_at, Some(datetime!(2026-12-01 10:00)));
        assert_eq!(t.resolution_due_at, Some(datetime!(2026-12-02 09:00)));
        let v = view(&t, Some(&p), &c, datetime!(2026-12-01 09:40)).unwrap();
        assert_eq!(v.first_response.used_minutes, 40);
        assert_eq!(v.first_response.state, SlaState::OnTrack);
    }

    #[test]
    fn a_breach_stays_a_breach_after_a_pause() {
        let (c, p, mut t) = (clock(), policy(), ticket());
        let opened = t.created_at;
        schedule(&mut t, Some(&p), &c, opened);
        pause(&mut t, datetime!(2026-11-30 11:00));
        let v = view(&t, Some(&p), &c, datetime!(2026-11-30 12:00)).unwrap();
        assert_eq!(v.first_response.state, SlaState::Breached);
        assert_eq!(v.resolution.state, SlaState::Paused);
        resume(&mut t, Some(&p), &c, datetime!(2026-11-30 13:00));
        assert_eq!(t.first_response_due_at, Some(datetime!(2026-11-30 10:00)), "kept");
        assert_eq!(t.resolution_due_at, Some(datetime!(2026-12-01 11:00)), "moved by two hours");
    }

    #[test]
    fn the_most_specific_policy_ranks_highest() {
        let mut general = policy();
        let mut group = policy();
        group.customer_group_id = Some(5);
        let mut urgent = policy();
        urgent.priority = Some("critical".into());
        let mut own = policy();
        own.customer_id = Some(9);
        let rank = |p: &SlaPolicyRow| p.rank(9, Some(5), Priority::Critical);
        assert!(rank(&own) > rank(&group) && rank(&group) > rank(&urgent) && rank(&urgent) > rank(&general));
        assert_eq!(own.rank(8, Some(5), Priority::Critical), None, "another customer's");
        assert_eq!(urgent.rank(9, None, Priority::High), None, "another priority's");
        general.active = false;
        assert_eq!(rank(&general), None);
    }
}
