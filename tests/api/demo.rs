//! The demo data set loads on both databases and prices a real basket.

use crate::support::{Kind, TestApp};
use serde_json::json;

async fn demo_prices_a_basket(app: TestApp) {
    // ensure_admin is a no-op on a loaded database: log in with the demo logins.
    let manager = app.login("manager", "manager-demo").await;
    assert_eq!(
        app.get("/api/v1/customers?limit=200", &manager).await.body["data"].as_array().unwrap().len(),
        21,
        "20 + a converted lead"
    );
    assert_eq!(app.get("/api/v1/items?limit=200", &manager).await.body["data"].as_array().unwrap().len(), 50);
    let alice = app.login("alice", "alice-demo").await;
    assert_eq!(app.get("/api/v1/customers?limit=200", &alice).await.body["data"].as_array().unwrap().len(), 11);
    let q = app
        .post(
            "/api/v1/pricing/quote",
            &manager,
            json!({"customer_id": 2, "coupon_code": "welcome15", "shipping_country": "DE", "date": "2026-06-01",
                   "lines": [{"item_id": 1, "quantity": "2"}, {"item_id": 4, "quantity": "5"}, {"item_id": 2, "quantity": "12"}]}),
        )
        .await;
    assert_eq!(q.status, 200, "{}", q.body);
    assert_eq!(q.body["totals"]["gross"], "141.74");
    assert_eq!(q.body["lines"].as_array().unwrap().len(), 4, "with the free item");

    // The sales demo: quotations in every state, orders along the approval route.
    let statuses = |body: &serde_json::Value| -> std::collections::BTreeSet<String> {
        body["data"].as_array().unwrap().iter().map(|d| d["status"].as_str().unwrap().to_string()).collect()
    };
    let quotes = app.get("/api/v1/quotations?limit=200", &manager).await;
    let expected: std::collections::BTreeSet<String> =
        ["draft", "sent", "accepted", "rejected", "expired", "cancelled", "superseded"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    assert_eq!(statuses(&quotes.body), expected);
    let orders = app.get("/api/v1/sales-orders?limit=200", &manager).await;
    for s in ["draft", "pending_approval", "approved", "in_execution", "cancelled"] {
        assert!(statuses(&orders.body).contains(s), "{s}: {:?}", statuses(&orders.body));
    }
    let blankets = app.get("/api/v1/blanket-orders", &manager).await;
    let b = &blankets.body["data"][0];
    assert_eq!(b["status"], "active");
    let sched = app.get(&format!("/api/v1/blanket-orders/{}/schedule", b["id"]), &manager).await;
    assert!(sched.body.as_array().unwrap().len() >= 10);
    let pipeline = app.get("/api/v1/reports/pipeline", &manager).await;
    assert!(pipeline.body["open_count"].as_i64().unwrap() >= 3, "{}", pipeline.body);
    assert_eq!(pipeline.body["win_rate"]["won"], 1);
    assert!(!app.get("/api/v1/leads", &alice).await.body["data"].as_array().unwrap().is_empty());
    assert!(!app.get("/api/v1/activities?assignee=me", &alice).await.body["data"].as_array().unwrap().is_empty());

    // Fulfillment: stock in two warehouses, a shipped partial delivery, a received return,
    // an order in execution with a back-order, an expected receipt.
    let d = app.get("/api/v1/deliveries?status=shipped", &manager).await;
    assert_eq!(d.body["data"].as_array().unwrap().len(), 1, "{}", d.body);
    let r = app.get("/api/v1/returns", &manager).await;
    assert_eq!(r.body["data"][0]["status"], "received");
    let order = d.body["data"][0]["sales_order_id"].as_i64().unwrap();
    let stock = app.get(&format!("/api/v1/sales-orders/{order}/stock"), &manager).await;
    assert!(stock.body.as_array().unwrap().iter().any(|l| l["backordered"] != "0"), "{}", stock.body);
    let completeness = app.get("/api/v1/reports/order-completeness", &manager).await;
    // What was reserved has shipped; the rest waits for the expected receipt.
    assert_eq!(completeness.body["data"][0]["can_ship"], "none", "{}", completeness.body);
    assert!(completeness.body["data"][0]["complete_by"].is_string());
    assert_eq!(app.get("/api/v1/expected-receipts", &manager).await.body["data"].as_array().unwrap().len(), 2);
    // The warehouse login sees stock but cannot touch prices.
    let wendy = app.login("wendy", "wendy-demo").await;
    assert!(app.get("/api/v1/stock/balances", &wendy).await.status.is_success());
    app.patch("/api/v1/price-lists/1", &wendy, json!({"name": "Cheap"})).await.problem(403, "forbidden");

    // The service desk: a ticket in every stage; the overdue ones are escalated by the
    // job's first run, once.
    let sam = app.login("sam", "sam-demo").await;
    let tickets = app.get("/api/v1/tickets?limit=200", &sam).await;
    let stages: std::collections::BTreeSet<&str> =
        tickets.body["data"].as_array().unwrap().iter().map(|t| t["stage"].as_str().unwrap()).collect();
    for s in ["new", "triaged", "in_progress", "waiting_for_customer", "resolved", "closed"] {
        assert!(stages.contains(s), "{s}: {stages:?}");
    }
    let t = &app.admin_token;
    for _ in 0..2 {
        assert!(app.post("/api/v1/jobs/sla_timers/run", t, json!({})).await.status.is_success());
    }
    let breached = app.get("/api/v1/tickets?breached=true", &sam).await;
    assert_eq!(breached.body["data"].as_array().unwrap().len(), 2, "{}", breached.body);
    for b in breached.body["data"].as_array().unwrap() {
        assert_eq!(b["escalations"].as_array().unwrap().iter().filter(|e| e["level"] == "breached").count(), 2, "{b}");
        // One breach mail per ticket, to its assignee and the service lead.
        let mails = app.get(&format!("/api/v1/outbox?document=ticket:{}", b["id"]), t).await;
        let mails = mails.body["data"].as_array().unwrap().clone();
        assert_eq!(mails.len(), 1, "{mails:?}");
        assert_eq!(mails[0]["to"], json!(["sam@demo.example.com", "service-lead@example.com"]));
    }
    let report = app.get("/api/v1/reports/service?by=stage", &sam).await;
    assert_eq!(report.body["data"].as_array().unwrap().len(), 6);
    // Targets with attainment: the team's quarter on orders has the demo's confirmed order.
    let today = time::OffsetDateTime::now_utc().date();
    let quarter = format!("{}-Q{}", today.year(), (u8::from(today.month()) - 1) / 3 + 1);
    let att = app.get(&format!("/api/v1/reports/target-attainment?period={quarter}"), &app.admin_token).await;
    let rows = att.body["data"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "{}", att.body);
    let team = rows.iter().find(|r| r["basis"] == "orders" && r["measure"] == "amount").unwrap();
    assert_ne!(team["actual"], "0", "{team}");
    let sales = app.get("/api/v1/reports/sales?by=item_group&basis=orders", &manager).await;
    assert!(!sales.body["data"].as_array().unwrap().is_empty(), "{}", sales.body);
    // A year of orders: every one of the last twelve months has some (72 closed history
    // orders plus the walkthrough's confirmed ones).
    let from = today - time::Duration::days(365);
    let year = app.get(&format!("/api/v1/reports/sales?by=month&basis=orders&from={from}&to={today}"), &manager).await;
    let months = year.body["data"].as_array().unwrap();
    assert!(months.len() >= 12, "{}", year.body);
    assert!(months.iter().map(|m| m["documents"].as_i64().unwrap()).sum::<i64>() >= 72, "{}", year.body);
    assert!(months.iter().all(|m| m["revenue"] != "0.00"), "{}", year.body);
    // Sam works tickets but sees no prices to change.
    app.patch("/api/v1/price-lists/1", &sam, json!({"name": "Cheap"})).await.problem(403, "forbidden");
}

#[actix_web::test]
async fn demo_data_sqlite() {
    if let Some(app) = TestApp::start_demo(Kind::Sqlite).await {
        demo_prices_a_basket(app).await;
    }
}

#[actix_web::test]
async fn demo_data_postgres() {
    if let Some(app) = TestApp::start_demo(Kind::Postgres).await {
        demo_prices_a_basket(app).await;
    }
}
