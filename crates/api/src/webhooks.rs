//! Webhooks and the event feed. Business transactions write events to the outbox
//! (`ordo_db::events`); the leased `webhook_delivery` job fans new events out to the
//! subscriptions that want their type (one delivery row per event and subscription, so
//! each is sent by one process) and sends them signed per the Standard Webhooks spec
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`),
//! retrying with exponential backoff. A delivery is at least once: a receiver drops
//! duplicates by `webhook-id`, which is the event id and never changes.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpResponse};
use base64::Engine;
use diesel::prelude::*;
use hmac::{Hmac, Mac};
use ordo_core::time_util::now;
use ordo_core::util::{check_version, to_json};
use ordo_core::{Caller, DomainError, Page, PageRequest, Permission, Result as DResult};
use ordo_db::audit;
use ordo_db::events::{self, Event, EventRow};
use ordo_db::schema::{events as events_t, webhook_deliveries, webhook_subscriptions};
use ordo_db::{DbConnection, Stats};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};
use validator::Validate;

use crate::common::PageQuery;
use crate::extract::{json_response, Auth, IfMatch, ReplyMeta, StrictQuery, ValidJson};
use crate::problem::Problem;
use crate::AppState;

/// How deliveries behave (configuration).
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Allow URLs on loopback and private networks (tests, an on-premises receiver).
    pub allow_private: bool,
    /// The first retry waits this long; each next one twice as long (up to 6 hours).
    pub retry_base_seconds: i64,
    /// Per request.
    pub timeout: std::time::Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig { allow_private: false, retry_base_seconds: 10, timeout: std::time::Duration::from_secs(10) }
    }
}

/// Attempts per delivery before it fails for good (and its subscription is disabled).
const MAX_ATTEMPTS: i32 = 8;
/// Deliveries sent per job run.
const BATCH: i64 = 200;

// ---- subscriptions ---------------------------------------------------------------------------

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = webhook_subscriptions, treat_none_as_null = true)]
struct SubscriptionRow {
    #[diesel(skip_insertion)]
    id: i64,
    url: String,
    description: Option<String>,
    event_types: String,
    secret: String,
    active: bool,
    disabled_reason: Option<String>,
    consecutive_failures: i32,
    /// The last event id when the subscription was made: it gets the events after it.
    fanned_out_to: i64,
    version: i64,
    created_at: PrimitiveDateTime,
    updated_at: PrimitiveDateTime,
}

/// A webhook subscription.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Webhook {
    pub id: i64,
    pub url: String,
    pub description: Option<String>,
    /// Event types delivered (see `GET /events` for the list).
    pub event_types: Vec<String>,
    pub active: bool,
    /// Why Ordo disabled it (deliveries kept failing); cleared when re-activated.
    pub disabled_reason: Option<String>,
    pub consecutive_failures: i32,
    /// The signing secret (`whsec_…`): only in the answer to the create call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl SubscriptionRow {
    fn types(&self) -> Vec<String> {
        serde_json::from_str(&self.event_types).unwrap_or_default()
    }
    fn to_model(&self, with_secret: bool) -> Webhook {
        Webhook {
            id: self.id,
            url: self.url.clone(),
            description: self.description.clone(),
            event_types: self.types(),
            active: self.active,
            disabled_reason: self.disabled_reason.clone(),
            consecutive_failures: self.consecutive_failures,
            secret: with_secret.then(|| self.secret.clone()),
            version: self.version,
            created_at: self.created_at.assume_utc(),
            updated_at: self.updated_at.assume_utc(),
        }
    }
}

/// `POST /webhooks`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookCreate {
    /// `http` or `https`; loopback and private-network hosts are refused unless the
    /// server allows them (`ORDO_WEBHOOK_ALLOW_PRIVATE`). Redirects are not followed.
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000)]
    pub url: String,
    #[validate(length(max = 500))]
    #[schema(max_length = 500)]
    pub description: Option<String>,
    /// Event types to deliver (at least one).
    #[validate(length(min = 1, max = 50))]
    #[schema(min_items = 1, max_items = 50)]
    pub event_types: Vec<String>,
}

/// `PATCH /webhooks/{id}`: re-activating resets the failure count and the reason.
#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookPatch {
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000)]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[validate(length(max = 500))]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub description: Option<Option<String>>,
    #[validate(length(min = 1, max = 50))]
    #[schema(min_items = 1, max_items = 50)]
    pub event_types: Option<Vec<String>>,
    pub active: Option<bool>,
}

fn manage(caller: &Caller) -> DResult<()> {
    caller.require(Permission::WebhooksManage)
}

/// A URL Ordo may call: http(s), a host, no credentials in it, and — unless allowed —
/// no loopback, private, link-local or unspecified address.
fn check_url(url: &str, allow_private: bool) -> DResult<reqwest::Url> {
    let bad = |why: &str| DomainError::field("url", "unsafe_url", why.to_string());
    let u = reqwest::Url::parse(url).map_err(|_| bad("not a URL"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(bad("only http and https URLs"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(bad("no credentials in the URL: the signature authenticates Ordo"));
    }
    let host = u.host_str().ok_or_else(|| bad("the URL has no host"))?.to_ascii_lowercase();
    if !allow_private {
        let local_name = host == "localhost" || [".localhost", ".local", ".internal"].iter().any(|s| host.ends_with(s));
        let ip = host.trim_matches(|c| c == '[' || c == ']').parse::<IpAddr>().ok();
        if local_name || ip.is_some_and(private_ip) {
            return Err(bad("loopback and private-network hosts are not allowed"));
        }
    }
    Ok(u)
}

fn private_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => {
            v.is_loopback()
                || v.is_private()
                || v.is_link_local()
                || v.is_unspecified()
                || v.is_broadcast()
                || v.octets()[0] == 100 && (v.octets()[1] & 0xc0) == 64
        }
        IpAddr::V6(v) => {
            v.is_loopback()
                || v.is_unspecified()
                || (v.segments()[0] & 0xfe00) == 0xfc00
                || (v.segments()[0] & 0xffc0) == 0xfe80
                || v.to_ipv4_mapped().is_some_and(|m| private_ip(IpAddr::V4(m)))
        }
    }
}

fn check_types(field: &str, types: &[String]) -> DResult<String> {
    let mut errs = vec![];
    for (n, t) in types.iter().enumerate() {
        if !events::known_type(t) {
            errs.push(ordo_core::FieldError::new(format!("{field}[{n}]"), "unknown", format!("no event type {t:?}")));
        }
    }
    if !errs.is_empty() {
        return Err(DomainError::Validation(errs));
    }
    let mut sorted = types.to_vec();
    sorted.sort();
    sorted.dedup();
    Ok(ordo_core::util::json_text(&sorted))
}

/// A new signing secret: 32 random bytes, `whsec_` + base64.
fn new_secret() -> String {
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(key))
}

fn find(conn: &mut DbConnection, id: i64) -> DResult<SubscriptionRow> {
    webhook_subscriptions::table
        .find(id)
        .select(SubscriptionRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| DomainError::not_found("webhook", id))
}

fn create(conn: &mut DbConnection, caller: &Caller, input: WebhookCreate, cfg: &WebhookConfig) -> DResult<Webhook> {
    manage(caller)?;
    check_url(&input.url, cfg.allow_private)?;
    let types = check_types("event_types", &input.event_types)?;
    // Only events from now on: a new subscription does not receive the backlog.
    let last: Option<i64> = events_t::table.select(diesel::dsl::max(events_t::id)).first(conn)?;
    let ts = now();
    let row = SubscriptionRow {
        id: 0,
        url: input.url,
        description: input.description,
        event_types: types,
        secret: new_secret(),
        active: true,
        disabled_reason: None,
        consecutive_failures: 0,
        fanned_out_to: last.unwrap_or(0),
        version: 1,
        created_at: ts,
        updated_at: ts,
    };
    let saved: SubscriptionRow = diesel::insert_into(webhook_subscriptions::table)
        .values(&row)
        .returning(webhook_subscriptions::all_columns)
        .get_result(conn)?;
    audit::record(conn, caller, "webhook", saved.id, "create", &to_json(&saved.to_model(false)))?;
    Ok(saved.to_model(true))
}

fn update(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    p: WebhookPatch,
    cfg: &WebhookConfig,
) -> DResult<Webhook> {
    manage(caller)?;
    ordo_db::lock::rows(conn, "webhook_subscriptions", &[id])?;
    let current = find(conn, id)?;
    check_version(if_match, current.version)?;
    let mut row = current.clone();
    if let Some(u) = p.url {
        check_url(&u, cfg.allow_private)?;
        row.url = u;
    }
    if let Some(d) = p.description {
        row.description = d;
    }
    if let Some(t) = p.event_types {
        row.event_types = check_types("event_types", &t)?;
    }
    if let Some(a) = p.active {
        if a && !current.active {
            row.disabled_reason = None;
            row.consecutive_failures = 0;
        }
        row.active = a;
    }
    row.version = current.version + 1;
    row.updated_at = now();
    let saved: SubscriptionRow = ordo_db::save_versioned!(conn, webhook_subscriptions, &row, current.version)?;
    let diff = audit::diff(&to_json(&current.to_model(false)), &to_json(&saved.to_model(false)));
    audit::record(conn, caller, "webhook", id, "update", &diff)?;
    Ok(saved.to_model(false))
}

fn remove(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> DResult<()> {
    manage(caller)?;
    let current = find(conn, id)?;
    check_version(if_match, current.version)?;
    diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::subscription_id.eq(id))).execute(conn)?;
    diesel::delete(webhook_subscriptions::table.find(id)).execute(conn)?;
    audit::record(conn, caller, "webhook", id, "delete", &to_json(&current.to_model(false)))?;
    Ok(())
}

// ---- deliveries -------------------------------------------------------------------------------

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries)]
struct DeliveryRow {
    id: i64,
    subscription_id: i64,
    status: String,
    attempts: i32,
    next_attempt_at: PrimitiveDateTime,
    last_status_code: Option<i32>,
    last_error: Option<String>,
    log: String,
    delivered_at: Option<PrimitiveDateTime>,
    created_at: PrimitiveDateTime,
    updated_at: PrimitiveDateTime,
}

/// One attempt to deliver an event.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookAttempt {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The receiver's HTTP status; none when no answer came.
    pub status_code: Option<i32>,
    /// What went wrong (connection refused, timeout, a non-2xx answer).
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// An event's delivery to one subscription.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WebhookDelivery {
    pub id: i64,
    pub webhook_id: i64,
    /// The event (`evt_…`) and its type.
    pub event_id: String,
    pub event_type: String,
    /// `pending` (due at `next_attempt_at`), `delivered` or `failed` (gave up).
    pub status: String,
    pub attempts: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    /// The last attempts, oldest first (at most 20).
    pub log: Vec<WebhookAttempt>,
    #[serde(serialize_with = "ordo_core::serde_util::rfc3339_opt::serialize")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub delivered_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

fn delivery_model(d: &DeliveryRow, event_id: String, event_type: String) -> WebhookDelivery {
    WebhookDelivery {
        id: d.id,
        webhook_id: d.subscription_id,
        event_id,
        event_type,
        status: d.status.clone(),
        attempts: d.attempts,
        next_attempt_at: d.next_attempt_at.assume_utc(),
        last_status_code: d.last_status_code,
        last_error: d.last_error.clone(),
        log: serde_json::from_str(&d.log).unwrap_or_default(),
        delivered_at: d.delivered_at.map(|t| t.assume_utc()),
        created_at: d.created_at.assume_utc(),
        updated_at: d.updated_at.assume_utc(),
    }
}

fn deliveries(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    status: Option<String>,
    page: &PageRequest,
) -> DResult<Page<WebhookDelivery>> {
    manage(caller)?;
    find(conn, id)?;
    let build = || {
        let mut q = webhook_deliveries::table
            .inner_join(events_t::table.on(events_t::id.eq(webhook_deliveries::event_id)))
            .filter(webhook_deliveries::subscription_id.eq(id))
            .select((DeliveryRow::as_select(), events_t::event_id, events_t::event_type))
            .into_boxed();
        if let Some(s) = &status {
            q = q.filter(webhook_deliveries::status.eq(s.clone()));
        }
        q
    };
    let total = ordo_db::total!(conn, page, build());
    type R = (DeliveryRow, String, String);
    let mut rows = ordo_db::keyset_page!(conn, build(), page, webhook_deliveries::id => |r: &R| r.0.id);
    rows.total = total;
    Ok(rows.map(|(d, e, t)| delivery_model(&d, e, t)))
}

/// Sends an event (again) to a subscription: a new delivery, or the existing one due now.
fn replay(conn: &mut DbConnection, caller: &Caller, id: i64, event_id: &str) -> DResult<WebhookDelivery> {
    manage(caller)?;
    find(conn, id)?;
    let ev: EventRow = events_t::table
        .filter(events_t::event_id.eq(event_id))
        .select(EventRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| DomainError::reference_not_found("event", "event_id", event_id))?;
    insert_delivery(conn, id, ev.id, true)?;
    let d: DeliveryRow = webhook_deliveries::table
        .filter(webhook_deliveries::subscription_id.eq(id))
        .filter(webhook_deliveries::event_id.eq(ev.id))
        .select(DeliveryRow::as_select())
        .first(conn)?;
    audit::record(conn, caller, "webhook", id, "replay", &serde_json::json!({"event_id": event_id}))?;
    Ok(delivery_model(&d, ev.event_id, ev.event_type))
}

/// A delivery of `event` to `subscription`, due now; one per pair (a unique key, so two
/// processes fanning out the same events make one). `again`: an existing one is due
/// again from its first attempt (a replay).
fn insert_delivery(conn: &mut DbConnection, subscription: i64, event: i64, again: bool) -> DResult<usize> {
    use diesel::sql_types::{BigInt, Timestamp};
    const INSERT: &str = "INSERT INTO webhook_deliveries \
        (subscription_id, event_id, status, attempts, next_attempt_at, log, created_at, updated_at) \
        VALUES ($1, $2, 'pending', 0, $3, '[]', $3, $3) ON CONFLICT (subscription_id, event_id) ";
    let sql = if again {
        format!("{INSERT} DO UPDATE SET status = 'pending', attempts = 0, next_attempt_at = $3, updated_at = $3")
    } else {
        format!("{INSERT} DO NOTHING")
    };
    let q = diesel::sql_query(sql).bind::<BigInt, _>(subscription).bind::<BigInt, _>(event).bind::<Timestamp, _>(now());
    // SQLite numbers `$n` parameters by name: the same text and binds work on both.
    Ok(match conn {
        DbConnection::Pg(c) => q.execute(c)?,
        DbConnection::Sqlite(c) => q.execute(c)?,
    })
}

/// Makes the delivery rows of the events not fanned out yet: for each subscription
/// that wants the type and existed before the event (`fanned_out_to`, the
/// last event id when it was made). Events are flagged once fanned out, so one whose
/// transaction committed after a later id's is still found.
fn fan_out(conn: &mut DbConnection) -> DResult<usize> {
    // Inactive subscriptions too: what happens while one is off is sent when it is on.
    let subs: Vec<SubscriptionRow> = webhook_subscriptions::table.select(SubscriptionRow::as_select()).load(conn)?;
    let pending: Vec<(i64, String)> = events_t::table
        .filter(events_t::fanned_out.eq(false))
        .order(events_t::id.asc())
        .limit(1000)
        .select((events_t::id, events_t::event_type))
        .load(conn)?;
    if pending.is_empty() {
        return Ok(0);
    }
    let mut made = 0;
    for s in &subs {
        let types = s.types();
        for (event, _) in pending.iter().filter(|(id, t)| *id > s.fanned_out_to && types.contains(t)) {
            made += insert_delivery(conn, s.id, *event, false)?;
        }
    }
    let ids: Vec<i64> = pending.iter().map(|e| e.0).collect();
    diesel::update(events_t::table.filter(events_t::id.eq_any(&ids)))
        .set(events_t::fanned_out.eq(true))
        .execute(conn)?;
    Ok(made)
}

/// A due delivery with what sending it needs.
struct Due {
    delivery: DeliveryRow,
    url: String,
    secret: String,
    event: EventRow,
}

fn due(conn: &mut DbConnection) -> DResult<Vec<Due>> {
    type R = (DeliveryRow, String, String, EventRow);
    let rows: Vec<R> = webhook_deliveries::table
        .inner_join(webhook_subscriptions::table.on(webhook_subscriptions::id.eq(webhook_deliveries::subscription_id)))
        .inner_join(events_t::table.on(events_t::id.eq(webhook_deliveries::event_id)))
        .filter(webhook_deliveries::status.eq("pending"))
        .filter(webhook_deliveries::next_attempt_at.le(now()))
        .filter(webhook_subscriptions::active.eq(true))
        .order(webhook_deliveries::id.asc())
        .limit(BATCH)
        .select((
            DeliveryRow::as_select(),
            webhook_subscriptions::url,
            webhook_subscriptions::secret,
            EventRow::as_select(),
        ))
        .load(conn)?;
    Ok(rows.into_iter().map(|(delivery, url, secret, event)| Due { delivery, url, secret, event }).collect())
}

/// The Standard Webhooks signature of a message: base64 HMAC-SHA256 over
/// `{id}.{timestamp}.{body}` with the secret's key.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap_or_else(|_| secret.as_bytes().to_vec());
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

/// Checks a URL's resolved addresses right before sending (a public name may point at
/// a private address).
async fn resolves_safely(url: &reqwest::Url, allow_private: bool) -> Result<(), String> {
    if allow_private {
        return Ok(());
    }
    let host = url.host_str().unwrap_or_default().trim_matches(|c| c == '[' || c == ']').to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    let name = host.clone();
    let addrs = web::block(move || {
        std::net::ToSocketAddrs::to_socket_addrs(&(name.as_str(), port)).map(|a| a.collect::<Vec<_>>())
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("resolving {host}: {e}"))?;
    for a in addrs {
        if private_ip(a.ip()) {
            return Err(format!("{host} resolves to a private address"));
        }
    }
    Ok(())
}

async fn send(client: &reqwest::Client, cfg: &WebhookConfig, d: &Due) -> WebhookAttempt {
    let started = std::time::Instant::now();
    let at = now().assume_utc();
    let body = serde_json::to_string(&d.event.to_model()).unwrap_or_default();
    let ts = at.unix_timestamp();
    let result: Result<i32, String> = async {
        let url = check_url(&d.url, cfg.allow_private).map_err(|e| e.to_string())?;
        resolves_safely(&url, cfg.allow_private).await?;
        let r = client
            .post(url)
            .timeout(cfg.timeout)
            .header("content-type", "application/json")
            .header("user-agent", "Ordo-Webhooks/1")
            .header("webhook-id", &d.event.event_id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", sign(&d.secret, &d.event.event_id, ts, &body))
            .body(body.clone())
            .send()
            .await
            .map_err(|e| if e.is_timeout() { "timed out".to_string() } else { format!("no answer: {e}") })?;
        let code = i32::from(r.status().as_u16());
        if r.status().is_success() {
            Ok(code)
        } else {
            Err(format!("HTTP {code}"))
        }
    }
    .await;
    let (status_code, error) = match result {
        Ok(code) => (Some(code), None),
        Err(e) => (e.strip_prefix("HTTP ").and_then(|c| c.parse().ok()), Some(e)),
    };
    WebhookAttempt { at, status_code, error, duration_ms: started.elapsed().as_millis() as i64 }
}

/// Records an attempt: delivered, due again after the backoff, or failed for good (which
/// disables the subscription with the reason).
fn record(conn: &mut DbConnection, d: &Due, a: &WebhookAttempt, retry_base: i64) -> DResult<bool> {
    let log = crate::jobs::log_with(&d.delivery.log, a.clone());
    let attempts = d.delivery.attempts + 1;
    let ts = now();
    let ok = a.error.is_none();
    let (status, next) = if ok {
        ("delivered", ts)
    } else if attempts >= MAX_ATTEMPTS {
        ("failed", ts)
    } else {
        let wait = retry_base.saturating_mul(1i64 << (attempts - 1).min(20)).min(6 * 3600);
        ("pending", ts + Duration::seconds(wait))
    };
    diesel::update(webhook_deliveries::table.find(d.delivery.id))
        .set((
            webhook_deliveries::status.eq(status),
            webhook_deliveries::attempts.eq(attempts),
            webhook_deliveries::next_attempt_at.eq(next),
            webhook_deliveries::last_status_code.eq(a.status_code),
            webhook_deliveries::last_error.eq(a.error.clone()),
            webhook_deliveries::log.eq(&log),
            webhook_deliveries::delivered_at.eq(ok.then_some(ts)),
            webhook_deliveries::updated_at.eq(ts),
        ))
        .execute(conn)?;
    let sub = webhook_subscriptions::table.find(d.delivery.subscription_id);
    if ok {
        diesel::update(sub).set(webhook_subscriptions::consecutive_failures.eq(0)).execute(conn)?;
    } else if status == "failed" {
        let reason = format!(
            "event {} failed {attempts} times (last: {}); re-activate once the receiver works",
            d.event.event_id,
            a.error.as_deref().unwrap_or("?")
        );
        diesel::update(sub)
            .set((
                webhook_subscriptions::active.eq(false),
                webhook_subscriptions::disabled_reason.eq(reason),
                webhook_subscriptions::consecutive_failures.eq(webhook_subscriptions::consecutive_failures + 1),
            ))
            .execute(conn)?;
    } else {
        diesel::update(sub)
            .set(webhook_subscriptions::consecutive_failures.eq(webhook_subscriptions::consecutive_failures + 1))
            .execute(conn)?;
    }
    Ok(ok)
}

/// The process's HTTP client for outgoing calls (webhook deliveries, an identity
/// provider's keys): no redirects (a receiver cannot send Ordo elsewhere), TLS through
/// rustls with the ring provider and the platform's roots. Each request sets its own
/// timeout.
pub(crate) fn outgoing_client() -> Result<reqwest::Client, String> {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c.clone());
    }
    // Fails only when a provider is installed already, which is what is wanted.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let c =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().map_err(|e| e.to_string())?;
    Ok(CLIENT.get_or_init(|| c).clone())
}

/// The `webhook_delivery` job: fan out, send what is due, record the outcomes.
pub async fn deliver_due(state: &web::Data<AppState>) -> Result<String, String> {
    let st = state.clone();
    let (made, due) = web::block(move || {
        st.db.write(&Stats::default(), |c| {
            let made = fan_out(c)?;
            Ok((made, due(c)?))
        })
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    let cfg = state.config.webhooks.clone();
    let client = outgoing_client()?;
    let mut outcomes = Vec::with_capacity(due.len());
    for d in due {
        let a = send(&client, &cfg, &d).await;
        outcomes.push((d, a));
    }
    let base = cfg.retry_base_seconds;
    let (sent, failed) = crate::jobs::record_outcomes(state, outcomes, move |c, (d, a)| record(c, d, a, base)).await?;
    Ok(format!("{made} delivery(ies) made, {sent} sent, {failed} failed"))
}

// ---- endpoints ---------------------------------------------------------------------------------

/// Subscribe a URL to event types. The answer carries the signing secret once; verify
/// each delivery's `webhook-signature` with it (Standard Webhooks).
#[utoipa::path(tag = "webhooks", operation_id = "createWebhook", request_body = WebhookCreate,
    responses((status = 201, description = "Created, with its secret", body = Webhook, headers(("ETag" = String), ("Location" = String)))))]
#[post("/webhooks")]
pub async fn create_webhook(auth: Auth, body: ValidJson<WebhookCreate>) -> Result<HttpResponse, Problem> {
    let (input, cfg) = (body.0, auth.db_state().config.webhooks.clone());
    auth.post(
        StatusCode::CREATED,
        move |c, caller| create(c, caller, input, &cfg),
        |v: &Webhook| ReplyMeta { location: Some(format!("/api/v1/webhooks/{}", v.id)), version: Some(v.version) },
    )
    .await
}

/// Every subscription (admin).
#[utoipa::path(tag = "webhooks", operation_id = "listWebhooks", params(PageQuery),
    responses((status = 200, description = "A page", body = Page<Webhook>)))]
#[get("/webhooks")]
pub async fn list_webhooks(auth: Auth, q: StrictQuery<PageQuery>) -> Result<HttpResponse, Problem> {
    let page = q.0.page()?;
    auth.list(page, |c, caller, page| {
        manage(caller)?;
        let rows = ordo_db::keyset_page!(c, webhook_subscriptions::table.select(SubscriptionRow::as_select()).into_boxed(),
            page, webhook_subscriptions::id => |r: &SubscriptionRow| r.id);
        Ok(rows.map(|r| r.to_model(false)))
    })
    .await
}

/// A subscription (without its secret).
#[utoipa::path(tag = "webhooks", operation_id = "getWebhook", params(("id" = i64, Path, description = "Id")),
    responses((status = 200, description = "Found", body = Webhook, headers(("ETag" = String)))))]
#[get("/webhooks/{id}")]
pub async fn get_webhook(auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    let v = auth
        .read(move |c, caller| {
            manage(caller)?;
            Ok(find(c, id)?.to_model(false))
        })
        .await?;
    Ok(json_response(StatusCode::OK, &v, Some(v.version)))
}

/// Change the URL, types or description; `active: true` re-activates a subscription
/// Ordo disabled (its failure count and reason are cleared).
#[utoipa::path(tag = "webhooks", operation_id = "updateWebhook", params(("id" = i64, Path, description = "Id")),
    request_body(content = WebhookPatch, content_type = "application/merge-patch+json"),
    responses((status = 200, description = "Updated", body = Webhook, headers(("ETag" = String)))))]
#[patch("/webhooks/{id}")]
pub async fn update_webhook(
    auth: Auth,
    id: web::Path<i64>,
    if_match: IfMatch,
    body: ValidJson<WebhookPatch>,
) -> Result<HttpResponse, Problem> {
    let (id, p, cfg) = (id.into_inner(), body.0, auth.db_state().config.webhooks.clone());
    let v = auth.write(move |c, caller| update(c, caller, id, if_match.0, p, &cfg)).await?;
    Ok(json_response(StatusCode::OK, &v, Some(v.version)))
}

/// Delete a subscription and its delivery log.
#[utoipa::path(tag = "webhooks", operation_id = "deleteWebhook", params(("id" = i64, Path, description = "Id")),
    responses((status = 204, description = "Deleted")))]
#[delete("/webhooks/{id}")]
pub async fn delete_webhook(auth: Auth, id: web::Path<i64>, if_match: IfMatch) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    auth.write(move |c, caller| remove(c, caller, id, if_match.0)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// `pending`, `delivered` or `failed`.
    pub status: Option<WebhookDeliveryStatus>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookDeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

/// A subscription's deliveries with their attempt log, oldest first.
#[utoipa::path(tag = "webhooks", operation_id = "listWebhookDeliveries",
    params(("id" = i64, Path, description = "Id"), DeliveryQuery),
    responses((status = 200, description = "A page", body = Page<WebhookDelivery>)))]
#[get("/webhooks/{id}/deliveries")]
pub async fn list_webhook_deliveries(
    auth: Auth,
    id: web::Path<i64>,
    q: StrictQuery<DeliveryQuery>,
) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    let page = crate::common::page(q.0.limit, q.0.cursor.as_deref())?;
    let status = q.0.status.map(|s| match s {
        WebhookDeliveryStatus::Pending => "pending".to_string(),
        WebhookDeliveryStatus::Delivered => "delivered".to_string(),
        WebhookDeliveryStatus::Failed => "failed".to_string(),
    });
    auth.list(page, move |c, caller, page| deliveries(c, caller, id, status.clone(), page)).await
}

/// `POST /webhooks/{id}/replay`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// The event to send again (`evt_…`).
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub event_id: String,
}

/// Send an event to this subscription again (with the same `webhook-id`), e.g. after
/// the receiver lost it: due at the next delivery run.
#[utoipa::path(tag = "webhooks", operation_id = "replayWebhookEvent", params(("id" = i64, Path, description = "Id")),
    request_body = ReplayRequest,
    responses((status = 200, description = "The delivery, due now", body = WebhookDelivery)))]
#[post("/webhooks/{id}/replay")]
pub async fn replay_event(
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<ReplayRequest>,
) -> Result<HttpResponse, Problem> {
    let (id, e) = (id.into_inner(), body.0.event_id);
    let v = auth.write(move |c, caller| replay(c, caller, id, &e)).await?;
    Ok(json_response(StatusCode::OK, &v, None))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Event types, comma-separated.
    #[serde(default, deserialize_with = "ordo_core::expand::comma_list")]
    #[param(value_type = Option<String>)]
    pub r#type: Vec<String>,
    /// Events after this `sequence` (the last one a client has seen).
    pub after: Option<i64>,
    /// Events at or after this time.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    pub since: Option<OffsetDateTime>,
    pub customer_id: Option<i64>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// The event feed, oldest first, for clients that catch up without webhooks: each event
/// with its id, type, payload version and the subject as the API returned it then. An
/// agent sees their customers' events. Types: `customer.created`, `quotation.sent`,
/// `sales_order.confirmed`, `sales_order.cancelled`, `delivery.shipped`,
/// `invoice.posted`, `payment.received`, and `credit_limit.exceeded` (a step refused over
/// a credit or obligo limit: written after the refusal rolled back).
#[utoipa::path(tag = "webhooks", operation_id = "listEvents", params(EventQuery),
    responses((status = 200, description = "A page", body = Page<Event>)))]
#[get("/events")]
pub async fn list_events(auth: Auth, q: StrictQuery<EventQuery>) -> Result<HttpResponse, Problem> {
    let q = q.0;
    let page = crate::common::page(q.limit, q.cursor.as_deref())?;
    let f = events::Filter { types: q.r#type, after: q.after, since: q.since, customer_id: q.customer_id };
    auth.list(page, move |c, caller, page| events::list(c, caller, &f, page)).await
}

pub fn routes(cfg: &mut crate::routing::Routes) {
    cfg.service(create_webhook)
        .service(list_webhooks)
        .service(get_webhook)
        .service(update_webhook)
        .service(delete_webhook)
        .service(list_webhook_deliveries)
        .service(replay_event)
        .service(list_events);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn private_and_odd_targets_are_refused_unless_allowed() {
        for bad in [
            "http://127.0.0.1/x",
            "http://localhost:8080/x",
            "http://10.1.2.3/x",
            "http://192.168.0.1/x",
            "http://172.16.5.4/x",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/x",
            "http://[fd00::1]/x",
            "http://[::ffff:127.0.0.1]/x",
            "http://0.0.0.0/x",
            "http://100.64.0.1/x",
            "http://printer.local/x",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad} must be refused");
            assert!(check_url(bad, true).is_ok(), "{bad} is allowed when configured");
        }
        for never in ["ftp://example.com/x", "http://user:pw@example.com/x", "not a url", "file:///etc/passwd"] {
            assert!(check_url(never, true).is_err(), "{never}");
        }
        assert!(check_url("https://hooks.example.com/ordo?x=1", false).is_ok());
    }
}
