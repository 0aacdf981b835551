//! Warehouses, the stock ledger, reservations and their races over HTTP.

use crate::on_both_backends;
use crate::support::{id, ok, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

on_both_backends!(
    stock_postings_refuse_bad_input,
    balance_equals_the_ledger,
    confirm_reserves_and_backorders,
    concurrent_confirmations_never_oversell,
    concurrent_reservations_never_oversell,
    reservations_by_hand,
    deliveries_and_returns,
    reduced_lines_release_and_tolerance,
    confirm_and_ship_statement_budget,
    availability_and_completeness,
    order_promising
);

struct Stock {
    item: i64,
    main: i64,
    second: i64,
    customer: i64,
}

async fn setup(app: &TestApp) -> Stock {
    let t = &app.admin_token;
    let item = id(app
        .post("/api/v1/items", t, json!({"sku": "W1", "name": "Widget", "base_unit": "PCS", "kind": "stock"}))
        .await);
    let list =
        id(app.post("/api/v1/price-lists", t, json!({"name": "L", "currency": "EUR", "is_default": true})).await);
    ok(app.post(&format!("/api/v1/price-lists/{list}/prices"), t, json!({"item_id": item, "price": "10.00"})).await);
    let main = id(app.post("/api/v1/warehouses", t, json!({"code": "MAIN", "name": "Main", "is_default": true})).await);
    let second = id(app.post("/api/v1/warehouses", t, json!({"code": "SEC", "name": "Second"})).await);
    let customer = id(app.post("/api/v1/customers", t, json!({"name": "C", "currency": "EUR"})).await);
    Stock { item, main, second, customer }
}

async fn balance(app: &TestApp, item: i64, wh: i64) -> (String, String) {
    let b = ok(app.get(&format!("/api/v1/stock/balances?item_id={item}&warehouse_id={wh}"), &app.admin_token).await);
    let row = &b["data"][0];
    (row["on_hand"].as_str().unwrap_or("0").to_string(), row["reserved"].as_str().unwrap_or("0").to_string())
}

async fn receive(app: &TestApp, item: i64, wh: i64, q: &str) -> Value {
    ok(app
        .post(
            "/api/v1/stock/receipts",
            &app.admin_token,
            json!({"item_id": item, "warehouse_id": wh, "quantity": q, "unit_cost": "2.50"}),
        )
        .await)
}

async fn stock_postings_refuse_bad_input(app: TestApp) {
    let t = &app.admin_token;
    let s = setup(&app).await;
    let r = receive(&app, s.item, s.main, "10").await;
    assert_eq!(r["entries"][0]["kind"], "receipt");
    assert_eq!(r["entries"][0]["unit_cost"], "2.50");
    assert_eq!(r["balances"][0]["on_hand"], "10");
    let adj = ok(app
        .post(
            "/api/v1/stock/adjustments",
            t,
            json!({"item_id": s.item, "warehouse_id": s.main, "quantity": "-3", "reason": "count"}),
        )
        .await);
    assert_eq!(adj["balances"][0]["on_hand"], "7");
    let ledger_before = ok(app.get("/api/v1/stock/ledger", t).await)["data"].as_array().unwrap().len();
    let short = app
        .post(
            "/api/v1/stock/adjustments",
            t,
            json!({"item_id": s.item, "warehouse_id": s.main, "quantity": "-8", "reason": "count"}),
        )
        .await;
    short.problem(422, "insufficient_stock");
    let neg = app
        .post(
            "/api/v1/stock/receipts",
            t,
            json!({"item_id": s.item, "warehouse_id": s.main, "quantity": "-1", "unit_cost": "1"}),
        )
        .await;
    neg.problem(422, "validation_failed");
    assert_eq!(neg.error_fields(), vec!["quantity"]);
    app.post(
        "/api/v1/stock/transfers",
        t,
        json!({"item_id": s.item, "from_warehouse_id": s.main, "to_warehouse_id": s.main, "quantity": "1"}),
    )
    .await
    .problem(422, "validation_failed");
    let unknown = app
        .post(
            "/api/v1/stock/transfers",
            t,
            json!({"item_id": s.item, "from_warehouse_id": s.main, "to_warehouse_id": 999, "quantity": "1"}),
        )
        .await;
    unknown.problem(404, "not_found");
    assert_eq!(unknown.error_fields(), vec!["to_warehouse_id"]);
    let over = app
        .post(
            "/api/v1/stock/transfers",
            t,
            json!({"item_id": s.item, "from_warehouse_id": s.main, "to_warehouse_id": s.second, "quantity": "8"}),
        )
        .await;
    over.problem(422, "insufficient_stock");
    assert_eq!(
        ok(app.get("/api/v1/stock/ledger", t).await)["data"].as_array().unwrap().len(),
        ledger_before,
        "nothing written"
    );
    let moved = ok(app
        .post(
            "/api/v1/stock/transfers",
            t,
            json!({"item_id": s.item, "from_warehouse_id": s.main, "to_warehouse_id": s.second, "quantity": "2"}),
        )
        .await);
    assert_eq!(moved["entries"].as_array().unwrap().len(), 2);
    assert_eq!(balance(&app, s.item, s.main).await.0, "5");
    assert_eq!(balance(&app, s.item, s.second).await.0, "2");
    // A service keeps no stock; an item that allows it may go negative.
    let svc = id(app
        .post("/api/v1/items", t, json!({"sku": "S1", "name": "Install", "base_unit": "H", "kind": "service"}))
        .await);
    receive_err(&app, svc, s.main).await;
    let neg_item = id(app
        .post(
            "/api/v1/items",
            t,
            json!({"sku": "N1", "name": "Bulk", "base_unit": "PCS", "kind": "stock", "allow_negative_stock": true}),
        )
        .await);
    ok(app
        .post(
            "/api/v1/stock/adjustments",
            t,
            json!({"item_id": neg_item, "warehouse_id": s.main, "quantity": "-4", "reason": "sold ahead"}),
        )
        .await);
    assert_eq!(balance(&app, neg_item, s.main).await.0, "-4");
    // Roles: a warehouse user posts stock but does not touch prices; agents do not post stock.
    let (_, wh_user) = app.user("wendy", &["warehouse"]).await;
    let (_, agent) = app.user("anna", &["sales_agent"]).await;
    ok(app
        .post(
            "/api/v1/stock/receipts",
            &wh_user,
            json!({"item_id": s.item, "warehouse_id": s.main, "quantity": "1", "unit_cost": "1"}),
        )
        .await);
    app.post("/api/v1/price-lists", &wh_user, json!({"name": "X", "currency": "EUR"})).await.problem(403, "forbidden");
    app.post(
        "/api/v1/stock/receipts",
        &agent,
        json!({"item_id": s.item, "warehouse_id": s.main, "quantity": "1", "unit_cost": "1"}),
    )
    .await
    .problem(403, "forbidden");
    // One default warehouse at most.
    ok(app.patch(&format!("/api/v1/warehouses/{}", s.second), t, json!({"is_default": true})).await);
    assert_eq!(ok(app.get(&format!("/api/v1/warehouses/{}", s.main), t).await)["is_default"], false);
    app.delete(&format!("/api/v1/warehouses/{}", s.main), t).await.problem(409, "in_use");
}

async fn receive_err(app: &TestApp, item: i64, wh: i64) {
    let r = app
        .post(
            "/api/v1/stock/receipts",
            &app.admin_token,
            json!({"item_id": item, "warehouse_id": wh, "quantity": "1", "unit_cost": "1"}),
        )
        .await;
    r.problem(422, "validation_failed");
    assert_eq!(r.error_fields(), vec!["item_id"]);
}

async fn balance_equals_the_ledger(app: TestApp) {
    let t = &app.admin_token;
    let s = setup(&app).await;
    let item2 = id(app
        .post("/api/v1/items", t, json!({"sku": "W2", "name": "Gadget", "base_unit": "PCS", "kind": "stock"}))
        .await);
    let items = [s.item, item2];
    let whs = [s.main, s.second];
    // A fixed pseudo-random walk of postings; some are refused and must leave no trace.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut refused = 0;
    for _ in 0..60 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let item = items[(x % 2) as usize];
        let (a, b) = (whs[((x >> 8) % 2) as usize], whs[((x >> 9) % 2) as usize]);
        let q = format!("{}.{}", (x >> 16) % 9 + 1, (x >> 24) % 10);
        let r = match (x >> 32) % 3 {
            0 => {
                app.post(
                    "/api/v1/stock/receipts",
                    t,
                    json!({"item_id": item, "warehouse_id": a, "quantity": q, "unit_cost": "1.10"}),
                )
                .await
            }
            1 => {
                app.post(
                    "/api/v1/stock/adjustments",
                    t,
                    json!({"item_id": item, "warehouse_id": a, "quantity": format!("-{q}"), "reason": "count"}),
                )
                .await
            }
            _ => {
                app.post(
                    "/api/v1/stock/transfers",
                    t,
                    json!({"item_id": item, "from_warehouse_id": a, "to_warehouse_id": b, "quantity": q}),
                )
                .await
            }
        };
        if !r.status.is_success() {
            refused += 1;
        }
    }
    assert!(refused > 0, "the walk should hit refusals too");
    let mismatches: Vec<(i64, i64, i64, i64)> = app.with_db(|c| {
        use diesel::prelude::*;
        use ordo_db::schema::{stock_balances, stock_ledger};
        let balances: Vec<(i64, i64, i64)> = stock_balances::table
            .select((stock_balances::item_id, stock_balances::warehouse_id, stock_balances::on_hand))
            .load(c)
            .unwrap();
        let ledger: Vec<(i64, i64, i64)> = stock_ledger::table
            .select((stock_ledger::item_id, stock_ledger::warehouse_id, stock_ledger::quantity))
            .load(c)
            .unwrap();
        balances
            .into_iter()
            .map(|(i, w, on_hand)| {
                let sum: i64 = ledger.iter().filter(|l| l.0 == i && l.1 == w).map(|l| l.2).sum();
                (i, w, on_hand, sum)
            })
            .filter(|(_, _, on_hand, sum)| on_hand != sum)
            .collect()
    });
    assert!(mismatches.is_empty(), "{mismatches:?}");
    for item in items {
        for wh in whs {
            assert!(!balance(&app, item, wh).await.0.starts_with('-'), "never negative");
        }
    }
}

/// An approved order for `q` of the item, ready to confirm.
async fn approved_order(app: &TestApp, s: &Stock, q: &str) -> i64 {
    let t = &app.admin_token;
    let o = id(app
        .post(
            "/api/v1/sales-orders",
            t,
            json!({"customer_id": s.customer, "contract_number": "K-1", "payment_terms_days": 30,
            "lines": [{"item_id": s.item, "quantity": q}]}),
        )
        .await);
    let sub = ok(app.post(&format!("/api/v1/sales-orders/{o}/submit"), t, json!({})).await);
    assert_eq!(sub["status"], "approved");
    o
}

async fn confirm_reserves_and_backorders(app: TestApp) {
    let t = &app.admin_token;
    let s = setup(&app).await;
    receive(&app, s.item, s.main, "5").await;
    let first = approved_order(&app, &s, "8").await;
    let second = approved_order(&app, &s, "2").await;
    let c = ok(app.post(&format!("/api/v1/sales-orders/{first}/confirm"), t, json!({})).await);
    assert_eq!(c["status"], "in_execution");
    let lines = ok(app.get(&format!("/api/v1/sales-orders/{first}/stock"), t).await);
    assert_eq!(
        (lines[0]["ordered"].as_str(), lines[0]["reserved"].as_str(), lines[0]["backordered"].as_str()),
        (Some("8"), Some("5"), Some("3"))
    );
    ok(app.post(&format!("/api/v1/sales-orders/{second}/confirm"), t, json!({})).await);
    assert_eq!(balance(&app, s.item, s.main).await, ("5".into(), "5".into()));
    // Stock arrives: the oldest back-order is served first, in the receipt's transaction.
    let r = receive(&app, s.item, s.main, "4").await;
    assert_eq!(r["reserved_for"][0]["sales_order_id"], first);
    assert_eq!(r["reserved_for"][0]["quantity"], "3");
    assert_eq!(r["reserved_for"][1]["sales_order_id"], second);
    assert_eq!(r["reserved_for"][1]["quantity"], "1");
    assert_eq!(balance(&app, s.item, s.main).await, ("9".into(), "9".into()));
    let l2 = ok(app.get(&format!("/api/v1/sales-orders/{second}/stock"), t).await);
    assert_eq!((l2[0]["reserved"].as_str(), l2[0]["backordered"].as_str()), (Some("1"), Some("1")));
    // Cancelling gives its stock to the other order's back-order.
    ok(app.post(&format!("/api/v1/sales-orders/{first}/cancel"), t, json!({"reason": "customer withdrew"})).await);
    assert_eq!(balance(&app, s.item, s.main).await, ("9".into(), "2".into()));
    let l2 = ok(app.get(&format!("/api/v1/sales-orders/{second}/stock"), t).await);
    assert_eq!((l2[0]["reserved"].as_str(), l2[0]["backordered"].as_str()), (Some("2"), Some("0")));
    let held = ok(app.get(&format!("/api/v1/reservations?sales_order_id={first}&status=active"), t).await);
    assert!(held["data"].as_array().unwrap().is_empty());
    // No default warehouse: confirmation is refused and nothing changes.
    let third = approved_order(&app, &s, "1").await;
    ok(app.patch(&format!("/api/v1/warehouses/{}", s.main), t, json!({"is_default": false})).await);
    app.post(&format!("/api/v1/sales-orders/{third}/confirm"), t, json!({})).await.problem(422, "no_default_warehouse");
    assert_eq!(ok(app.get(&format!("/api/v1/sales-orders/{third}"), t).await)["status"], "approved");
}

async fn concurrent_confirmations_never_oversell(app: TestApp) {
    let t = &app.admin_token;
    let s = setup(&app).await;
    receive(&app, s.item, s.main, "10").await;
    let mut ids = vec![];
    for _ in 0..20 {
        ids.push(approved_order(&app, &s, "1").await);
    }
    let urls: Vec<String> = ids.iter().map(|o| format!("/api/v1/sales-orders/{o}/confirm")).collect();
    let calls = urls.iter().map(|u| app.post(u, t, json!({})));
    let results = futures_util::future::join_all(calls).await;
    assert!(results.iter().all(|r| r.status == 200), "{:?}", results.iter().map(|r| r.status).collect::<Vec<_>>());
    assert_eq!(balance(&app, s.item, s.main).await, ("10".into(), "10".into()), "reserved = on hand, never more");
    let mut reserved = 0;
    for o in &ids {
        let l = ok(app.get(&format!("/api/v1/sales-orders/{o}/stock"), t).await);
        let r: i64 = l[0]["reserved"].as_str().unwrap().parse().unwrap();
        let b: i64 = l[0]["backordered"].as_str().unwrap().parse().unwrap();
        assert_eq!(r + b, 1, "reserved + back-ordered = ordered");
        reserved += r;
    }
    assert_eq!(reserved, 10);
}

async fn concurrent_reservations_never_oversell(app: TestApp) {
    let t = &app.admin_token;
    let s = setup(&app).await;
    receive(&app, s.item, s.main, "10").await;
    let body = json!({"item_id": s.item, "warehouse_id": s.main, "quantity": "1", "customer_id": s.customer});
    let calls = (0..20).map(|_| app.post("/api/v1/reservations", t, body.clone()));
    let results = futures_util::future::join_all(calls).await;
    let won: Vec<i64> = results.iter().filter(|r| r.status == 201).map(|r| r.body["id"].as_i64().unwrap()).collect();
    let lost = results.iter().filter(|r| r.status == 422 && r.body["code"] == "insufficient_stock").count();
    assert_eq!((won.len(), lost), (10, 10));
    let held = ok(app.get(&format!("/api/v1/reservations?item_id={}&status=active&limit=200", s.item), t).await);
    let mut held_ids: Vec<i64> = held["data"].as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect();
    held_ids.sort();
    let mut won = won;
    won.sort();
    assert_eq!(held_ids, won, "exactly the requests answered 2xx hold reservations");
    assert_eq!(balance(&app, s.item, s.main).await, ("10".into(), "10".into()));
}

async fn reservations_by_hand(app: TestApp) {
    let t = &app.admin_token;
    let s = setup(&app).await;
    receive(&app, s.item, s.main, "6").await;
    receive(&app, s.item, s.second, "4").await;
    let (agent_id, agent) = app.user("anna", &["sales_agent"]).await;
    let (_, other) = app.user("otto", &["sales_agent"]).await;
    app.patch(&format!("/api/v1/customers/{}", s.customer), t, json!({"owner_id": agent_id})).await;
    let r = ok(app
        .post("/api/v1/reservations", &agent, json!({"item_id": s.item, "warehouse_id": s.main, "quantity": "4", "customer_id": s.customer, "note": "trade fair"}))
        .await);
    let rid = r["id"].as_i64().unwrap();
    app.get(&format!("/api/v1/reservations/{rid}"), &other).await.problem(404, "not_found");
    app.post(
        "/api/v1/reservations",
        &other,
        json!({"item_id": s.item, "warehouse_id": s.main, "quantity": "1", "customer_id": s.customer}),
    )
    .await
    .problem(404, "not_found");
    app.post("/api/v1/reservations", &other, json!({"item_id": s.item, "warehouse_id": s.main, "quantity": "1"}))
        .await
        .problem(422, "validation_failed");
    // Move: 4 are not free in the second warehouse... they are (4 on hand there).
    let moved =
        ok(app.post(&format!("/api/v1/reservations/{rid}/move"), &agent, json!({"warehouse_id": s.second})).await);
    assert_eq!(moved["warehouse_id"], s.second);
    assert_eq!(balance(&app, s.item, s.main).await, ("6".into(), "0".into()));
    assert_eq!(balance(&app, s.item, s.second).await, ("4".into(), "4".into()));
    let r2 = id(app
        .post("/api/v1/reservations", t, json!({"item_id": s.item, "warehouse_id": s.main, "quantity": "3"}))
        .await);
    app.post(&format!("/api/v1/reservations/{r2}/move"), t, json!({"warehouse_id": s.second}))
        .await
        .problem(422, "insufficient_stock");
    let released = ok(app.post(&format!("/api/v1/reservations/{rid}/release"), &agent, json!({})).await);
    assert_eq!(released["status"], "released");
    app.post(&format!("/api/v1/reservations/{rid}/release"), &agent, json!({})).await.problem(409, "not_active");
    assert_eq!(balance(&app, s.item, s.second).await, ("4".into(), "0".into()));
    // Reserved stock cannot be counted away.
    app.post(
        "/api/v1/stock/adjustments",
        t,
        json!({"item_id": s.item, "warehouse_id": s.main, "quantity": "-4", "reason": "count"}),
    )
    .await
    .problem(422, "insufficient_stock");
    let h = ok(app.get(&format!("/api/v1/reservations/{rid}/history"), &agent).await);
    let actions: Vec<&str> = h["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, vec!["create", "move", "release"]);
}

async fn deliveries_and_returns(app: TestApp) {
    let t = &app.admin_token;
    let s = setup(&app).await;
    receive(&app, s.item, s.main, "10").await;
    let quarantine =
        id(app.post("/api/v1/warehouses", t, json!({"code": "QUAR", "name": "Quarantine", "quarantine": true})).await);
    let (agent_id, agent) = app.user("anna", &["sales_agent"]).await;
    let (_, other) = app.user("otto", &["sales_agent"]).await;
    let (_, wh_user) = app.user("wendy", &["warehouse"]).await;
    app.patch(&format!("/api/v1/customers/{}", s.customer), t, json!({"owner_id": agent_id})).await;
    let o = approved_order(&app, &s, "6").await;
    app.post(&format!("/api/v1/sales-orders/{o}/deliveries"), &wh_user, json!({}))
        .await
        .problem(409, "order_not_confirmed");
    ok(app.post(&format!("/api/v1/sales-orders/{o}/confirm"), t, json!({})).await);
    let line = ok(app.get(&format!("/api/v1/sales-orders/{o}/stock"), t).await)[0]["line_id"].as_i64().unwrap();
    let d1 = ok(app
        .post(
            &format!("/api/v1/sales-orders/{o}/deliveries"),
            &wh_user,
            json!({"lines": [{"line_id": line, "quantity": "4"}]}),
        )
        .await);
    assert!(d1["number"].as_str().unwrap().starts_with("DN-"));
    let too_much = app
        .post(
            &format!("/api/v1/sales-orders/{o}/deliveries"),
            &wh_user,
            json!({"lines": [{"line_id": line, "quantity": "3"}]}),
        )
        .await;
    too_much.problem(422, "not_deliverable");
    assert_eq!(too_much.error_fields(), vec!["lines[0].quantity"]);
    let d1id = d1["id"].as_i64().unwrap();
    ok(app.post(&format!("/api/v1/deliveries/{d1id}/pick"), &wh_user, json!({})).await);
    let shipped = ok(app
        .post(
            &format!("/api/v1/deliveries/{d1id}/ship"),
            &wh_user,
            json!({"carrier": "DHL", "tracking_number": "JD0001", "packages": 2, "weight": "12.5"}),
        )
        .await);
    assert_eq!(shipped["status"], "shipped");
    assert_eq!(shipped["lines"][0]["quantity"], "4");
    app.post(&format!("/api/v1/deliveries/{d1id}/ship"), &wh_user, json!({})).await.problem(409, "invalid_transition");
    assert_eq!(balance(&app, s.item, s.main).await, ("6".into(), "2".into()));
    let st = ok(app.get(&format!("/api/v1/sales-orders/{o}/stock"), t).await);
    assert_eq!((st[0]["reserved"].as_str(), st[0]["delivered"].as_str()), (Some("2"), Some("4")));
    let with = ok(app.get(&format!("/api/v1/sales-orders/{o}?include=availability"), t).await);
    let av = &with["lines"][0]["availability"];
    assert_eq!(
        (av["ordered"].as_str(), av["reserved"].as_str(), av["delivered"].as_str()),
        (Some("6"), Some("2"), Some("4"))
    );
    assert_eq!(av["source"], "stock");
    assert!(ok(app.get(&format!("/api/v1/sales-orders/{o}"), t).await)["lines"][0].get("availability").is_none());
    app.get(&format!("/api/v1/sales-orders/{o}?include=everything"), t).await.problem(400, "invalid_query");
    let ledger = ok(app.get(&format!("/api/v1/stock/ledger?item_id={}&kind=delivery", s.item), t).await);
    assert_eq!(ledger["data"][0]["quantity"], "-4");
    assert_eq!(ledger["data"][0]["doc_id"], d1id);
    // The note, and who may see it.
    let doc = app.call(reqwest::Method::GET, &format!("/api/v1/deliveries/{d1id}/document"), t, None, &[]).await;
    assert!(doc.header("content-type").unwrap().starts_with("text/html"));
    let html = doc.body.as_str().unwrap();
    assert!(html.contains(d1["number"].as_str().unwrap()) && html.contains("W1") && html.contains("JD0001"), "{html}");
    let note = format!("/api/v1/deliveries/{d1id}/document?language=pl");
    let (status, ct, pdf) = app.get_bytes(&note, t, "application/pdf").await;
    assert_eq!((status.as_u16(), ct.as_str()), (200, "application/pdf"));
    let text = crate::support::pdf_pages(&pdf).join("\n");
    assert!(text.contains("Dokument dostawy") && text.contains("JD0001") && text.contains("W1 Widget"), "{text}");
    assert_eq!(app.get(&format!("/api/v1/deliveries/{d1id}"), &agent).await.status, 200);
    app.get(&format!("/api/v1/deliveries/{d1id}"), &other).await.problem(404, "not_found");
    app.get(&format!("/api/v1/deliveries/{d1id}/document"), &other).await.problem(404, "not_found");
    let hist = ok(app.get(&format!("/api/v1/deliveries/{d1id}/history"), &agent).await);
    let actions: Vec<&str> = hist["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, vec!["create", "picked", "shipped"]);
    assert_eq!(hist["data"][2]["changes"]["carrier"]["to"], "DHL", "shipping details are in the shipped entry");
    app.get(&format!("/api/v1/deliveries/{d1id}/history"), &other).await.problem(404, "not_found");
    // The rest ships too: the order is complete.
    let d2 = ok(app.post(&format!("/api/v1/sales-orders/{o}/deliveries"), &wh_user, json!({})).await);
    ok(app.post(&format!("/api/v1/deliveries/{}/ship", d2["id"]), &wh_user, json!({})).await);
    assert_eq!(ok(app.get(&format!("/api/v1/sales-orders/{o}"), t).await)["status"], "completed");
    app.post(&format!("/api/v1/sales-orders/{o}/deliveries"), &wh_user, json!({}))
        .await
        .problem(409, "order_not_confirmed");
    // Returns: against shipped lines, never more than delivered.
    let dl = shipped["lines"][0]["id"].as_i64().unwrap();
    let rma = ok(app
        .post(
            "/api/v1/returns",
            &agent,
            json!({"delivery_id": d1id, "reason": "wrong colour", "condition": "damaged",
            "lines": [{"delivery_line_id": dl, "quantity": "3"}]}),
        )
        .await);
    assert!(rma["number"].as_str().unwrap().starts_with("RMA-"));
    let over = app
        .post(
            "/api/v1/returns",
            &agent,
            json!({"delivery_id": d1id, "reason": "more", "condition": "resaleable",
            "lines": [{"delivery_line_id": dl, "quantity": "2"}]}),
        )
        .await;
    over.problem(422, "exceeds_delivered");
    app.post("/api/v1/returns", &other, json!({"delivery_id": d1id, "reason": "x", "condition": "resaleable", "lines": [{"delivery_line_id": dl, "quantity": "1"}]}))
        .await
        .problem(404, "not_found");
    let got = ok(app
        .post(&format!("/api/v1/returns/{}/receive", rma["id"]), &wh_user, json!({"warehouse_id": quarantine}))
        .await);
    assert_eq!(got["status"], "received");
    let hist = ok(app.get(&format!("/api/v1/returns/{}/history", rma["id"]), &agent).await);
    assert_eq!(hist["data"][0]["action"], "create");
    assert_eq!(hist["data"].as_array().unwrap().len(), 2, "{hist}");
    app.get(&format!("/api/v1/returns/{}/history", rma["id"]), &other).await.problem(404, "not_found");
    app.post(&format!("/api/v1/returns/{}/receive", rma["id"]), &wh_user, json!({"warehouse_id": quarantine}))
        .await
        .problem(409, "invalid_transition");
    assert_eq!(balance(&app, s.item, quarantine).await.0, "3");
    assert_eq!(ok(app.get(&format!("/api/v1/sales-orders/{o}/stock"), t).await)[0]["returned"], "3");
    // Quarantined goods are neither available, reserved nor promised until moved out.
    let av = ok(app.get(&format!("/api/v1/items/{}/availability", s.item), t).await);
    assert_eq!((av["on_hand"].as_str(), av["available"].as_str()), (Some("4"), Some("4")));
    let held = app
        .post(
            "/api/v1/reservations",
            t,
            json!({"item_id": s.item, "warehouse_id": quarantine, "quantity": "1", "customer_id": s.customer}),
        )
        .await;
    held.problem(422, "validation_failed");
    assert_eq!(held.body["errors"][0]["code"], "quarantine");
    let promised = |wh: i64| json!({"lines": [{"item_id": s.item, "quantity": "1"}, {"item_id": s.item, "quantity": "1", "warehouse_id": wh}]});
    let p = app.post("/api/v1/promising", t, promised(quarantine)).await;
    p.problem(422, "validation_failed");
    assert_eq!(p.error_fields(), vec!["lines[1].warehouse_id"]);
    let p = app.post("/api/v1/promising", t, promised(999_999)).await;
    p.problem(404, "not_found");
    assert_eq!(p.error_fields(), vec!["lines[1].warehouse_id"]);
    ok(app
        .post(
            "/api/v1/stock/transfers",
            &wh_user,
            json!({"item_id": s.item, "from_warehouse_id": quarantine, "to_warehouse_id": s.main, "quantity": "1"}),
        )
        .await);
    let av = ok(app.get(&format!("/api/v1/items/{}/availability", s.item), t).await);
    assert_eq!(av["available"], "5", "inspected and moved out: sellable again");
}

async fn confirm_and_ship_statement_budget(app: TestApp) {
    let t = &app.admin_token;
    let s = setup(&app).await;
    let list = ok(app.get("/api/v1/price-lists", t).await)["data"][0]["id"].as_i64().unwrap();
    let mut items = vec![s.item];
    for n in 2..=6 {
        let i = id(app
            .post("/api/v1/items", t, json!({"sku": format!("W{n}"), "name": "W", "base_unit": "PCS", "kind": "stock"}))
            .await);
        ok(app.post(&format!("/api/v1/price-lists/{list}/prices"), t, json!({"item_id": i, "price": "5.00"})).await);
        items.push(i);
    }
    for i in &items {
        receive(&app, *i, s.main, "100").await;
    }
    let mut measured = vec![];
    for n in [5usize, 6] {
        let lines: Vec<Value> = items[..n].iter().map(|i| json!({"item_id": i, "quantity": "2"})).collect();
        let o = id(app
            .post(
                "/api/v1/sales-orders",
                t,
                json!({"customer_id": s.customer, "contract_number": "K", "payment_terms_days": 30, "lines": lines}),
            )
            .await);
        ok(app.post(&format!("/api/v1/sales-orders/{o}/submit"), t, json!({})).await);
        let c = app.post(&format!("/api/v1/sales-orders/{o}/confirm"), t, json!({})).await;
        assert_eq!(c.status, 200, "{}", c.body);
        let d = ok(app.post(&format!("/api/v1/sales-orders/{o}/deliveries"), t, json!({})).await);
        let sh = app.post(&format!("/api/v1/deliveries/{}/ship", d["id"]), t, json!({})).await;
        assert_eq!(sh.status, 200, "{}", sh.body);
        measured.push((c.statements(), sh.statements()));
    }
    let ((c5, s5), (c6, s6)) = (measured[0], measured[1]);
    assert!(c5 <= 30 && s5 <= 30, "5 lines: confirm {c5}, ship {s5} statements");
    assert!(c6 <= c5 + 2 && s6 <= s5 + 2, "6 lines: confirm {c6} (5: {c5}), ship {s6} (5: {s5})");
}

async fn availability_and_completeness(app: TestApp) {
    let t = &app.admin_token;
    let s = setup(&app).await;
    let today = time::OffsetDateTime::now_utc().date();
    let day = |n: i64| (today + time::Duration::days(n)).to_string();
    receive(&app, s.item, s.main, "5").await;
    let a = approved_order(&app, &s, "8").await;
    ok(app.post(&format!("/api/v1/sales-orders/{a}/confirm"), t, json!({})).await);
    let er = id(app
        .post(
            "/api/v1/expected-receipts",
            t,
            json!({"item_id": s.item, "warehouse_id": s.main, "quantity": "10",
            "expected_date": day(10), "source": "supplier_order", "reference": "PO-4711"}),
        )
        .await);
    app.post(
        "/api/v1/expected-receipts",
        t,
        json!({"item_id": s.item, "warehouse_id": 999, "quantity": "1", "expected_date": day(1), "source": "other"}),
    )
    .await
    .problem(404, "not_found");
    let b = id(app
        .post("/api/v1/sales-orders", t, json!({"customer_id": s.customer, "requested_date": day(20), "lines": [{"item_id": s.item, "quantity": "4"}]}))
        .await);
    ok(app.post(&format!("/api/v1/sales-orders/{b}/submit"), t, json!({})).await);

    let resp =
        app.get(&format!("/api/v1/items/{}/availability?warehouse_id={}&to={}", s.item, s.main, day(30)), t).await;
    // A fixed set of indexed queries, whatever the number of lines and receipts (the
    // bench runs it with 1,000 order lines and 100 receipts).
    assert!(resp.statements() <= 6, "{} statements", resp.statements());
    let av = ok(resp);
    assert_eq!(
        (av["on_hand"].as_str(), av["reserved"].as_str(), av["available"].as_str()),
        (Some("5"), Some("5"), Some("0"))
    );
    let rows: Vec<(String, String, String, String)> = av["projection"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["date"].as_str().unwrap().to_string(),
                d["demand"].as_str().unwrap().to_string(),
                d["projected_available"].as_str().unwrap().to_string(),
                d["available_to_promise"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (day(0), "3".into(), "-3".into(), "0".into()),
            (day(10), "0".into(), "7".into(), "3".into()),
            (day(20), "4".into(), "3".into(), "3".into()),
        ]
    );
    app.get("/api/v1/items/999/availability", t).await.problem(404, "not_found");

    let report = ok(app.get("/api/v1/reports/order-completeness", t).await);
    let row = &report["data"][0];
    assert_eq!(row["sales_order_id"], a);
    assert_eq!(row["can_ship"], "partial");
    assert_eq!(row["missing"][0]["missing"], "3");
    assert_eq!(row["missing"][0]["expected_date"], day(10));
    assert_eq!(row["complete_by"], day(10));

    // Received or cancelled expected receipts drop out.
    ok(app.patch(&format!("/api/v1/expected-receipts/{er}"), t, json!({"status": "cancelled"})).await);
    let av = ok(app.get(&format!("/api/v1/items/{}/availability?to={}", s.item, day(30)), t).await);
    assert_eq!(av["projection"].as_array().unwrap().len(), 2);
    let report = ok(app.get("/api/v1/reports/order-completeness", t).await);
    assert!(report["data"][0]["complete_by"].is_null());
}

async fn order_promising(app: TestApp) {
    let t = &app.admin_token;
    let s = setup(&app).await;
    let today = time::OffsetDateTime::now_utc().date();
    let day = |n: i64| (today + time::Duration::days(n)).to_string();
    // Every day worked except one holiday, so the dates below are plain arithmetic.
    let cal = ok(app
        .put_json(
            "/api/v1/calendar",
            t,
            json!({"weekend": [], "holidays": [{"date": day(3), "name": "Founders' day"}]}),
        )
        .await);
    assert_eq!(cal["holidays"][0]["name"], "Founders' day");
    app.put_json("/api/v1/calendar", t, json!({"weekend": [1, 2, 3, 4, 5, 6, 7], "holidays": []}))
        .await
        .problem(422, "validation_failed");
    receive(&app, s.item, s.main, "5").await;
    ok(app.post("/api/v1/expected-receipts", t, json!({"item_id": s.item, "warehouse_id": s.main, "quantity": "10", "expected_date": day(10), "source": "supplier_order"})).await);
    ok(app
        .post(
            "/api/v1/replenishment-parameters",
            t,
            json!({"item_id": s.item, "method": "purchase", "lead_time_days": 15}),
        )
        .await);
    app.post(
        "/api/v1/replenishment-parameters",
        t,
        json!({"item_id": s.item, "method": "purchase", "lead_time_days": 1}),
    )
    .await
    .problem(409, "duplicate");
    let p = ok(app
        .post(
            "/api/v1/promising",
            t,
            json!({"lines": [
                {"item_id": s.item, "quantity": "3"},
                {"item_id": s.item, "quantity": "6", "requested_date": day(1)},
                {"item_id": s.item, "quantity": "20"}
            ]}),
        )
        .await);
    let got: Vec<(String, String)> = p["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["source"].as_str().unwrap().to_string(), l["promised_date"].as_str().unwrap().to_string()))
        .collect();
    // 15 working days from today skip the holiday: day 16.
    assert_eq!(
        got,
        vec![("stock".into(), day(0)), ("expected_receipt".into(), day(10)), ("capable_to_promise".into(), day(16))]
    );
    assert_eq!(p["complete_by"], day(16));
    assert!(p["lines"][2]["explanation"].as_str().unwrap().contains("15 working days"), "{p}");
    // No query per line: a basket of one line and one of four lines (two items, two
    // warehouses) cost the same number of statements.
    let one = app.post("/api/v1/promising", t, json!({"lines": [{"item_id": s.item, "quantity": "1"}]})).await;
    let other =
        id(app.post("/api/v1/items", t, json!({"sku": "W9", "name": "W9", "base_unit": "PCS", "kind": "stock"})).await);
    let four = app
        .post(
            "/api/v1/promising",
            t,
            json!({"lines": [
                {"item_id": s.item, "quantity": "1"}, {"item_id": other, "quantity": "1"},
                {"item_id": s.item, "quantity": "1", "warehouse_id": s.second}, {"item_id": other, "quantity": "2"}
            ]}),
        )
        .await;
    assert_eq!(four.status, 200, "{}", four.body);
    assert_eq!(
        four.statements(),
        one.statements() + 4,
        "one check of the named warehouses, three more statements for the second warehouse, nothing per line"
    );
    // Production: lead time 2 days, then 5 a day; the holiday (day 3) makes no units.
    let made = id(app
        .post("/api/v1/items", t, json!({"sku": "P1", "name": "Made", "base_unit": "PCS", "kind": "stock"}))
        .await);
    app.post("/api/v1/replenishment-parameters", t, json!({"item_id": made, "method": "produce", "lead_time_days": 2}))
        .await
        .problem(422, "validation_failed");
    ok(app
        .post(
            "/api/v1/replenishment-parameters",
            t,
            json!({"item_id": made, "method": "produce", "lead_time_days": 2, "daily_capacity": "5"}),
        )
        .await);
    let p = ok(app.post("/api/v1/promising", t, json!({"lines": [{"item_id": made, "quantity": "12"}]})).await);
    assert_eq!(
        (p["lines"][0]["source"].as_str(), p["lines"][0]["promised_date"].as_str()),
        (Some("capable_to_promise"), Some(day(5).as_str()))
    );
    let none = id(app
        .post("/api/v1/items", t, json!({"sku": "X1", "name": "Unknown", "base_unit": "PCS", "kind": "stock"}))
        .await);
    let p = ok(app.post("/api/v1/promising", t, json!({"lines": [{"item_id": none, "quantity": "1"}]})).await);
    assert_eq!(p["lines"][0]["source"], "none");
    assert!(p["complete_by"].is_null());

    // An order's promise, accepted onto its lines; a quotation's, read only.
    let o = approved_order(&app, &s, "4").await;
    let pr = ok(app.post(&format!("/api/v1/sales-orders/{o}/promise?accept=true"), t, json!(null)).await);
    assert_eq!(pr["lines"][0]["source"], "stock");
    let order = ok(app.get(&format!("/api/v1/sales-orders/{o}"), t).await);
    assert_eq!(order["lines"][0]["promised_date"], day(0));
    assert_eq!(order["lines"][0]["promise_source"], "stock");
    let q = ok(app
        .post(
            "/api/v1/quotations",
            t,
            json!({"customer_id": s.customer, "lines": [{"item_id": s.item, "quantity": "30"}]}),
        )
        .await);
    let qp = ok(app.post(&format!("/api/v1/quotations/{}/promise", q["id"]), t, json!(null)).await);
    assert_eq!(qp["lines"][0]["source"], "capable_to_promise");
    let qa = ok(app.get(&format!("/api/v1/quotations/{}?include=availability", q["id"]), t).await);
    assert_eq!(qa["lines"][0]["availability"]["source"], "capable_to_promise");
    assert_eq!(qa["lines"][0]["availability"]["available_now"], "5", "nothing is reserved yet");
    let (_, other) = app.user("otto", &["sales_agent"]).await;
    app.post(&format!("/api/v1/sales-orders/{o}/promise"), &other, json!(null)).await.problem(404, "not_found");
    // Confirming keeps the promised date on the line's stock record.
    ok(app.post(&format!("/api/v1/sales-orders/{o}/confirm"), t, json!({})).await);
    let st = ok(app.get(&format!("/api/v1/sales-orders/{o}/stock"), t).await);
    assert_eq!(st[0]["promised_date"], day(0));
}

async fn line_stock(app: &TestApp, order: i64) -> (String, String, String, String) {
    let l = ok(app.get(&format!("/api/v1/sales-orders/{order}/stock"), &app.admin_token).await);
    let f = |k: &str| l[0][k].as_str().unwrap().to_string();
    (f("ordered"), f("reserved"), f("backordered"), f("delivered"))
}

fn q4(a: &str, b: &str, c: &str, d: &str) -> (String, String, String, String) {
    (a.into(), b.into(), c.into(), d.into())
}

/// Reducing a confirmed line releases what it no longer needs (back-order first, then
/// reservation, which serves the next back-order); over-delivery works only within the
/// item's tolerance and a cancelled over-delivery gives the extra back.
async fn reduced_lines_release_and_tolerance(app: TestApp) {
    let t = &app.admin_token;
    let s = setup(&app).await;
    receive(&app, s.item, s.main, "10").await;
    let (agent_id, agent) = app.user("anna", &["sales_agent"]).await;
    let (_, other) = app.user("otto", &["sales_agent"]).await;
    let (_, wh_user) = app.user("wendy", &["warehouse"]).await;
    app.patch(&format!("/api/v1/customers/{}", s.customer), t, json!({"owner_id": agent_id})).await;
    let a = approved_order(&app, &s, "8").await;
    let b = approved_order(&app, &s, "6").await;
    ok(app.post(&format!("/api/v1/sales-orders/{a}/confirm"), t, json!({})).await);
    ok(app.post(&format!("/api/v1/sales-orders/{b}/confirm"), t, json!({})).await);
    assert_eq!(line_stock(&app, b).await, q4("6", "2", "4", "0"));
    let order = ok(app.get(&format!("/api/v1/sales-orders/{a}"), t).await);
    let line = order["lines"][0]["id"].as_i64().unwrap();
    let reduce = format!("/api/v1/sales-orders/{a}/lines/{line}/reduce");
    // Bad input: not a reduction, no reason, a stale version, someone else's order, a role without sales rights.
    let r = app.post(&reduce, &agent, json!({"quantity": "9", "reason": "x"})).await;
    r.problem(422, "validation_failed");
    assert_eq!(r.error_fields(), vec!["quantity"]);
    let r = app.post(&reduce, &agent, json!({"quantity": "-1", "reason": " "})).await;
    r.problem(422, "validation_failed");
    assert_eq!(r.error_fields(), vec!["quantity", "reason"]);
    app.call(Method::POST, &reduce, &agent, Some(json!({"quantity": "5", "reason": "x"})), &[("If-Match", "\"1\"")])
        .await
        .problem(412, "precondition_failed");
    app.post(&reduce, &other, json!({"quantity": "5", "reason": "x"})).await.problem(404, "not_found");
    app.post(&reduce, &wh_user, json!({"quantity": "5", "reason": "x"})).await.problem(403, "forbidden");
    app.post(&format!("/api/v1/sales-orders/{a}/lines/999999/reduce"), &agent, json!({"quantity": "1", "reason": "x"}))
        .await
        .problem(404, "not_found");
    assert_eq!(line_stock(&app, a).await, q4("8", "8", "0", "0"));
    // 8 → 5: the price stands, totals move by 30.00, and the 3 freed units serve order B.
    let reduced = ok(app.post(&reduce, &agent, json!({"quantity": "5", "reason": "customer needs fewer"})).await);
    assert_eq!(reduced["lines"][0]["quantity"], "5");
    assert_eq!(reduced["lines"][0]["net"], "50.00");
    assert_eq!(reduced["totals"]["net"], "50.00");
    assert_eq!(reduced["totals"]["gross"], "50.00");
    assert_eq!(reduced["version"].as_i64(), Some(order["version"].as_i64().unwrap() + 1));
    assert_eq!(line_stock(&app, a).await, q4("5", "5", "0", "0"));
    assert_eq!(line_stock(&app, b).await, q4("6", "5", "1", "0"));
    assert_eq!(balance(&app, s.item, s.main).await, ("10".into(), "10".into()));
    let held = ok(app.get(&format!("/api/v1/reservations?sales_order_id={a}&status=active"), t).await);
    let held_sum: i64 =
        held["data"].as_array().unwrap().iter().map(|r| r["quantity"].as_str().unwrap().parse::<i64>().unwrap()).sum();
    assert_eq!(held_sum, 5);
    let journal = ok(app.get(&format!("/api/v1/sales-orders/{a}/journal"), t).await).to_string();
    assert!(journal.contains("reduced from 8 to 5 PCS: customer needs fewer"), "{journal}");
    // Below what is on an open delivery: refused, nothing changes.
    let d = ok(app
        .post(
            &format!("/api/v1/sales-orders/{a}/deliveries"),
            &wh_user,
            json!({"lines": [{"line_id": line, "quantity": "4"}]}),
        )
        .await);
    app.post(&reduce, &agent, json!({"quantity": "3", "reason": "x"})).await.problem(422, "below_delivered");
    assert_eq!(line_stock(&app, a).await, q4("5", "5", "0", "0"));
    assert_eq!(ok(app.get(&format!("/api/v1/sales-orders/{a}"), t).await)["totals"]["net"], "50.00");
    ok(app.post(&format!("/api/v1/deliveries/{}/ship", d["id"]), &wh_user, json!({})).await);
    // 5 → 4 with 4 delivered: the last unit goes to B and the order is complete.
    let done = ok(app.post(&reduce, &agent, json!({"quantity": "4", "reason": "rest not needed"})).await);
    assert_eq!(done["status"], "completed");
    assert_eq!(done["totals"]["net"], "40.00");
    assert_eq!(line_stock(&app, a).await, q4("4", "0", "0", "4"));
    assert_eq!(line_stock(&app, b).await, q4("6", "6", "0", "0"));
    assert_eq!(balance(&app, s.item, s.main).await, ("6".into(), "6".into()));
    app.post(&reduce, &agent, json!({"quantity": "3", "reason": "x"})).await.problem(409, "invalid_transition");

    // Tolerance: 10% of 10 lets a delivery carry 11, not 12.
    receive(&app, s.item, s.main, "20").await;
    let c = approved_order(&app, &s, "10").await;
    ok(app.post(&format!("/api/v1/sales-orders/{c}/confirm"), t, json!({})).await);
    let cline = ok(app.get(&format!("/api/v1/sales-orders/{c}/stock"), t).await)[0]["line_id"].as_i64().unwrap();
    let deliver = |q: &str| json!({"lines": [{"line_id": cline, "quantity": q}]});
    let none = app.post(&format!("/api/v1/sales-orders/{c}/deliveries"), &wh_user, deliver("11")).await;
    none.problem(422, "not_deliverable");
    assert_eq!(none.body["errors"][0]["code"], "exceeds_ordered");
    let bad = app.patch(&format!("/api/v1/items/{}", s.item), t, json!({"over_delivery_tolerance": "101"})).await;
    bad.problem(422, "validation_failed");
    let item = ok(app.patch(&format!("/api/v1/items/{}", s.item), t, json!({"over_delivery_tolerance": "10"})).await);
    assert_eq!(item["over_delivery_tolerance"], "10");
    let twelve = app.post(&format!("/api/v1/sales-orders/{c}/deliveries"), &wh_user, deliver("12")).await;
    twelve.problem(422, "not_deliverable");
    assert!(twelve.body["errors"][0]["message"].as_str().unwrap().contains("10% tolerance"), "{}", twelve.body);
    let d = ok(app.post(&format!("/api/v1/sales-orders/{c}/deliveries"), &wh_user, deliver("11")).await);
    assert_eq!(d["lines"][0]["quantity"], "11");
    assert_eq!(balance(&app, s.item, s.main).await, ("26".into(), "17".into()));
    ok(app.post(&format!("/api/v1/deliveries/{}/cancel", d["id"]), &wh_user, json!({})).await);
    assert_eq!(balance(&app, s.item, s.main).await, ("26".into(), "16".into()));
    assert_eq!(line_stock(&app, c).await, q4("10", "10", "0", "0"));
    let d = ok(app.post(&format!("/api/v1/sales-orders/{c}/deliveries"), &wh_user, deliver("11")).await);
    ok(app.post(&format!("/api/v1/deliveries/{}/ship", d["id"]), &wh_user, json!({})).await);
    assert_eq!(line_stock(&app, c).await, q4("10", "0", "0", "11"));
    assert_eq!(ok(app.get(&format!("/api/v1/sales-orders/{c}"), t).await)["status"], "completed");
    assert_eq!(balance(&app, s.item, s.main).await, ("15".into(), "6".into()));
}
