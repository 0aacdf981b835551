//! The order path's statement budget (issue 16): what a client drives for one order —
//! create (priced), submit, approve, confirm (reserving) — counted with the debug
//! header. The count must not grow with the number of lines (multi-row writes, one
//! reservation update per order), and must stay within the budget below; the bench
//! (`make bench`) measures the time.

use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{id, ok, uuid_like, TestApp};

on_both_backends!(order_path_statements_are_flat_in_lines);

/// The whole 5-line path, BEGIN and COMMIT included: create 7, submit 6, approve 5,
/// confirm 12 on both databases (issue 16).
const BUDGET: u64 = 30;

struct Setup {
    customer: i64,
    items: Vec<i64>,
    warehouse: i64,
}

async fn setup(app: &TestApp) -> Setup {
    let t = &app.admin_token;
    let list =
        id(app.post("/api/v1/price-lists", t, json!({"name": "L", "currency": "EUR", "is_default": true})).await);
    let warehouse = id(app.post("/api/v1/warehouses", t, json!({"code": "W", "name": "W", "is_default": true})).await);
    ok(app
        .post("/api/v1/approval-routes", t, json!({"name": "R", "stages": [{"name": "Approver", "role": "admin"}]}))
        .await);
    let mut items = vec![];
    for k in 0..20 {
        let item = id(app
            .post(
                "/api/v1/items",
                t,
                json!({"sku": format!("S{k}"), "name": format!("Item {k}"), "base_unit": "PCS", "kind": "stock",
                    "standard_cost": "4.00"}),
            )
            .await);
        ok(app
            .post(&format!("/api/v1/price-lists/{list}/prices"), t, json!({"item_id": item, "price": "10.00"}))
            .await);
        // Item 19 has too little stock: its line is partly back-ordered.
        let q = if k == 19 { "3" } else { "1000" };
        ok(app
            .post(
                "/api/v1/stock/receipts",
                t,
                json!({"item_id": item, "warehouse_id": warehouse, "quantity": q, "unit_cost": "4.00"}),
            )
            .await);
        items.push(item);
    }
    let customer = id(app.post("/api/v1/customers", t, json!({"name": "Buyer", "currency": "EUR"})).await);
    Setup { customer, items, warehouse }
}

/// Create, submit, approve, confirm one order of `n` lines: statements per call and the order.
async fn order(app: &TestApp, s: &Setup, n: usize) -> (Vec<u64>, Value) {
    let t = &app.admin_token;
    let lines: Vec<Value> = s.items[20 - n..].iter().map(|i| json!({"item_id": i, "quantity": "5"})).collect();
    let r = app
        .post(
            "/api/v1/sales-orders",
            t,
            json!({"customer_id": s.customer, "contract_number": "K", "payment_terms_days": 30, "lines": lines}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let oid = r.body["id"].as_i64().unwrap();
    let mut counts = vec![r.statements()];
    let mut last = r.body;
    for step in ["submit", "approve", "confirm"] {
        let r = app.post(&format!("/api/v1/sales-orders/{oid}/{step}"), t, json!({})).await;
        assert_eq!(r.status, 200, "{step}: {}", r.body);
        counts.push(r.statements());
        last = r.body;
    }
    (counts, last)
}

async fn order_path_statements_are_flat_in_lines(app: TestApp) {
    let s = setup(&app).await;
    // The first order loads the reference data into the process's cache and takes a
    // block of order numbers; from then on every order of a size costs the same (until
    // the block of 20 is used up).
    order(&app, &s, 5).await;
    let (five, o5) = order(&app, &s, 5).await;
    let (twenty, o20) = order(&app, &s, 20).await;
    let (again, _) = order(&app, &s, 5).await;
    assert_eq!(five, again, "every 5-line order costs the same");
    assert_eq!(o5["status"], "in_execution");
    assert_eq!(o20["status"], "in_execution");
    let total5: u64 = five.iter().sum();
    let total20: u64 = twenty.iter().sum();
    assert!(total5 <= BUDGET, "create, submit, approve, confirm of 5 lines: {five:?} = {total5} > {BUDGET}");
    assert_eq!(total20, total5, "20 lines cost what 5 cost: {twenty:?} against {five:?}");
    // What the single reservation update did, line by line: 5 of each item reserved;
    // the short item's 3 went to the first order, so this one waits for all 5.
    let stock = ok(app.get(&format!("/api/v1/sales-orders/{}/stock", o20["id"]), &app.admin_token).await);
    let rows = stock.as_array().unwrap();
    assert_eq!(rows.len(), 20);
    for r in rows {
        let short = r["item_id"] == s.items[19];
        assert_eq!(r["ordered"], "5");
        assert_eq!(r["reserved"], if short { "0" } else { "5" }, "{r}");
        assert_eq!(r["backordered"], if short { "5" } else { "0" }, "{r}");
        assert_eq!(r["warehouse_id"], s.warehouse, "{r}");
    }
    let bal = ok(app.get(&format!("/api/v1/stock/balances?warehouse_id={}", s.warehouse), &app.admin_token).await);
    for b in bal["data"].as_array().unwrap() {
        let item = b["item_id"].as_i64().unwrap();
        // Items 0..15 are in the 20-line order only; 15..19 in all four orders; 19 short.
        let k = s.items.iter().position(|i| *i == item).unwrap();
        let reserved = match k {
            19 => "3",
            15..=18 => "20",
            _ => "5",
        };
        assert_eq!(b["reserved"], reserved, "item {k}: {b}");
    }
}

on_both_backends!(reference_data_changes_reach_every_process);

/// Price lists, approval routes and warehouses are cached per process (issue 16): a
/// change made by another process (here: another pool on the same database, changing
/// rows with plain SQL) or through the API shows on this process's next request.
async fn reference_data_changes_reach_every_process(app: TestApp) {
    use diesel::RunQueryDsl;
    let s = setup(&app).await;
    let t = &app.admin_token;
    let (_, o) = order(&app, &s, 5).await;
    assert_eq!(o["status"], "in_execution");
    let other = app.other_process_db();
    let sql = |q: &'static str| {
        other
            .write(&ordo_db::Stats::default(), |c| Ok(diesel::sql_query(q).execute(c)?))
            .expect("the other process's change");
    };
    let lines = json!([{"item_id": s.items[0], "quantity": "1"}]);
    let new_order = |lines: Value| {
        app.post("/api/v1/sales-orders", t, json!({"customer_id": s.customer, "contract_number": "K", "lines": lines}))
    };

    // Approval routes: the other process switches the route off, so a submitted order
    // is approved at once; switched back on, it waits for approval again.
    sql("UPDATE approval_routes SET active = false");
    let oid = id(new_order(lines.clone()).await);
    let r = ok(app.post(&format!("/api/v1/sales-orders/{oid}/submit"), t, json!({})).await);
    assert_eq!(r["status"], "approved", "{r}");
    sql("UPDATE approval_routes SET active = true");
    let oid = id(new_order(lines.clone()).await);
    let r = ok(app.post(&format!("/api/v1/sales-orders/{oid}/submit"), t, json!({})).await);
    assert_eq!(r["status"], "pending_approval", "{r}");

    // Price lists: the other process adds a 10% markup to the default list through a
    // new list based on it; orders are priced from the new default at once.
    sql("UPDATE price_lists SET is_default = false");
    // (`markup_percent` is stored in units of 10^-8.)
    sql("INSERT INTO price_lists (name, currency, prices_include_tax, is_default, active, base_price_list_id, \
         markup_percent, version, created_at, updated_at) \
         SELECT 'Markup', 'EUR', false, true, true, id, 1000000000, 1, created_at, updated_at \
         FROM price_lists WHERE name = 'L'");
    let r = ok(new_order(lines.clone()).await);
    assert_eq!(r["lines"][0]["unit_price"], "11.00", "{r}");

    // Customer prices: which customers have any is cached too; the customer's first
    // own price, added by the other process, wins at once.
    let customer_price = format!(
        "INSERT INTO customer_prices (customer_id, item_id, unit, currency, price, min_quantity, version, \
         created_at, updated_at) SELECT {}, {}, 'PCS', 'EUR', 70000, 0, 1, created_at, updated_at \
         FROM price_lists WHERE name = 'L'",
        s.customer, s.items[0]
    );
    other
        .write(&ordo_db::Stats::default(), |c| Ok(diesel::sql_query(&customer_price).execute(c)?))
        .expect("the other process's customer price");
    let r = ok(new_order(lines.clone()).await);
    assert_eq!(r["lines"][0]["unit_price"], "7.00", "{r}");

    // Warehouses: deactivated by the other process, the warehouse takes no more
    // reservations; the confirmation is refused and changes nothing.
    sql("UPDATE warehouses SET active = false");
    let oid = id(new_order(lines.clone()).await);
    ok(app.post(&format!("/api/v1/sales-orders/{oid}/submit"), t, json!({})).await);
    ok(app.post(&format!("/api/v1/sales-orders/{oid}/approve"), t, json!({})).await);
    let r = app.post(&format!("/api/v1/sales-orders/{oid}/confirm"), t, json!({})).await;
    assert!(r.status == 422, "{} {}", r.status, r.body);

    // And a change through this process's API: the warehouse active again.
    ok(app.patch(&format!("/api/v1/warehouses/{}", s.warehouse), t, json!({"active": true})).await);
    let r = ok(app.post(&format!("/api/v1/sales-orders/{oid}/confirm"), t, json!({})).await);
    assert_eq!(r["status"], "in_execution", "{r}");
}

on_both_backends!(number_blocks_follow_the_series);

/// Orders take numbers from a block the process holds; moving the series drops the
/// block at once, and a gap-free series takes no block at all.
async fn number_blocks_follow_the_series(app: TestApp) {
    let s = setup(&app).await;
    let t = &app.admin_token;
    let lines = json!([{"item_id": s.items[0], "quantity": "1"}]);
    let number = |r: Value| r["number"].as_str().unwrap().rsplit('-').next().unwrap().parse::<i64>().unwrap();
    let new_order = || app.post("/api/v1/sales-orders", t, json!({"customer_id": s.customer, "lines": lines.clone()}));
    let first = number(ok(new_order().await));
    let second = number(ok(new_order().await));
    assert_eq!(second, first + 1, "numbers from the block, in order");
    let series = || async {
        let all = ok(app.get("/api/v1/number-series", t).await);
        let list = all.get("data").unwrap_or(&all).as_array().unwrap().clone();
        list.into_iter().find(|s| s["code"] == "sales_order").unwrap()
    };
    let so = series().await;
    assert_eq!(so["next_value"], first + 20, "the block is taken from the series: {so}");

    // Moved: the block is dropped, the next order gets the new number.
    ok(app.patch("/api/v1/number-series/sales_order", t, json!({"next_value": 1000})).await);
    assert_eq!(number(ok(new_order().await)), 1000);
    assert_eq!(number(ok(new_order().await)), 1001);

    // Gap-free: numbers one by one from the series, which always says what comes next.
    ok(app.patch("/api/v1/number-series/sales_order", t, json!({"gap_free": true})).await);
    let next = series().await["next_value"].as_i64().unwrap();
    assert_eq!(number(ok(new_order().await)), next);
    assert_eq!(series().await["next_value"], next + 1);
}

on_both_backends!(sqlite_log_is_copied_back_beside_the_writer);

/// SQLite: commits go to the write-ahead log, and a checkpoint thread of Ordo's own
/// copies them into the database file (the writer's commits never run the checkpoint,
/// so they never wait for its fsyncs). A single small write — far below the 1,000
/// pages that would start SQLite's own automatic checkpoint — still reaches the file;
/// and after a burst of writes the log starts over (its header's checkpoint sequence
/// moves on), so it does not grow without end.
async fn sqlite_log_is_copied_back_beside_the_writer(app: TestApp) {
    let Some(file) = app.sqlite_path().map(|p| p.to_path_buf()) else { return };
    let wal = std::path::PathBuf::from(format!("{}-wal", file.display()));
    let t = &app.admin_token;
    let marker = format!("Checkpointed {}", uuid_like());
    ok(app.post("/api/v1/customers", t, json!({"name": marker, "currency": "EUR"})).await);
    let contains = |bytes: &[u8]| bytes.windows(marker.len()).any(|w| w == marker.as_bytes());
    let mut copied = false;
    for _ in 0..200 {
        copied = contains(&std::fs::read(&file).unwrap());
        if copied {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(copied, "the committed customer never left the write-ahead log for {}", file.display());

    // Bytes 12..16 of the log's header: how many times it has started over.
    let sequence = || {
        let h = std::fs::read(&wal).unwrap();
        u32::from_be_bytes([h[12], h[13], h[14], h[15]])
    };
    let before = sequence();
    let burst = futures_util::stream::iter(0..300)
        .map(|i| app.post("/api/v1/customers", t, json!({"name": format!("Burst {i}"), "currency": "EUR"})))
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    assert!(burst.into_iter().all(|r| r.status == 201), "every write of the burst");
    let mut restarted = false;
    for i in 0..200 {
        restarted = sequence() > before;
        if restarted {
            break;
        }
        ok(app.post("/api/v1/customers", t, json!({"name": format!("After {i}"), "currency": "EUR"})).await);
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(restarted, "the write-ahead log never started over ({} bytes)", std::fs::metadata(&wal).unwrap().len());
}
