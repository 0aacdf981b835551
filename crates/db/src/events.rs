//! The outbox. A business transaction that should tell someone records an event row
//! in the same database transaction ([`emit`]): a rolled-back change emits nothing, a
//! committed one is never lost. Webhook deliveries and `GET /events` read from here.

use crate::schema::{customers, events};
use crate::DbConnection;
use diesel::prelude::*;
use ordo_core::{Caller, DomainError, Page, PageRequest, Permission, Result, Scope};
use serde::Serialize;
use time::{OffsetDateTime, PrimitiveDateTime};

/// Every event type Ordo emits, with what it reports. The payload (`data`) is the
/// subject as the API returns it at that moment.
pub const EVENT_TYPES: &[(&str, &str)] = &[
    ("customer.created", "a customer was created (data: the Customer)"),
    ("quotation.sent", "a quotation was sent (data: the Quotation)"),
    ("sales_order.confirmed", "a sales order was confirmed (data: the SalesOrder)"),
    ("sales_order.cancelled", "a sales order was cancelled (data: the SalesOrder)"),
    ("delivery.shipped", "a delivery was shipped (data: the Delivery)"),
    ("invoice.posted", "an invoice or credit note was posted (data: the Invoice)"),
    ("ticket.created", "a service ticket was opened (data: the Ticket)"),
    (
        "ticket.sla_at_risk",
        "a ticket's SLA target (first response or resolution) is at risk, once per target; see the ticket's `escalations` (data: the Ticket)",
    ),
    ("ticket.sla_breached", "a ticket's SLA target was breached, once per target (data: the Ticket)"),
    ("payment.received", "a payment was recorded (data: the Payment)"),
    (
        "credit_limit.exceeded",
        "a step was refused because it would take a customer over its credit or obligo limit; written after the refusal rolled back (data: customer_id, account_id, limit `credit` or `obligo`, limit_amount, exposure, adding, detail)",
    ),
];

/// The schema version of every payload; raised when a payload changes incompatibly.
pub const EVENT_VERSION: i32 = 1;

pub fn known_type(t: &str) -> bool {
    EVENT_TYPES.iter().any(|(k, _)| *k == t)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = events)]
pub struct EventRow {
    pub id: i64,
    pub event_id: String,
    pub event_type: String,
    pub version: i32,
    pub subject_kind: String,
    pub subject_id: i64,
    pub customer_id: Option<i64>,
    pub payload: String,
    pub actor: String,
    pub created_at: PrimitiveDateTime,
}

/// What an event is about.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventSubject {
    /// `customer`, `quotation`, `sales_order`, `delivery`, `invoice`, `payment`.
    pub kind: String,
    pub id: i64,
}

/// One business event, as `GET /events` lists it and webhooks deliver it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Event {
    /// The event's id (`evt_…`): the same in every delivery and replay, so receivers
    /// can drop duplicates by it.
    pub id: String,
    /// Position in the feed: `GET /events` pages in this order.
    pub sequence: i64,
    #[serde(rename = "type")]
    pub event_type: String,
    /// Payload schema version.
    pub version: i32,
    pub subject: EventSubject,
    pub customer_id: Option<i64>,
    /// The subject as the API returned it when the event happened.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// `user:<id>`, `client:<id>` or `system`.
    pub actor: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl EventRow {
    pub fn to_model(&self) -> Event {
        Event {
            id: self.event_id.clone(),
            sequence: self.id,
            event_type: self.event_type.clone(),
            version: self.version,
            subject: EventSubject { kind: self.subject_kind.clone(), id: self.subject_id },
            customer_id: self.customer_id,
            data: serde_json::from_str(&self.payload).unwrap_or(serde_json::Value::Null),
            actor: self.actor.clone(),
            created_at: self.created_at.assume_utc(),
        }
    }
}

/// Records an event in the caller's transaction. `subject` is `(kind, id)`;
/// `customer_id` scopes it for agents.
pub fn emit<T: Serialize>(
    conn: &mut DbConnection,
    caller: &Caller,
    event_type: &'static str,
    subject: (&str, i64),
    customer_id: Option<i64>,
    data: &T,
) -> Result<()> {
    debug_assert!(known_type(event_type), "unlisted event type {event_type}");
    diesel::insert_into(events::table)
        .values((
            events::event_id.eq(format!("evt_{}", uuid::Uuid::new_v4().simple())),
            events::event_type.eq(event_type),
            events::version.eq(EVENT_VERSION),
            events::subject_kind.eq(subject.0),
            events::subject_id.eq(subject.1),
            events::customer_id.eq(customer_id),
            events::payload.eq(serde_json::to_string(data).unwrap_or_else(|_| "null".into())),
            events::actor.eq(caller.principal.actor_key()),
            events::created_at.eq(ordo_core::time_util::now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// An event of a refusal, written after its transaction rolled back.
pub(crate) struct Refusal {
    event_type: &'static str,
    subject: (String, i64),
    customer_id: Option<i64>,
    payload: String,
}

thread_local! {
    /// Refusals of the transaction running on this thread (one at a time per thread).
    static REFUSALS: std::cell::RefCell<Vec<Refusal>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Records an event about a refusal: the refusing request rolls back, so the event is
/// written in its own transaction right after (`conn::transaction`); a transaction that
/// commits after all drops it (the refusal was not final).
pub fn on_rollback<T: Serialize>(event_type: &'static str, subject: (&str, i64), customer_id: Option<i64>, data: &T) {
    debug_assert!(known_type(event_type), "unlisted event type {event_type}");
    let payload = serde_json::to_string(data).unwrap_or_else(|_| "null".into());
    REFUSALS.with(|r| {
        r.borrow_mut().push(Refusal { event_type, subject: (subject.0.to_string(), subject.1), customer_id, payload })
    });
}

/// Takes the refusals recorded so far on this thread.
pub(crate) fn take_refusals() -> Vec<Refusal> {
    REFUSALS.with(|r| std::mem::take(&mut *r.borrow_mut()))
}

/// Writes refusals after a rollback, each in its own transaction; a failure is logged,
/// never turned into the request's answer.
pub(crate) fn write_refusals(conn: &mut DbConnection, refusals: Vec<Refusal>) {
    for r in refusals {
        let written = crate::conn::transaction(conn, |c| {
            diesel::insert_into(events::table)
                .values((
                    events::event_id.eq(format!("evt_{}", uuid::Uuid::new_v4().simple())),
                    events::event_type.eq(r.event_type),
                    events::version.eq(EVENT_VERSION),
                    events::subject_kind.eq(&r.subject.0),
                    events::subject_id.eq(r.subject.1),
                    events::customer_id.eq(r.customer_id),
                    events::payload.eq(&r.payload),
                    events::actor.eq(Caller::system().principal.actor_key()),
                    events::created_at.eq(ordo_core::time_util::now()),
                ))
                .execute(c)?;
            Ok(())
        });
        if let Err(e) = written {
            tracing::warn!("event {} after a refusal not written: {e}", r.event_type);
        }
    }
}

/// `GET /events` filters.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Any of these types.
    pub types: Vec<String>,
    /// Events after this sequence number (what a client saw last).
    pub after: Option<i64>,
    pub since: Option<OffsetDateTime>,
    pub customer_id: Option<i64>,
}

/// The feed in order (oldest first), cursor-paged; an agent sees their customers'
/// events only.
pub fn list(conn: &mut DbConnection, caller: &Caller, f: &Filter, page: &PageRequest) -> Result<Page<Event>> {
    caller.require(Permission::EventsRead)?;
    if let Some(t) = f.types.iter().find(|t| !known_type(t)) {
        return Err(DomainError::field("type", "unknown", format!("no event type {t:?}")));
    }
    let build = || {
        let mut q = events::table.select(EventRow::as_select()).into_boxed();
        if let Scope::OwnCustomers(me) = caller.scope() {
            q = q.filter(
                events::customer_id
                    .assume_not_null()
                    .eq_any(customers::table.filter(customers::owner_id.eq(me)).select(customers::id)),
            );
        }
        if !f.types.is_empty() {
            q = q.filter(events::event_type.eq_any(f.types.clone()));
        }
        if let Some(a) = f.after {
            q = q.filter(events::id.gt(a));
        }
        if let Some(s) = f.since {
            q = q.filter(events::created_at.ge(ordo_core::time_util::from_offset(s)));
        }
        if let Some(c) = f.customer_id {
            q = q.filter(events::customer_id.eq(c));
        }
        q
    };
    let total = crate::total!(conn, page, build());
    let mut rows = crate::keyset_page!(conn, build(), page, events::id => |r: &EventRow| r.id);
    rows.total = total;
    Ok(Page {
        data: rows.data.iter().map(EventRow::to_model).collect(),
        next_cursor: rows.next_cursor,
        total: rows.total,
    })
}
