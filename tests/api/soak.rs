//! The crash soak (issue 17): the real server under a mixed write load — customers,
//! orders through confirm, stock receipts, deliveries shipped and invoiced, payments —
//! every request with an Idempotency-Key, killed with SIGKILL at a random moment, N
//! rounds on one database. After each restart:
//! - every acknowledged request is there: its key replays the very answer, and the
//!   resource it created answers a GET (lost = 0);
//! - every request left without an answer runs exactly once when retried with its key
//!   (a second retry replays it);
//! - nothing is doubled: the rows each kind of request makes equal the requests that
//!   succeeded (duplicated = 0);
//! - the books hold ([`ordo_db::invariants`]): stock equals its ledger and covers its
//!   reservations, no document stands without lines, totals equal their lines,
//!   allocations never exceed payments.
//!
//! `ORDO_SOAK_ROUNDS` sets N (3 here in CI; `make soak` runs 20 against the release
//! binary); `ORDO_SOAK_SEED` the random seed. The counts are printed per round.

use crate::integrity::Rng;
use crate::process::{fresh, token};
use crate::support::{Kind, Server};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

const CLIENTS: usize = 4;

/// What a request of the load is, for the duplicate counts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind2 {
    Customer,
    Order,
    Action,
    Receipt,
    Delivery,
    Invoice,
    Payment,
}

struct Step {
    kind: Kind2,
    key: String,
    path: String,
    body: Value,
    /// Status, body and `Location` when an answer came back whole.
    answer: Option<(u16, Value, Option<String>)>,
}

enum Sent {
    Ok(Value),
    Refused,
    Lost,
}

struct Load<'a> {
    http: reqwest::Client,
    base: String,
    token: &'a str,
    round: usize,
    setup: &'a Setup,
    log: Mutex<Vec<Step>>,
    answered: AtomicUsize,
    confirmed: Mutex<Vec<i64>>,
    dead: AtomicBool,
}

struct Setup {
    customer: i64,
    warehouse: i64,
    items: Vec<i64>,
}

impl Load<'_> {
    async fn send(&self, kind: Kind2, key: String, path: String, body: Value) -> Sent {
        let at = {
            let mut log = self.log.lock().unwrap();
            log.push(Step { kind, key: key.clone(), path: path.clone(), body: body.clone(), answer: None });
            log.len() - 1
        };
        let Some((status, body, location)) = post(&self.http, &self.base, self.token, &key, &path, &body).await else {
            return Sent::Lost;
        };
        self.answered.fetch_add(1, Ordering::SeqCst);
        self.log.lock().unwrap()[at].answer = Some((status, body.clone(), location));
        if (200..300).contains(&status) {
            Sent::Ok(body)
        } else {
            Sent::Refused
        }
    }

    /// One client: chains of requests until the server is gone.
    async fn client(&self, c: usize, seed: u64) {
        let mut rng = Rng(seed ^ (c as u64) << 32 ^ self.round as u64);
        let mut n = 0;
        while !self.dead.load(Ordering::SeqCst) {
            n += 1;
            let k = |step: &str| format!("soak-{}-{c}-{n}-{step}", self.round);
            let r = self.round;
            let lost = match rng.below(10) {
                0 | 1 => {
                    let body = json!({"name": format!("Soak {r}-{c}-{n}"), "currency": "EUR"});
                    matches!(
                        self.send(Kind2::Customer, k("customer"), "/api/v1/customers".into(), body).await,
                        Sent::Lost
                    )
                }
                2..=4 => self.order(&mut rng, &k).await,
                5 => {
                    let item = self.setup.items[rng.below(self.setup.items.len())];
                    let body = json!({"item_id": item, "warehouse_id": self.setup.warehouse,
                        "quantity": (5 + rng.below(10)).to_string(), "unit_cost": "4.00"});
                    matches!(
                        self.send(Kind2::Receipt, k("receipt"), "/api/v1/stock/receipts".into(), body).await,
                        Sent::Lost
                    )
                }
                6 | 7 => self.delivery(&k).await,
                _ => {
                    let body = json!({"customer_id": self.setup.customer, "amount": format!("{}.{:02}", 10 + rng.below(90), rng.below(100)),
                        "currency": "EUR", "method": "bank_transfer", "reference": format!("SOAK-{r}-{c}-{n}"),
                        "allocate_oldest_first": true});
                    matches!(self.send(Kind2::Payment, k("payment"), "/api/v1/payments".into(), body).await, Sent::Lost)
                }
            };
            if lost {
                return;
            }
        }
    }

    /// Create, submit, approve when asked, confirm. True when a request got no answer.
    async fn order(&self, rng: &mut Rng, k: &dyn Fn(&str) -> String) -> bool {
        let lines: Vec<Value> = (0..1 + rng.below(3))
            .map(|_| {
                json!({"item_id": self.setup.items[rng.below(self.setup.items.len())],
                    "quantity": (1 + rng.below(6)).to_string()})
            })
            .collect();
        let body = json!({"customer_id": self.setup.customer, "contract_number": format!("SOAK-{}", self.round),
            "lines": lines});
        let id = match self.send(Kind2::Order, k("order"), "/api/v1/sales-orders".into(), body).await {
            Sent::Ok(o) => o["id"].as_i64().unwrap(),
            Sent::Refused => return false,
            Sent::Lost => return true,
        };
        let mut status = String::new();
        for verb in ["submit", "approve", "confirm"] {
            if verb == "approve" && status != "pending_approval" {
                continue;
            }
            match self.send(Kind2::Action, k(verb), format!("/api/v1/sales-orders/{id}/{verb}"), json!({})).await {
                Sent::Ok(o) => status = o["status"].as_str().unwrap_or_default().to_string(),
                Sent::Refused => return false,
                Sent::Lost => return true,
            }
        }
        if status == "in_execution" {
            self.confirmed.lock().unwrap().push(id);
        }
        false
    }

    /// Deliver a confirmed order, ship, invoice the delivery, post the invoice.
    async fn delivery(&self, k: &dyn Fn(&str) -> String) -> bool {
        let Some(order) = self.confirmed.lock().unwrap().pop() else { return false };
        let d = match self
            .send(Kind2::Delivery, k("delivery"), format!("/api/v1/sales-orders/{order}/deliveries"), json!({}))
            .await
        {
            Sent::Ok(d) => d["id"].as_i64().unwrap(),
            Sent::Refused => return false,
            Sent::Lost => return true,
        };
        let steps = [
            (
                Kind2::Action,
                "ship",
                format!("/api/v1/deliveries/{d}/ship"),
                json!({"carrier": "Soak", "tracking_number": k("t")}),
            ),
            (Kind2::Invoice, "invoice", format!("/api/v1/deliveries/{d}/invoice"), json!({})),
        ];
        let mut invoice = None;
        for (kind, name, path, body) in steps {
            match self.send(kind, k(name), path, body).await {
                Sent::Ok(v) => invoice = v["id"].as_i64().filter(|_| kind == Kind2::Invoice),
                Sent::Refused => return false,
                Sent::Lost => return true,
            }
        }
        let Some(inv) = invoice else { return false };
        matches!(
            self.send(Kind2::Action, k("post"), format!("/api/v1/invoices/{inv}/post"), json!({})).await,
            Sent::Lost
        )
    }
}

/// A POST with its Idempotency-Key; None when no whole answer came back.
async fn post(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    key: &str,
    path: &str,
    body: &Value,
) -> Option<(u16, Value, Option<String>)> {
    let r = http
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .ok()?;
    let status = r.status().as_u16();
    let location = r.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_string);
    let replayed = r.headers().contains_key("idempotent-replayed");
    let mut body: Value = r.json().await.ok()?;
    if replayed {
        body["__replayed"] = json!(true);
    }
    Some((status, body, location))
}

/// An answer for a failure message: its status and the start of its body.
fn short(answer: &Option<(u16, Value, Option<String>)>) -> String {
    match answer {
        None => "no answer".into(),
        Some((status, body, _)) => format!("{status} {}", body.to_string().chars().take(200).collect::<String>()),
    }
}

async fn setup(http: &reqwest::Client, base: &str, t: &str) -> Setup {
    let call = |path: &'static str, body: Value| async move {
        let r = http.post(format!("{base}{path}")).bearer_auth(t).json(&body).send().await.unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json::<Value>().await.unwrap()
    };
    let list = call("/api/v1/price-lists", json!({"name": "Soak", "currency": "EUR", "is_default": true})).await;
    let list = list["id"].as_i64().unwrap();
    let warehouse = call("/api/v1/warehouses", json!({"code": "SOAK", "name": "Soak"})).await["id"].as_i64().unwrap();
    let customer = call(
        "/api/v1/customers",
        json!({"name": "Soak buyer", "currency": "EUR", "price_list_id": list, "default_warehouse_id": warehouse}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let mut items = vec![];
    for i in 0..8 {
        let item = call(
            "/api/v1/items",
            json!({"sku": format!("SOAK-{i}"), "name": format!("Soak item {i}"), "base_unit": "PCS", "kind": "stock",
                "standard_cost": "4.00"}),
        )
        .await["id"]
            .as_i64()
            .unwrap();
        let r = http
            .post(format!("{base}/api/v1/price-lists/{list}/prices"))
            .bearer_auth(t)
            .json(&json!({"item_id": item, "price": format!("{}.50", 10 + i)}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        call(
            "/api/v1/stock/receipts",
            json!({"item_id": item, "warehouse_id": warehouse, "quantity": "30", "unit_cost": "4.00"}),
        )
        .await;
        items.push(item);
    }
    Setup { customer, warehouse, items }
}

#[derive(Default, Debug)]
struct Counts {
    sent: usize,
    acknowledged: usize,
    refused: usize,
    unanswered: usize,
    retried_once: usize,
    /// Problem codes of the requests refused (when sent, or when retried).
    refusals: std::collections::BTreeMap<String, usize>,
    lost: usize,
    duplicated: usize,
}

/// After the restart: replays, retries, duplicate counts. Failures are collected, so
/// the round's counts are printed before the test fails.
async fn verify(
    base: &str,
    t: &str,
    db: &ordo_db::Db,
    round: usize,
    steps: &mut [Step],
    failures: &mut Vec<String>,
) -> Counts {
    let http = crate::support::http_client();
    let mut n = Counts { sent: steps.len(), ..Default::default() };
    for s in steps.iter_mut() {
        match &s.answer {
            Some((status, body, location)) if (200..300).contains(status) => {
                n.acknowledged += 1;
                let again = post(&http, base, t, &s.key, &s.path, &s.body).await;
                let mut expected = body.clone();
                expected["__replayed"] = json!(true);
                match again {
                    Some((st, b, _)) if st == *status && b == expected => {}
                    other => {
                        n.lost += 1;
                        failures.push(format!("acknowledged {} {} did not replay: {}", s.key, s.path, short(&other)));
                    }
                }
                if let Some(loc) = location {
                    let r = http.get(format!("{base}{loc}")).bearer_auth(t).send().await.unwrap();
                    if r.status() != 200 {
                        n.lost += 1;
                        failures.push(format!("acknowledged {} created {loc}, which answers {}", s.key, r.status()));
                    }
                }
            }
            Some((_, body, _)) => {
                n.refused += 1;
                *n.refusals
                    .entry(format!(
                        "{} {}",
                        s.path.rsplit('/').next().unwrap_or_default(),
                        body["code"].as_str().unwrap_or("?")
                    ))
                    .or_default() += 1;
            }
            None => {
                n.unanswered += 1;
                let first = post(&http, base, t, &s.key, &s.path, &s.body).await;
                let second = post(&http, base, t, &s.key, &s.path, &s.body).await;
                match (&first, &second) {
                    (Some((a, b1, _)), Some((c, b2, _))) if (200..300).contains(a) => {
                        // The first retry ran it, or replayed it when the request had
                        // committed before the kill; the second replays the same answer.
                        let mut plain = b1.clone();
                        if let Some(o) = plain.as_object_mut() {
                            o.remove("__replayed");
                        }
                        let mut expected = plain.clone();
                        expected["__replayed"] = json!(true);
                        if a == c && *b2 == expected {
                            n.retried_once += 1;
                        } else {
                            failures.push(format!(
                                "retry of {} ran twice or replayed wrong: {} / {}",
                                s.key,
                                short(&first),
                                short(&second)
                            ));
                        }
                        s.answer = Some((*a, plain, None));
                    }
                    (Some((a, b, _)), _) if *a < 500 && b["code"] != "idempotency_key_in_progress" => {
                        // Refused on retry: a clear 4xx, nothing written.
                        *n.refusals
                            .entry(format!(
                                "retried {} {}",
                                s.path.rsplit('/').next().unwrap_or_default(),
                                b["code"].as_str().unwrap_or("?")
                            ))
                            .or_default() += 1;
                        s.answer = Some((*a, b.clone(), None));
                    }
                    _ => failures.push(format!("retry of {} {}: {}", s.key, s.path, short(&first))),
                }
            }
        }
    }
    // Rows made by each kind of request equal the requests that succeeded.
    let ok = |k: Kind2| {
        steps.iter().filter(|s| s.kind == k && s.answer.as_ref().is_some_and(|a| (200..300).contains(&a.0))).count()
            as i64
    };
    let count = |sql: String| -> i64 {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        use diesel::RunQueryDsl;
        db.read(&ordo_db::Stats::default(), |c| Ok(diesel::sql_query(sql).get_result::<N>(c)?.n)).unwrap()
    };
    let r = round;
    let pairs = [
        (
            "customers",
            ok(Kind2::Customer),
            count(format!("SELECT COUNT(*) AS n FROM customers WHERE name LIKE 'Soak {r}-%'")),
        ),
        (
            "sales orders",
            ok(Kind2::Order),
            count(format!("SELECT COUNT(*) AS n FROM sales_orders WHERE contract_number = 'SOAK-{r}'")),
        ),
        (
            "payments",
            ok(Kind2::Payment),
            count(format!("SELECT COUNT(*) AS n FROM payments WHERE reference LIKE 'SOAK-{r}-%'")),
        ),
    ];
    for (what, requests, rows) in pairs {
        if rows != requests {
            n.duplicated += (rows - requests).max(0) as usize;
            failures.push(format!("{what}: {requests} requests succeeded, {rows} rows exist"));
        }
    }
    // Deliveries and invoices of this round's orders: one per successful request.
    let orders = format!("(SELECT id FROM sales_orders WHERE contract_number = 'SOAK-{r}')");
    let deliveries = count(format!("SELECT COUNT(*) AS n FROM deliveries WHERE sales_order_id IN {orders}"));
    let invoices = count(format!("SELECT COUNT(*) AS n FROM invoices WHERE sales_order_id IN {orders}"));
    for (what, requests, rows) in
        [("deliveries", ok(Kind2::Delivery), deliveries), ("invoices", ok(Kind2::Invoice), invoices)]
    {
        if rows != requests {
            n.duplicated += (rows - requests).max(0) as usize;
            failures.push(format!("{what}: {requests} requests succeeded, {rows} rows exist"));
        }
    }
    let broken = db.read(&ordo_db::Stats::default(), |c| ordo_db::invariants::violations(c, None)).unwrap();
    for (check, rows) in broken {
        if rows != 0 {
            failures.push(format!("invariant {check}: {rows} row(s)"));
        }
    }
    n
}

async fn kill_soak(kind: Kind) {
    let Some(fresh_db) = fresh(kind) else { return };
    let rounds: usize = std::env::var("ORDO_SOAK_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let seed: u64 = std::env::var("ORDO_SOAK_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(17);
    let mut server = Server::spawn(&fresh_db.url);
    server.wait_up().await;
    let t = token(&server.base).await;
    let http = crate::support::http_client();
    let s = setup(&http, &server.base, &t).await;
    let db = ordo_db::Db::open(&ordo_db::DbConfig::parse(&fresh_db.url, 2).unwrap()).unwrap();
    let mut rng = Rng(seed);
    let mut total = Counts::default();
    let mut failures = vec![];
    for round in 0..rounds {
        let load = Load {
            http: http.clone(),
            base: server.base.clone(),
            token: &t,
            round,
            setup: &s,
            log: Mutex::new(vec![]),
            answered: AtomicUsize::new(0),
            confirmed: Mutex::new(vec![]),
            dead: AtomicBool::new(false),
        };
        // Kill after a random number of answers and a random pause.
        let (after, pause) = (10 + rng.below(40), rng.below(200) as u64);
        let clients = futures_util::future::join_all((0..CLIENTS).map(|c| load.client(c, seed)));
        let killer = async {
            while load.answered.load(Ordering::SeqCst) < after {
                actix_web::rt::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            actix_web::rt::time::sleep(std::time::Duration::from_millis(pause)).await;
            server.kill();
            load.dead.store(true, Ordering::SeqCst);
        };
        futures_util::future::join(clients, killer).await;
        server = Server::spawn(&fresh_db.url);
        server.wait_up().await;
        let mut steps = load.log.into_inner().unwrap();
        let n = verify(&server.base, &t, &db, round, &mut steps, &mut failures).await;
        let by_kind: Vec<String> = [
            (Kind2::Customer, "customers"),
            (Kind2::Order, "orders"),
            (Kind2::Action, "state changes"),
            (Kind2::Receipt, "receipts"),
            (Kind2::Delivery, "deliveries"),
            (Kind2::Invoice, "invoices"),
            (Kind2::Payment, "payments"),
        ]
        .iter()
        .map(|(k, name)| format!("{} {name}", steps.iter().filter(|s| s.kind == *k).count()))
        .collect();
        eprintln!(
            "[soak] {kind:?} round {}/{rounds}: sent {} ({}), acknowledged {}, refused {}, unanswered {} (retried, ran once: {}), lost {}, duplicated {}",
            round + 1,
            n.sent,
            by_kind.join(", "),
            n.acknowledged,
            n.refused,
            n.unanswered,
            n.retried_once,
            n.lost,
            n.duplicated
        );
        total.sent += n.sent;
        total.acknowledged += n.acknowledged;
        total.refused += n.refused;
        total.unanswered += n.unanswered;
        total.retried_once += n.retried_once;
        total.lost += n.lost;
        for (k, v) in n.refusals {
            *total.refusals.entry(k).or_default() += v;
        }
        total.duplicated += n.duplicated;
    }
    eprintln!("[soak] {kind:?} total over {rounds} kills: {total:?}");
    assert!(total.acknowledged > 0 && total.unanswered > 0, "the kills cut requests off: {total:?}");
    assert!(failures.is_empty(), "{} failure(s):\n{}", failures.len(), failures.join("\n"));
    assert_eq!((total.lost, total.duplicated), (0, 0));
    drop(server);
    (fresh_db.drop)();
}

crate::per_backend!(kill_soak);
