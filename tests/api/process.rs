//! The real `ordo` binary as its operators run it: several processes starting at once
//! against one fresh database, and a process killed with SIGKILL in the middle of a
//! write load, whose clients then retry with their Idempotency-Keys.

use crate::support::{self, Kind, Server};
use serde_json::{json, Value};
use std::collections::HashMap;

/// A fresh database for processes of this backend, and what removes it afterwards.
struct Fresh {
    url: String,
    drop: Box<dyn FnOnce()>,
}

fn fresh(kind: Kind) -> Option<Fresh> {
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

async fn token(base: &str) -> String {
    let r = crate::support::http_client()
        .post(format!("{base}/api/v1/auth/token"))
        .form(&[("grant_type", "password"), ("username", "root"), ("password", "root-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string()
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
    let send = |base: String, i: usize| {
        let (client, t, answered) = (client.clone(), t.clone(), &answered);
        async move {
            let r = client
                .post(format!("{base}/api/v1/customers"))
                .bearer_auth(t)
                .header("Idempotency-Key", format!("crash-{i}"))
                .json(&json!({"name": format!("Crash {i}"), "currency": "EUR"}))
                .send()
                .await;
            answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            r
        }
    };
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
    let page: Value = client
        .get(format!("{}/api/v1/customers?limit=200", again.base))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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

macro_rules! per_backend {
    ($($name:ident),*) => {
        $(
            mod $name {
                #[actix_web::test]
                async fn sqlite() {
                    super::$name(crate::support::Kind::Sqlite).await;
                }
                #[actix_web::test]
                async fn postgres() {
                    super::$name(crate::support::Kind::Postgres).await;
                }
            }
        )*
    };
}

per_backend!(
    two_processes_start_together,
    killed_mid_write_retries_run_at_once,
    recurring_invoices_once_across_processes
);
