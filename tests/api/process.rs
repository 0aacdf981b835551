//! The real `ordo` binary as its operators run it: several processes starting at once
//! against one fresh database, and a process killed with SIGKILL in the middle of a
//! write load, whose clients then retry with their Idempotency-Keys.

use crate::per_backend;
use crate::support::{self, Kind, Server};
use serde_json::{json, Value};
use std::collections::HashMap;

/// A fresh database for processes of this backend, and what removes it afterwards.
pub(crate) struct Fresh {
    pub(crate) url: String,
    pub(crate) drop: Box<dyn FnOnce()>,
}

pub(crate) fn fresh(kind: Kind) -> Option<Fresh> {
    if !support::enabled_backend(kind) {
        return None;
    }
    match kind {
        Kind::Sqlite => {
            let file = support::sqlite_file();
            let f = file.clone();
            Some(Fresh {
                url: format!("sqlite://{}", file.display()),
                drop: Box::new(move || {
                    for suffix in ["", "-wal", "-shm", ".migrate-lock"] {
                        let _ = std::fs::remove_file(format!("{}{suffix}", f.display()));
                    }
                }),
            })
        }
        Kind::Postgres => {
            let name = support::pg_empty_database()?;
            Some(Fresh {
                url: support::pg_database_url(&name),
                drop: Box::new(move || support::pg_drop_database(&name)),
            })
        }
    }
}

pub(crate) async fn token(base: &str) -> String {
    let r = crate::support::http_client()
        .post(format!("{base}/api/v1/auth/token"))
        .form(&[("grant_type", "password"), ("username", "root"), ("password", "root-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string()
}

/// Customer `i` of a write load, with its Idempotency-Key; counts the answer (or the
/// failure to get one) in `answered`.
async fn create_customer(
    client: &reqwest::Client,
    base: String,
    token: &str,
    prefix: &str,
    i: usize,
    answered: &std::sync::atomic::AtomicUsize,
) -> reqwest::Result<reqwest::Response> {
    let r = client
        .post(format!("{base}/api/v1/customers"))
        .bearer_auth(token)
        .header("Idempotency-Key", format!("{prefix}-{i}"))
        .json(&json!({"name": format!("{prefix} {i}"), "currency": "EUR"}))
        .send()
        .await;
    answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    r
}

/// Customers on the first page of `base`, as `token` sees them.
async fn customers(base: &str, token: &str) -> Value {
    crate::support::http_client()
        .get(format!("{base}/api/v1/customers?limit=200"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Two processes started together on an empty database: both migrate (one after the
/// other), both create the admin user (one of them finds it there), both serve.
async fn two_processes_start_together(kind: Kind) {
    let Some(db) = fresh(kind) else { return };
    let mut a = Server::spawn(&db.url);
    let mut b = Server::spawn(&db.url);
    a.wait_up().await;
    b.wait_up().await;
    let t = token(&a.base).await;
    let users: Value = crate::support::http_client()
        .get(format!("{}/api/v1/users", b.base))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(users["data"].as_array().unwrap().len(), 1, "one admin user: {users}");
    drop((a, b));
    (db.drop)();
}

/// SIGKILL in the middle of a write load: every acknowledged write survives, and a
/// retry of every request with its Idempotency-Key has exactly one effect, at once.
async fn killed_mid_write_retries_run_at_once(kind: Kind) {
    let Some(db) = fresh(kind) else { return };
    let mut server = Server::spawn(&db.url);
    server.wait_up().await;
    let t = token(&server.base).await;
    let client = crate::support::http_client();
    const N: usize = 60;
    let answered = std::sync::atomic::AtomicUsize::new(0);
    let send = |base: String, i: usize| create_customer(&client, base, &t, "crash", i, &answered);
    let base = server.base.clone();
    let load = futures_util::future::join_all((0..N).map(|i| send(base.clone(), i)));
    // Kill once a few writes are acknowledged: the rest are in flight or queued.
    let killer = async {
        while answered.load(std::sync::atomic::Ordering::SeqCst) < 5 {
            actix_web::rt::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        server.kill();
    };
    let (answers, ()) = futures_util::future::join(load, killer).await;
    let mut acked: HashMap<usize, i64> = HashMap::new();
    for (i, a) in answers.into_iter().enumerate() {
        if let Ok(r) = a {
            if r.status() == 201 {
                if let Ok(body) = r.json::<Value>().await {
                    acked.insert(i, body["id"].as_i64().unwrap());
                }
            }
        }
    }
    assert!(acked.len() < N, "the kill cut requests off ({} of {N} were answered)", acked.len());
    let mut again = Server::spawn(&db.url);
    again.wait_up().await;
    let mut ids = HashMap::new();
    for i in 0..N {
        let r = send(again.base.clone(), i).await.unwrap();
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, 201, "retry of request {i} after the crash: {body}");
        let id = body["id"].as_i64().unwrap();
        if let Some(before) = acked.get(&i) {
            assert_eq!(*before, id, "an acknowledged write keeps its answer");
        }
        ids.insert(i, id);
    }
    let page = customers(&again.base, &t).await;
    let names: Vec<&str> = page["data"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), N, "exactly one customer per request, none lost, none doubled: {names:?}");
    drop(again);
    (db.drop)();
}

/// Recurring invoices with two processes on one database: runs of the job asked of
/// both at once (the lease lets one run at a time), and the generation itself run
/// concurrently past the lease (two connections at once, as after a lease expired
/// mid-run): one invoice per template and period, whatever happens.
async fn recurring_invoices_once_across_processes(kind: Kind) {
    let Some(db) = fresh(kind) else { return };
    let mut a = Server::spawn(&db.url);
    let mut b = Server::spawn(&db.url);
    a.wait_up().await;
    b.wait_up().await;
    let t = token(&a.base).await;
    let client = crate::support::http_client();
    let post = |base: String, path: &'static str, body: Value| {
        let (client, t) = (client.clone(), t.clone());
        async move {
            let r = client.post(format!("{base}{path}")).bearer_auth(t).json(&body).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let list = post(a.base.clone(), "/api/v1/price-lists", json!({"name": "L", "currency": "EUR", "is_default": true}))
        .await
        .1;
    let item = post(
        a.base.clone(),
        "/api/v1/items",
        json!({"sku": "S", "name": "Support", "base_unit": "H", "kind": "service"}),
    )
    .await
    .1;
    let (list, item) = (list["id"].as_i64().unwrap(), item["id"].as_i64().unwrap());
    let r = client
        .post(format!("{}/api/v1/price-lists/{list}/prices", a.base))
        .bearer_auth(&t)
        .json(&json!({"item_id": item, "price": "99.00"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let customer = post(a.base.clone(), "/api/v1/customers", json!({"name": "Tenant", "currency": "EUR"})).await.1
        ["id"]
        .as_i64()
        .unwrap();
    let today = time::OffsetDateTime::now_utc().date();
    let start = (today - time::Duration::days(70)).replace_day(1).unwrap();
    let template = |name: &str| {
        json!({"name": name, "customer_id": customer, "period": "monthly", "day_of_period": 1,
            "start_date": start.to_string(), "auto_post": true, "lines": [{"item_id": item, "quantity": "1"}]})
    };
    let periods = {
        let mut n = 0;
        let mut d = start;
        while d <= today {
            n += 1;
            d = if d.month() == time::Month::December {
                d.replace_year(d.year() + 1).unwrap().replace_month(time::Month::January).unwrap()
            } else {
                d.replace_month(d.month().next()).unwrap()
            };
        }
        n
    };
    assert_eq!(post(a.base.clone(), "/api/v1/recurring-invoices", template("first")).await.0, 201);
    let runs = futures_util::future::join_all((0..10).map(|i| {
        let base = if i % 2 == 0 { a.base.clone() } else { b.base.clone() };
        post(base, "/api/v1/jobs/recurring_invoices/run", json!({}))
    }))
    .await;
    for (status, body) in &runs {
        assert!(*status == 200 || (*status == 409 && body["code"] == "job_running"), "{status} {body}");
    }
    // Past the lease: the generation itself, twice at once on two connections.
    assert_eq!(post(a.base.clone(), "/api/v1/recurring-invoices", template("second")).await.0, 201);
    let url = db.url.clone();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let db = ordo_db::Db::open(&ordo_db::DbConfig::parse(&url, 2).unwrap()).unwrap();
                ordo_billing::recurring::generate_due(
                    &db,
                    ordo_core::Currency::from_code("EUR").unwrap(),
                    today,
                    &|_, _, _, _| Ok(()),
                )
                .unwrap()
            })
        })
        .collect();
    let made: usize = threads.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(made, periods, "the two generators made each period once between them");
    let page: Value = client
        .get(format!("{}/api/v1/invoices?customer_id={customer}&limit=200", b.base))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let invoices = page["data"].as_array().unwrap();
    assert_eq!(invoices.len(), 2 * periods, "one invoice per template and period: {page}");
    let mut numbers: Vec<&str> = invoices.iter().map(|i| i["number"].as_str().unwrap()).collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 2 * periods, "distinct legal numbers");
    drop((a, b));
    (db.drop)();
}

/// SIGTERM under load: requests in flight finish, requests that arrive during the
/// drain get 503 with `Retry-After` (nothing cut off), `/readyz` says so while
/// `/healthz` stays up, the process exits by itself with success and leaves no job
/// lease behind; every 503 runs once when retried with its key.
async fn sigterm_drains_then_stops(kind: Kind) {
    let Some(db) = fresh(kind) else { return };
    let mut server = Server::spawn_with(&db.url, &[("ORDO_DRAIN_SECONDS", "2"), ("ORDO_LOG", "info")]);
    server.wait_up().await;
    let t = token(&server.base).await;
    let client = crate::support::http_client();
    const N: usize = 60;
    let answered = std::sync::atomic::AtomicUsize::new(0);
    let send = |base: String, i: usize| create_customer(&client, base, &t, "drain", i, &answered);
    let base = server.base.clone();
    let pid = server.child.id().to_string();
    let load = futures_util::future::join_all((0..N).map(|i| send(base.clone(), i)));
    let term = async {
        while answered.load(std::sync::atomic::Ordering::SeqCst) < 3 {
            actix_web::rt::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    };
    let (answers, ()) = futures_util::future::join(load, term).await;
    // Still draining: the process answers, but takes nothing new.
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(ready.headers()["retry-after"], "1");
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["code"], "shutting_down", "{body}");
    assert_eq!(client.get(format!("{base}/healthz")).send().await.unwrap().status(), 200);
    let mut refused = vec![];
    for (i, a) in answers.into_iter().enumerate() {
        let r = a.expect("every request got an answer: none was cut off");
        match r.status().as_u16() {
            201 => {}
            503 => refused.push(i),
            other => panic!("request {i}: {other} {}", r.text().await.unwrap_or_default()),
        }
    }
    let mut exited = None;
    for _ in 0..300 {
        if let Some(status) = server.child.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let status = exited.expect("the process stops by itself after the drain");
    assert!(status.success(), "a graceful stop exits 0: {status}");
    let log = std::fs::read_to_string(&server.log).unwrap_or_default();
    assert!(log.contains("shutting down") && log.contains("stopped"), "{log}");
    let leases = {
        let store = ordo_db::Db::open(&ordo_db::DbConfig::parse(&db.url, 1).unwrap()).unwrap();
        store
            .read(&ordo_db::Stats::default(), |c| {
                use diesel::prelude::*;
                use ordo_db::schema::jobs;
                Ok(jobs::table.filter(jobs::locked_by.is_not_null()).count().get_result::<i64>(c)?)
            })
            .unwrap()
    };
    assert_eq!(leases, 0, "no job lease outlives the process");
    let mut again = Server::spawn(&db.url);
    again.wait_up().await;
    for i in &refused {
        let r = send(again.base.clone(), *i).await.unwrap();
        assert_eq!(r.status(), 201, "a request refused while draining runs when sent again");
    }
    let page = customers(&again.base, &t).await;
    assert_eq!(page["data"].as_array().unwrap().len(), N, "each request once: {} refused and resent", refused.len());
    drop(again);
    (db.drop)();
}

/// Whatever holds the migration lock (another process migrating) keeps a starting
/// process not ready: it listens, `/healthz` answers, `/readyz` and the API say 503
/// `starting`; once the lock is free it migrates and serves.
async fn not_ready_while_migrating(kind: Kind) {
    let Some(db) = fresh(kind) else { return };
    enum Held {
        Pg(#[allow(dead_code)] diesel::PgConnection),
        File(#[allow(dead_code)] std::fs::File),
    }
    let held = match kind {
        Kind::Postgres => {
            use diesel::connection::SimpleConnection;
            use diesel::Connection;
            let mut c = diesel::PgConnection::establish(&db.url).unwrap();
            c.batch_execute(&format!("SELECT pg_advisory_lock({})", ordo_db::conn::MIGRATION_LOCK)).unwrap();
            Held::Pg(c)
        }
        Kind::Sqlite => {
            let path = format!("{}.migrate-lock", db.url.trim_start_matches("sqlite://"));
            let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path).unwrap();
            f.lock().unwrap();
            Held::File(f)
        }
    };
    let mut server = Server::spawn(&db.url);
    let client = crate::support::http_client();
    let mut alive = false;
    for _ in 0..600 {
        if client.get(format!("{}/healthz", server.base)).send().await.is_ok_and(|r| r.status() == 200) {
            alive = true;
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(alive, "the process listens before it migrates");
    for path in ["/readyz", "/api/v1/customers"] {
        let r = client.get(format!("{}{path}", server.base)).send().await.unwrap();
        assert_eq!(r.status(), 503, "{path}");
        assert_eq!(r.headers()["retry-after"], "1");
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "starting", "{path}");
    }
    drop(held);
    server.wait_up().await;
    assert_eq!(
        crate::support::http_client().get(format!("{}/readyz", server.base)).send().await.unwrap().status(),
        200
    );
    drop(server);
    (db.drop)();
}

/// A logout in one process reaches another within its poll interval
/// (`ORDO_REVOCATION_POLL_MS`, 100 ms here), while the revoking process refuses the
/// token at once.
async fn revocation_reaches_other_processes(kind: Kind) {
    let Some(db) = fresh(kind) else { return };
    let env = [("ORDO_REVOCATION_POLL_MS", "100")];
    let mut a = Server::spawn_with(&db.url, &env);
    a.wait_up().await;
    let mut b = Server::spawn_with(&db.url, &env);
    b.wait_up().await;
    let t = token(&a.base).await;
    let client = crate::support::http_client();
    let me = |base: String| {
        let (client, t) = (client.clone(), t.clone());
        async move { client.get(format!("{base}/api/v1/me")).bearer_auth(t).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(me(b.base.clone()).await, 200, "the other process knows the token");
    let out =
        client.post(format!("{}/api/v1/auth/logout", a.base)).bearer_auth(&t).json(&json!({})).send().await.unwrap();
    assert_eq!(out.status(), 204);
    assert_eq!(me(a.base.clone()).await, 401, "refused at once where it was revoked");
    let mut seen = false;
    for _ in 0..100 {
        if me(b.base.clone()).await == 401 {
            seen = true;
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(seen, "the other process refuses the token after its next poll");
    drop((a, b));
    (db.drop)();
}

per_backend!(
    two_processes_start_together,
    killed_mid_write_retries_run_at_once,
    recurring_invoices_once_across_processes,
    sigterm_drains_then_stops,
    not_ready_while_migrating,
    revocation_reaches_other_processes
);
