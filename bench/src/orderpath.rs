//! Order-path throughput: a same-run floor, Ordo's whole order path, and the same after
//! 1,000,000 order lines of history.
//!
//! The floor is the essential work of a new 5-line order written by hand: twelve
//! statements in one transaction (read the customer, read 5 prices, bump a gap-free
//! counter, insert the order, insert the 5 lines in one statement, 5 conditional stock
//! reservations, update the total, one audit row). It runs on the same database server
//! right before Ordo is measured: pgbench with a custom script (prepared statements)
//! on PostgreSQL; on SQLite the same statements through one direct connection behind a
//! lock (Ordo's own single-writer design), in a file beside Ordo's.
//!
//! Ordo's "order" is what a client drives for one 5-line order: create (priced),
//! submit, approve (the bench route asks for it), confirm (reserving stock).

use diesel::connection::SimpleConnection;
use diesel::sql_types::BigInt;
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{measure, send};

/// Seconds each floor run lasts.
const FLOOR_SECONDS: u64 = 10;
/// Items of the order path (5 bands of 100: an order takes one from each).
const ITEMS: usize = 500;
/// Customers the history is spread over.
const HISTORY_CUSTOMERS: usize = 200;
/// Order lines of history (5 per order).
const HISTORY_LINES: i64 = 1_000_000;

/// The floor's tables: `floor.*` on PostgreSQL, `floor_*` in SQLite's own file.
fn floor_schema(pg: bool) -> String {
    let (t, serial) = if pg { ("floor.", "BIGSERIAL PRIMARY KEY") } else { ("floor_", "INTEGER PRIMARY KEY") };
    let series = |n: i64| {
        if pg {
            format!("SELECT generate_series(1, {n}) AS n")
        } else {
            format!("WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {n}) SELECT n FROM g")
        }
    };
    let mut s = String::new();
    if pg {
        s.push_str("DROP SCHEMA IF EXISTS floor CASCADE; CREATE SCHEMA floor;");
    }
    s.push_str(&format!(
        "CREATE TABLE {t}customers (id BIGINT PRIMARY KEY, name TEXT NOT NULL, credit_limit BIGINT);
         CREATE TABLE {t}prices (item_id BIGINT PRIMARY KEY, price BIGINT NOT NULL);
         CREATE TABLE {t}counter (code TEXT PRIMARY KEY, next_value BIGINT NOT NULL);
         CREATE TABLE {t}orders (id {serial}, number TEXT NOT NULL UNIQUE, customer_id BIGINT NOT NULL,
             total BIGINT NOT NULL, created_at TIMESTAMP NOT NULL);
         CREATE TABLE {t}lines (id {serial}, order_id BIGINT NOT NULL, item_id BIGINT NOT NULL,
             quantity BIGINT NOT NULL, price BIGINT NOT NULL);
         CREATE INDEX floor_lines_order ON {t}lines (order_id);
         CREATE TABLE {t}stock (item_id BIGINT PRIMARY KEY, on_hand BIGINT NOT NULL, reserved BIGINT NOT NULL);
         CREATE TABLE {t}audit (id {serial}, entity TEXT NOT NULL, entity_id BIGINT NOT NULL,
             at TIMESTAMP NOT NULL, changes TEXT NOT NULL);
         INSERT INTO {t}customers SELECT n, 'Customer ' || n, NULL FROM ({c}) s;
         INSERT INTO {t}prices SELECT n, 1000 + n FROM ({i}) s;
         INSERT INTO {t}stock SELECT n, 1000000000, 0 FROM ({i}) s;
         INSERT INTO {t}counter VALUES ('order', 1);",
        c = series(1000),
        i = series(ITEMS as i64),
    ));
    s
}

/// The new-order transaction's twelve statements. `:c` is the customer, `:i1`..`:i5`
/// the items (one from each band of 100), `:n` the number, `:oid` the new order.
fn floor_statements(t: &str) -> Vec<String> {
    let items = ":i1, :i2, :i3, :i4, :i5";
    let mut s = vec![
        format!("SELECT id, name, credit_limit FROM {t}customers WHERE id = :c"),
        format!("SELECT item_id, price FROM {t}prices WHERE item_id IN ({items})"),
        format!("UPDATE {t}counter SET next_value = next_value + 1 WHERE code = 'order' RETURNING next_value AS n"),
        format!(
            "INSERT INTO {t}orders (number, customer_id, total, created_at) \
             VALUES ('SO-' || :n, :c, 0, CURRENT_TIMESTAMP) RETURNING id AS oid"
        ),
        format!(
            "INSERT INTO {t}lines (order_id, item_id, quantity, price) \
             SELECT :oid, item_id, 2, price FROM {t}prices WHERE item_id IN ({items})"
        ),
    ];
    for k in 1..=5 {
        s.push(format!(
            "UPDATE {t}stock SET reserved = reserved + 2 WHERE item_id = :i{k} AND on_hand - reserved >= 2"
        ));
    }
    // `:oid` once: pgbench's prepared mode cannot bind one variable twice.
    s.push(format!(
        "UPDATE {t}orders SET total = s.total FROM (SELECT order_id, SUM(quantity * price) AS total FROM {t}lines \
         WHERE order_id = :oid GROUP BY order_id) s WHERE {t}orders.id = s.order_id"
    ));
    // No colon in literals: pgbench reads `:word` as a variable.
    s.push(format!(
        "INSERT INTO {t}audit (entity, entity_id, at, changes) VALUES ('order', :oid, CURRENT_TIMESTAMP, 'created')"
    ));
    s
}

/// The floor on PostgreSQL: transactions per second of the pgbench script at
/// `clients` connections for FLOOR_SECONDS.
fn pg_floor(url: &str, clients: usize) -> Value {
    let mut script = String::from("\\set c random(1, 1000)\n");
    for k in 1..=5 {
        script.push_str(&format!("\\set i{k} random({}, {})\n", (k - 1) * 100 + 1, k * 100));
    }
    script.push_str("BEGIN;\n");
    for s in floor_statements("floor.") {
        // pgbench's \gset keeps a RETURNING value for the next statements.
        let gset = if s.contains(" AS n") || s.contains(" AS oid") { " \\gset" } else { ";" };
        script.push_str(&s);
        script.push_str(gset);
        script.push('\n');
    }
    script.push_str("COMMIT;\n");
    let path = std::env::temp_dir().join(format!("ordo-floor-{}.sql", std::process::id()));
    std::fs::write(&path, script).expect("pgbench script");
    let out = std::process::Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-f"])
        .arg(&path)
        .args(["-c", &clients.to_string(), "-j", &clients.min(2).to_string(), "-T", &FLOOR_SECONDS.to_string(), url])
        .output()
        .expect("pgbench (postgresql-client) on PATH");
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "pgbench failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    let tps = text
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .expect("tps in pgbench's output");
    let latency = text
        .lines()
        .find_map(|l| l.strip_prefix("latency average = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok());
    json!({"clients": clients, "tx_per_s": tps.round(), "latency_avg_ms": latency, "statements": 12, "tool": "pgbench -M prepared"})
}

#[derive(QueryableByName)]
struct One {
    #[diesel(sql_type = BigInt)]
    v: i64,
}

/// The floor on SQLite: the same statements, one connection behind a lock, `clients`
/// threads for FLOOR_SECONDS.
fn sqlite_floor(file: &str, clients: usize) -> Value {
    let mut c = SqliteConnection::establish(file).expect("floor file");
    c.batch_execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;")
        .expect("pragmas");
    let conn = Arc::new(Mutex::new(c));
    let statements = floor_statements("floor_");
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(FLOOR_SECONDS);
    let threads: Vec<_> = (0..clients)
        .map(|t| {
            let (conn, statements, done) = (conn.clone(), statements.clone(), done.clone());
            std::thread::spawn(move || {
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (t as u64 + 1);
                let mut next = |m: u64| {
                    // xorshift: enough randomness to spread customers and items.
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x % m
                };
                while Instant::now() < until {
                    let c = 1 + next(1000) as i64;
                    let items: Vec<i64> = (0..5).map(|k| k * 100 + 1 + next(100) as i64).collect();
                    let mut conn = conn.lock().expect("floor connection");
                    conn.immediate_transaction(|conn| {
                        let mut n = 0i64;
                        let mut oid = 0i64;
                        for s in &statements {
                            let mut sql = s.replace(":c", &c.to_string()).replace(":oid", &oid.to_string());
                            for (k, i) in items.iter().enumerate() {
                                sql = sql.replace(&format!(":i{}", k + 1), &i.to_string());
                            }
                            let sql = sql.replace(":n", &n.to_string());
                            if sql.contains(" AS n") {
                                n = diesel::sql_query(sql.replace(" AS n", " AS v")).get_result::<One>(conn)?.v;
                            } else if sql.contains(" AS oid") {
                                oid = diesel::sql_query(sql.replace(" AS oid", " AS v")).get_result::<One>(conn)?.v;
                            } else {
                                diesel::sql_query(sql).execute(conn)?;
                            }
                        }
                        diesel::QueryResult::Ok(())
                    })
                    .expect("floor transaction");
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("floor thread");
    }
    let n = done.load(std::sync::atomic::Ordering::Relaxed);
    json!({"clients": clients, "tx_per_s": (n as f64 / FLOOR_SECONDS as f64).round(), "statements": 12,
           "tool": "diesel, one connection behind a lock"})
}

/// The floor at 8 clients and at 1, on the server's own database (PostgreSQL) or a
/// file beside it (SQLite).
fn floor(url: &str, concurrency: usize) -> Value {
    if url.starts_with("postgres") {
        let mut c = diesel::PgConnection::establish(url).expect("floor database");
        c.batch_execute(&floor_schema(true)).expect("floor schema");
        let r = json!({"concurrent": pg_floor(url, concurrency), "one_client": pg_floor(url, 1)});
        c.batch_execute("DROP SCHEMA floor CASCADE").expect("drop floor");
        r
    } else {
        let file = format!("{}-floor", url.trim_start_matches("sqlite://"));
        let _ = std::fs::remove_file(&file);
        SqliteConnection::establish(&file)
            .expect("floor file")
            .batch_execute(&floor_schema(false))
            .expect("floor schema");
        let r = json!({"concurrent": sqlite_floor(&file, concurrency), "one_client": sqlite_floor(&file, 1)});
        for f in [file.clone(), format!("{file}-wal"), format!("{file}-shm")] {
            let _ = std::fs::remove_file(f);
        }
        r
    }
}

/// What the order path needs: a customer on its own price list and warehouse, 500
/// stocked items, an approval route for standard orders.
#[derive(Clone)]
pub(crate) struct Setup {
    pub(crate) customer: i64,
    pub(crate) items: Vec<i64>,
    customers: Vec<i64>,
}

async fn setup(client: &reqwest::Client, base: &str, auth: &str, concurrency: usize) -> Setup {
    let api = format!("{base}/api/v1");
    let post = |path: &str, body: Value| client.post(format!("{api}{path}")).header("authorization", auth).json(&body);
    let list = send(post("/price-lists", json!({"name": "Order path list", "currency": "EUR"}))).await;
    let list = list["id"].as_i64().expect("price list");
    let wh = send(post("/warehouses", json!({"code": "ORDERS", "name": "Order path warehouse"}))).await;
    let wh = wh["id"].as_i64().expect("warehouse");
    let customer = send(post(
        "/customers",
        json!({"name": "Order path customer", "currency": "EUR", "price_list_id": list, "default_warehouse_id": wh}),
    ))
    .await["id"]
        .as_i64()
        .expect("customer");
    let routes = crate::get_json(client, &format!("{api}/approval-routes"), auth).await;
    if routes["data"].as_array().is_none_or(|r| r.is_empty()) {
        send(post(
            "/approval-routes",
            json!({"name": "Bench route", "stages": [{"name": "Approver", "role": "admin"}]}),
        ))
        .await;
    }
    let mut items = vec![];
    for i in 0..ITEMS {
        let item = send(post(
            "/items",
            json!({"sku": format!("ORD-{i:04}"), "name": format!("Order path item {i}"), "base_unit": "PCS",
                   "kind": "stock", "standard_cost": "4.00"}),
        ))
        .await;
        items.push(item["id"].as_i64().expect("item"));
    }
    measure(client, ITEMS, concurrency, |i| {
        post(
            &format!("/price-lists/{list}/prices"),
            json!({"item_id": items[i], "price": format!("{}.50", 5 + i % 40)}),
        )
    })
    .await;
    measure(client, ITEMS, concurrency, |i| {
        post(
            "/stock/receipts",
            json!({"item_id": items[i], "warehouse_id": wh, "quantity": "100000000", "unit_cost": "4.00"}),
        )
    })
    .await;
    let mut customers = vec![];
    for i in 0..HISTORY_CUSTOMERS {
        let c = send(post("/customers", json!({"name": format!("History customer {i}"), "currency": "EUR"}))).await;
        customers.push(c["id"].as_i64().expect("customer"));
    }
    Setup { customer, items, customers }
}

pub(crate) fn order_body(s: &Setup, i: usize) -> Value {
    let lines: Vec<Value> =
        (0..5).map(|k| json!({"item_id": s.items[k * 100 + (i * 37 + k * 11) % 100], "quantity": "2"})).collect();
    json!({"customer_id": s.customer, "contract_number": "BENCH", "payment_terms_days": 30, "lines": lines})
}

/// One whole order as a client drives it: create, submit, approve where the route
/// asks, confirm. The order's id and the statements its four calls took; `None` when
/// a call failed or the order did not end in execution.
pub(crate) async fn place_order(client: &reqwest::Client, api: &str, auth: &str, body: Value) -> Option<(i64, u64)> {
    let call = |path: String, body: Value| {
        let rb = client.post(format!("{api}{path}")).header("authorization", auth).json(&body);
        async move {
            let r = rb.send().await.ok()?;
            let st: Option<u64> =
                r.headers().get("x-ordo-db-statements").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
            let ok = r.status().is_success();
            let v: Value = r.json().await.ok()?;
            ok.then_some((v, st.unwrap_or(0)))
        }
    };
    let (o, a) = call("/sales-orders".into(), body).await?;
    let id = o["id"].as_i64()?;
    let (o, b) = call(format!("/sales-orders/{id}/submit"), json!({})).await?;
    let c = if o["status"] == "pending_approval" {
        call(format!("/sales-orders/{id}/approve"), json!({})).await?.1
    } else {
        0
    };
    let (o, d) = call(format!("/sales-orders/{id}/confirm"), json!({})).await?;
    (o["status"] == "in_execution").then_some((id, a + b + c + d))
}

/// `count` whole orders (create, submit, approve where asked, confirm), `concurrency`
/// clients each driving one order at a time.
async fn order_path(
    client: &reqwest::Client,
    base: &str,
    auth: &str,
    s: &Setup,
    count: usize,
    concurrency: usize,
) -> Value {
    let api = format!("{base}/api/v1");
    let started = Instant::now();
    let samples: Vec<(Duration, Option<u64>)> = stream::iter(0..count)
        .map(|i| {
            let (body, api) = (order_body(s, i), &api);
            async move {
                let t = Instant::now();
                let st = place_order(client, api, auth, body).await.map(|(_, st)| st);
                (t.elapsed(), st)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let wall = started.elapsed().as_secs_f64();
    let (p50, p99) = crate::p50_p99_ms(samples.iter().map(|s| s.0));
    let stmts: Vec<u64> = samples.iter().filter_map(|s| s.1).collect();
    json!({
        "orders": count,
        "errors": count - stmts.len(),
        "orders_per_s": (count as f64 / wall).round(),
        "p50_ms": p50,
        "p99_ms": p99,
        "statements_per_order": if stmts.is_empty() { Value::Null } else { json!(stmts.iter().sum::<u64>() as f64 / stmts.len() as f64) },
    })
}

/// The order path, and `POST /sales-orders` alone, at the bench's concurrency and with
/// one client.
async fn measure_orders(
    client: &reqwest::Client,
    base: &str,
    auth: &str,
    s: &Setup,
    count: usize,
    concurrency: usize,
) -> Value {
    let create = measure(client, count, concurrency, |i| {
        client.post(format!("{base}/api/v1/sales-orders")).header("authorization", auth).json(&order_body(s, i))
    })
    .await;
    let path = order_path(client, base, auth, s, count, concurrency).await;
    let path1 = order_path(client, base, auth, s, count / 4, 1).await;
    json!({"create_order_5_lines": create, "order_5_lines": path, "order_5_lines_one_client": path1})
}

/// 1,000,000 order lines of history in bulk: 200,000 closed orders of 5 lines over the
/// last two years across 200 customers, with their stock lines, sales facts, audit and
/// journal rows — what the order path's tables and indexes hold after a few years.
fn seed_history(url: &str, s: &Setup) -> f64 {
    let pg = url.starts_with("postgres");
    let series = |n: i64| {
        if pg {
            format!("SELECT generate_series(0, {}) AS n", n - 1)
        } else {
            format!(
                "WITH RECURSIVE g(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM g WHERE n < {}) SELECT n FROM g",
                n - 1
            )
        }
    };
    let orders = HISTORY_LINES / 5;
    let (cmin, imin) = (s.customers[0], s.items[0]);
    let ncust = s.customers.len() as i64;
    let day = if pg {
        "CURRENT_DATE - CAST(s.n % 730 AS INTEGER)".to_string()
    } else {
        "date('now', '-' || (s.n % 730) || ' days')".to_string()
    };
    let line_day = day.replace("s.n", "(s.n / 5)");
    const O: i64 = 50_000_000;
    let statements = [
        format!(
            "INSERT INTO sales_orders (id, number, order_type, customer_id, currency, doc_date, payment_terms_days, \
             contract_number, terms, status, approval, net, gross, base_net, pricing, version, created_at, updated_at, \
             shipping_invoiced) \
             SELECT {O} + s.n, 'HIST-' || s.n, 'standard', {cmin} + s.n % {ncust}, 'EUR', {day}, 30, 'H', '{{}}', 'closed', \
             '{{}}', 500000, 615000, 500000, '{{}}', 4, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, (1 = 0) FROM ({}) s",
            series(orders)
        ),
        format!(
            "INSERT INTO document_lines (id, doc_kind, doc_id, position, item_id, quantity, unit, base_quantity, options, \
             components, unit_price, discount, net, tax, gross, tax_percent, pricing, called_off_quantity, version, \
             billed_quantity, billed_net, billed_tax, warehouse_id) \
             SELECT {O} + s.n, 'sales_order', {O} + s.n / 5, 1 + s.n % 5, {imin} + (s.n % 5) * 100 + (s.n / 5) % 100, \
             20000, 'PCS', 20000, '{{}}', '[]', 50000, 0, 100000, 23000, 123000, 2300000000, '{{}}', 0, 1, 0, 0, 0, NULL \
             FROM ({}) s",
            series(HISTORY_LINES)
        ),
        format!(
            "INSERT INTO order_line_stock (line_id, sales_order_id, item_id, warehouse_id, requested_date, ordered, \
             reserved, backordered, delivered, returned, version) \
             SELECT l.id, l.doc_id, l.item_id, w.id, CURRENT_DATE, 20000, 0, 0, 20000, 0, 1 \
             FROM document_lines l, (SELECT MIN(id) AS id FROM warehouses) w WHERE l.id >= {O}"
        ),
        format!(
            "INSERT INTO sales_facts (basis, doc_id, line_id, doc_date, month, customer_id, item_id, quantity, net_base, \
             cost_base, doc_first, group_first, item_first) \
             SELECT 'order', {O} + s.n / 5, {O} + s.n, {line_day}, 202601, {cmin} + (s.n / 5) % {ncust}, \
             {imin} + (s.n % 5) * 100 + (s.n / 5) % 100, 20000, 100000, 80000, CASE WHEN s.n % 5 = 0 THEN 1 ELSE 0 END, 1, 1 \
             FROM ({}) s",
            series(HISTORY_LINES)
        ),
        // Four audit entries an order, each with its journal line (as the order path
        // writes them).
        format!(
            "INSERT INTO audit_log (entity, entity_id, action, actor, actor_name, request_id, at, changes, \
             journal_stage, journal_kind, journal_text) \
             SELECT 'sales_order', {O} + s.n / 4, 'status', 'user:1', 'admin', NULL, CURRENT_TIMESTAMP, '{{}}', \
             'approved', 'event', 'History' FROM ({}) s",
            series(orders * 4)
        ),
    ];
    let t = Instant::now();
    crate::analytics::exec(url, &statements);
    t.elapsed().as_secs_f64()
}

/// `BENCH_ONLY=orderpath`: only the order path, `count` orders, between the lines
/// `[orders] profile start` and `[orders] profile end` on stderr, so a profiler
/// (`perf record -p`) can watch that window alone.
pub async fn profile(client: &reqwest::Client, base: &str, auth: &str, count: usize, concurrency: usize) -> Value {
    let setup = setup(client, base, auth, concurrency).await;
    eprintln!("[orders] profile start");
    let path = order_path(client, base, auth, &setup, count, concurrency).await;
    eprintln!("[orders] profile end");
    path
}

/// The first half: the floor and the order path before the history.
pub struct Empty {
    setup: Setup,
    floor: Value,
    baseline: Value,
    measured: Value,
}

/// The floor and the order path on a database without history (run first).
pub async fn empty(
    client: &reqwest::Client,
    base: &str,
    auth: &str,
    url: &str,
    count: usize,
    concurrency: usize,
) -> Empty {
    eprintln!("[orders] setting up {ITEMS} stocked items");
    let setup = setup(client, base, auth, concurrency).await;
    let baseline = measure(client, count, concurrency, |_| client.get(format!("{base}/healthz"))).await;
    eprintln!("[orders] floor: {FLOOR_SECONDS} s at {concurrency} clients and at 1");
    let url2 = url.to_string();
    let floor = actix_web::rt::task::spawn_blocking(move || floor(&url2, concurrency)).await.expect("floor");
    eprintln!("[orders] the order path, {count} orders");
    let mut measured = measure_orders(client, base, auth, &setup, count, concurrency).await;
    eprintln!("[orders] the order-to-cash mix, {} operations", count * 2);
    measured["o2c_mix"] = crate::o2c::mix(client, base, auth, url, &setup, count * 2, concurrency).await;
    Empty { setup, floor, baseline, measured }
}

/// The second half (run last): 1,000,000 order lines of history, the order path again,
/// and every figure as a ratio of the floor and of the `/healthz` baseline.
pub async fn with_history(
    e: Empty,
    client: &reqwest::Client,
    base: &str,
    auth: &str,
    url: &str,
    count: usize,
    concurrency: usize,
) -> Value {
    eprintln!("[orders] seeding {HISTORY_LINES} order lines of history");
    let (url2, s2) = (url.to_string(), e.setup.clone());
    let seed_seconds =
        actix_web::rt::task::spawn_blocking(move || seed_history(&url2, &s2)).await.expect("history seeding");
    let history = measure_orders(client, base, auth, &e.setup, count, concurrency).await;
    let rate = |v: &Value, k: &str| v[k].as_f64().unwrap_or(0.0);
    let ratio = |a: f64, b: f64| if b > 0.0 { ((a / b) * 1000.0).round() / 1000.0 } else { 0.0 };
    let (floor, empty) = (&e.floor, &e.measured);
    let floor_c = rate(&floor["concurrent"], "tx_per_s");
    let floor_1 = rate(&floor["one_client"], "tx_per_s");
    let healthz = rate(&e.baseline, "req_per_s");
    let path = rate(&empty["order_5_lines"], "orders_per_s");
    let create = rate(&empty["create_order_5_lines"], "req_per_s");
    json!({
        "floor": floor,
        "baseline_healthz": e.baseline,
        "empty": empty,
        "history": {"order_lines": HISTORY_LINES, "seed_seconds": seed_seconds, "measured": history},
        "ratios": {
            "order_path_vs_floor": ratio(path, floor_c),
            "create_order_vs_floor": ratio(create, floor_c),
            "order_path_one_client_vs_floor_one_client":
                ratio(rate(&empty["order_5_lines_one_client"], "orders_per_s"), floor_1),
            "order_path_vs_healthz": ratio(path, healthz),
            "create_order_vs_healthz": ratio(create, healthz),
            "order_path_history_vs_empty": ratio(rate(&history["order_5_lines"], "orders_per_s"), path),
            "create_order_history_vs_empty": ratio(rate(&history["create_order_5_lines"], "req_per_s"), create),
        },
    })
}
