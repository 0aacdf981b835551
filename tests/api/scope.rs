//! Who may change what feeds prices and credit, what another agent's ids look like in
//! a body, what the ledger tells an agent, and what the warehouse reads.

use crate::on_both_backends;
use crate::support::{id, ok, TestApp};
use serde_json::{json, Value};

on_both_backends!(
    pricing_and_credit_fields_need_their_permission,
    blanket_lines_are_resolved_through_scope,
    ledger_hides_other_agents_documents,
    warehouse_reads_stock_not_prices,
);

struct Setup {
    item: i64,
    cheap: i64,
    agent_a: String,
    agent_b: String,
    customer_a: i64,
    customer_b: i64,
}

async fn setup(app: &TestApp) -> Setup {
    let t = &app.admin_token;
    let item = id(app
        .post("/api/v1/items", t, json!({"sku": "W1", "name": "Widget", "base_unit": "PCS", "kind": "stock"}))
        .await);
    let list =
        id(app.post("/api/v1/price-lists", t, json!({"name": "L", "currency": "EUR", "is_default": true})).await);
    ok(app.post(&format!("/api/v1/price-lists/{list}/prices"), t, json!({"item_id": item, "price": "10.00"})).await);
    let cheap = id(app.post("/api/v1/price-lists", t, json!({"name": "Cheap", "currency": "EUR"})).await);
    ok(app.post(&format!("/api/v1/price-lists/{cheap}/prices"), t, json!({"item_id": item, "price": "1.00"})).await);
    ok(app.post("/api/v1/warehouses", t, json!({"code": "MAIN", "name": "Main", "is_default": true})).await);
    let (a_id, agent_a) = app.user("anna", &["sales_agent"]).await;
    let (b_id, agent_b) = app.user("bert", &["sales_agent"]).await;
    let customer_a =
        id(app.post("/api/v1/customers", t, json!({"name": "A", "currency": "EUR", "owner_id": a_id})).await);
    let customer_b =
        id(app.post("/api/v1/customers", t, json!({"name": "B", "currency": "EUR", "owner_id": b_id})).await);
    Setup { item, cheap, agent_a, agent_b, customer_a, customer_b }
}

/// A confirmed order of 2 for agent A's customer.
async fn confirmed_order(app: &TestApp, s: &Setup) -> i64 {
    let t = &app.admin_token;
    let o = id(app
        .post(
            "/api/v1/sales-orders",
            t,
            json!({"customer_id": s.customer_a, "contract_number": "K", "payment_terms_days": 30,
                "lines": [{"item_id": s.item, "quantity": "2"}]}),
        )
        .await);
    ok(app.post(&format!("/api/v1/sales-orders/{o}/submit"), t, json!({})).await);
    ok(app.post(&format!("/api/v1/sales-orders/{o}/confirm"), t, json!({})).await);
    o
}

async fn quoted_net(app: &TestApp, token: &str, customer: i64, item: i64) -> String {
    let q = ok(app
        .post(
            "/api/v1/pricing/quote",
            token,
            json!({"customer_id": customer, "lines": [{"item_id": item, "quantity": "1"}]}),
        )
        .await);
    q["totals"]["net"].as_str().unwrap().to_string()
}

async fn pricing_and_credit_fields_need_their_permission(app: TestApp) {
    let t = &app.admin_token;
    let s = setup(&app).await;
    let (_, acct) = app.user("acco", &["accountant"]).await;
    let (_, manager) = app.user("mana", &["sales_manager"]).await;
    let url = format!("/api/v1/customers/{}", s.customer_a);
    let before = quoted_net(&app, t, s.customer_a, s.item).await;
    assert_eq!(before, "10.00");
    // The agent: no price list, no discount, no credit terms; each field named.
    let r =
        app.patch(&url, &s.agent_a, json!({"discount_percent": "50", "price_list_id": s.cheap, "name": "A2"})).await;
    r.problem(403, "forbidden");
    assert_eq!(r.error_fields(), vec!["price_list_id", "discount_percent"]);
    for body in [
        json!({"credit_limit": "1000000"}),
        json!({"payment_terms_days": 90}),
        json!({"tax_treatment": "exempt"}),
        json!({"parent_id": s.customer_a}),
    ] {
        let field = body.as_object().unwrap().keys().next().unwrap().clone();
        let r = app.patch(&url, &s.agent_a, body).await;
        r.problem(403, "forbidden");
        assert_eq!(r.error_fields(), vec![field]);
    }
    let created = app
        .post("/api/v1/customers", &s.agent_a, json!({"name": "N", "currency": "EUR", "discount_percent": "10"}))
        .await;
    created.problem(403, "forbidden");
    assert_eq!(created.error_fields(), vec!["discount_percent"]);
    assert_eq!(quoted_net(&app, t, s.customer_a, s.item).await, "10.00", "nothing changed");
    // Sending back what is there already is no change: a full object round-trips.
    let c = ok(app.get(&url, &s.agent_a).await);
    ok(app
        .patch(
            &url,
            &s.agent_a,
            json!({"payment_terms_days": c["payment_terms_days"], "discount_percent": null, "price_list_id": null, "name": "A2"}),
        )
        .await);
    // The accountant sets credit terms but not prices; the manager both.
    ok(app
        .patch(&url, &acct, json!({"credit_limit": "5000.00", "payment_terms_days": 14, "tax_treatment": "exempt"}))
        .await);
    app.patch(&url, &acct, json!({"discount_percent": "5"})).await.problem(403, "forbidden");
    ok(app
        .patch(&url, &manager, json!({"price_list_id": s.cheap, "discount_percent": "10", "tax_treatment": "standard"}))
        .await);
    assert_eq!(quoted_net(&app, t, s.customer_a, s.item).await, "0.90", "1.00 on the cheap list, less 10%");
}

async fn blanket_lines_are_resolved_through_scope(app: TestApp) {
    let s = setup(&app).await;
    let today = time::OffsetDateTime::now_utc().date();
    let b = ok(app
        .post(
            "/api/v1/blanket-orders",
            &s.agent_a,
            json!({"customer_id": s.customer_a, "kind": "quantity", "valid_from": today.to_string(),
                "valid_to": (today + time::Duration::days(30)).to_string(), "lines": [{"item_id": s.item, "quantity": "100"}]}),
        )
        .await);
    let line = b["lines"][0]["id"].as_i64().unwrap();
    ok(app.post(&format!("/api/v1/blanket-orders/{}/activate", b["id"]), &s.agent_a, json!({})).await);
    let missing = 987_654_321;
    // A quotation never calls off: the same 422 for another agent's line and a missing one.
    for bl in [line, missing] {
        let r = app
            .post(
                "/api/v1/quotations",
                &s.agent_b,
                json!({"customer_id": s.customer_b, "lines": [{"item_id": s.item, "quantity": "1", "blanket_line_id": bl}]}),
            )
            .await;
        r.problem(422, "validation_failed");
        assert_eq!(r.error_fields(), vec!["lines[0].blanket_line_id"]);
    }
    // An order: another agent's blanket line is answered exactly like a missing one,
    // naming the field and the id that was sent.
    let mut answers = vec![];
    for bl in [line, missing] {
        let r = app
            .post(
                "/api/v1/sales-orders",
                &s.agent_b,
                json!({"customer_id": s.customer_b, "lines": [{"item_id": s.item, "quantity": "1", "blanket_line_id": bl}]}),
            )
            .await;
        r.problem(404, "not_found");
        assert_eq!(r.error_fields(), vec!["lines[0].blanket_line_id"]);
        assert!(r.body["detail"].as_str().unwrap().contains(&bl.to_string()), "{}", r.body);
        answers.push(r.body["detail"].as_str().unwrap().replace(&bl.to_string(), "N"));
    }
    assert_eq!(answers[0], answers[1]);
    // Its owner calls off through an order.
    let o = ok(app
        .post(
            "/api/v1/sales-orders",
            &s.agent_a,
            json!({"customer_id": s.customer_a, "lines": [{"item_id": s.item, "quantity": "1", "blanket_line_id": line}]}),
        )
        .await);
    assert_eq!(o["blanket_order_id"], b["id"]);
}

async fn ledger_hides_other_agents_documents(app: TestApp) {
    let t = &app.admin_token;
    let s = setup(&app).await;
    let wh = ok(app.get("/api/v1/warehouses", t).await)["data"][0]["id"].as_i64().unwrap();
    ok(app
        .post(
            "/api/v1/stock/receipts",
            t,
            json!({"item_id": s.item, "warehouse_id": wh, "quantity": "5", "unit_cost": "1"}),
        )
        .await);
    let o = confirmed_order(&app, &s).await;
    let d = id(app.post(&format!("/api/v1/sales-orders/{o}/deliveries"), t, json!({})).await);
    ok(app.post(&format!("/api/v1/deliveries/{d}/ship"), t, json!({})).await);
    let out = |token: String| {
        let app = &app;
        async move {
            let l = ok(app.get("/api/v1/stock/ledger?kind=delivery", &token).await);
            l["data"][0].clone()
        }
    };
    let owner = out(s.agent_a.clone()).await;
    assert_eq!((owner["doc_kind"].as_str(), owner["doc_id"].as_i64()), (Some("delivery"), Some(d)));
    let other = out(s.agent_b.clone()).await;
    assert_eq!(other["quantity"], "-2", "the movement itself is not secret");
    assert_eq!((other["doc_kind"].clone(), other["doc_id"].clone()), (Value::Null, Value::Null), "{other}");
    assert_eq!(out(t.clone()).await["doc_id"].as_i64(), Some(d));
}

async fn warehouse_reads_stock_not_prices(app: TestApp) {
    let t = &app.admin_token;
    let s = setup(&app).await;
    let (_, wh_user) = app.user("wendy", &["warehouse"]).await;
    let qid = id(app
        .post(
            "/api/v1/quotations",
            t,
            json!({"customer_id": s.customer_a, "lines": [{"item_id": s.item, "quantity": "1"}]}),
        )
        .await);
    let o = confirmed_order(&app, &s).await;
    for path in [
        format!("/api/v1/quotations/{qid}"),
        "/api/v1/quotations".to_string(),
        format!("/api/v1/sales-orders/{o}"),
        "/api/v1/sales-orders".to_string(),
        "/api/v1/blanket-orders".to_string(),
        "/api/v1/price-lists".to_string(),
    ] {
        app.get(&path, &wh_user).await.problem(403, "forbidden");
    }
    let stock = ok(app.get(&format!("/api/v1/sales-orders/{o}/stock"), &wh_user).await);
    assert_eq!(stock[0]["ordered"], "2");
    assert!(!stock.to_string().contains("10.00"), "no money in the stock view: {stock}");
    let work = ok(app.get("/api/v1/reports/order-completeness", &wh_user).await);
    assert_eq!(work["data"][0]["sales_order_id"], o);
    let wh = ok(app.get("/api/v1/warehouses", &wh_user).await)["data"][0]["id"].as_i64().unwrap();
    ok(app
        .post(
            "/api/v1/stock/receipts",
            &wh_user,
            json!({"item_id": s.item, "warehouse_id": wh, "quantity": "5", "unit_cost": "1"}),
        )
        .await);
    let d = ok(app.post(&format!("/api/v1/sales-orders/{o}/deliveries"), &wh_user, json!({})).await);
    assert!(!d.to_string().contains("\"net\""), "a delivery carries no prices: {d}");
}
