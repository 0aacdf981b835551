//! The service desk's settings (stages, reopen window, business hours, the
//! impact × urgency matrix) and the queue's scoring weights: two settings records.

use diesel::prelude::*;
use ordo_core::{Caller, DomainError, FieldError, Permission, Result};
use ordo_db::schema::tickets;
use ordo_db::settings::{self, Stored};
use ordo_db::DbConnection;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use time::{OffsetDateTime, Time};
use validator::Validate;

use crate::clock::BusinessClock;

/// Impact or urgency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Low,
    #[default]
    Medium,
    High,
}

/// A ticket's priority: from the matrix, set by hand, or raised by an escalation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    Medium,
    High,
    Critical,
}

impl Priority {
    pub const ALL: [Priority; 4] = [Priority::Low, Priority::Medium, Priority::High, Priority::Critical];
    pub fn as_str(&self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
            Priority::Critical => "critical",
        }
    }
    pub fn parse(s: &str) -> Priority {
        Priority::ALL.into_iter().find(|p| p.as_str() == s).unwrap_or(Priority::Medium)
    }
    /// One step up (critical stays critical).
    pub fn raised(self) -> Priority {
        match self {
            Priority::Low => Priority::Medium,
            Priority::Medium => Priority::High,
            _ => Priority::Critical,
        }
    }
}

impl Level {
    pub fn as_str(&self) -> &'static str {
        match self {
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
        }
    }
    pub fn parse(s: &str) -> Level {
        match s {
            "low" => Level::Low,
            "high" => Level::High,
            _ => Level::Medium,
        }
    }
}

/// The priority for each urgency at one impact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ByUrgency {
    pub low: Priority,
    pub medium: Priority,
    pub high: Priority,
}

/// Impact × urgency → priority (ITIL style): `matrix.high.medium` is the priority of a
/// high-impact, medium-urgency ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriorityMatrix {
    pub low: ByUrgency,
    pub medium: ByUrgency,
    pub high: ByUrgency,
}

impl Default for PriorityMatrix {
    fn default() -> Self {
        use Priority::*;
        PriorityMatrix {
            low: ByUrgency { low: Low, medium: Low, high: Medium },
            medium: ByUrgency { low: Low, medium: Medium, high: High },
            high: ByUrgency { low: Medium, medium: High, high: Critical },
        }
    }
}

impl PriorityMatrix {
    pub fn priority(&self, impact: Level, urgency: Level) -> Priority {
        let row = match impact {
            Level::Low => &self.low,
            Level::Medium => &self.medium,
            Level::High => &self.high,
        };
        match urgency {
            Level::Low => row.low,
            Level::Medium => row.medium,
            Level::High => row.high,
        }
    }
}

/// What a stage means to the desk: where tickets start (`new`), are worked
/// (`active`), wait for the customer with the SLA clock stopped (`waiting`), are
/// answered (`resolved`, the resolution target is met then) and done (`closed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StageCategory {
    New,
    Active,
    Waiting,
    Resolved,
    Closed,
}

impl StageCategory {
    pub fn as_str(&self) -> &'static str {
        match self {
            StageCategory::New => "new",
            StageCategory::Active => "active",
            StageCategory::Waiting => "waiting",
            StageCategory::Resolved => "resolved",
            StageCategory::Closed => "closed",
        }
    }
    pub fn parse(s: &str) -> StageCategory {
        match s {
            "active" => StageCategory::Active,
            "waiting" => StageCategory::Waiting,
            "resolved" => StageCategory::Resolved,
            "closed" => StageCategory::Closed,
            _ => StageCategory::New,
        }
    }
    /// Open: still in the queue (new, active, waiting).
    pub fn is_open(&self) -> bool {
        matches!(self, StageCategory::New | StageCategory::Active | StageCategory::Waiting)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// What tickets store and `POST /tickets/{id}/move` names (`in_progress`).
    #[validate(length(min = 1, max = 40), custom(function = "ordo_core::validate::code"))]
    #[schema(pattern = "^[a-z][a-z0-9_]*$", min_length = 1, max_length = 40)]
    pub code: String,
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    pub category: StageCategory,
}

/// When the desk works: SLA minutes are counted only then, on working days of the
/// company calendar (`/calendar`, holidays included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BusinessHours {
    /// Opening, local time `HH:MM`.
    #[schema(value_type = String, pattern = "^[0-2][0-9]:[0-5][0-9]$", example = "08:00")]
    #[serde(with = "hhmm")]
    pub start: Time,
    /// Closing, local time `HH:MM` (after `start`).
    #[schema(value_type = String, pattern = "^[0-2][0-9]:[0-5][0-9]$", example = "16:00")]
    #[serde(with = "hhmm")]
    pub end: Time,
    /// Local time = UTC + this many minutes (a fixed offset; daylight saving time is
    /// not followed).
    #[validate(range(min = -720, max = 840))]
    #[schema(minimum = -720, maximum = 840)]
    pub utc_offset_minutes: i32,
}

mod hhmm {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Time;
    const F: &[time::format_description::BorrowedFormatItem<'static>] =
        time::macros::format_description!("[hour]:[minute]");
    pub fn serialize<S: Serializer>(t: &Time, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.format(F).map_err(serde::ser::Error::custom)?)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Time, D::Error> {
        let v = String::deserialize(d)?;
        Time::parse(&v, F).map_err(|_| serde::de::Error::custom("a local time HH:MM"))
    }
}

/// The service desk's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeskSettings {
    /// The stages in their order; tickets start in the first, which must be a `new`
    /// stage. At least one `resolved` and one `closed` stage.
    #[validate(length(min = 3, max = 20), nested)]
    #[schema(min_items = 3, max_items = 20)]
    pub stages: Vec<Stage>,
    /// How many days after being resolved a ticket may still be reopened.
    #[validate(range(max = 365))]
    #[schema(maximum = 365)]
    pub reopen_days: u16,
    #[validate(nested)]
    pub business_hours: BusinessHours,
    pub priority_matrix: PriorityMatrix,
}

impl Default for DeskSettings {
    fn default() -> Self {
        let s = |code: &str, name: &str, category| Stage { code: code.into(), name: name.into(), category };
        DeskSettings {
            stages: vec![
                s("new", "New", StageCategory::New),
                s("triaged", "Triaged", StageCategory::Active),
                s("in_progress", "In progress", StageCategory::Active),
                s("waiting_for_customer", "Waiting for customer", StageCategory::Waiting),
                s("resolved", "Resolved", StageCategory::Resolved),
                s("closed", "Closed", StageCategory::Closed),
            ],
            reopen_days: 14,
            business_hours: BusinessHours {
                start: Time::from_hms(8, 0, 0).unwrap_or(Time::MIDNIGHT),
                end: Time::from_hms(16, 0, 0).unwrap_or(Time::MIDNIGHT),
                utc_offset_minutes: 0,
            },
            priority_matrix: PriorityMatrix::default(),
        }
    }
}

impl DeskSettings {
    pub fn stage(&self, code: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.code == code)
    }
    /// Where new tickets start.
    pub fn first(&self) -> &Stage {
        &self.stages[0]
    }
    /// The first stage of a category (the settings guarantee one for new, resolved
    /// and closed; an `active` is looked for, else `new`).
    pub fn first_of(&self, c: StageCategory) -> &Stage {
        self.stages.iter().find(|s| s.category == c).unwrap_or(self.first())
    }
    pub fn clock(&self, conn: &mut DbConnection) -> Result<BusinessClock> {
        let h = &self.business_hours;
        Ok(BusinessClock::new(ordo_fulfillment::promising::WorkDays::load(conn)?, h.start, h.end, h.utc_offset_minutes))
    }
}

/// The settings record with its version.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ServiceSettings {
    #[serde(flatten)]
    pub data: DeskSettings,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

pub fn desk(conn: &mut DbConnection) -> Result<DeskSettings> {
    Ok(settings::load::<DeskSettings>(conn, settings::SERVICE_DESK)?.data)
}

pub fn get(conn: &mut DbConnection, caller: &Caller) -> Result<ServiceSettings> {
    caller.require(Permission::TicketsRead)?;
    let s = settings::load(conn, settings::SERVICE_DESK)?;
    Ok(ServiceSettings { data: s.data, version: s.version, updated_at: s.updated_at })
}

/// Replaces the desk settings. A stage that tickets are in may not go away or change
/// its category (their clocks and the queue depend on it): 409 `stage_in_use`.
pub fn put(
    conn: &mut DbConnection,
    caller: &Caller,
    if_match: Option<i64>,
    next: DeskSettings,
) -> Result<ServiceSettings> {
    caller.require(Permission::ServiceSetupWrite)?;
    let mut errs = vec![];
    let mut seen = BTreeSet::new();
    for (n, s) in next.stages.iter().enumerate() {
        if !seen.insert(s.code.as_str()) {
            errs.push(FieldError::new(format!("stages[{n}].code"), "duplicate", "stage codes are unique"));
        }
    }
    if next.stages.first().map(|s| s.category) != Some(StageCategory::New) {
        errs.push(FieldError::new(
            "stages[0].category",
            "invalid",
            "tickets start in the first stage: it must be `new`",
        ));
    }
    for c in [StageCategory::Resolved, StageCategory::Closed] {
        if !next.stages.iter().any(|s| s.category == c) {
            errs.push(FieldError::new("stages", "missing", format!("at least one `{}` stage", c.as_str())));
        }
    }
    if next.business_hours.end <= next.business_hours.start {
        errs.push(FieldError::new("business_hours.end", "invalid", "closing comes after opening"));
    }
    if !errs.is_empty() {
        return Err(DomainError::Validation(errs));
    }
    let current = desk(conn)?;
    let used: Vec<String> = tickets::table.select(tickets::stage).distinct().load(conn)?;
    for code in used {
        let before = current.stage(&code).map(|s| s.category);
        let after = next.stage(&code).map(|s| s.category);
        if after != before {
            return Err(DomainError::conflict(
                "stage_in_use",
                format!("tickets are in stage `{code}`: it must stay, with its category"),
            ));
        }
    }
    let s = settings::save(conn, caller, settings::SERVICE_DESK, "service_settings", if_match, next)?;
    Ok(ServiceSettings { data: s.data, version: s.version, updated_at: s.updated_at })
}

// ---- scoring ------------------------------------------------------------------------

fn weight(w: i32) -> std::result::Result<(), validator::ValidationError> {
    if (0..=1000).contains(&w) {
        Ok(())
    } else {
        Err(validator::ValidationError::new("range").with_message("a weight is 0 to 1000".into()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriorityWeights {
    #[validate(custom(function = "weight"))]
    pub low: i32,
    #[validate(custom(function = "weight"))]
    pub medium: i32,
    #[validate(custom(function = "weight"))]
    pub high: i32,
    #[validate(custom(function = "weight"))]
    pub critical: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KindWeights {
    #[validate(custom(function = "weight"))]
    pub complaint: i32,
    #[validate(custom(function = "weight"))]
    pub service_request: i32,
    #[validate(custom(function = "weight"))]
    pub question: i32,
}

/// A weight for tickets whose customer, item or category is `id` (or, for item
/// kinds, `kind`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdWeight {
    pub id: i64,
    #[validate(custom(function = "weight"))]
    #[schema(minimum = 0, maximum = 1000)]
    pub weight: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemKindWeight {
    /// `stock`, `service` or `non_stock`.
    #[schema(pattern = "^(stock|service|non_stock)$")]
    #[validate(custom(function = "item_kind"))]
    pub kind: String,
    #[validate(custom(function = "weight"))]
    #[schema(minimum = 0, maximum = 1000)]
    pub weight: i32,
}

fn item_kind(k: &str) -> std::result::Result<(), validator::ValidationError> {
    if matches!(k, "stock" | "service" | "non_stock") {
        Ok(())
    } else {
        Err(validator::ValidationError::new("invalid").with_message("stock, service or non_stock".into()))
    }
}

/// How the work queue is ordered: a ticket's score is the sum of the weights that
/// apply to it (its priority, its kind, its customer's group — the customer tier —,
/// its item's group and kind, its category). `GET /tickets?sort=-score` is the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketScoring {
    #[validate(nested)]
    pub priority: PriorityWeights,
    #[validate(nested)]
    pub kind: KindWeights,
    /// Per customer group (the customer's tier).
    #[validate(length(max = 200), nested)]
    #[schema(max_items = 200)]
    pub customer_groups: Vec<IdWeight>,
    #[validate(length(max = 200), nested)]
    #[schema(max_items = 200)]
    pub item_groups: Vec<IdWeight>,
    #[validate(length(max = 3), nested)]
    #[schema(max_items = 3)]
    pub item_kinds: Vec<ItemKindWeight>,
    /// Per ticket category (exactly that category, not its children).
    #[validate(length(max = 200), nested)]
    #[schema(max_items = 200)]
    pub categories: Vec<IdWeight>,
}

impl Default for TicketScoring {
    fn default() -> Self {
        TicketScoring {
            priority: PriorityWeights { low: 0, medium: 10, high: 30, critical: 60 },
            kind: KindWeights { complaint: 20, service_request: 10, question: 0 },
            customer_groups: vec![],
            item_groups: vec![],
            item_kinds: vec![],
            categories: vec![],
        }
    }
}

/// The inputs of one ticket's score.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScoreInputs<'a> {
    pub priority: Option<Priority>,
    pub kind: &'a str,
    pub customer_group_id: Option<i64>,
    pub item_group_id: Option<i64>,
    pub item_kind: Option<&'a str>,
    pub category_id: Option<i64>,
}

impl TicketScoring {
    pub fn score(&self, i: &ScoreInputs) -> i32 {
        let by_id = |list: &[IdWeight], id: Option<i64>| {
            id.and_then(|id| list.iter().find(|w| w.id == id)).map_or(0, |w| w.weight)
        };
        let p = match i.priority {
            Some(Priority::Low) => self.priority.low,
            Some(Priority::Medium) => self.priority.medium,
            Some(Priority::High) => self.priority.high,
            Some(Priority::Critical) => self.priority.critical,
            None => 0,
        };
        let k = match i.kind {
            "complaint" => self.kind.complaint,
            "service_request" => self.kind.service_request,
            _ => self.kind.question,
        };
        let ik = i.item_kind.and_then(|k| self.item_kinds.iter().find(|w| w.kind == k)).map_or(0, |w| w.weight);
        p + k
            + by_id(&self.customer_groups, i.customer_group_id)
            + by_id(&self.item_groups, i.item_group_id)
            + ik
            + by_id(&self.categories, i.category_id)
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TicketScoringSettings {
    #[serde(flatten)]
    pub data: TicketScoring,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

fn scoring_model(s: Stored<TicketScoring>) -> TicketScoringSettings {
    TicketScoringSettings { data: s.data, version: s.version, updated_at: s.updated_at }
}

pub fn scoring(conn: &mut DbConnection) -> Result<TicketScoring> {
    Ok(settings::load::<TicketScoring>(conn, settings::TICKET_SCORING)?.data)
}

pub fn get_scoring(conn: &mut DbConnection, caller: &Caller) -> Result<TicketScoringSettings> {
    caller.require(Permission::TicketsRead)?;
    Ok(scoring_model(settings::load(conn, settings::TICKET_SCORING)?))
}

/// Replaces the weights and rescores every open ticket in the same transaction.
pub fn put_scoring(
    conn: &mut DbConnection,
    caller: &Caller,
    if_match: Option<i64>,
    next: TicketScoring,
) -> Result<TicketScoringSettings> {
    caller.require(Permission::ServiceSetupWrite)?;
    let mut errs = vec![];
    for (field, list) in [
        ("customer_groups", &next.customer_groups),
        ("item_groups", &next.item_groups),
        ("categories", &next.categories),
    ] {
        let mut seen = BTreeSet::new();
        for (n, w) in list.iter().enumerate() {
            if !seen.insert(w.id) {
                errs.push(FieldError::new(format!("{field}[{n}].id"), "duplicate", "one weight per id"));
            }
        }
    }
    let mut kinds = BTreeSet::new();
    for (n, w) in next.item_kinds.iter().enumerate() {
        if !kinds.insert(w.kind.as_str()) {
            errs.push(FieldError::new(format!("item_kinds[{n}].kind"), "duplicate", "one weight per kind"));
        }
    }
    if !errs.is_empty() {
        return Err(DomainError::Validation(errs));
    }
    let s = settings::save(conn, caller, settings::TICKET_SCORING, "ticket_scoring", if_match, next)?;
    crate::tickets::rescore(conn, Some(&s.data), crate::tickets::Rescore::AllOpen)?;
    Ok(scoring_model(s))
}
