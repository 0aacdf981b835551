//! Service tickets: complaints, service requests and questions about a customer's
//! items, orders, deliveries and invoices. A ticket moves through the desk's stages,
//! carries comments (internal or for the customer), an SLA with two clocks, a score
//! that orders the work queue, and — for a complaint — the return and credit notes it
//! led to. An agent sees the tickets of their own customers only (404 otherwise).

use diesel::prelude::*;
use ordo_core::body::{patched, MergePatch};
use ordo_core::time_util::now;
use ordo_core::util::{check_version, to_json};
use ordo_core::{Caller, DomainError, FieldError, Page, PageRequest, Permission, Result};
use ordo_db::audit::{self, Entry};
use ordo_db::schema::{
    contacts, customers, deliveries, invoices, items, returns, sales_orders, service_teams, sla_policies,
    ticket_categories, ticket_comments, ticket_escalations, tickets, users,
};
use ordo_db::{events, series, DbBackend, DbConnection};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime, PrimitiveDateTime};
use validator::Validate;

use crate::settings::{self, DeskSettings, Level, Priority, ScoreInputs, StageCategory, TicketScoring};
use crate::setup::{EscalationLevel, SlaPolicyRow};
use crate::sla::{self, Escalation, Target, TicketSla};

pub const ENTITY: &str = "ticket";
const SERIES: &str = "ticket";

fn read(caller: &Caller) -> Result<()> {
    caller.require(Permission::TicketsRead)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TicketKind {
    Complaint,
    ServiceRequest,
    Question,
}

impl TicketKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            TicketKind::Complaint => "complaint",
            TicketKind::ServiceRequest => "service_request",
            TicketKind::Question => "question",
        }
    }
    fn parse(s: &str) -> TicketKind {
        match s {
            "complaint" => TicketKind::Complaint,
            "service_request" => TicketKind::ServiceRequest,
            _ => TicketKind::Question,
        }
    }
}

/// `POST /tickets`; also the shape `PATCH` merges into. Every linked document must be
/// the ticket's customer's; the customer must be yours (an agent's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketCreate {
    pub customer_id: i64,
    /// One of the customer's contacts (who reported it).
    #[serde(default)]
    pub contact_id: Option<i64>,
    pub kind: TicketKind,
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub subject: String,
    #[serde(default)]
    #[validate(length(max = 20000))]
    #[schema(max_length = 20000)]
    pub description: Option<String>,
    #[serde(default)]
    pub item_id: Option<i64>,
    #[serde(default)]
    pub sales_order_id: Option<i64>,
    #[serde(default)]
    pub delivery_id: Option<i64>,
    /// An invoice or credit note of the customer.
    #[serde(default)]
    pub invoice_id: Option<i64>,
    /// A node of the category tree (`/ticket-categories`), active.
    #[serde(default)]
    pub category_id: Option<i64>,
    #[serde(default)]
    pub impact: Level,
    #[serde(default)]
    pub urgency: Level,
    /// Set by hand (needs the right to work tickets); none: from the impact × urgency
    /// matrix of `/service-settings`.
    #[serde(default)]
    pub priority: Option<Priority>,
    /// The user working it (needs the right to work tickets).
    #[serde(default)]
    pub assignee_id: Option<i64>,
    /// The team working it (needs the right to work tickets).
    #[serde(default)]
    pub team_id: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = tickets, treat_none_as_null = true)]
pub struct TicketRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub number: String,
    pub customer_id: i64,
    pub contact_id: Option<i64>,
    pub kind: String,
    pub subject: String,
    pub description: Option<String>,
    pub item_id: Option<i64>,
    pub sales_order_id: Option<i64>,
    pub delivery_id: Option<i64>,
    pub invoice_id: Option<i64>,
    pub category_id: Option<i64>,
    pub impact: String,
    pub urgency: String,
    pub priority: String,
    pub priority_set_by_hand: bool,
    pub stage: String,
    pub state: String,
    pub is_open: bool,
    pub assignee_id: Option<i64>,
    pub team_id: Option<i64>,
    pub score: i32,
    pub sla_policy_id: Option<i64>,
    pub paused_minutes: i32,
    pub paused_since: Option<PrimitiveDateTime>,
    pub first_response_due_at: Option<PrimitiveDateTime>,
    pub first_response_risk_at: Option<PrimitiveDateTime>,
    pub first_responded_at: Option<PrimitiveDateTime>,
    pub resolution_due_at: Option<PrimitiveDateTime>,
    pub resolution_risk_at: Option<PrimitiveDateTime>,
    pub resolved_at: Option<PrimitiveDateTime>,
    pub closed_at: Option<PrimitiveDateTime>,
    pub sla_notified: i32,
    pub sla_next_at: Option<PrimitiveDateTime>,
    pub return_id: Option<i64>,
    pub version: i64,
    pub created_by: String,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

impl TicketRow {
    /// A row with nothing set yet but its creator and time.
    pub fn blank(created_by: String, ts: PrimitiveDateTime) -> TicketRow {
        TicketRow {
            id: 0,
            number: String::new(),
            customer_id: 0,
            contact_id: None,
            kind: TicketKind::Question.as_str().into(),
            subject: String::new(),
            description: None,
            item_id: None,
            sales_order_id: None,
            delivery_id: None,
            invoice_id: None,
            category_id: None,
            impact: Level::Medium.as_str().into(),
            urgency: Level::Medium.as_str().into(),
            priority: Priority::Medium.as_str().into(),
            priority_set_by_hand: false,
            stage: "new".into(),
            state: StageCategory::New.as_str().into(),
            is_open: true,
            assignee_id: None,
            team_id: None,
            score: 0,
            sla_policy_id: None,
            paused_minutes: 0,
            paused_since: None,
            first_response_due_at: None,
            first_response_risk_at: None,
            first_responded_at: None,
            resolution_due_at: None,
            resolution_risk_at: None,
            resolved_at: None,
            closed_at: None,
            sla_notified: 0,
            sla_next_at: None,
            return_id: None,
            version: 1,
            created_by,
            created_at: ts,
            updated_at: ts,
        }
    }
    fn to_create(&self) -> TicketCreate {
        TicketCreate {
            customer_id: self.customer_id,
            contact_id: self.contact_id,
            kind: TicketKind::parse(&self.kind),
            subject: self.subject.clone(),
            description: self.description.clone(),
            item_id: self.item_id,
            sales_order_id: self.sales_order_id,
            delivery_id: self.delivery_id,
            invoice_id: self.invoice_id,
            category_id: self.category_id,
            impact: Level::parse(&self.impact),
            urgency: Level::parse(&self.urgency),
            priority: self.priority_set_by_hand.then(|| Priority::parse(&self.priority)),
            assignee_id: self.assignee_id,
            team_id: self.team_id,
        }
    }
    fn category(&self) -> StageCategory {
        StageCategory::parse(&self.state)
    }
    fn enter(&mut self, stage: &settings::Stage) {
        self.stage = stage.code.clone();
        self.state = stage.category.as_str().into();
        self.is_open = stage.category.is_open();
    }
}

/// Where the priority came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PrioritySource {
    /// The impact × urgency matrix.
    Matrix,
    /// Set by hand or raised by an escalation.
    Manual,
}

/// A document a ticket led to.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TicketDocRef {
    pub id: i64,
    pub number: String,
    pub status: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Ticket {
    pub id: i64,
    /// e.g. `TCK-2026-000001`.
    pub number: String,
    pub customer_id: i64,
    pub contact_id: Option<i64>,
    pub kind: TicketKind,
    pub subject: String,
    pub description: Option<String>,
    pub item_id: Option<i64>,
    pub sales_order_id: Option<i64>,
    pub delivery_id: Option<i64>,
    pub invoice_id: Option<i64>,
    pub category_id: Option<i64>,
    pub impact: Level,
    pub urgency: Level,
    pub priority: Priority,
    pub priority_source: PrioritySource,
    /// The stage's code (see `/service-settings`).
    pub stage: String,
    /// What the stage means.
    pub state: StageCategory,
    pub assignee_id: Option<i64>,
    pub team_id: Option<i64>,
    /// The queue's weighted score (`/ticket-scoring`); higher comes first.
    pub score: i32,
    /// The SLA, when a policy applies.
    pub sla: Option<TicketSla>,
    #[serde(serialize_with = "ordo_core::serde_util::rfc3339_opt::serialize")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub resolved_at: Option<OffsetDateTime>,
    #[serde(serialize_with = "ordo_core::serde_util::rfc3339_opt::serialize")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub closed_at: Option<OffsetDateTime>,
    /// Until when a resolved or closed ticket may be reopened.
    #[serde(serialize_with = "ordo_core::serde_util::rfc3339_opt::serialize")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub reopen_until: Option<OffsetDateTime>,
    /// The return this complaint led to (`POST /tickets/{id}/return`).
    pub return_authorization: Option<TicketDocRef>,
    /// Credit notes for that return (`POST /returns/{id}/credit-note`).
    pub credit_notes: Vec<TicketDocRef>,
    /// SLA escalations, oldest first.
    pub escalations: Vec<Escalation>,
    pub version: i64,
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Tickets the caller may see: an agent, those of their own customers.
pub fn visible<'a>(caller: &Caller) -> tickets::BoxedQuery<'a, DbBackend> {
    ordo_sales_docs::scoped!(tickets::table.into_boxed(), caller, tickets::customer_id)
}

pub fn find(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<TicketRow> {
    visible(caller)
        .filter(tickets::id.eq(id))
        .select(TicketRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| DomainError::not_found(ENTITY, id))
}

/// Reads a ticket for a change: locked on PostgreSQL, so concurrent changes queue.
fn find_for_update(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<TicketRow> {
    ordo_db::lock::rows(conn, "tickets", &[id])?;
    let t = find(conn, caller, id)?;
    check_version(if_match, t.version)?;
    Ok(t)
}

pub fn require_user(conn: &mut DbConnection, id: i64, field: &str) -> Result<()> {
    let n: i64 = users::table.filter(users::id.eq(id)).filter(users::active.eq(true)).count().get_result(conn)?;
    if n == 0 {
        return Err(DomainError::reference_not_found("user", field, id));
    }
    Ok(())
}

/// Stores a changed ticket under its previous version.
pub(crate) fn save(conn: &mut DbConnection, t: &TicketRow, expected: i64) -> Result<TicketRow> {
    ordo_db::save_versioned!(conn, tickets, t, expected)
}

/// The customer's group and the item's group and kind: what the score and the SLA
/// policy depend on besides the ticket itself.
#[derive(Debug, Clone, Default)]
struct Context {
    customer_group_id: Option<i64>,
    item_group_id: Option<i64>,
    item_kind: Option<String>,
}

/// A linked document's customer, if the caller may see it.
macro_rules! linked_customer {
    ($conn:expr, $caller:expr, $table:ident, $id:expr) => {{
        let q = $table::table.filter($table::id.eq($id)).select($table::customer_id).into_boxed();
        ordo_sales_docs::scoped!(q, $caller, $table::customer_id).first::<i64>($conn).optional()?
    }};
}

/// One id field of the create shape.
type IdOf = fn(&TicketCreate) -> Option<i64>;

/// Checks every reference of a ticket (changed ones only, for a patch): the customer
/// in the caller's scope (404 otherwise), the linked documents the caller's and the
/// customer's (422 `customer_mismatch` for another customer's), the set-up ids present.
fn check(conn: &mut DbConnection, caller: &Caller, c: &TicketCreate, before: Option<&TicketCreate>) -> Result<Context> {
    let changed = |f: fn(&TicketCreate) -> Option<i64>| before.is_none_or(|b| f(b) != f(c)) && f(c).is_some();
    // Assigning and prioritising is working the ticket.
    let mut needs = vec![];
    if before.is_none_or(|b| b.priority != c.priority) && c.priority.is_some() {
        needs.push(("priority", Permission::TicketsWork));
    }
    if changed(|c| c.assignee_id) {
        needs.push(("assignee_id", Permission::TicketsWork));
    }
    if changed(|c| c.team_id) {
        needs.push(("team_id", Permission::TicketsWork));
    }
    caller.require_fields(&needs)?;
    let customer = ordo_crm::scope::referenced_customer(conn, caller.scope(), "customer_id", c.customer_id)?;
    let mut errs = vec![];
    let mismatch = |field: &str, what: &str| {
        FieldError::new(field, "customer_mismatch", format!("the {what} is not of customer {}", customer.id))
    };
    // A linked record of another agent's customer looks missing, not mismatched. The
    // contact is checked always (it is cheap); documents when they or the customer change.
    let moved = before.is_some_and(|b| b.customer_id != c.customer_id);
    let links: [(&str, &'static str, IdOf, bool); 4] = [
        ("contact_id", "contact", |c| c.contact_id, true),
        ("sales_order_id", "sales order", |c| c.sales_order_id, moved),
        ("delivery_id", "delivery", |c| c.delivery_id, moved),
        ("invoice_id", "invoice", |c| c.invoice_id, moved),
    ];
    for (field, entity, get, always) in links {
        let Some(id) = get(c).filter(|_| always || changed(get)) else { continue };
        let owner = match field {
            "contact_id" => linked_customer!(conn, caller, contacts, id),
            "sales_order_id" => linked_customer!(conn, caller, sales_orders, id),
            "delivery_id" => linked_customer!(conn, caller, deliveries, id),
            _ => linked_customer!(conn, caller, invoices, id),
        };
        match owner {
            None => return Err(DomainError::reference_not_found(entity, field, id)),
            Some(o) if o != customer.id => errs.push(mismatch(field, entity)),
            _ => {}
        }
    }
    if changed(|c| c.category_id) {
        let id = c.category_id.unwrap_or_default();
        let active: Option<bool> =
            ticket_categories::table.find(id).select(ticket_categories::active).first(conn).optional()?;
        match active {
            None => return Err(DomainError::reference_not_found("ticket category", "category_id", id)),
            Some(false) => errs.push(FieldError::new("category_id", "inactive", "the category takes no new tickets")),
            _ => {}
        }
    }
    if changed(|c| c.assignee_id) {
        require_user(conn, c.assignee_id.unwrap_or_default(), "assignee_id")?;
    }
    if changed(|c| c.team_id) {
        ordo_db::require_ref!(conn, service_teams, c.team_id.unwrap_or_default(), "service team", "team_id");
    }
    let (item_group_id, item_kind) = match c.item_id {
        Some(id) => items::table
            .find(id)
            .select((items::item_group_id, items::kind))
            .first::<(Option<i64>, String)>(conn)
            .optional()?
            .map(|(g, k)| (g, Some(k)))
            .ok_or_else(|| DomainError::reference_not_found("item", "item_id", id))?,
        None => (None, None),
    };
    if !errs.is_empty() {
        return Err(DomainError::Rule {
            code: "customer_mismatch",
            detail: "a linked record belongs to another customer".into(),
            errors: errs,
        });
    }
    Ok(Context { customer_group_id: customer.customer_group_id, item_group_id, item_kind })
}

fn score_of(scoring: &TicketScoring, t: &TicketRow, ctx: &Context) -> i32 {
    scoring.score(&ScoreInputs {
        priority: Some(Priority::parse(&t.priority)),
        kind: &t.kind,
        customer_group_id: ctx.customer_group_id,
        item_group_id: ctx.item_group_id,
        item_kind: ctx.item_kind.as_deref(),
        category_id: t.category_id,
    })
}

/// Copies the create shape's fields onto the row; the priority from the matrix unless
/// set by hand.
fn apply(t: &mut TicketRow, c: &TicketCreate, desk: &DeskSettings) {
    t.customer_id = c.customer_id;
    t.contact_id = c.contact_id;
    t.kind = c.kind.as_str().into();
    t.subject = c.subject.trim().to_string();
    t.description = c.description.clone();
    t.item_id = c.item_id;
    t.sales_order_id = c.sales_order_id;
    t.delivery_id = c.delivery_id;
    t.invoice_id = c.invoice_id;
    t.category_id = c.category_id;
    t.impact = c.impact.as_str().into();
    t.urgency = c.urgency.as_str().into();
    t.priority_set_by_hand = c.priority.is_some();
    t.priority = c.priority.unwrap_or_else(|| desk.priority_matrix.priority(c.impact, c.urgency)).as_str().into();
    t.assignee_id = c.assignee_id;
    t.team_id = c.team_id;
}

fn policy(conn: &mut DbConnection, id: Option<i64>) -> Result<Option<SlaPolicyRow>> {
    Ok(match id {
        Some(id) => sla_policies::table.find(id).select(SlaPolicyRow::as_select()).first(conn).optional()?,
        None => None,
    })
}

pub fn create(conn: &mut DbConnection, caller: &Caller, input: TicketCreate) -> Result<Ticket> {
    caller.require(Permission::TicketsOpen)?;
    let ctx = check(conn, caller, &input, None)?;
    let desk = settings::desk(conn)?;
    let ts = now();
    let mut t = TicketRow::blank(caller.principal.actor_key(), ts);
    apply(&mut t, &input, &desk);
    t.enter(desk.first());
    t.score = score_of(&settings::scoring(conn)?, &t, &ctx);
    let p = sla::choose(conn, t.customer_id, ctx.customer_group_id, Priority::parse(&t.priority))?;
    sla::schedule(&mut t, p.as_ref(), &desk.clock(conn)?, ts);
    t.number = series::next_number(conn, SERIES)?;
    let saved: TicketRow =
        diesel::insert_into(tickets::table).values(&t).returning(tickets::all_columns).get_result(conn)?;
    let v = model_of(conn, saved)?;
    audit::record(conn, caller, ENTITY, v.id, "create", &to_json(&v))?;
    events::emit(conn, caller, "ticket.created", ("ticket", v.id), Some(v.customer_id), &v)?;
    Ok(v)
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub customer_id: Option<i64>,
    pub kind: Option<TicketKind>,
    pub stage: Option<String>,
    pub state: Option<StageCategory>,
    /// Open (new, active, waiting) or not.
    pub open: Option<bool>,
    pub priority: Option<Priority>,
    /// A user id, or `me`.
    pub assignee_id: Option<i64>,
    pub unassigned: Option<bool>,
    pub team_id: Option<i64>,
    pub category_id: Option<i64>,
    pub item_id: Option<i64>,
    pub sales_order_id: Option<i64>,
    /// Only tickets with a running target past its due time.
    pub breached: Option<bool>,
}

pub fn list(conn: &mut DbConnection, caller: &Caller, f: &Filter, page: &PageRequest) -> Result<Page<Ticket>> {
    read(caller)?;
    let filtered = || {
        let mut q = visible(caller);
        if let Some(v) = f.customer_id {
            q = q.filter(tickets::customer_id.eq(v));
        }
        if let Some(v) = f.kind {
            q = q.filter(tickets::kind.eq(v.as_str()));
        }
        if let Some(v) = &f.stage {
            q = q.filter(tickets::stage.eq(v.clone()));
        }
        if let Some(v) = f.state {
            q = q.filter(tickets::state.eq(v.as_str()));
        }
        if let Some(v) = f.open {
            q = q.filter(tickets::is_open.eq(v));
        }
        if let Some(v) = f.priority {
            q = q.filter(tickets::priority.eq(v.as_str()));
        }
        if let Some(v) = f.assignee_id {
            q = q.filter(tickets::assignee_id.eq(v));
        }
        match f.unassigned {
            Some(true) => q = q.filter(tickets::assignee_id.is_null()),
            Some(false) => q = q.filter(tickets::assignee_id.is_not_null()),
            None => {}
        }
        if let Some(v) = f.team_id {
            q = q.filter(tickets::team_id.eq(v));
        }
        if let Some(v) = f.category_id {
            q = q.filter(tickets::category_id.eq(v));
        }
        if let Some(v) = f.item_id {
            q = q.filter(tickets::item_id.eq(v));
        }
        if let Some(v) = f.sales_order_id {
            q = q.filter(tickets::sales_order_id.eq(v));
        }
        if let Some(b) = f.breached {
            let t = now();
            let late = tickets::first_responded_at
                .is_null()
                .and(tickets::first_response_due_at.lt(t))
                .or(tickets::resolved_at.is_null().and(tickets::resolution_due_at.lt(t)));
            let late = tickets::is_open.eq(true).and(late);
            q = if b { q.filter(late) } else { q.filter(diesel::dsl::not(late)) };
        }
        q
    };
    let total = ordo_db::total!(conn, page, filtered());
    let rows: Vec<TicketRow> = ordo_db::keyset!(
        filtered().select(TicketRow::as_select()),
        page,
        tickets::id,
        "score" => tickets::score: i32,
        "created_at" => tickets::created_at: PrimitiveDateTime,
        "updated_at" => tickets::updated_at: PrimitiveDateTime,
    )
    .load(conn)?;
    let rows = Page::from_sorted_rows(rows, page, |r| {
        let key = match page.sort.key {
            "score" => serde_json::json!(r.score),
            "created_at" => to_json(&r.created_at),
            "updated_at" => to_json(&r.updated_at),
            _ => serde_json::Value::Null,
        };
        (r.id, key)
    });
    Ok(Page { data: models(conn, rows.data)?, next_cursor: rows.next_cursor, total })
}

pub fn get(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<Ticket> {
    read(caller)?;
    let t = find(conn, caller, id)?;
    model_of(conn, t)
}

/// Merge-patch in the create shape. A closed ticket is not changed (409
/// `ticket_closed`); a new customer, impact, urgency or priority re-chooses the SLA
/// policy (targets already breached stay breached), and the score follows.
pub fn update(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    p: MergePatch,
) -> Result<Ticket> {
    caller.require(Permission::TicketsOpen)?;
    let current = find_for_update(conn, caller, id, if_match)?;
    if current.category() == StageCategory::Closed {
        return Err(DomainError::conflict(
            "ticket_closed",
            format!("ticket {} is closed: reopen it first", current.number),
        ));
    }
    let before = current.to_create();
    let next: TicketCreate = patched(&before, &p)?;
    if next.customer_id != before.customer_id && !caller.has(Permission::TicketsWork) {
        return Err(DomainError::forbidden("moving a ticket to another customer is working it"));
    }
    let ctx = check(conn, caller, &next, Some(&before))?;
    let desk = settings::desk(conn)?;
    let mut t = current.clone();
    apply(&mut t, &next, &desk);
    t.score = score_of(&settings::scoring(conn)?, &t, &ctx);
    if t.customer_id != current.customer_id || t.priority != current.priority {
        let p = sla::choose(conn, t.customer_id, ctx.customer_group_id, Priority::parse(&t.priority))?;
        sla::schedule(&mut t, p.as_ref(), &desk.clock(conn)?, now());
    }
    finish(conn, caller, current, t, "update")
}

/// Saves a changed ticket (version + 1) with its audit entry (the field differences).
fn finish(
    conn: &mut DbConnection,
    caller: &Caller,
    current: TicketRow,
    mut t: TicketRow,
    action: &str,
) -> Result<Ticket> {
    t.version = current.version + 1;
    t.updated_at = now();
    let saved = save(conn, &t, current.version)?;
    // Both read models in one batch: the settings, calendar and links are read once.
    let mut both = models(conn, vec![current, saved])?;
    let (v, before) = match (both.pop(), both.pop()) {
        (Some(v), Some(before)) => (v, before),
        _ => return Err(DomainError::Internal("ticket models".into())),
    };
    audit::record(conn, caller, ENTITY, v.id, action, &audit::diff(&to_json(&before), &to_json(&v)))?;
    Ok(v)
}

pub fn history(conn: &mut DbConnection, caller: &Caller, id: i64, page: &PageRequest) -> Result<Page<Entry>> {
    read(caller)?;
    find(conn, caller, id)?;
    audit::history(conn, ENTITY, id, page)
}

/// `POST /tickets/{id}/move`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketMove {
    /// The stage's code.
    #[validate(length(min = 1, max = 40))]
    #[schema(min_length = 1, max_length = 40)]
    pub stage: String,
    /// Written as an internal comment with the move.
    #[serde(default)]
    #[validate(length(min = 1, max = 20000))]
    #[schema(min_length = 1, max_length = 20000)]
    pub comment: Option<String>,
}

/// Moves an open ticket to another stage. Waiting stops the SLA clock, leaving it
/// starts it again; resolving meets the resolution (and, if none yet, the first
/// response) target. Closing needs a resolved ticket (409 `not_resolved`); a resolved
/// or closed ticket comes back only through `reopen` (409 `ticket_resolved`).
pub fn move_to(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    m: TicketMove,
) -> Result<Ticket> {
    caller.require(Permission::TicketsWork)?;
    let current = find_for_update(conn, caller, id, if_match)?;
    let desk = settings::desk(conn)?;
    let Some(stage) = desk.stage(&m.stage).cloned() else {
        let codes: Vec<&str> = desk.stages.iter().map(|s| s.code.as_str()).collect();
        return Err(DomainError::field("stage", "unknown", format!("one of {}", codes.join(", "))));
    };
    if stage.code == current.stage {
        return Err(DomainError::conflict(
            "same_stage",
            format!("ticket {} is already {}", current.number, stage.code),
        ));
    }
    let from = current.category();
    match (from, stage.category) {
        (StageCategory::Closed, _) => {
            return Err(DomainError::conflict(
                "ticket_closed",
                format!("ticket {} is closed: reopen it", current.number),
            ))
        }
        (StageCategory::Resolved, StageCategory::Closed) => {}
        (StageCategory::Resolved, _) => {
            return Err(DomainError::conflict(
                "ticket_resolved",
                format!("ticket {} is resolved: reopen it to work on it again", current.number),
            ))
        }
        (_, StageCategory::Closed) => {
            return Err(DomainError::conflict("not_resolved", format!("ticket {} is not resolved yet", current.number)))
        }
        _ => {}
    }
    let ts = now();
    let mut t = current.clone();
    let p = policy(conn, t.sla_policy_id)?;
    let clock = desk.clock(conn)?;
    if from == StageCategory::Waiting {
        sla::resume(&mut t, p.as_ref(), &clock, ts);
    }
    t.enter(&stage);
    match stage.category {
        StageCategory::Waiting => sla::pause(&mut t, ts),
        StageCategory::Resolved => {
            t.resolved_at = Some(ts);
            t.first_responded_at = t.first_responded_at.or(Some(ts));
            sla::pause(&mut t, ts);
        }
        StageCategory::Closed => t.closed_at = Some(ts),
        _ => {}
    }
    t.sla_next_at = sla::next_check(&t);
    if let Some(body) = m.comment {
        add_comment(conn, caller, &mut t, &body, true, ts)?;
    }
    finish(conn, caller, current, t, "move")
}

/// `POST /tickets/{id}/reopen`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketReopen {
    /// Why: written as an internal comment.
    #[validate(length(min = 1, max = 20000))]
    #[schema(min_length = 1, max_length = 20000)]
    pub reason: String,
    /// The stage to go back to (an open one); default the first `active` stage.
    #[serde(default)]
    pub stage: Option<String>,
}

/// Reopens a resolved or closed ticket within the desk's reopen window (422
/// `reopen_window_passed` after it). The resolution clock runs on from where it
/// stood; the time it was resolved does not count.
pub fn reopen(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    r: TicketReopen,
) -> Result<Ticket> {
    caller.require(Permission::TicketsWork)?;
    let current = find_for_update(conn, caller, id, if_match)?;
    let desk = settings::desk(conn)?;
    let Some(resolved_at) = current.resolved_at.filter(|_| !current.category().is_open()) else {
        return Err(DomainError::conflict("ticket_open", format!("ticket {} is open", current.number)));
    };
    let ts = now();
    if ts > resolved_at + Duration::days(desk.reopen_days.into()) {
        return Err(DomainError::rule(
            "reopen_window_passed",
            format!("ticket {} was resolved more than {} days ago: open a new one", current.number, desk.reopen_days),
        ));
    }
    let stage = match &r.stage {
        Some(code) => match desk.stage(code) {
            Some(s) if s.category.is_open() => s.clone(),
            _ => return Err(DomainError::field("stage", "invalid", "an open stage of /service-settings")),
        },
        None => desk.first_of(StageCategory::Active).clone(),
    };
    let mut t = current.clone();
    t.enter(&stage);
    t.resolved_at = None;
    t.closed_at = None;
    let p = policy(conn, t.sla_policy_id)?;
    let clock = desk.clock(conn)?;
    sla::resume(&mut t, p.as_ref(), &clock, ts);
    if stage.category == StageCategory::Waiting {
        sla::pause(&mut t, ts);
    }
    add_comment(conn, caller, &mut t, &r.reason, true, ts)?;
    finish(conn, caller, current, t, "reopen")
}

/// Moves a ticket's opening back to `opened` and recomputes its SLA from there: for
/// demo data and for loading historical tickets. The job escalates what is overdue.
pub fn backdate(conn: &mut DbConnection, id: i64, opened: PrimitiveDateTime) -> Result<()> {
    let current = find(conn, &Caller::system(), id)?;
    let mut t = current.clone();
    let shift = opened - t.created_at;
    t.created_at = opened;
    t.first_responded_at = t.first_responded_at.map(|x| x + shift);
    t.resolved_at = t.resolved_at.map(|x| x + shift);
    t.closed_at = t.closed_at.map(|x| x + shift);
    t.paused_since = t.paused_since.map(|x| x + shift);
    t.first_response_due_at = None;
    t.resolution_due_at = None;
    let desk = settings::desk(conn)?;
    let p = policy(conn, t.sla_policy_id)?;
    sla::schedule(&mut t, p.as_ref(), &desk.clock(conn)?, opened);
    t.sla_next_at = sla::next_check(&t);
    save(conn, &t, current.version)?;
    Ok(())
}

// ---- comments ----------------------------------------------------------------------

#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentCreate {
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 20000))]
    #[schema(min_length = 1, max_length = 20000)]
    pub body: String,
    /// Internal notes are for the desk; the rest is what the customer is told (the
    /// first such answer from someone working tickets meets the first-response target).
    #[serde(default)]
    pub internal: bool,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ticket_comments)]
struct CommentRow {
    id: i64,
    ticket_id: i64,
    body: String,
    internal: bool,
    author: String,
    author_name: String,
    created_at: PrimitiveDateTime,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TicketComment {
    pub id: i64,
    pub ticket_id: i64,
    pub body: String,
    pub internal: bool,
    /// `user:7` or `client:2`.
    pub author: String,
    pub author_name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl CommentRow {
    fn to_model(&self) -> TicketComment {
        TicketComment {
            id: self.id,
            ticket_id: self.ticket_id,
            body: self.body.clone(),
            internal: self.internal,
            author: self.author.clone(),
            author_name: self.author_name.clone(),
            created_at: self.created_at.assume_utc(),
        }
    }
}

fn add_comment(
    conn: &mut DbConnection,
    caller: &Caller,
    t: &mut TicketRow,
    body: &str,
    internal: bool,
    ts: PrimitiveDateTime,
) -> Result<TicketComment> {
    let row: CommentRow = diesel::insert_into(ticket_comments::table)
        .values((
            ticket_comments::ticket_id.eq(t.id),
            ticket_comments::body.eq(body.trim()),
            ticket_comments::internal.eq(internal),
            ticket_comments::author.eq(caller.principal.actor_key()),
            ticket_comments::author_name.eq(&caller.principal.name),
            ticket_comments::created_at.eq(ts),
        ))
        .returning(ticket_comments::all_columns)
        .get_result(conn)?;
    if !internal && t.first_responded_at.is_none() && caller.has(Permission::TicketsWork) {
        t.first_responded_at = Some(ts);
        t.sla_next_at = sla::next_check(t);
    }
    Ok(row.to_model())
}

/// Adds a comment; the ticket's version goes up when the comment meets the first
/// response. Closed tickets take no comments (409 `ticket_closed`).
pub fn comment(conn: &mut DbConnection, caller: &Caller, id: i64, c: CommentCreate) -> Result<TicketComment> {
    caller.require(Permission::TicketsOpen)?;
    let current = find_for_update(conn, caller, id, None)?;
    if current.category() == StageCategory::Closed {
        return Err(DomainError::conflict("ticket_closed", format!("ticket {} is closed", current.number)));
    }
    let (mut t, ts) = (current.clone(), now());
    let v = add_comment(conn, caller, &mut t, &c.body, c.internal, ts)?;
    if t.first_responded_at != current.first_responded_at {
        t.version += 1;
        t.updated_at = ts;
        save(conn, &t, current.version)?;
    }
    audit::record(
        conn,
        caller,
        ENTITY,
        id,
        "comment",
        &serde_json::json!({ "comment_id": v.id, "internal": v.internal }),
    )?;
    Ok(v)
}

pub fn comments(conn: &mut DbConnection, caller: &Caller, id: i64, page: &PageRequest) -> Result<Page<TicketComment>> {
    read(caller)?;
    find(conn, caller, id)?;
    let q =
        ticket_comments::table.filter(ticket_comments::ticket_id.eq(id)).select(CommentRow::as_select()).into_boxed();
    let rows = ordo_db::keyset_page!(conn, q, page, ticket_comments::id => |r: &CommentRow| r.id);
    Ok(rows.map(|r| r.to_model()))
}

// ---- return ------------------------------------------------------------------------

/// `POST /tickets/{id}/return`: the goods a complaint is about come back.
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketReturn {
    /// Default: the ticket's delivery.
    #[serde(default)]
    pub delivery_id: Option<i64>,
    /// Default: the ticket's number and subject.
    #[serde(default)]
    #[validate(length(min = 1, max = 500))]
    #[schema(min_length = 1, max_length = 500)]
    pub reason: Option<String>,
    pub condition: ordo_fulfillment::deliveries::ReturnCondition,
    #[validate(length(min = 1, max = 200), nested)]
    #[schema(min_items = 1, max_items = 200)]
    pub lines: Vec<ordo_fulfillment::deliveries::ReturnLineInput>,
}

/// Authorises a return for a complaint (one per ticket: 409 `return_exists`; only
/// complaints: 422 `not_a_complaint`). The return's credit note is then made by
/// billing (`POST /returns/{id}/credit-note`) and shows on the ticket.
pub fn make_return(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    r: TicketReturn,
) -> Result<Ticket> {
    caller.require(Permission::TicketsWork)?;
    let current = find_for_update(conn, caller, id, if_match)?;
    if current.kind != TicketKind::Complaint.as_str() {
        return Err(DomainError::rule("not_a_complaint", format!("ticket {} is not a complaint", current.number)));
    }
    if let Some(ret) = current.return_id {
        return Err(DomainError::conflict(
            "return_exists",
            format!("ticket {} already has return {ret}", current.number),
        ));
    }
    if !current.is_open {
        return Err(DomainError::conflict("ticket_resolved", format!("ticket {} is not open", current.number)));
    }
    let Some(delivery_id) = r.delivery_id.or(current.delivery_id) else {
        return Err(DomainError::field("delivery_id", "required", "the ticket names no delivery: say which"));
    };
    if linked_customer!(conn, caller, deliveries, delivery_id).is_some_and(|c| c != current.customer_id) {
        return Err(DomainError::Rule {
            code: "customer_mismatch",
            detail: "the delivery belongs to another customer".into(),
            errors: vec![FieldError::new(
                "delivery_id",
                "customer_mismatch",
                "not a delivery of the ticket's customer",
            )],
        });
    }
    let ret = ordo_fulfillment::deliveries::create_return(
        conn,
        caller,
        ordo_fulfillment::deliveries::ReturnCreate {
            delivery_id,
            reason: r.reason.unwrap_or_else(|| {
                let s = format!("{}: {}", current.number, current.subject);
                s.chars().take(500).collect()
            }),
            condition: r.condition,
            lines: r.lines,
        },
    )?;
    let mut t = current.clone();
    t.return_id = Some(ret.id);
    t.delivery_id = Some(delivery_id);
    finish(conn, caller, current, t, "return")
}

// ---- scoring -----------------------------------------------------------------------

/// Which tickets to rescore.
pub enum Rescore<'a> {
    AllOpen,
    Customer(i64),
    Item(i64),
    /// One ticket in hand (its score is set on the row, not saved).
    One(&'a mut TicketRow),
}

/// The weights given, else the stored ones.
fn weights<'a>(
    conn: &mut DbConnection,
    given: Option<&'a TicketScoring>,
) -> Result<std::borrow::Cow<'a, TicketScoring>> {
    Ok(match given {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(settings::scoring(conn)?),
    })
}

/// Recomputes scores: one query for the inputs, one update per distinct new score.
/// Without `scoring` the stored weights are read, and only when a ticket is affected
/// (a customer or item without open tickets costs one statement).
pub fn rescore(conn: &mut DbConnection, scoring: Option<&TicketScoring>, which: Rescore) -> Result<usize> {
    let mut q = tickets::table
        .inner_join(customers::table.on(customers::id.eq(tickets::customer_id)))
        .left_join(items::table.on(items::id.nullable().eq(tickets::item_id)))
        .filter(tickets::is_open.eq(true))
        .select((
            tickets::id,
            tickets::score,
            tickets::priority,
            tickets::kind,
            tickets::category_id,
            customers::customer_group_id,
            items::item_group_id.nullable(),
            items::kind.nullable(),
        ))
        .into_boxed();
    match which {
        Rescore::AllOpen => {}
        Rescore::Customer(c) => q = q.filter(tickets::customer_id.eq(c)),
        Rescore::Item(i) => q = q.filter(tickets::item_id.eq(i)),
        Rescore::One(t) => {
            let group: Option<i64> =
                customers::table.find(t.customer_id).select(customers::customer_group_id).first(conn)?;
            let (ig, ik) = match t.item_id {
                Some(i) => items::table
                    .find(i)
                    .select((items::item_group_id, items::kind))
                    .first(conn)
                    .map(|(g, k)| (g, Some(k)))?,
                None => (None, None),
            };
            let ctx = Context { customer_group_id: group, item_group_id: ig, item_kind: ik };
            t.score = score_of(&*weights(conn, scoring)?, t, &ctx);
            return Ok(1);
        }
    }
    #[allow(clippy::type_complexity)]
    let rows: Vec<(i64, i32, String, String, Option<i64>, Option<i64>, Option<i64>, Option<String>)> = q.load(conn)?;
    if rows.is_empty() {
        return Ok(0);
    }
    let scoring = weights(conn, scoring)?;
    let mut by_score: std::collections::BTreeMap<i32, Vec<i64>> = Default::default();
    for (id, old, priority, kind, category_id, customer_group_id, item_group_id, item_kind) in rows {
        let s = scoring.score(&ScoreInputs {
            priority: Some(Priority::parse(&priority)),
            kind: &kind,
            customer_group_id,
            item_group_id,
            item_kind: item_kind.as_deref(),
            category_id,
        });
        if s != old {
            by_score.entry(s).or_default().push(id);
        }
    }
    let mut n = 0;
    for (s, ids) in by_score {
        for chunk in ids.chunks(500) {
            n += diesel::update(tickets::table.filter(tickets::id.eq_any(chunk)))
                .set(tickets::score.eq(s))
                .execute(conn)?;
        }
    }
    Ok(n)
}

// ---- read model ----------------------------------------------------------------------

pub(crate) fn model_of(conn: &mut DbConnection, t: TicketRow) -> Result<Ticket> {
    models(conn, vec![t])?.pop().ok_or_else(|| DomainError::Internal("ticket model".into()))
}

/// id, number, status.
type DocRow = (i64, String, String);
/// id, number, status, return id.
type CreditRow = (i64, String, String, Option<i64>);

/// The read models of a page of tickets: a fixed number of queries, whatever the page size.
pub fn models(conn: &mut DbConnection, rows: Vec<TicketRow>) -> Result<Vec<Ticket>> {
    if rows.is_empty() {
        return Ok(vec![]);
    }
    let desk = settings::desk(conn)?;
    let clock = desk.clock(conn)?;
    let ids: Vec<i64> = rows.iter().map(|t| t.id).collect();
    let policy_ids: Vec<i64> = rows.iter().filter_map(|t| t.sla_policy_id).collect();
    let return_ids: Vec<i64> = rows.iter().filter_map(|t| t.return_id).collect();
    let policies: Vec<SlaPolicyRow> = if policy_ids.is_empty() {
        vec![]
    } else {
        sla_policies::table.filter(sla_policies::id.eq_any(&policy_ids)).select(SlaPolicyRow::as_select()).load(conn)?
    };
    let escalations: Vec<(i64, String, String, String, PrimitiveDateTime)> = ticket_escalations::table
        .filter(ticket_escalations::ticket_id.eq_any(&ids))
        .order(ticket_escalations::id.asc())
        .select((
            ticket_escalations::ticket_id,
            ticket_escalations::target,
            ticket_escalations::level,
            ticket_escalations::actions,
            ticket_escalations::at,
        ))
        .load(conn)?;
    let (rets, credits): (Vec<DocRow>, Vec<CreditRow>) = if return_ids.is_empty() {
        (vec![], vec![])
    } else {
        (
            returns::table
                .filter(returns::id.eq_any(&return_ids))
                .select((returns::id, returns::number, returns::status))
                .load(conn)?,
            invoices::table
                .filter(invoices::return_id.eq_any(&return_ids))
                .filter(invoices::kind.eq("credit_note"))
                .order(invoices::id.asc())
                .select((invoices::id, invoices::number, invoices::status, invoices::return_id))
                .load(conn)?,
        )
    };
    let ts = now();
    Ok(rows
        .into_iter()
        .map(|t| {
            let p = t.sla_policy_id.and_then(|id| policies.iter().find(|p| p.id == id));
            let doc = |(id, number, status): &(i64, String, String)| TicketDocRef {
                id: *id,
                number: number.clone(),
                status: status.clone(),
            };
            Ticket {
                id: t.id,
                number: t.number.clone(),
                customer_id: t.customer_id,
                contact_id: t.contact_id,
                kind: TicketKind::parse(&t.kind),
                subject: t.subject.clone(),
                description: t.description.clone(),
                item_id: t.item_id,
                sales_order_id: t.sales_order_id,
                delivery_id: t.delivery_id,
                invoice_id: t.invoice_id,
                category_id: t.category_id,
                impact: Level::parse(&t.impact),
                urgency: Level::parse(&t.urgency),
                priority: Priority::parse(&t.priority),
                priority_source: if t.priority_set_by_hand { PrioritySource::Manual } else { PrioritySource::Matrix },
                stage: t.stage.clone(),
                state: t.category(),
                assignee_id: t.assignee_id,
                team_id: t.team_id,
                score: t.score,
                sla: sla::view(&t, p, &clock, ts),
                resolved_at: t.resolved_at.map(|d| d.assume_utc()),
                closed_at: t.closed_at.map(|d| d.assume_utc()),
                reopen_until: t
                    .resolved_at
                    .filter(|_| !t.is_open)
                    .map(|d| (d + Duration::days(desk.reopen_days.into())).assume_utc()),
                return_authorization: t.return_id.and_then(|r| rets.iter().find(|x| x.0 == r)).map(doc),
                credit_notes: credits
                    .iter()
                    .filter(|c| c.3.is_some() && c.3 == t.return_id)
                    .map(|c| doc(&(c.0, c.1.clone(), c.2.clone())))
                    .collect(),
                escalations: escalations
                    .iter()
                    .filter(|e| e.0 == t.id)
                    .map(|e| Escalation {
                        target: if e.1 == "first_response" { Target::FirstResponse } else { Target::Resolution },
                        level: if e.2 == "breached" { EscalationLevel::Breached } else { EscalationLevel::AtRisk },
                        actions: serde_json::from_str(&e.3).unwrap_or_default(),
                        at: e.4.assume_utc(),
                    })
                    .collect(),
                version: t.version,
                created_by: t.created_by.clone(),
                created_at: t.created_at.assume_utc(),
                updated_at: t.updated_at.assume_utc(),
            }
        })
        .collect())
}
