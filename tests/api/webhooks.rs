//! Events and webhooks against a real receiver the test starts on 127.0.0.1: signed
//! per Standard Webhooks (checked here with an independent HMAC), every event arriving
//! once by id after the receiver was down, retries, replay, a failing receiver
//! disabling its subscription, rolled-back changes emitting nothing, and the event
//! feed scoped to an agent's customers.

use crate::on_both_backends;
use crate::support::{id, ok, TestApp};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

on_both_backends!(webhooks_deliver_signed_events_once, events_feed_is_scoped_and_transactional);

#[derive(Clone, Debug)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

/// A webhook receiver: records what it gets and answers `status` (200 by default).
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
    handle: Option<actix_web::dev::ServerHandle>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut r = Receiver { port, got: Default::default(), status: Arc::new(AtomicU16::new(200)), handle: None };
        r.serve(Some(listener));
        r
    }
    fn serve(&mut self, listener: Option<std::net::TcpListener>) {
        let (got, status) = (self.got.clone(), self.status.clone());
        let server = HttpServer::new(move || {
            let (got, status) = (got.clone(), status.clone());
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let (got, status) = (got.clone(), status.clone());
                async move {
                    let h = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                    got.lock().unwrap().push(Received {
                        id: h("webhook-id"),
                        timestamp: h("webhook-timestamp"),
                        signature: h("webhook-signature"),
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    let code = actix_web::http::StatusCode::from_u16(status.load(Ordering::SeqCst)).unwrap();
                    HttpResponse::build(code).finish()
                }
            }))
        })
        .workers(1)
        .disable_signals();
        let server = match listener {
            Some(l) => server.listen(l),
            None => server.bind(("127.0.0.1", self.port)),
        }
        .unwrap()
        .run();
        self.handle = Some(server.handle());
        actix_web::rt::spawn(server);
    }
    async fn stop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.stop(true).await;
        }
    }
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }
    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

/// Standard Webhooks verification, written here independently of Ordo's code.
fn verify(secret: &str, r: &Received) {
    let key = base64::engine::general_purpose::STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.{}", r.id, r.timestamp, r.body).as_bytes());
    let expected = format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()));
    assert!(r.signature.split(' ').any(|s| s == expected), "bad signature {} for {}", r.signature, r.id);
    let ts: i64 = r.timestamp.parse().unwrap();
    assert!((time::OffsetDateTime::now_utc().unix_timestamp() - ts).abs() < 300, "timestamp {ts}");
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["id"], r.id.as_str(), "the webhook-id is the event id");
}

async fn deliver(app: &TestApp) -> Value {
    ok(app.post("/api/v1/jobs/webhook_delivery/run", &app.admin_token, json!({})).await)
}

async fn customer(app: &TestApp, token: &str, name: &str) -> i64 {
    id(app.post("/api/v1/customers", token, json!({"name": name, "currency": "EUR"})).await)
}

async fn webhooks_deliver_signed_events_once(app: TestApp) {
    let t = &app.admin_token;
    let mut rx = Receiver::start().await;
    // Bad subscriptions are refused and store nothing.
    let bad = app
        .post("/api/v1/webhooks", t, json!({"url": "ftp://example.com/x", "event_types": ["customer.created"]}))
        .await;
    assert_eq!((bad.status.as_u16(), bad.error_fields()), (422, vec!["url".to_string()]), "{}", bad.body);
    let bad =
        app.post("/api/v1/webhooks", t, json!({"url": rx.url(), "event_types": ["customer.created", "nope"]})).await;
    assert_eq!((bad.status.as_u16(), bad.error_fields()), (422, vec!["event_types[1]".to_string()]), "{}", bad.body);
    app.post("/api/v1/webhooks", t, json!({"url": rx.url(), "event_types": []}))
        .await
        .problem(422, "validation_failed");
    let (_, agent) = app.user("anna", &["sales_agent"]).await;
    app.post("/api/v1/webhooks", &agent, json!({"url": rx.url(), "event_types": ["customer.created"]}))
        .await
        .problem(403, "forbidden");
    assert!(ok(app.get("/api/v1/webhooks", t).await)["data"].as_array().unwrap().is_empty());
    // A customer created before the subscription is not delivered to it.
    customer(&app, t, "Before").await;
    let hook = ok(app
        .post(
            "/api/v1/webhooks",
            t,
            json!({"url": rx.url(), "description": "CRM sync", "event_types": ["customer.created", "payment.received"]}),
        )
        .await);
    let hid = hook["id"].as_i64().unwrap();
    let secret = hook["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    assert!(
        ok(app.get(&format!("/api/v1/webhooks/{hid}"), t).await).get("secret").is_none(),
        "the secret is shown once"
    );
    let first = customer(&app, t, "Alpha").await;
    // An event type the subscription does not want is not sent.
    ok(app.post("/api/v1/quotations", t, json!({"customer_id": first, "lines": []})).await);
    let run = deliver(&app).await;
    assert_eq!(run["last_status"], "ok", "{run}");
    let got = rx.received();
    assert_eq!(got.len(), 1, "{got:?}");
    verify(&secret, &got[0]);
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!((body["type"].as_str(), body["data"]["name"].as_str()), (Some("customer.created"), Some("Alpha")));
    assert_eq!((body["subject"]["kind"].as_str(), body["subject"]["id"].as_i64()), (Some("customer"), Some(first)));
    // Nothing new: nothing sent again.
    deliver(&app).await;
    assert_eq!(rx.received().len(), 1);

    // The receiver goes down: deliveries wait with their attempts logged.
    rx.stop().await;
    let mut names = vec![];
    for n in 0..3 {
        names.push(format!("Down {n}"));
        customer(&app, t, &names[n]).await;
    }
    deliver(&app).await;
    let pending = ok(app.get(&format!("/api/v1/webhooks/{hid}/deliveries?status=pending"), t).await);
    let pending = pending["data"].as_array().unwrap().clone();
    assert_eq!(pending.len(), 3, "{pending:?}");
    assert_eq!(pending[0]["attempts"], 1);
    assert!(pending[0]["last_error"].as_str().unwrap().contains("no answer"), "{}", pending[0]);
    assert_eq!(pending[0]["log"].as_array().unwrap().len(), 1);
    // Back up: every event arrives, once.
    rx.serve(None);
    deliver(&app).await;
    let got = rx.received();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    for r in &got {
        verify(&secret, r);
        *by_id.entry(r.id.clone()).or_default() += 1;
    }
    assert_eq!(by_id.len(), 4, "{got:?}");
    assert!(by_id.values().all(|n| *n == 1), "each event once: {by_id:?}");
    let delivered = ok(app.get(&format!("/api/v1/webhooks/{hid}/deliveries?status=delivered"), t).await);
    assert_eq!(delivered["data"].as_array().unwrap().len(), 4);
    assert_eq!(delivered["data"][1]["attempts"], 2, "{}", delivered["data"][1]);

    // Replay: the same event, the same webhook-id.
    let again = got[0].id.clone();
    let d = ok(app.post(&format!("/api/v1/webhooks/{hid}/replay"), t, json!({"event_id": again})).await);
    assert_eq!(d["status"], "pending");
    deliver(&app).await;
    let got = rx.received();
    assert_eq!((got.len(), got.last().unwrap().id.as_str()), (5, again.as_str()));
    let missing = app.post(&format!("/api/v1/webhooks/{hid}/replay"), t, json!({"event_id": "evt_nope"})).await;
    assert_eq!((missing.status.as_u16(), missing.error_fields()), (404, vec!["event_id".to_string()]));

    // A receiver that keeps failing: retried, then the subscription is disabled and says why.
    rx.status.store(500, Ordering::SeqCst);
    customer(&app, t, "Failing").await;
    for _ in 0..8 {
        deliver(&app).await;
    }
    let failed = ok(app.get(&format!("/api/v1/webhooks/{hid}/deliveries?status=failed"), t).await);
    assert_eq!(failed["data"][0]["attempts"], 8, "{failed}");
    assert_eq!(failed["data"][0]["last_status_code"], 500);
    let h = ok(app.get(&format!("/api/v1/webhooks/{hid}"), t).await);
    assert_eq!(h["active"], false);
    assert!(h["disabled_reason"].as_str().unwrap().contains("HTTP 500"), "{h}");
    let before = rx.received().len();
    customer(&app, t, "While disabled").await;
    deliver(&app).await;
    assert_eq!(rx.received().len(), before, "a disabled subscription gets nothing");
    // Re-activated: the reason is cleared and what happened meanwhile is delivered.
    rx.status.store(200, Ordering::SeqCst);
    let v = h["version"].as_i64().unwrap().to_string();
    let r = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/webhooks/{hid}"),
            t,
            Some(json!({"active": true})),
            &[("If-Match", &format!("\"{v}\""))],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!((r.body["active"].as_bool(), &r.body["disabled_reason"]), (Some(true), &Value::Null));
    deliver(&app).await;
    let last: Value = serde_json::from_str(&rx.received().last().unwrap().body).unwrap();
    assert_eq!(last["data"]["name"], "While disabled");
    // An event whose transaction commits after a later one was fanned out (PostgreSQL
    // hands out ids at insert): played here by marking the later one fanned out first.
    let late = customer(&app, t, "Late").await;
    let early = customer(&app, t, "Early").await;
    app.with_db(|c| {
        use diesel::prelude::*;
        use ordo_db::schema::events;
        diesel::update(events::table.filter(events::subject_id.eq(early)).filter(events::subject_kind.eq("customer")))
            .set(events::fanned_out.eq(true))
            .execute(c)
    })
    .unwrap();
    deliver(&app).await;
    let late_body: Value = serde_json::from_str(&rx.received().last().unwrap().body).unwrap();
    assert_eq!(late_body["subject"]["id"].as_i64(), Some(late), "the late event is still sent");
    rx.stop().await;
    assert_eq!(app.delete(&format!("/api/v1/webhooks/{hid}"), t).await.status, 204);
    app.get(&format!("/api/v1/webhooks/{hid}"), t).await.problem(404, "not_found");
}

async fn events_feed_is_scoped_and_transactional(app: TestApp) {
    let t = &app.admin_token;
    let (_, anna) = app.user("anna", &["sales_agent"]).await;
    let (_, bert) = app.user("bert", &["sales_agent"]).await;
    let mine = customer(&app, &anna, "Anna's").await;
    customer(&app, &bert, "Bert's").await;
    customer(&app, t, "Nobody's").await;
    let all = ok(app.get("/api/v1/events?type=customer.created", t).await);
    let all = all["data"].as_array().unwrap().clone();
    assert_eq!(all.len(), 3);
    assert!(all.windows(2).all(|w| w[0]["sequence"].as_i64() < w[1]["sequence"].as_i64()), "oldest first");
    let theirs = ok(app.get("/api/v1/events", &anna).await);
    let theirs = theirs["data"].as_array().unwrap();
    assert_eq!(theirs.len(), 1, "{theirs:?}");
    assert_eq!(theirs[0]["subject"]["id"], mine);
    // Catch up after a sequence number.
    let after = all[0]["sequence"].as_i64().unwrap();
    let rest = ok(app.get(&format!("/api/v1/events?after={after}"), t).await);
    assert_eq!(rest["data"].as_array().unwrap().len(), 2);
    app.get("/api/v1/events?type=nope", t).await.problem(422, "validation_failed");
    app.get("/api/v1/events?since=yesterday", t).await.problem(400, "invalid_query");
    let (_, wh) = app.user("willy", &["warehouse"]).await;
    app.get("/api/v1/events", &wh).await.problem(403, "forbidden");
    // A refused change emits nothing: an order over the limit stays a draft, no event.
    let count = |v: &Value| v["data"].as_array().unwrap().len();
    let before = count(&ok(app.get("/api/v1/events?limit=200", t).await));
    app.post("/api/v1/customers", t, json!({"name": "", "currency": "EUR"})).await.problem(422, "validation_failed");
    let q = ok(app.post("/api/v1/quotations", t, json!({"customer_id": mine, "lines": []})).await);
    app.post(&format!("/api/v1/quotations/{}/send", q["id"]), t, json!({})).await.problem(422, "no_lines");
    assert_eq!(count(&ok(app.get("/api/v1/events?limit=200", t).await)), before);
}
