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
    let r = reqwest::Client::new()
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
    let users: Value = reqwest::Client::new()
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
    let client = reqwest::Client::new();
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

per_backend!(two_processes_start_together, killed_mid_write_retries_run_at_once);
