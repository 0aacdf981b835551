//! The order-to-cash mix, after TPC-C: new order 45% (the whole order path), payment
//! 43%, order status, delivery (create, ship, invoice, post) and stock level 4% each,
//! at the bench's concurrency; then consistency checks on the database itself: stock
//! equals the ledger, reservations equal what open lines still wait for, document
//! totals equal their lines, invoices' settled amounts equal their allocations.

use diesel::sql_types::BigInt;
use diesel::{Connection, QueryableByName, RunQueryDsl};
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

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Rows breaking each invariant (all must be 0), read from the database.
fn consistency(url: &str, customer: i64) -> Value {
    let checks = [
        (
            "stock_on_hand_differs_from_ledger",
            "SELECT COUNT(*) AS n FROM stock_balances b WHERE b.on_hand <> (SELECT COALESCE(SUM(l.quantity), 0) \
             FROM stock_ledger l WHERE l.item_id = b.item_id AND l.warehouse_id = b.warehouse_id)"
                .to_string(),
        ),
        (
            "stock_reserved_differs_from_reservations",
            "SELECT COUNT(*) AS n FROM stock_balances b WHERE b.reserved <> (SELECT COALESCE(SUM(r.quantity), 0) \
             FROM reservations r WHERE r.status = 'active' AND r.item_id = b.item_id AND r.warehouse_id = b.warehouse_id)"
                .to_string(),
        ),
        (
            "open_lines_reserved_plus_backordered_not_ordered_minus_delivered",
            format!(
                "SELECT COUNT(*) AS n FROM order_line_stock s JOIN sales_orders o ON o.id = s.sales_order_id \
                 WHERE o.customer_id = {customer} AND o.status = 'in_execution' \
                 AND s.reserved + s.backordered <> s.ordered - s.delivered"
            ),
        ),
        (
            "order_net_differs_from_lines",
            format!(
                "SELECT COUNT(*) AS n FROM sales_orders o WHERE o.customer_id = {customer} AND o.net <> \
                 (SELECT COALESCE(SUM(l.net), 0) FROM document_lines l WHERE l.doc_kind = 'sales_order' AND l.doc_id = o.id)"
            ),
        ),
        (
            "invoice_net_differs_from_lines",
            format!(
                "SELECT COUNT(*) AS n FROM invoices i WHERE i.customer_id = {customer} AND i.kind = 'invoice' AND i.net <> \
                 (SELECT COALESCE(SUM(l.net), 0) FROM document_lines l WHERE l.doc_kind = 'invoice' AND l.doc_id = i.id)"
            ),
        ),
        (
            "invoice_settled_differs_from_allocations",
            format!(
                "SELECT COUNT(*) AS n FROM invoices i WHERE i.customer_id = {customer} AND i.kind = 'invoice' \
                 AND i.settled <> (SELECT COALESCE(SUM(a.amount), 0) FROM allocations a \
                 WHERE a.invoice_id = i.id AND a.reversed_at IS NULL)"
            ),
        ),
        (
            "payment_allocated_more_than_received",
            format!(
                "SELECT COUNT(*) AS n FROM payments p WHERE p.customer_id = {customer} AND p.amount < \
                 (SELECT COALESCE(SUM(a.source_amount), 0) FROM allocations a WHERE a.payment_id = p.id AND a.reversed_at IS NULL)"
            ),
        ),
    ];
    let mut out = serde_json::Map::new();
    let mut run = |n: &str, sql: &str, f: &mut dyn FnMut(&str) -> i64| {
        out.insert(n.to_string(), json!(f(sql)));
    };
    if url.starts_with("postgres") {
        let mut c = diesel::PgConnection::establish(url).expect("database");
        for (n, sql) in &checks {
            run(n, sql, &mut |q| diesel::sql_query(q).get_result::<Count>(&mut c).expect("check").n);
        }
    } else {
        let mut c = diesel::SqliteConnection::establish(url.trim_start_matches("sqlite://")).expect("database");
        for (n, sql) in &checks {
            run(n, sql, &mut |q| diesel::sql_query(q).get_result::<Count>(&mut c).expect("check").n);
        }
    }
    let broken: i64 = out.values().filter_map(Value::as_i64).sum();
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
