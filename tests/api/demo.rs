//! The demo data set loads on both databases and prices a real basket.

use crate::support::{Kind, TestApp};
use serde_json::json;

async fn demo_prices_a_basket(app: TestApp) {
    // ensure_admin is a no-op on a loaded database: log in with the demo logins.
    let manager = app.login("manager", "manager-demo").await;
    assert_eq!(app.get("/api/v1/customers?limit=200", &manager).await.body["data"].as_array().unwrap().len(), 20);
    assert_eq!(app.get("/api/v1/items?limit=200", &manager).await.body["data"].as_array().unwrap().len(), 50);
    let alice = app.login("alice", "alice-demo").await;
    assert_eq!(app.get("/api/v1/customers?limit=200", &alice).await.body["data"].as_array().unwrap().len(), 10);
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
