//! The order-to-cash mix, after TPC-C: new order 45% (the whole order path), payment
//! 43%, order status, delivery (create, ship, invoice, post) and stock level 4% each,
//! at the bench's concurrency; then consistency checks on the database itself: stock
//! equals the ledger, reservations equal what open lines still wait for, document
//! totals equal their lines, invoices' settled amounts equal their allocations.

use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::orderpath::Setup;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Op {
    NewOrder,
    Payment,
    OrderStatus,
    Delivery,
    StockLevel,
}

impl Op {
    fn of(i: usize) -> Op {
        match (i * 37) % 100 {
            0..45 => Op::NewOrder,
            45..88 => Op::Payment,
            88..92 => Op::OrderStatus,
            92..96 => Op::Delivery,
            _ => Op::StockLevel,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Op::NewOrder => "new_order",
            Op::Payment => "payment",
            Op::OrderStatus => "order_status",
            Op::Delivery => "delivery",
            Op::StockLevel => "stock_level",
        }
    }
}

struct Client<'a> {
    http: &'a reqwest::Client,
    api: String,
    auth: &'a str,
}

impl Client<'_> {
    async fn call(&self, get: bool, path: &str, body: Value) -> Option<Value> {
        let url = format!("{}{path}", self.api);
        let rb = if get { self.http.get(url) } else { self.http.post(url).json(&body) };
        let r = rb.header("authorization", self.auth).send().await.ok()?;
        let ok = r.status().is_success();
        let v: Value = r.json().await.ok()?;
        ok.then_some(v)
    }
}

/// One operation; `None` when a call failed.
async fn run_op(c: &Client<'_>, s: &Setup, op: Op, i: usize, confirmed: &Mutex<VecDeque<i64>>) -> Option<()> {
    match op {
        Op::NewOrder => {
            let (id, _) =
                crate::orderpath::place_order(c.http, &c.api, c.auth, crate::orderpath::order_body(s, i)).await?;
            confirmed.lock().expect("queue").push_back(id);
        }
        Op::Payment => {
            let amount = format!("{}.{:02}", 20 + i % 80, i % 100);
            c.call(
                false,
                "/payments",
                json!({"customer_id": s.customer, "amount": amount, "currency": "EUR", "method": "bank_transfer",
                       "reference": format!("BENCH-{i}"), "allocate_oldest_first": true}),
            )
            .await?;
        }
        Op::OrderStatus => {
            let last = confirmed.lock().expect("queue").back().copied();
            match last {
                Some(id) => c.call(true, &format!("/sales-orders/{id}?include=availability"), Value::Null).await?,
                None => c.call(true, &format!("/customers/{}", s.customer), Value::Null).await?,
            };
        }
        Op::Delivery => {
            let next = confirmed.lock().expect("queue").pop_front();
            let Some(id) = next else { return Some(()) };
            let d = c.call(false, &format!("/sales-orders/{id}/deliveries"), json!({})).await?;
            let d = d["id"].as_i64()?;
            c.call(
                false,
                &format!("/deliveries/{d}/ship"),
                json!({"carrier": "Bench", "tracking_number": format!("T{i}")}),
            )
            .await?;
            let inv = c.call(false, &format!("/deliveries/{d}/invoice"), json!({})).await?;
            let inv = inv["id"].as_i64()?;
            c.call(false, &format!("/invoices/{inv}/post"), json!({})).await?;
        }
        Op::StockLevel => {
            let item = s.items[i % s.items.len()];
            c.call(true, &format!("/stock/balances?item_id={item}"), Value::Null).await?;
        }
    }
    Some(())
}

/// Rows breaking each invariant (all must be 0), read from the database
/// ([`ordo_db::invariants`], the checks the soak harness runs after every crash).
fn consistency(url: &str, customer: i64) -> Value {
    let db = ordo_db::Db::open(&ordo_db::DbConfig::parse(url, 1).expect("database url")).expect("database");
    let found = db
        .read(&ordo_db::Stats::default(), |c| ordo_db::invariants::violations(c, Some(customer)))
        .expect("consistency checks");
    let broken: i64 = found.iter().map(|(_, n)| n).sum();
    let out: serde_json::Map<String, Value> = found.into_iter().map(|(k, n)| (k.to_string(), json!(n))).collect();
    json!({"checks": out, "consistent": broken == 0})
}

/// `count` operations of the mix at `concurrency`, then the checks.
pub async fn mix(
    http: &reqwest::Client,
    base: &str,
    auth: &str,
    url: &str,
    s: &Setup,
    count: usize,
    concurrency: usize,
) -> Value {
    let c = Client { http, api: format!("{base}/api/v1"), auth };
    let confirmed = Mutex::new(VecDeque::new());
    let started = Instant::now();
    let samples: Vec<(Op, Duration, bool)> = stream::iter(0..count)
        .map(|i| {
            let (c, confirmed) = (&c, &confirmed);
            async move {
                let op = Op::of(i);
                let t = Instant::now();
                let ok = run_op(c, s, op, i, confirmed).await.is_some();
                (op, t.elapsed(), ok)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let wall = started.elapsed().as_secs_f64();
    let mut per = serde_json::Map::new();
    for op in [Op::NewOrder, Op::Payment, Op::OrderStatus, Op::Delivery, Op::StockLevel] {
        let count = samples.iter().filter(|x| x.0 == op).count();
        let (p50, p99) = crate::p50_p99_ms(samples.iter().filter(|x| x.0 == op).map(|x| x.1));
        let errors = samples.iter().filter(|x| x.0 == op && !x.2).count();
        per.insert(op.name().into(), json!({"count": count, "errors": errors, "p50_ms": p50, "p99_ms": p99}));
    }
    let new_orders = samples.iter().filter(|x| x.0 == Op::NewOrder && x.2).count();
    let url2 = url.to_string();
    let customer = s.customer;
    let checks =
        actix_web::rt::task::spawn_blocking(move || consistency(&url2, customer)).await.expect("consistency checks");
    json!({
        "operations": count,
        "concurrency": concurrency,
        "ops_per_s": (count as f64 / wall).round(),
        "new_orders_per_minute": (new_orders as f64 / wall * 60.0).round(),
        "per_operation": per,
        "consistency": checks,
    })
}
