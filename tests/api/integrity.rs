//! Stock integrity under the operations that consume limited quantities: races on
//! deliveries, returns, reservations and approvals; reservations carried by open
//! deliveries; cancelling and closing orders with deliveries; stock held in several
//! warehouses; and a model-based test of random operation sequences that checks the
//! stock invariants through the API after every step.

use crate::on_both_backends;
use crate::support::{id, ok, Resp, TestApp};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::str::FromStr;

on_both_backends!(
    concurrent_deliveries_take_the_stock_once,
    concurrent_returns_never_exceed_what_was_delivered,
    stock_on_an_open_delivery_stays_reserved,
    cancelling_an_order_cancels_its_deliveries,
    stock_held_in_several_warehouses,
    sourcing_warehouses_of_orders_and_lines,
    closing_an_order_short,
    readiness_reports_stock,
    concurrent_approvals_answer_409,
    concurrent_coupon_uses_and_call_offs_stop_at_the_limit,
    random_operations_keep_the_invariants,
);

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(v.as_str().unwrap_or_else(|| panic!("not a decimal string: {v}"))).unwrap()
}

struct World {
    items: Vec<i64>,
    main: i64,
    second: i64,
    quarantine: i64,
    customers: Vec<i64>,
}

async fn world(app: &TestApp) -> World {
    let t = &app.admin_token;
    let list =
        id(app.post("/api/v1/price-lists", t, json!({"name": "L", "currency": "EUR", "is_default": true})).await);
    let mut items = vec![];
    for n in 0..2 {
        let i = id(app
            .post(
                "/api/v1/items",
                t,
                json!({"sku": format!("S{n}"), "name": format!("Stock {n}"), "base_unit": "PCS", "kind": "stock",
                    "over_delivery_tolerance": "10"}),
            )
            .await);
        ok(app.post(&format!("/api/v1/price-lists/{list}/prices"), t, json!({"item_id": i, "price": "10.00"})).await);
        items.push(i);
    }
    let main = id(app.post("/api/v1/warehouses", t, json!({"code": "MAIN", "name": "Main", "is_default": true})).await);
    let second = id(app.post("/api/v1/warehouses", t, json!({"code": "SEC", "name": "Second"})).await);
    let quarantine =
        id(app.post("/api/v1/warehouses", t, json!({"code": "QUAR", "name": "Quarantine", "quarantine": true})).await);
    let mut customers = vec![];
    for n in 0..3 {
        customers.push(id(app.post("/api/v1/customers", t, json!({"name": format!("C{n}"), "currency": "EUR"})).await));
    }
    World { items, main, second, quarantine, customers }
}

async fn receive(app: &TestApp, item: i64, wh: i64, q: &str) {
    ok(app
        .post(
            "/api/v1/stock/receipts",
            &app.admin_token,
            json!({"item_id": item, "warehouse_id": wh, "quantity": q, "unit_cost": "2.00"}),
        )
        .await);
}

/// A confirmed order; returns (order id, its line ids).
async fn confirmed(app: &TestApp, body: Value) -> (i64, Vec<i64>) {
    let t = &app.admin_token;
    let mut body = body;
    body["contract_number"] = json!("K-1");
    body["payment_terms_days"] = json!(30);
    let o = ok(app.post("/api/v1/sales-orders", t, body).await);
    let oid = o["id"].as_i64().unwrap();
    let s = ok(app.post(&format!("/api/v1/sales-orders/{oid}/submit"), t, json!({})).await);
    assert_eq!(s["status"], "approved");
    ok(app.post(&format!("/api/v1/sales-orders/{oid}/confirm"), t, json!({})).await);
    (oid, o["lines"].as_array().unwrap().iter().map(|l| l["id"].as_i64().unwrap()).collect())
}

async fn line_stock(app: &TestApp, order: i64) -> Vec<Value> {
    ok(app.get(&format!("/api/v1/sales-orders/{order}/stock"), &app.admin_token).await).as_array().unwrap().clone()
}

async fn balance(app: &TestApp, item: i64, wh: i64) -> (Decimal, Decimal) {
    let b = ok(app.get(&format!("/api/v1/stock/balances?item_id={item}&warehouse_id={wh}"), &app.admin_token).await);
    let row = &b["data"][0];
    if row.is_null() {
        return (Decimal::ZERO, Decimal::ZERO);
    }
    (dec(&row["on_hand"]), dec(&row["reserved"]))
}

fn q(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// Every page of a list.
pub(crate) async fn all(app: &TestApp, path: &str) -> Vec<Value> {
    let mut out = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(c) => format!("{path}{sep}limit=200&cursor={c}"),
            None => format!("{path}{sep}limit=200"),
        };
        let page = ok(app.get(&url, &app.admin_token).await);
        out.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

/// The stock invariants, read through the API only. Panics naming the broken one.
async fn check_invariants(app: &TestApp, orders: &[i64], step: &str) {
    let t = &app.admin_token;
    let mut ledger: HashMap<(i64, i64), Decimal> = HashMap::new();
    for e in all(app, "/api/v1/stock/ledger").await {
        *ledger.entry((e["item_id"].as_i64().unwrap(), e["warehouse_id"].as_i64().unwrap())).or_default() +=
            dec(&e["quantity"]);
    }
    let mut held: HashMap<(i64, i64), Decimal> = HashMap::new();
    let mut held_by_line: HashMap<(i64, i64), Decimal> = HashMap::new();
    for r in all(app, "/api/v1/reservations?status=active").await {
        let key = (r["item_id"].as_i64().unwrap(), r["warehouse_id"].as_i64().unwrap());
        let quantity = dec(&r["quantity"]);
        assert!(quantity > Decimal::ZERO, "{step}: an active reservation of nothing: {r}");
        *held.entry(key).or_default() += quantity;
        if let Some(line) = r["order_line_id"].as_i64() {
            *held_by_line.entry((line, key.1)).or_default() += quantity;
        }
    }
    for b in all(app, "/api/v1/stock/balances").await {
        let key = (b["item_id"].as_i64().unwrap(), b["warehouse_id"].as_i64().unwrap());
        let (on_hand, reserved) = (dec(&b["on_hand"]), dec(&b["reserved"]));
        assert_eq!(on_hand, ledger.get(&key).copied().unwrap_or_default(), "{step}: on hand = Σ ledger for {key:?}");
        assert_eq!(
            reserved,
            held.get(&key).copied().unwrap_or_default(),
            "{step}: reserved = Σ active reservations {key:?}"
        );
        assert!(reserved >= Decimal::ZERO && reserved <= on_hand, "{step}: 0 ≤ reserved ≤ on hand for {key:?}: {b}");
    }
    // Deliveries and returns per order line.
    let mut shipped: HashMap<i64, Decimal> = HashMap::new();
    let mut carried: HashMap<(i64, i64), Decimal> = HashMap::new();
    let mut delivery_line: HashMap<i64, (i64, Decimal)> = HashMap::new();
    for d in all(app, "/api/v1/deliveries").await {
        let status = d["status"].as_str().unwrap();
        for l in d["lines"].as_array().unwrap() {
            let (line, quantity) = (l["order_line_id"].as_i64().unwrap(), dec(&l["quantity"]));
            delivery_line.insert(l["id"].as_i64().unwrap(), (line, quantity));
            match status {
                "shipped" => *shipped.entry(line).or_default() += quantity,
                "draft" | "picked" => {
                    *carried.entry((line, d["warehouse_id"].as_i64().unwrap())).or_default() += quantity
                }
                _ => {}
            }
        }
    }
    let mut returned: HashMap<i64, Decimal> = HashMap::new();
    let mut authorised: HashMap<i64, Decimal> = HashMap::new();
    for r in all(app, "/api/v1/returns").await {
        for l in r["lines"].as_array().unwrap() {
            let dl = l["delivery_line_id"].as_i64().unwrap();
            if r["status"] != "cancelled" {
                *authorised.entry(dl).or_default() += dec(&l["quantity"]);
            }
            if r["status"] == "received" {
                *returned.entry(delivery_line[&dl].0).or_default() += dec(&l["quantity"]);
            }
        }
    }
    for (dl, q) in &authorised {
        assert!(
            *q <= delivery_line[dl].1,
            "{step}: delivery line {dl}: returns {q} > delivered {}",
            delivery_line[dl].1
        );
    }
    for o in orders {
        let status = ok(app.get(&format!("/api/v1/sales-orders/{o}"), t).await)["status"].as_str().unwrap().to_string();
        for l in line_stock(app, *o).await {
            let line = l["line_id"].as_i64().unwrap();
            let [ordered, reserved, back, delivered, ret, on_delivery] =
                ["ordered", "reserved", "backordered", "delivered", "returned", "on_delivery"].map(|k| dec(&l[k]));
            let what = format!("{step}: order {o} ({status}) line {line}: {l}");
            for v in [ordered, reserved, back, delivered, ret, on_delivery] {
                assert!(v >= Decimal::ZERO, "{what}: nothing negative");
            }
            assert_eq!(delivered, shipped.get(&line).copied().unwrap_or_default(), "{what}: delivered = Σ shipped");
            assert_eq!(ret, returned.get(&line).copied().unwrap_or_default(), "{what}: returned = Σ received returns");
            assert!(ret <= delivered, "{what}: returned ≤ delivered");
            let mut sum_wh = Decimal::ZERO;
            for w in l["warehouses"].as_array().unwrap() {
                let wh = w["warehouse_id"].as_i64().unwrap();
                let (r, c) = (dec(&w["reserved"]), dec(&w["on_delivery"]));
                assert_eq!(r, held_by_line.get(&(line, wh)).copied().unwrap_or_default(), "{what}: held in {wh}");
                assert_eq!(c, carried.get(&(line, wh)).copied().unwrap_or_default(), "{what}: carried from {wh}");
                assert!(c <= r, "{what}: open deliveries from {wh} carry only what the line holds there");
                sum_wh += r;
            }
            assert_eq!(sum_wh, reserved, "{what}: reserved = Σ per warehouse");
            if status == "in_execution" {
                assert_eq!(
                    reserved + back + delivered,
                    ordered.max(delivered + on_delivery),
                    "{what}: balance of the line"
                );
            } else {
                assert_eq!(
                    (reserved, back, on_delivery),
                    (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO),
                    "{what}: holds nothing"
                );
            }
        }
    }
}

// ---- races ---------------------------------------------------------------------------------

async fn concurrent_deliveries_take_the_stock_once(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app).await;
    let item = w.items[0];
    receive(&app, item, w.main, "20").await;
    let (a, a_lines) =
        confirmed(&app, json!({"customer_id": w.customers[0], "lines": [{"item_id": item, "quantity": "10"}]})).await;
    let (b, _) =
        confirmed(&app, json!({"customer_id": w.customers[1], "lines": [{"item_id": item, "quantity": "10"}]})).await;
    let url = format!("/api/v1/sales-orders/{a}/deliveries");
    let body = json!({"lines": [{"line_id": a_lines[0], "quantity": "10"}]});
    let results = futures_util::future::join_all((0..12).map(|_| app.post(&url, t, body.clone()))).await;
    let created: Vec<&Resp> = results.iter().filter(|r| r.status == 201).collect();
    assert_eq!(created.len(), 1, "{:?}", results.iter().map(|r| (r.status, r.body.clone())).collect::<Vec<_>>());
    for r in results.iter().filter(|r| r.status != 201) {
        r.problem(422, "not_deliverable");
    }
    let d = created[0].body["id"].as_i64().unwrap();
    ok(app.post(&format!("/api/v1/deliveries/{d}/ship"), t, json!({})).await);
    let la = &line_stock(&app, a).await[0];
    assert_eq!((dec(&la["reserved"]), dec(&la["delivered"])), (q("0"), q("10")));
    let lb = &line_stock(&app, b).await[0];
    assert_eq!(dec(&lb["reserved"]), q("10"), "B's reservation is untouched");
    assert_eq!(balance(&app, item, w.main).await, (q("10"), q("10")));
    check_invariants(&app, &[a, b], "after the race").await;
}

async fn concurrent_returns_never_exceed_what_was_delivered(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app).await;
    let item = w.items[0];
    receive(&app, item, w.main, "10").await;
    let (o, _) =
        confirmed(&app, json!({"customer_id": w.customers[0], "lines": [{"item_id": item, "quantity": "10"}]})).await;
    let d = ok(app.post(&format!("/api/v1/sales-orders/{o}/deliveries"), t, json!({})).await);
    let did = d["id"].as_i64().unwrap();
    ok(app.post(&format!("/api/v1/deliveries/{did}/ship"), t, json!({})).await);
    let dl = d["lines"][0]["id"].as_i64().unwrap();
    let body = json!({"delivery_id": did, "reason": "wrong size", "condition": "resaleable",
        "lines": [{"delivery_line_id": dl, "quantity": "10"}]});
    let results = futures_util::future::join_all((0..12).map(|_| app.post("/api/v1/returns", t, body.clone()))).await;
    let created: Vec<&Resp> = results.iter().filter(|r| r.status == 201).collect();
    assert_eq!(created.len(), 1, "{:?}", results.iter().map(|r| (r.status, r.body.clone())).collect::<Vec<_>>());
    for r in results.iter().filter(|r| r.status != 201) {
        r.problem(422, "exceeds_delivered");
    }
    let rid = created[0].body["id"].as_i64().unwrap();
    ok(app.post(&format!("/api/v1/returns/{rid}/receive"), t, json!({"warehouse_id": w.main})).await);
    assert_eq!(balance(&app, item, w.main).await.0, q("10"), "10 out, 10 back");
    check_invariants(&app, &[o], "after the returns").await;
}

async fn concurrent_approvals_answer_409(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app).await;
    ok(app
        .post(
            "/api/v1/approval-routes",
            t,
            json!({"order_type": "standard", "name": "Check", "stages": [{"name": "Manager", "role": "sales_manager"}]}),
        )
        .await);
    let (_, m1) = app.user("mona", &["sales_manager"]).await;
    let o = id(app
        .post(
            "/api/v1/sales-orders",
            t,
            json!({"customer_id": w.customers[0], "lines": [{"item_id": w.items[0], "quantity": "1"}]}),
        )
        .await);
    let s = ok(app.post(&format!("/api/v1/sales-orders/{o}/submit"), t, json!({})).await);
    assert_eq!(s["status"], "pending_approval", "{s}");
    let url = format!("/api/v1/sales-orders/{o}/approve");
    let calls = (0..10).map(|n| app.post(&url, if n % 2 == 0 { t } else { &m1 }, json!({"stage": "Manager"})));
    let results = futures_util::future::join_all(calls).await;
    assert_eq!(results.iter().filter(|r| r.status == 200).count(), 1);
    for r in results.iter().filter(|r| r.status != 200) {
        assert_eq!(r.status, 409, "a late approval is a conflict, not a stale precondition: {}", r.body);
    }
}

async fn concurrent_coupon_uses_and_call_offs_stop_at_the_limit(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app).await;
    // A coupon good for 3 orders, 12 submitted at once.
    let rule = id(app
        .post(
            "/api/v1/pricing-rules",
            t,
            json!({"name": "10% with code", "action": "discount_percent", "percent": "10", "coupon_only": true}),
        )
        .await);
    let coupon =
        id(app.post("/api/v1/coupons", t, json!({"code": "THREE", "pricing_rule_id": rule, "max_uses": 3})).await);
    let mut orders = vec![];
    for _ in 0..12 {
        orders.push(id(app
            .post(
                "/api/v1/sales-orders",
                t,
                json!({"customer_id": w.customers[0], "coupon_code": "three", "lines": [{"item_id": w.items[0], "quantity": "1"}]}),
            )
            .await));
    }
    let urls: Vec<String> = orders.iter().map(|o| format!("/api/v1/sales-orders/{o}/submit")).collect();
    let results = futures_util::future::join_all(urls.iter().map(|u| app.post(u, t, json!({})))).await;
    assert_eq!(results.iter().filter(|r| r.status == 200).count(), 3);
    for r in results.iter().filter(|r| r.status != 200) {
        r.problem(422, "coupon_invalid");
    }
    assert_eq!(ok(app.get(&format!("/api/v1/coupons/{coupon}"), t).await)["uses"], 3);
    // A blanket line of 10, called off 2 at a time by 12 requests at once.
    let today = time::OffsetDateTime::now_utc().date();
    let b = ok(app
        .post(
            "/api/v1/blanket-orders",
            t,
            json!({"customer_id": w.customers[1], "kind": "quantity", "valid_from": today.to_string(),
                "valid_to": (today + time::Duration::days(30)).to_string(), "lines": [{"item_id": w.items[0], "quantity": "10"}]}),
        )
        .await);
    let bid = b["id"].as_i64().unwrap();
    ok(app.post(&format!("/api/v1/blanket-orders/{bid}/activate"), t, json!({})).await);
    let body = json!({"lines": [{"line_id": b["lines"][0]["id"], "quantity": "2"}]});
    let url = format!("/api/v1/blanket-orders/{bid}/call-off");
    let results = futures_util::future::join_all((0..12).map(|_| app.post(&url, t, body.clone()))).await;
    assert_eq!(results.iter().filter(|r| r.status == 201).count(), 5, "10 / 2");
    for r in results.iter().filter(|r| r.status != 201) {
        r.problem(422, "blanket_exceeded");
    }
    let after = ok(app.get(&format!("/api/v1/blanket-orders/{bid}"), t).await);
    assert_eq!(after["lines"][0]["called_off_quantity"], "10");
}

// ---- reservations carried by deliveries -----------------------------------------------------

async fn stock_on_an_open_delivery_stays_reserved(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app).await;
    let item = w.items[0];
    receive(&app, item, w.main, "10").await;
    receive(&app, item, w.second, "10").await;
    let (o, _) =
        confirmed(&app, json!({"customer_id": w.customers[0], "lines": [{"item_id": item, "quantity": "4"}]})).await;
    let (other, _) =
        confirmed(&app, json!({"customer_id": w.customers[1], "lines": [{"item_id": item, "quantity": "6"}]})).await;
    let d = ok(app.post(&format!("/api/v1/sales-orders/{o}/deliveries"), t, json!({})).await);
    let did = d["id"].as_i64().unwrap();
    let rid =
        all(&app, &format!("/api/v1/reservations?sales_order_id={o}&status=active")).await[0]["id"].as_i64().unwrap();
    let r = app.post(&format!("/api/v1/reservations/{rid}/release"), t, json!({})).await;
    r.problem(409, "on_open_delivery");
    assert!(
        r.body["detail"].as_str().unwrap().contains(d["number"].as_str().unwrap()),
        "names the delivery: {}",
        r.body
    );
    app.post(&format!("/api/v1/reservations/{rid}/move"), t, json!({"warehouse_id": w.second}))
        .await
        .problem(409, "on_open_delivery");
    check_invariants(&app, &[o, other], "refused release").await;
    ok(app.post(&format!("/api/v1/deliveries/{did}/ship"), t, json!({})).await);
    let l = &line_stock(&app, o).await[0];
    assert_eq!((dec(&l["reserved"]), dec(&l["backordered"]), dec(&l["delivered"])), (q("0"), q("0"), q("4")));
    assert_eq!(ok(app.get(&format!("/api/v1/sales-orders/{o}"), t).await)["status"], "completed");
    assert_eq!(balance(&app, item, w.main).await, (q("6"), q("6")), "the other order's stock is still there");
    // Once the delivery is cancelled instead, the reservation may go.
    let (o2, _) = confirmed(
        &app,
        json!({"customer_id": w.customers[2], "warehouse_id": w.second, "lines": [{"item_id": item, "quantity": "3"}]}),
    )
    .await;
    let d2 = id(app.post(&format!("/api/v1/sales-orders/{o2}/deliveries"), t, json!({})).await);
    ok(app.post(&format!("/api/v1/deliveries/{d2}/cancel"), t, json!({})).await);
    let r2 =
        all(&app, &format!("/api/v1/reservations?sales_order_id={o2}&status=active")).await[0]["id"].as_i64().unwrap();
    ok(app.post(&format!("/api/v1/reservations/{r2}/release"), t, json!({})).await);
    check_invariants(&app, &[o, other, o2], "after release").await;
}

async fn cancelling_an_order_cancels_its_deliveries(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app).await;
    let item = w.items[0];
    receive(&app, item, w.main, "10").await;
    // A picked delivery: its goods are at the dock, so the order is not cancelled under it.
    let (o, _) =
        confirmed(&app, json!({"customer_id": w.customers[0], "lines": [{"item_id": item, "quantity": "2"}]})).await;
    let d = id(app.post(&format!("/api/v1/sales-orders/{o}/deliveries"), t, json!({})).await);
    ok(app.post(&format!("/api/v1/deliveries/{d}/pick"), t, json!({})).await);
    let r = app.post(&format!("/api/v1/sales-orders/{o}/cancel"), t, json!({"reason": "changed mind"})).await;
    r.problem(409, "delivery_picked");
    assert_eq!(ok(app.get(&format!("/api/v1/sales-orders/{o}"), t).await)["status"], "in_execution", "nothing changed");
    // Put back (cancel the delivery), then a new draft: cancelling the order cancels it too.
    ok(app.post(&format!("/api/v1/deliveries/{d}/cancel"), t, json!({})).await);
    let d2 = id(app.post(&format!("/api/v1/sales-orders/{o}/deliveries"), t, json!({})).await);
    let c = ok(app.post(&format!("/api/v1/sales-orders/{o}/cancel"), t, json!({"reason": "changed mind"})).await);
    assert_eq!(c["status"], "cancelled");
    assert_eq!(ok(app.get(&format!("/api/v1/deliveries/{d2}"), t).await)["status"], "cancelled");
    app.post(&format!("/api/v1/deliveries/{d2}/ship"), t, json!({})).await.problem(409, "invalid_transition");
    let l = &line_stock(&app, o).await[0];
    assert_eq!((dec(&l["reserved"]), dec(&l["delivered"])), (q("0"), q("0")));
    assert_eq!(balance(&app, item, w.main).await, (q("10"), q("0")));
    let hist = ok(app.get(&format!("/api/v1/deliveries/{d2}/history"), t).await);
    assert_eq!(hist["data"].as_array().unwrap().last().unwrap()["action"], "cancelled");
    check_invariants(&app, &[o], "after cancel").await;
}

// ---- warehouses -----------------------------------------------------------------------------

async fn stock_held_in_several_warehouses(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app).await;
    let item = w.items[0];
    receive(&app, item, w.main, "5").await;
    receive(&app, item, w.second, "10").await;
    let (o, _) =
        confirmed(&app, json!({"customer_id": w.customers[0], "lines": [{"item_id": item, "quantity": "8"}]})).await;
    let (other, _) =
        confirmed(&app, json!({"customer_id": w.customers[1], "lines": [{"item_id": item, "quantity": "2"}]})).await;
    let l = &line_stock(&app, o).await[0];
    assert_eq!((dec(&l["reserved"]), dec(&l["backordered"])), (q("5"), q("3")), "reserved in MAIN, the rest waits");
    // Move the MAIN reservation to SEC: MAIN is free again, and serves the back-orders
    // waiting there, oldest first: 3 for this line, 2 for the other order.
    let rid =
        all(&app, &format!("/api/v1/reservations?sales_order_id={o}&status=active")).await[0]["id"].as_i64().unwrap();
    ok(app.post(&format!("/api/v1/reservations/{rid}/move"), t, json!({"warehouse_id": w.second})).await);
    let lo = &line_stock(&app, other).await[0];
    assert_eq!((dec(&lo["reserved"]), dec(&lo["backordered"])), (q("2"), q("0")));
    let l = &line_stock(&app, o).await[0];
    let by_wh: HashMap<i64, Decimal> = l["warehouses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["warehouse_id"].as_i64().unwrap(), dec(&x["reserved"])))
        .collect();
    assert_eq!(by_wh, HashMap::from([(w.main, q("3")), (w.second, q("5"))]), "{l}");
    assert_eq!(dec(&l["backordered"]), q("0"));
    check_invariants(&app, &[o, other], "held in two warehouses").await;
    // A delivery ships from one warehouse: without naming it, 422 warehouse_required.
    let r = app.post(&format!("/api/v1/sales-orders/{o}/deliveries"), t, json!({})).await;
    r.problem(422, "warehouse_required");
    assert_eq!(r.error_fields(), vec!["warehouse_id"]);
    let d_sec =
        ok(app.post(&format!("/api/v1/sales-orders/{o}/deliveries"), t, json!({"warehouse_id": w.second})).await);
    assert_eq!((d_sec["warehouse_id"].as_i64(), d_sec["lines"][0]["quantity"].as_str()), (Some(w.second), Some("5")));
    let d_main =
        ok(app.post(&format!("/api/v1/sales-orders/{o}/deliveries"), t, json!({"warehouse_id": w.main})).await);
    assert_eq!(d_main["lines"][0]["quantity"], "3");
    check_invariants(&app, &[o, other], "two open deliveries").await;
    ok(app.post(&format!("/api/v1/deliveries/{}/ship", d_sec["id"]), t, json!({})).await);
    assert_eq!(balance(&app, item, w.second).await, (q("5"), q("0")), "SEC shipped what it held");
    assert_eq!(balance(&app, item, w.main).await, (q("5"), q("5")), "MAIN still holds 3 + the other order's 2");
    ok(app.post(&format!("/api/v1/deliveries/{}/ship", d_main["id"]), t, json!({})).await);
    assert_eq!(balance(&app, item, w.main).await, (q("2"), q("2")));
    assert_eq!(ok(app.get(&format!("/api/v1/sales-orders/{o}"), t).await)["status"], "completed");
    // A back-order reserved by hand in another warehouse ships from there.
    let (o3, lines3) =
        confirmed(&app, json!({"customer_id": w.customers[2], "lines": [{"item_id": item, "quantity": "4"}]})).await;
    assert_eq!(dec(&line_stock(&app, o3).await[0]["backordered"]), q("4"), "MAIN has nothing free");
    ok(app
        .post(
            "/api/v1/reservations",
            t,
            json!({"item_id": item, "warehouse_id": w.second, "quantity": "4", "order_line_id": lines3[0]}),
        )
        .await);
    let d3 = ok(app.post(&format!("/api/v1/sales-orders/{o3}/deliveries"), t, json!({})).await);
    assert_eq!(d3["warehouse_id"].as_i64(), Some(w.second), "the one warehouse that holds it");
    ok(app.post(&format!("/api/v1/deliveries/{}/ship", d3["id"]), t, json!({})).await);
    assert_eq!(balance(&app, item, w.second).await, (q("1"), q("0")));
    assert_eq!(balance(&app, item, w.main).await, (q("2"), q("2")), "MAIN untouched");
    check_invariants(&app, &[o, other, o3], "shipped from both").await;
}

async fn sourcing_warehouses_of_orders_and_lines(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app).await;
    let (a, b) = (w.items[0], w.items[1]);
    for i in [a, b] {
        receive(&app, i, w.main, "10").await;
        receive(&app, i, w.second, "10").await;
    }
    // The order's warehouse, and a line's own.
    let (o, _) = confirmed(
        &app,
        json!({"customer_id": w.customers[0], "warehouse_id": w.second,
            "lines": [{"item_id": a, "quantity": "2"}, {"item_id": b, "quantity": "3", "warehouse_id": w.main}]}),
    )
    .await;
    let ls = line_stock(&app, o).await;
    assert_eq!((ls[0]["warehouse_id"].as_i64(), ls[1]["warehouse_id"].as_i64()), (Some(w.second), Some(w.main)));
    assert_eq!(balance(&app, a, w.second).await.1, q("2"));
    assert_eq!(balance(&app, b, w.main).await.1, q("3"));
    // The customer's default warehouse.
    ok(app.patch(&format!("/api/v1/customers/{}", w.customers[1]), t, json!({"default_warehouse_id": w.second})).await);
    let (o2, _) =
        confirmed(&app, json!({"customer_id": w.customers[1], "lines": [{"item_id": b, "quantity": "1"}]})).await;
    assert_eq!(line_stock(&app, o2).await[0]["warehouse_id"].as_i64(), Some(w.second));
    // Promising an order's lines looks where they will be served from, and accepting the
    // promise fixes that warehouse on lines that named none.
    let draft = ok(app
        .post(
            "/api/v1/sales-orders",
            t,
            json!({"customer_id": w.customers[1], "lines": [{"item_id": b, "quantity": "1"}]}),
        )
        .await);
    assert_eq!(draft["lines"][0]["warehouse_id"], Value::Null);
    let p = ok(app.post(&format!("/api/v1/sales-orders/{}/promise?accept=true", draft["id"]), t, json!({})).await);
    assert_eq!(p["lines"][0]["warehouse_id"].as_i64(), Some(w.second));
    let after = ok(app.get(&format!("/api/v1/sales-orders/{}", draft["id"]), t).await);
    assert_eq!(after["lines"][0]["warehouse_id"].as_i64(), Some(w.second));
    // Quarantine and unknown warehouses are refused where they are named.
    let bad = app
        .post(
            "/api/v1/sales-orders",
            t,
            json!({"customer_id": w.customers[0], "lines": [{"item_id": a, "quantity": "1", "warehouse_id": 9999}]}),
        )
        .await;
    bad.problem(404, "not_found");
    assert_eq!(bad.error_fields(), vec!["lines[0].warehouse_id"]);
    let bad =
        app.post("/api/v1/sales-orders", t, json!({"customer_id": w.customers[0], "warehouse_id": w.quarantine})).await;
    bad.problem(422, "validation_failed");
    assert_eq!(bad.error_fields(), vec!["warehouse_id"]);
    app.patch(&format!("/api/v1/customers/{}", w.customers[2]), t, json!({"default_warehouse_id": w.quarantine}))
        .await
        .problem(422, "validation_failed");
    // A delivery of the first order ships each line from its own warehouse.
    app.post(&format!("/api/v1/sales-orders/{o}/deliveries"), t, json!({})).await.problem(422, "warehouse_required");
    let d = ok(app.post(&format!("/api/v1/sales-orders/{o}/deliveries"), t, json!({"warehouse_id": w.main})).await);
    assert_eq!(d["lines"].as_array().unwrap().len(), 1);
    assert_eq!(d["lines"][0]["item_id"].as_i64(), Some(b));
    check_invariants(&app, &[o, o2], "sourced").await;
}

async fn closing_an_order_short(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app).await;
    let item = w.items[0];
    receive(&app, item, w.main, "6").await;
    let (o, _) =
        confirmed(&app, json!({"customer_id": w.customers[0], "lines": [{"item_id": item, "quantity": "10"}]})).await;
    let (waiting, _) =
        confirmed(&app, json!({"customer_id": w.customers[1], "lines": [{"item_id": item, "quantity": "4"}]})).await;
    let d = ok(app
        .post(
            &format!("/api/v1/sales-orders/{o}/deliveries"),
            t,
            json!({"lines": [{"line_id": line_stock(&app, o).await[0]["line_id"], "quantity": "4"}]}),
        )
        .await);
    ok(app.post(&format!("/api/v1/deliveries/{}/ship", d["id"]), t, json!({})).await);
    let draft = id(app.post(&format!("/api/v1/sales-orders/{o}/deliveries"), t, json!({})).await);
    app.post(&format!("/api/v1/sales-orders/{o}/close"), t, json!({})).await.problem(422, "validation_failed");
    let closed =
        ok(app.post(&format!("/api/v1/sales-orders/{o}/close"), t, json!({"reason": "customer takes 4"})).await);
    assert_eq!(closed["status"], "completed");
    assert_eq!(closed["status_reason"], "closed short: customer takes 4");
    assert_eq!(ok(app.get(&format!("/api/v1/deliveries/{draft}"), t).await)["status"], "cancelled");
    let l = &line_stock(&app, o).await[0];
    assert_eq!(
        (dec(&l["reserved"]), dec(&l["backordered"]), dec(&l["delivered"])),
        (q("0"), q("0"), q("4")),
        "delivered stays, nothing is held"
    );
    // The 2 it held now serve the waiting order.
    let lw = &line_stock(&app, waiting).await[0];
    assert_eq!((dec(&lw["reserved"]), dec(&lw["backordered"])), (q("2"), q("2")));
    let journal = ok(app.get(&format!("/api/v1/sales-orders/{o}/journal"), t).await);
    assert!(journal.to_string().contains("Closed short: customer takes 4"), "{journal}");
    let hist = ok(app.get(&format!("/api/v1/sales-orders/{o}/history"), t).await);
    assert!(hist.to_string().contains("closed short: customer takes 4"), "{hist}");
    app.post(&format!("/api/v1/sales-orders/{o}/close"), t, json!({"reason": "again"}))
        .await
        .problem(409, "invalid_transition");
    // Receipts no longer reserve for the closed order.
    receive(&app, item, w.main, "10").await;
    assert_eq!(dec(&line_stock(&app, o).await[0]["reserved"]), q("0"));
    check_invariants(&app, &[o, waiting], "closed").await;
}

async fn readiness_reports_stock(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app).await;
    let item = w.items[0];
    receive(&app, item, w.main, "3").await;
    let o = id(app
        .post(
            "/api/v1/sales-orders",
            t,
            json!({"customer_id": w.customers[0], "contract_number": "K", "payment_terms_days": 30,
                "lines": [{"item_id": item, "quantity": "5"}]}),
        )
        .await);
    ok(app.post(&format!("/api/v1/sales-orders/{o}/submit"), t, json!({})).await);
    let r = ok(app.get(&format!("/api/v1/sales-orders/{o}/readiness"), t).await);
    assert_eq!((r["next_step"].as_str(), r["ready"].as_bool()), (Some("confirm"), Some(true)), "{r}");
    assert_eq!(r["notes"][0]["code"], "would_backorder", "{r}");
    ok(app.post(&format!("/api/v1/sales-orders/{o}/confirm"), t, json!({})).await);
    let r = ok(app.get(&format!("/api/v1/sales-orders/{o}/readiness"), t).await);
    assert_eq!((r["next_step"].as_str(), r["ready"].as_bool()), (Some("deliver"), Some(true)));
    assert_eq!(r["notes"][0]["code"], "backordered");
    let d = id(app.post(&format!("/api/v1/sales-orders/{o}/deliveries"), t, json!({})).await);
    let r = ok(app.get(&format!("/api/v1/sales-orders/{o}/readiness"), t).await);
    assert_eq!((r["ready"].as_bool(), r["blockers"][0]["code"].as_str()), (Some(false), Some("nothing_to_deliver")));
    ok(app.post(&format!("/api/v1/sales-orders/{o}/close"), t, json!({"reason": "enough"})).await);
    assert_eq!(ok(app.get(&format!("/api/v1/deliveries/{d}"), t).await)["status"], "cancelled");
    let r = ok(app.get(&format!("/api/v1/sales-orders/{o}/readiness"), t).await);
    assert_eq!((r["next_step"].clone(), r["blockers"][0]["code"].as_str()), (Value::Null, Some("closed")));
    // Another agent sees nothing of it.
    let (_, agent) = app.user("anna", &["sales_agent"]).await;
    app.get(&format!("/api/v1/sales-orders/{o}/readiness"), &agent).await.problem(404, "not_found");
}

// ---- the model-based test ----------------------------------------------------------------------

/// splitmix64: a seeded generator with no dependency.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub(crate) fn pick<T: Copy>(&mut self, v: &[T]) -> Option<T> {
        (!v.is_empty()).then(|| v[self.below(v.len())])
    }
    pub(crate) fn pick_ref<'a, T>(&mut self, v: &'a [T]) -> Option<&'a T> {
        (!v.is_empty()).then(|| &v[self.below(v.len())])
    }
}

/// Seeds from `ORDO_MODEL_SEEDS` (comma-separated), else a fixed set; steps from
/// `ORDO_MODEL_STEPS`.
pub(crate) fn seeds() -> (Vec<u64>, usize) {
    let seeds = std::env::var("ORDO_MODEL_SEEDS")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![11, 2026]);
    let steps = std::env::var("ORDO_MODEL_STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(150);
    (seeds, steps)
}

async fn random_operations_keep_the_invariants(app: TestApp) {
    let w = world(&app).await;
    let (seeds, steps) = seeds();
    for seed in seeds {
        run_model(&app, &w, seed, steps).await;
    }
}

async fn run_model(app: &TestApp, w: &World, seed: u64, steps: usize) {
    let t = &app.admin_token;
    let mut rng = Rng(seed);
    let sellable = [w.main, w.second];
    let mut orders: Vec<i64> = vec![];
    // (op → (succeeded, refused)): printed at the end, so a run shows what it exercised.
    let mut tally: std::collections::BTreeMap<usize, (u32, u32)> = Default::default();
    for step in 0..steps {
        // Weighted: stock moves and the delivery path most, ending orders least.
        const WEIGHTS: [usize; 16] = [3, 2, 1, 1, 2, 2, 3, 2, 3, 3, 2, 2, 1, 2, 1, 1];
        let mut roll = rng.below(WEIGHTS.iter().sum());
        let op = WEIGHTS.iter().position(|w| {
            let hit = roll < *w;
            roll = roll.saturating_sub(*w);
            hit
        });
        let op = op.unwrap_or(0);
        let item = rng.pick(&w.items).unwrap();
        let wh = rng.pick(&sellable).unwrap();
        let qty = (1 + rng.below(6)).to_string();
        let label = format!("seed {seed} step {step} op {op}");
        // Every answer must be a success or a documented refusal, never a 5xx.
        let r: Option<Resp> = match op {
            0 | 1 => Some(
                app.post(
                    "/api/v1/stock/receipts",
                    t,
                    json!({"item_id": item, "warehouse_id": wh, "quantity": qty, "unit_cost": "1.00"}),
                )
                .await,
            ),
            2 => {
                let signed = if rng.below(2) == 0 { qty.clone() } else { format!("-{qty}") };
                Some(
                    app.post(
                        "/api/v1/stock/adjustments",
                        t,
                        json!({"item_id": item, "warehouse_id": wh, "quantity": signed, "reason": "count"}),
                    )
                    .await,
                )
            }
            3 => {
                let to = if wh == w.main { w.second } else { w.main };
                Some(
                    app.post(
                        "/api/v1/stock/transfers",
                        t,
                        json!({"item_id": item, "from_warehouse_id": wh, "to_warehouse_id": to, "quantity": qty}),
                    )
                    .await,
                )
            }
            4 | 5 => {
                let lines: Vec<Value> = (0..1 + rng.below(2))
                    .map(|_| {
                        let mut l =
                            json!({"item_id": rng.pick(&w.items).unwrap(), "quantity": (1 + rng.below(8)).to_string()});
                        if rng.below(4) == 0 {
                            l["warehouse_id"] = json!(rng.pick(&sellable).unwrap());
                        }
                        l
                    })
                    .collect();
                let (o, _) =
                    confirmed(app, json!({"customer_id": rng.pick(&w.customers).unwrap(), "lines": lines})).await;
                orders.push(o);
                None
            }
            _ if orders.is_empty() => None,
            6 | 7 => {
                // Mostly what a warehouse would do: deliver what a line holds in one
                // of its warehouses; sometimes an arbitrary quantity or warehouse.
                let open: Vec<i64> = all(app, "/api/v1/sales-orders?status=in_execution")
                    .await
                    .iter()
                    .map(|o| o["id"].as_i64().unwrap())
                    .collect();
                let o = rng.pick(&open).unwrap_or(orders[0]);
                let ls = line_stock(app, o).await;
                let mut body = json!({});
                match rng.pick_ref(&ls) {
                    Some(l) if rng.below(4) != 0 => {
                        let whs = l["warehouses"].as_array().unwrap();
                        if let Some(h) = rng.pick_ref(whs) {
                            body["warehouse_id"] = h["warehouse_id"].clone();
                            let free = dec(&h["reserved"]) - dec(&h["on_delivery"]);
                            if free > Decimal::ZERO && rng.below(2) == 0 {
                                let part = (free - Decimal::from(rng.below(2) as i64)).max(Decimal::ONE);
                                body["lines"] = json!([{"line_id": l["line_id"], "quantity": part.to_string()}]);
                            }
                        }
                    }
                    Some(l) => {
                        body["warehouse_id"] = json!(wh);
                        body["lines"] = json!([{"line_id": l["line_id"], "quantity": qty}]);
                    }
                    None => {}
                }
                Some(app.post(&format!("/api/v1/sales-orders/{o}/deliveries"), t, body).await)
            }
            8 | 9 => {
                let open = all(app, "/api/v1/deliveries?status=draft").await;
                let picked = all(app, "/api/v1/deliveries?status=picked").await;
                let cands: Vec<i64> = open.iter().chain(picked.iter()).map(|d| d["id"].as_i64().unwrap()).collect();
                match rng.pick(&cands) {
                    Some(d) => {
                        let verb = ["pick", "ship", "ship", "cancel"][rng.below(4)];
                        Some(app.post(&format!("/api/v1/deliveries/{d}/{verb}"), t, json!({})).await)
                    }
                    None => None,
                }
            }
            10 => {
                let active = all(app, "/api/v1/reservations?status=active").await;
                match rng.pick_ref(&active) {
                    Some(r) => {
                        let rid = r["id"].as_i64().unwrap();
                        if rng.below(2) == 0 {
                            Some(app.post(&format!("/api/v1/reservations/{rid}/release"), t, json!({})).await)
                        } else {
                            let to = if r["warehouse_id"].as_i64() == Some(w.main) { w.second } else { w.main };
                            Some(
                                app.post(&format!("/api/v1/reservations/{rid}/move"), t, json!({"warehouse_id": to}))
                                    .await,
                            )
                        }
                    }
                    None => None,
                }
            }
            11 => {
                let o = rng.pick(&orders).unwrap();
                let ls = line_stock(app, o).await;
                match rng.pick_ref(&ls) {
                    Some(l) => {
                        let body = if rng.below(2) == 0 {
                            json!({"item_id": l["item_id"], "warehouse_id": wh, "quantity": qty, "order_line_id": l["line_id"]})
                        } else {
                            json!({"item_id": item, "warehouse_id": wh, "quantity": qty, "customer_id": w.customers[0]})
                        };
                        Some(app.post("/api/v1/reservations", t, body).await)
                    }
                    None => None,
                }
            }
            12 => {
                let o = rng.pick(&orders).unwrap();
                let ls = line_stock(app, o).await;
                match rng.pick_ref(&ls) {
                    Some(l) => {
                        let ordered = dec(&l["ordered"]);
                        let new = (ordered - Decimal::from(1 + rng.below(3) as i64)).max(Decimal::ZERO);
                        Some(
                            app.post(
                                &format!("/api/v1/sales-orders/{o}/lines/{}/reduce", l["line_id"]),
                                t,
                                json!({"quantity": new.to_string(), "reason": "less"}),
                            )
                            .await,
                        )
                    }
                    None => None,
                }
            }
            13 => {
                let shipped = all(app, "/api/v1/deliveries?status=shipped").await;
                match rng.pick_ref(&shipped) {
                    Some(d) => {
                        let l = &d["lines"][0];
                        let r = app
                            .post(
                                "/api/v1/returns",
                                t,
                                json!({"delivery_id": d["id"], "reason": "r", "condition": "resaleable",
                                    "lines": [{"delivery_line_id": l["id"], "quantity": (1 + rng.below(3)).to_string()}]}),
                            )
                            .await;
                        if r.status == 201 && rng.below(2) == 0 {
                            let rid = r.body["id"].as_i64().unwrap();
                            Some(
                                app.post(&format!("/api/v1/returns/{rid}/receive"), t, json!({"warehouse_id": wh}))
                                    .await,
                            )
                        } else {
                            Some(r)
                        }
                    }
                    None => None,
                }
            }
            14 => {
                let o = rng.pick(&orders).unwrap();
                Some(app.post(&format!("/api/v1/sales-orders/{o}/cancel"), t, json!({"reason": "model"})).await)
            }
            _ => {
                let o = rng.pick(&orders).unwrap();
                Some(app.post(&format!("/api/v1/sales-orders/{o}/close"), t, json!({"reason": "model"})).await)
            }
        };
        if let Some(r) = r {
            assert!(r.status.is_success() || r.status == 409 || r.status == 422, "{label}: {} {}", r.status, r.body);
            if !r.status.is_success() {
                assert_eq!(r.header("content-type").as_deref(), Some("application/problem+json"), "{label}");
            }
            let e = tally.entry(op).or_default();
            if r.status.is_success() {
                e.0 += 1
            } else {
                e.1 += 1
            }
        }
        check_invariants(app, &orders, &label).await;
    }
    eprintln!("model seed {seed}: {} orders; per op (ok, refused): {tally:?}", orders.len());
}
