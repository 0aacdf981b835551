//! `ordo-bench`: the load generator behind `make bench`. Seeds a running server over
//! HTTP, then measures fixed-count operation mixes at a fixed concurrency and merges
//! req/s, p50, p99 and SQL statements per request into a JSON result file, beside a
//! same-run baseline (`GET /healthz` of the same server).
//! Timings are floats on purpose: this crate measures seconds, never money.
#![allow(clippy::float_arithmetic)]

mod analytics;
mod chart;
mod documents;
mod o2c;
mod orderpath;

use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

struct Args {
    base: String,
    backend: String,
    user: String,
    password: String,
    seed: usize,
    count: usize,
    concurrency: usize,
    out: String,
    /// The server's database, for seeding history in bulk (the aging report's 100,000
    /// invoices and payments); without it that part is skipped.
    database_url: Option<String>,
    /// The port of the SMTP sink the bench starts (the server mails through it);
    /// without it the mail part is skipped.
    smtp_port: Option<u16>,
    /// The server's process id: its resident memory is read after the run.
    server_pid: Option<u32>,
}

fn args() -> Args {
    let mut a = Args {
        base: "http://127.0.0.1:8080".into(),
        backend: "sqlite".into(),
        user: "admin".into(),
        password: "admin".into(),
        seed: 10_000,
        count: 2_000,
        concurrency: 8,
        out: "target/bench/result.json".into(),
        database_url: None,
        smtp_port: None,
        server_pid: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--base" => a.base = v,
            "--backend" => a.backend = v,
            "--user" => a.user = v,
            "--password" => a.password = v,
            "--seed" => a.seed = v.parse().expect("--seed N"),
            "--count" => a.count = v.parse().expect("--count N"),
            "--concurrency" => a.concurrency = v.parse().expect("--concurrency N"),
            "--out" => a.out = v,
            "--database-url" => a.database_url = Some(v),
            "--smtp-port" => a.smtp_port = Some(v.parse().expect("--smtp-port N")),
            "--server-pid" => a.server_pid = Some(v.parse().expect("--server-pid N")),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

struct Sample {
    latency: Duration,
    statements: Option<u64>,
    ok: bool,
}

/// Runs `count` requests built by `make(i)` with `concurrency` in flight.
async fn measure<F>(client: &reqwest::Client, count: usize, concurrency: usize, make: F) -> Value
where
    F: Fn(usize) -> reqwest::RequestBuilder,
{
    let _ = client; // the builders already carry the client
    let started = Instant::now();
    let samples: Vec<Sample> = stream::iter(0..count)
        .map(|i| {
            let rb = make(i);
            async move {
                let t = Instant::now();
                match rb.send().await {
                    Ok(r) => {
                        let ok = r.status().is_success();
                        let statements = r
                            .headers()
                            .get("x-ordo-db-statements")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.parse().ok());
                        let _ = r.bytes().await;
                        Sample { latency: t.elapsed(), statements, ok }
                    }
                    Err(_) => Sample { latency: t.elapsed(), statements: None, ok: false },
                }
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let wall = started.elapsed().as_secs_f64();
    let (p50, p99) = p50_p99_ms(samples.iter().map(|s| s.latency));
    let stmts: Vec<u64> = samples.iter().filter_map(|s| s.statements).collect();
    let errors = samples.iter().filter(|s| !s.ok).count();
    json!({
        "requests": count,
        "errors": errors,
        "req_per_s": (count as f64 / wall).round(),
        "p50_ms": p50,
        "p99_ms": p99,
        "statements_per_request": if stmts.is_empty() { Value::Null } else { json!(stmts.iter().sum::<u64>() as f64 / stmts.len() as f64) },
    })
}

/// The 50th and 99th percentile of these latencies, in milliseconds.
fn p50_p99_ms(latencies: impl Iterator<Item = Duration>) -> (f64, f64) {
    let mut lat: Vec<u128> = latencies.map(|d| d.as_micros()).collect();
    lat.sort_unstable();
    let pct = |p: usize| lat.get((lat.len() * p / 100).min(lat.len().saturating_sub(1))).copied().unwrap_or(0);
    (pct(50) as f64 / 1000.0, pct(99) as f64 / 1000.0)
}

async fn run(a: Args) -> Value {
    // Idle connections are dropped before the server's keep-alive (5 s) closes them,
    // so a request after a long pause (bulk seeding) does not meet a closed socket.
    // reqwest is built without a default TLS provider (see the workspace Cargo.toml).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let smtp = a.smtp_port.map(documents::smtp_sink);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(a.concurrency * 2)
        .pool_idle_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let token: String = {
        let r = client
            .post(format!("{}/api/v1/auth/token", a.base))
            .json(&json!({"grant_type": "password", "username": a.user, "password": a.password}))
            .send()
            .await
            .expect("token request");
        let v: Value = r.json().await.expect("token json");
        v["access_token"].as_str().expect("access_token").to_string()
    };
    let auth = format!("Bearer {token}");
    let base = a.base.clone();
    // `BENCH_ONLY=analytics`: only the reports over a large history (quick to rerun).
    if std::env::var("BENCH_ONLY").as_deref() == Ok("analytics") {
        let url = a.database_url.as_deref().expect("--database-url for bulk seeding");
        return json!({"analytics": analytics::analytics(&client, &base, &auth, url).await});
    }
    // `BENCH_ONLY=orders`: the floor and the order path, empty and with history.
    let orders_count = a.count / 4;
    if std::env::var("BENCH_ONLY").as_deref() == Ok("orderpath") {
        let path = orderpath::profile(&client, &base, &auth, a.count, a.concurrency).await;
        return json!({"order_path": path, "server_rss_mb": rss_mb(a.server_pid),
                      "server_threads": proc_status(a.server_pid, "Threads:"), "sqlite_wal_mb": wal_mb(&a.database_url)});
    }
    if std::env::var("BENCH_ONLY").as_deref() == Ok("orders") {
        let url = a.database_url.as_deref().expect("--database-url for the floor and the history");
        let e = orderpath::empty(&client, &base, &auth, url, orders_count, a.concurrency).await;
        let orders = orderpath::with_history(e, &client, &base, &auth, url, orders_count, a.concurrency).await;
        return json!({"orders": orders, "server_rss_mb": rss_mb(a.server_pid), "sqlite_wal_mb": wal_mb(&a.database_url)});
    }

    eprintln!("[{}] seeding {} customers and {} items", a.backend, a.seed, a.seed);
    let seeding = Instant::now();
    let seeded_customers = measure(&client, a.seed, a.concurrency, |i| {
        client.post(format!("{base}/api/v1/customers")).header("authorization", &auth).json(&json!({
            "name": format!("Bench customer {i}"), "currency": "EUR", "tax_id": format!("BT{i:08}"),
            "credit_limit": "10000.00", "billing_address": {"line1": "1 Bench Road", "city": "Berlin", "country": "DE"}
        }))
    })
    .await;
    let seeded_items = measure(&client, a.seed, a.concurrency, |i| {
        client.post(format!("{base}/api/v1/items")).header("authorization", &auth).json(&json!({
            "sku": format!("BENCH-{i:06}"), "name": format!("Bench item {i}"), "base_unit": "PCS", "kind": "stock",
            "standard_cost": "9.99"
        }))
    })
    .await;
    let seed_seconds = seeding.elapsed().as_secs_f64();

    // Ids of the seeded customers (the list endpoint gives them in id order).
    let first_page: Value = client
        .get(format!("{base}/api/v1/customers?limit=200"))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<i64> = first_page["data"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect();
    let max_id = ids.iter().copied().max().unwrap_or(1) + a.seed as i64 - ids.len() as i64;
    let pick = |i: usize| 1 + ((i as i64 * 7919) % max_id.max(1));

    eprintln!("[{}] measuring {} requests per operation at concurrency {}", a.backend, a.count, a.concurrency);
    let baseline = measure(&client, a.count, a.concurrency, |_| client.get(format!("{base}/healthz"))).await;
    let get_customer = measure(&client, a.count, a.concurrency, |i| {
        client.get(format!("{base}/api/v1/customers/{}", pick(i))).header("authorization", &auth)
    })
    .await;
    let list_customers = measure(&client, a.count, a.concurrency, |i| {
        // Start pages at different places: a keyset cursor is just an id.
        let cursor = base64_cursor(pick(i));
        client.get(format!("{base}/api/v1/customers?limit=50&cursor={cursor}")).header("authorization", &auth)
    })
    .await;
    let create_customer = measure(&client, a.count, a.concurrency, |i| {
        client
            .post(format!("{base}/api/v1/customers"))
            .header("authorization", &auth)
            .json(&json!({"name": format!("Measured customer {i}"), "currency": "EUR"}))
    })
    .await;
    // Pricing: a default list with a price for every item, 50 active rules, then quotes.
    let list: Value = client
        .post(format!("{base}/api/v1/price-lists"))
        .header("authorization", &auth)
        .json(&json!({"name": "Bench list", "currency": "EUR", "is_default": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list_id = list["id"].as_i64().expect("price list");
    let first_item = {
        let page: Value = client
            .get(format!("{base}/api/v1/items?limit=1"))
            .header("authorization", &auth)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        page["data"][0]["id"].as_i64().unwrap_or(1)
    };
    let prices = measure(&client, a.seed, a.concurrency, |i| {
        client.post(format!("{base}/api/v1/price-lists/{list_id}/prices")).header("authorization", &auth).json(&json!({
            "item_id": first_item + i as i64, "price": format!("{}.{:02}", 5 + i % 90, i % 100)
        }))
    })
    .await;
    for r in 0..50 {
        client
            .post(format!("{base}/api/v1/pricing-rules"))
            .header("authorization", &auth)
            .json(&json!({"name": format!("Bench rule {r}"), "item_id": first_item + (r * 37) as i64,
                          "action": "discount_percent", "percent": "3", "min_quantity": "2"}))
            .send()
            .await
            .unwrap();
    }
    let customer = first_page["data"][0]["id"].as_i64().unwrap_or(1);
    // The 1,000-line order below is submitted: its customer needs no credit limit.
    send(
        client
            .patch(format!("{base}/api/v1/customers/{customer}"))
            .header("authorization", &auth)
            .header("content-type", "application/merge-patch+json")
            .body(r#"{"credit_limit": null}"#),
    )
    .await;
    let basket = |i: usize, n: usize| {
        let lines: Vec<Value> = (0..n)
            .map(|k| json!({"item_id": first_item + ((i * 131 + k * 7919) % a.seed) as i64, "quantity": format!("{}", 1 + k % 5)}))
            .collect();
        json!({"customer_id": customer, "lines": lines})
    };
    let quote5 = measure(&client, a.count, a.concurrency, |i| {
        client.post(format!("{base}/api/v1/pricing/quote")).header("authorization", &auth).json(&basket(i, 5))
    })
    .await;
    let quote20 = measure(&client, a.count, a.concurrency, |i| {
        client.post(format!("{base}/api/v1/pricing/quote")).header("authorization", &auth).json(&basket(i, 20))
    })
    .await;
    // Sales orders: 5 and 20 lines, priced by the engine, numbered, with their checklist.
    let order5 = measure(&client, a.count, a.concurrency, |i| {
        client.post(format!("{base}/api/v1/sales-orders")).header("authorization", &auth).json(&basket(i, 5))
    })
    .await;
    let order20 = measure(&client, a.count, a.concurrency, |i| {
        client.post(format!("{base}/api/v1/sales-orders")).header("authorization", &auth).json(&basket(i, 20))
    })
    .await;
    // One 1,000-line order: created, one line edited, submitted and approved, each timed.
    client
        .post(format!("{base}/api/v1/approval-routes"))
        .header("authorization", &auth)
        .json(&json!({"name": "Bench route", "stages": [{"name": "Approver", "role": "admin"}]}))
        .send()
        .await
        .unwrap();
    let (big, create_big) =
        timed(client.post(format!("{base}/api/v1/sales-orders")).header("authorization", &auth).json(&basket(1, 1000)))
            .await;
    let big_id = big["id"].as_i64().expect("1,000-line order");
    let line_id = big["lines"][500]["id"].as_i64().expect("line 501");
    let (_, edit_big) = timed(
        client
            .patch(format!("{base}/api/v1/sales-orders/{big_id}/lines/{line_id}"))
            .header("authorization", &auth)
            .json(&json!({"quantity": "7"})),
    )
    .await;
    let (_, submit_big) = timed(
        client
            .post(format!("{base}/api/v1/sales-orders/{big_id}/submit"))
            .header("authorization", &auth)
            .json(&json!({})),
    )
    .await;
    let (approved, approve_big) = timed(
        client
            .post(format!("{base}/api/v1/sales-orders/{big_id}/approve"))
            .header("authorization", &auth)
            .json(&json!({})),
    )
    .await;
    assert_eq!(approved["status"], "approved", "{approved}");
    let fulfillment = fulfillment(&client, &base, &auth, (first_item, list_id), a.count / 4, a.concurrency).await;
    let import = import_prices(&client, &base, &auth, a.seed).await;
    let billing =
        billing(&client, &base, &auth, first_item, a.count / 4, a.concurrency, a.database_url.as_deref()).await;
    let documents = documents::documents(&client, &base, &auth, first_item, a.concurrency, smtp.as_deref()).await;
    // The order path before the bulk history (its own customer, price list, warehouse
    // and items, so the sections above do not price its orders); the history part last.
    let orders_empty = match a.database_url.as_deref() {
        Some(url) => Some(orderpath::empty(&client, &base, &auth, url, orders_count, a.concurrency).await),
        None => None,
    };
    let analytics = match a.database_url.as_deref() {
        Some(url) => analytics::analytics(&client, &base, &auth, url).await,
        None => Value::Null,
    };
    let orders = match (orders_empty, a.database_url.as_deref()) {
        (Some(e), Some(url)) => {
            orderpath::with_history(e, &client, &base, &auth, url, orders_count, a.concurrency).await
        }
        _ => Value::Null,
    };
    json!({
        "seed": {"customers": a.seed, "items": a.seed, "seconds": seed_seconds, "item_prices": prices,
                 "create_customer": seeded_customers, "create_item": seeded_items},
        "concurrency": a.concurrency,
        "operations": {
            "baseline_healthz": baseline,
            "get_customer": get_customer,
            "list_customers_page_50": list_customers,
            "create_customer": create_customer,
            "quote_5_lines": quote5,
            "quote_20_lines": quote20,
            "create_order_5_lines": order5,
            "create_order_20_lines": order20,
        },
        "order_1000_lines": {"create": create_big, "edit_one_line": edit_big, "submit": submit_big, "approve": approve_big},
        "fulfillment": fulfillment,
        "import": import,
        "billing": billing,
        "documents": documents,
        "analytics": analytics,
        "orders": orders,
        "server_rss_mb": rss_mb(a.server_pid),
    })
}

/// The server's resident memory in MB (Linux), read from /proc.
fn rss_mb(pid: Option<u32>) -> Value {
    proc_status(pid, "VmRSS:").as_u64().map_or(Value::Null, |kb| json!(kb / 1024))
}

/// The size of SQLite's write-ahead log after the run (it must not grow without end).
fn wal_mb(url: &Option<String>) -> Value {
    let Some(path) = url.as_deref().and_then(|u| u.strip_prefix("sqlite://")) else { return Value::Null };
    std::fs::metadata(format!("{path}-wal")).map_or(Value::Null, |m| json!(m.len() / (1024 * 1024)))
}

/// A number from the server's `/proc/PID/status` (`VmRSS:` in kB, `Threads:`).
fn proc_status(pid: Option<u32>, field: &str) -> Value {
    let Some(pid) = pid else { return Value::Null };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .map_or(Value::Null, |n| json!(n))
}

/// `POST /imports` of 10 price tiers for every seeded item (100,000 prices with the
/// default seed) into a new list, as one all-or-nothing CSV file: the time from upload
/// to `completed`, and the time of a dry run of the same file.
async fn import_prices(client: &reqwest::Client, base: &str, auth: &str, seed: usize) -> Value {
    let name = format!("Import bench {}", std::process::id());
    let list = send(client.post(format!("{base}/api/v1/price-lists")).header("authorization", auth).json(&json!({
        "name": name, "currency": "EUR", "prices_include_tax": false
    })))
    .await;
    assert!(list["id"].is_i64(), "{list}");
    let mut csv = String::from("price_list,sku,price,min_quantity\n");
    for i in 0..seed {
        for tier in 0..10 {
            csv.push_str(&format!("{name},BENCH-{i:06},{}.{:02},{tier}\n", 10 + i % 90, (i + tier) % 100));
        }
    }
    let rows = seed * 10;
    eprintln!("importing {rows} item prices ({} MB)", csv.len() / 1_000_000);
    let upload = |dry: bool| {
        client
            .post(format!("{base}/api/v1/imports?kind=item_prices{}", if dry { "&dry_run=true" } else { "" }))
            .header("authorization", auth)
            .header("content-type", "text/csv")
            .body(csv.clone())
    };
    let started = Instant::now();
    let dry = send(upload(true)).await;
    let dry_seconds = started.elapsed().as_secs_f64();
    assert_eq!(dry["rows_valid"].as_u64(), Some(rows as u64), "{dry}");
    let started = Instant::now();
    let job = send(upload(false)).await;
    let url = format!("{base}/api/v1/imports/{}", job["id"]);
    let done = loop {
        let v = get_json(client, &url, auth).await;
        if !matches!(v["status"].as_str(), Some("queued" | "running")) {
            break v;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    };
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(done["status"], "completed", "{done}");
    json!({"item_prices": rows, "seconds": seconds, "rows_per_second": rows as f64 / seconds, "dry_run_seconds": dry_seconds})
}

/// GETs and answers the JSON body.
async fn get_json(client: &reqwest::Client, url: &str, auth: &str) -> Value {
    send(client.get(url).header("authorization", auth)).await
}

/// Sends and answers the JSON body (panics on a non-2xx: seeding must work).
async fn send(rb: reqwest::RequestBuilder) -> Value {
    timed(rb).await.0
}

/// Stock, confirm (reserving), ship, promise, availability under load and the
/// reservation race. Orders go through the bench approval route (submit + approve).
async fn fulfillment(
    client: &reqwest::Client,
    base: &str,
    auth: &str,
    (first_item, list_id): (i64, i64),
    n: usize,
    concurrency: usize,
) -> Value {
    let post =
        |path: &str, body: Value| client.post(format!("{base}/api/v1{path}")).header("authorization", auth).json(&body);
    let today = time::OffsetDateTime::now_utc().date();
    let day = |k: i64| (today + time::Duration::days(k)).to_string();
    // Its own customer, without a credit limit: hundreds of open orders would exceed one.
    let customer = send(post("/customers", json!({"name": "Bench fulfillment", "currency": "EUR"}))).await;
    let customer = customer["id"].as_i64().expect("customer");
    let wh = send(post("/warehouses", json!({"code": "BENCH", "name": "Bench warehouse", "is_default": true}))).await;
    let wh = wh["id"].as_i64().expect("warehouse");
    // 500 stocked items, plenty of each.
    const STOCKED: usize = 500;
    let receipts = measure(client, STOCKED, concurrency, |i| {
        post(
            "/stock/receipts",
            json!({"item_id": first_item + i as i64, "warehouse_id": wh, "quantity": "1000000", "unit_cost": "9.99"}),
        )
    })
    .await;
    let lines = |i: usize, n: usize| -> Vec<Value> {
        (0..n).map(|k| json!({"item_id": first_item + ((i * 131 + k * 7) % STOCKED) as i64, "quantity": format!("{}", 1 + k % 5)})).collect()
    };
    eprintln!("[fulfillment] {n} approved 5-line orders");
    let mut orders = vec![];
    for i in 0..n {
        let o = send(post(
            "/sales-orders",
            json!({"customer_id": customer, "contract_number": "BENCH", "payment_terms_days": 30, "lines": lines(i, 5)}),
        ))
        .await;
        let id = o["id"].as_i64().expect("order");
        send(post(&format!("/sales-orders/{id}/submit"), json!({}))).await;
        send(post(&format!("/sales-orders/{id}/approve"), json!({}))).await;
        orders.push(id);
    }
    let confirm =
        measure(client, n, concurrency, |i| post(&format!("/sales-orders/{}/confirm", orders[i]), json!({}))).await;
    let create_delivery =
        measure(client, n, concurrency, |i| post(&format!("/sales-orders/{}/deliveries", orders[i]), json!({}))).await;
    let mut ids: Vec<i64> = vec![];
    let mut cursor = String::new();
    loop {
        let page = get_json(client, &format!("{base}/api/v1/deliveries?status=draft&limit=200{cursor}"), auth).await;
        ids.extend(page["data"].as_array().unwrap().iter().map(|d| d["id"].as_i64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    let ship = measure(client, ids.len(), concurrency, |i| {
        post(&format!("/deliveries/{}/ship", ids[i]), json!({"carrier": "Bench", "tracking_number": format!("B{i}")}))
    })
    .await;
    // Promising a 20-line basket: stocked items, items due on expected receipts, and
    // items only a replenishment lead time can promise.
    for k in 0..100i64 {
        let item = first_item + STOCKED as i64 + k;
        send(post("/expected-receipts", json!({"item_id": item, "warehouse_id": wh, "quantity": "50", "expected_date": day(5 + k % 20), "source": "supplier_order"}))).await;
        send(post("/replenishment-parameters", json!({"item_id": item + 100, "method": if k % 2 == 0 { "purchase" } else { "produce" }, "lead_time_days": 10, "daily_capacity": if k % 2 == 0 { Value::Null } else { json!("20") }}))).await;
    }
    let promise20 = measure(client, n, concurrency, |i| {
        let lines: Vec<Value> = (0..20)
            .map(|k| {
                let item = first_item + ((i * 37 + k * 11) % (STOCKED + 200)) as i64;
                json!({"item_id": item, "quantity": format!("{}", 1 + (i + k) % 30), "requested_date": day((k % 10) as i64)})
            })
            .collect();
        post("/promising", json!({"lines": lines}))
    })
    .await;
    // Availability of one item with 1,000 open order lines and 100 expected receipts.
    eprintln!("[fulfillment] availability: 1,000 order lines, 100 expected receipts");
    let hot =
        send(post("/items", json!({"sku": "BENCH-HOT", "name": "Hot item", "base_unit": "PCS", "kind": "stock"})))
            .await;
    let hot = hot["id"].as_i64().expect("hot item");
    send(post(&format!("/price-lists/{list_id}/prices"), json!({"item_id": hot, "price": "4.00"}))).await;
    send(post("/stock/receipts", json!({"item_id": hot, "warehouse_id": wh, "quantity": "500", "unit_cost": "1"})))
        .await;
    for k in 0..100i64 {
        send(post("/expected-receipts", json!({"item_id": hot, "warehouse_id": wh, "quantity": "40", "expected_date": day(1 + k), "source": "production_order"}))).await;
    }
    for o in 0..50usize {
        let lines: Vec<Value> = (0..20)
            .map(|k| json!({"item_id": hot, "quantity": "1", "requested_date": day(((o * 20 + k) % 120) as i64)}))
            .collect();
        let order = send(post(
            "/sales-orders",
            json!({"customer_id": customer, "contract_number": "BENCH", "payment_terms_days": 30, "lines": lines}),
        ))
        .await;
        let id = order["id"].as_i64().expect("order");
        send(post(&format!("/sales-orders/{id}/submit"), json!({}))).await;
        // Half confirmed (reserved and back-ordered), half waiting for approval.
        if o % 2 == 0 {
            send(post(&format!("/sales-orders/{id}/approve"), json!({}))).await;
            send(post(&format!("/sales-orders/{id}/confirm"), json!({}))).await;
        }
    }
    let to = day(180);
    let availability = measure(client, n, concurrency, |_| {
        client.get(format!("{base}/api/v1/items/{hot}/availability?to={to}")).header("authorization", auth)
    })
    .await;
    // The race: 200 concurrent reservations of 1 unit for stock that covers 100.
    let race =
        send(post("/items", json!({"sku": "BENCH-RACE", "name": "Race item", "base_unit": "PCS", "kind": "stock"})))
            .await;
    let race = race["id"].as_i64().expect("race item");
    send(post("/stock/receipts", json!({"item_id": race, "warehouse_id": wh, "quantity": "100", "unit_cost": "1"})))
        .await;
    let contest = measure(client, 200, concurrency * 2, |_| {
        post("/reservations", json!({"item_id": race, "warehouse_id": wh, "quantity": "1", "customer_id": customer}))
    })
    .await;
    let bal = get_json(client, &format!("{base}/api/v1/stock/balances?item_id={race}&warehouse_id={wh}"), auth).await;
    let units = |k: &str| bal["data"][0][k].as_str().and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    let (on_hand, reserved) = (units("on_hand"), units("reserved"));
    let granted = 200 - contest["errors"].as_i64().unwrap_or(0);
    json!({
        "stock_receipt": receipts,
        "confirm_order_5_lines": confirm,
        "create_delivery_5_lines": create_delivery,
        "ship_delivery_5_lines": ship,
        "promise_20_lines": promise20,
        "availability_1000_lines_100_receipts": availability,
        "reservation_race": {
            "requests": 200, "granted": granted, "on_hand": on_hand, "reserved": reserved,
            // Units reserved beyond on hand: must be 0; and every granted request holds its unit.
            "oversell": (reserved - on_hand).max(0),
            "granted_equals_reserved": granted == reserved,
            "run": contest,
        },
    })
}

/// Billing: `n` 5-line direct invoices created and posted at the bench's concurrency
/// (posting takes the gap-free number: the series row is the contended one), `n`
/// payments allocated oldest-first, and the aging report over 100,000 posted invoices
/// and 100,000 payments seeded in bulk into the server's database.
async fn billing(
    client: &reqwest::Client,
    base: &str,
    auth: &str,
    first_item: i64,
    n: usize,
    concurrency: usize,
    database_url: Option<&str>,
) -> Value {
    let post =
        |path: &str, body: Value| client.post(format!("{base}/api/v1{path}")).header("authorization", auth).json(&body);
    let customer = send(post("/customers", json!({"name": "Bench billing", "currency": "EUR"}))).await;
    let customer = customer["id"].as_i64().expect("customer");
    let lines = |i: usize| -> Vec<Value> {
        (0..5).map(|k| json!({"item_id": first_item + ((i * 131 + k * 7) % 500) as i64, "quantity": "1"})).collect()
    };
    eprintln!("[billing] {n} invoices created, posted, paid");
    let create =
        measure(client, n, concurrency, |i| post("/invoices", json!({"customer_id": customer, "lines": lines(i)})))
            .await;
    let mut drafts: Vec<i64> = vec![];
    let mut cursor = String::new();
    loop {
        let page = get_json(
            client,
            &format!("{base}/api/v1/invoices?customer_id={customer}&status=draft&sort=id&limit=200{cursor}"),
            auth,
        )
        .await;
        drafts.extend(page["data"].as_array().unwrap().iter().map(|d| d["id"].as_i64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    let post_invoice =
        measure(client, drafts.len(), concurrency, |i| post(&format!("/invoices/{}/post", drafts[i]), json!({}))).await;
    let pay = measure(client, n, concurrency, |_| {
        post(
            "/payments",
            json!({"customer_id": customer, "amount": "10.00", "currency": "EUR", "method": "bank_transfer",
                "allocate_oldest_first": true}),
        )
    })
    .await;
    let aging = match database_url {
        Some(url) => aging(client, base, auth, url).await,
        None => json!("skipped: no --database-url"),
    };
    json!({
        "create_invoice_5_lines": create,
        "post_invoice_5_lines": post_invoice,
        "payment_allocated_oldest_first": pay,
        "aging_100k": aging,
    })
}

/// Seeds 100,000 posted invoices (spread over the seeded customers and 200 days) and
/// 100,000 payments each settling half of one, then times `GET /reports/aging`.
async fn aging(client: &reqwest::Client, base: &str, auth: &str, url: &str) -> Value {
    use diesel::RunQueryDsl;
    const N: i64 = 100_000;
    let pricing = r#"{"totals":{"net":"100","shipping":"0","discount":"0","tax":"23","gross":"123","taxes":[],"base_currency":"EUR","base_rate":"1","base_net":"100","base_tax":"23","base_gross":"123"},"shipping_rule_id":null,"coupon_rule_id":null,"explanation":[]}"#;
    let customers = "(SELECT MIN(id) FROM customers)";
    // The first thousand seeded customers (made one after the other: their ids are dense).
    let count = "1000";
    let (series, day, due) = match url.starts_with("postgres") {
        true => (
            format!("SELECT generate_series(1, {N}) AS n"),
            "CURRENT_DATE - CAST(s.n % 200 AS INTEGER)".to_string(),
            "CURRENT_DATE - CAST(s.n % 200 AS INTEGER) + 30".to_string(),
        ),
        false => (
            format!("WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {N}) SELECT n FROM g"),
            "date('now', '-' || (s.n % 200) || ' days')".to_string(),
            "date('now', '-' || (s.n % 200) || ' days', '+30 days')".to_string(),
        ),
    };
    let now = "CURRENT_TIMESTAMP";
    let statements = [
        format!(
            "INSERT INTO invoices (kind, number, draft_number, customer_id, currency, doc_date, due_date, payment_terms_days, \
             status, net, tax, gross, base_rate, base_net, base_tax, base_gross, settled, credited, pricing, posted_at, posted_by, \
             version, created_at, updated_at) \
             SELECT 'invoice', 'BENCH-INV-' || s.n, 'BENCH-DRAFT-' || s.n, {customers} + (s.n % {count}), 'EUR', {day}, {due}, 30, \
             'posted', 1000000, 230000, 1230000, 100000000, 1000000, 230000, 1230000, 615000, 0, '{pricing}', {now}, 'bench', \
             1, {now}, {now} FROM ({series}) s"
        ),
        format!(
            "INSERT INTO payments (number, customer_id, pay_date, amount, currency, method, status, allocated, refunded, \
             base_rate, base_amount, version, created_at, updated_at) \
             SELECT 'BENCH-PAY-' || s.n, {customers} + (s.n % {count}), {day}, 615000, 'EUR', 'bank_transfer', 'cleared', \
             615000, 0, 100000000, 615000, 1, {now}, {now} FROM ({series}) s"
        ),
        format!(
            "INSERT INTO allocations (kind, payment_id, invoice_id, customer_id, amount, source_amount, rate, fx_difference, \
             alloc_date, actor, created_at) \
             SELECT 'payment', p.id, i.id, i.customer_id, 615000, 615000, 100000000, 0, p.pay_date, 'bench', {now} \
             FROM payments p JOIN invoices i ON i.number = 'BENCH-INV-' || substr(p.number, 11) WHERE p.number LIKE 'BENCH-PAY-%'"
        ),
    ];
    let seeding = Instant::now();
    let db = ordo_db::Db::open(&ordo_db::DbConfig::parse(url, 1).expect("database url")).expect("open database");
    db.write(&ordo_db::Stats::default(), |c| {
        for s in &statements {
            match c {
                ordo_db::DbConnection::Pg(c) => diesel::sql_query(s).execute(c)?,
                ordo_db::DbConnection::Sqlite(c) => diesel::sql_query(s).execute(c)?,
            };
        }
        Ok(())
    })
    .expect("seed invoices and payments");
    let seed_seconds = seeding.elapsed().as_secs_f64();
    if url.starts_with("postgres") {
        db.write(&ordo_db::Stats::default(), |c| {
            if let ordo_db::DbConnection::Pg(c) = c {
                diesel::sql_query("ANALYZE").execute(c)?;
            }
            Ok(())
        })
        .expect("analyze");
    }
    eprintln!("[billing] aging over 100,000 invoices and payments (seeded in {seed_seconds:.1} s)");
    let past = (time::OffsetDateTime::now_utc().date() - time::Duration::days(60)).to_string();
    let today =
        measure(client, 20, 1, |_| client.get(format!("{base}/api/v1/reports/aging")).header("authorization", auth))
            .await;
    let as_of = measure(client, 20, 1, |_| {
        client.get(format!("{base}/api/v1/reports/aging?as_of={past}&by=territory")).header("authorization", auth)
    })
    .await;
    json!({"seeded_seconds": seed_seconds, "invoices": N, "payments": N, "today": today, "as_of_60_days_ago": as_of})
}

/// One request, timed: its JSON body and {ms, status, statements}.
async fn timed(rb: reqwest::RequestBuilder) -> (Value, Value) {
    let t = Instant::now();
    let r = rb.send().await.expect("request");
    let status = r.status().as_u16();
    let statements: Option<u64> =
        r.headers().get("x-ordo-db-statements").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let body: Value = r.json().await.unwrap_or(Value::Null);
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    assert!(status < 300, "{status} {body}");
    (body, json!({"ms": (ms * 10.0).round() / 10.0, "status": status, "statements": statements}))
}

/// The API's cursor format (`v1:<id>`, base64url without padding).
fn base64_cursor(id: i64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("v1:{id}"))
}

fn main() {
    let a = args();
    let out = a.out.clone();
    let backend = a.backend.clone();
    let result = actix_web::rt::System::new().block_on(run(a));
    let mut all: Value =
        std::fs::read_to_string(&out).ok().and_then(|s| serde_json::from_str(&s).ok()).unwrap_or(json!({}));
    all[backend.as_str()] = result;
    if let Some(dir) = std::path::Path::new(&out).parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(&out, serde_json::to_string_pretty(&all).unwrap()).unwrap();
    // The chart beside the JSON: throughput per operation and backend, the floor as a line.
    std::fs::write(std::path::Path::new(&out).with_extension("svg"), chart::svg(&all)).unwrap();
    println!("{}", serde_json::to_string_pretty(&all[backend.as_str()]).unwrap());
}
