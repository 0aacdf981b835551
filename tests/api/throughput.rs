//! The order path's statement budget (issue 16): what a client drives for one order —
//! create (priced), submit, approve, confirm (reserving) — counted with the debug
//! header. The count must not grow with the number of lines (multi-row writes, one
//! reservation update per order), and must stay within the budget below; the bench
//! (`make bench`) measures the time.

use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{id, ok, TestApp};

on_both_backends!(order_path_statements_are_flat_in_lines);

/// The whole 5-line path today: 50 on SQLite, 53 on PostgreSQL, which locks the order
/// row with its own statement before submit, approve and confirm read it (see the
/// issue-16 note for where it goes next).
const BUDGET: u64 = 53;

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
    // A first order warms nothing up: the counts are the same for every order.
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
        // Items 0..15 are in the 20-line order only; 15..19 in all three orders; 19 short.
        let k = s.items.iter().position(|i| *i == item).unwrap();
        let reserved = match k {
            19 => "3",
            15..=18 => "15",
            _ => "5",
        };
        assert_eq!(b["reserved"], reserved, "item {k}: {b}");
    }
}
