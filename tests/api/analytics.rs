//! Sales analytics and targets: the sales report (orders and invoices net of credit
//! notes, cost from the ledger, margin, comparison, CSV, scope) and target attainment
//! with its forecast, checked to the cent against the documents that made them.

use crate::on_both_backends;
use crate::support::{id, ok, TestApp};
use serde_json::{json, Value};

on_both_backends!(sales_report_and_target_attainment);

fn rows(v: &Value) -> Vec<Value> {
    v["data"].as_array().unwrap().clone()
}

fn row<'a>(rows: &'a [Value], key: &str) -> &'a Value {
    rows.iter().find(|r| r["key"] == key).unwrap_or_else(|| panic!("no row {key} in {rows:?}"))
}

async fn sales_report_and_target_attainment(app: TestApp) {
    let t = &app.admin_token;
    let today = time::OffsetDateTime::now_utc().date();
    let month = format!("{}-{:02}", today.year(), u8::from(today.month()));
    let hw = id(app.post("/api/v1/item-groups", t, json!({"name": "Hardware"})).await);
    let sw = id(app.post("/api/v1/item-groups", t, json!({"name": "Software"})).await);
    let item = id(app
        .post(
            "/api/v1/items",
            t,
            json!({"sku": "H1", "name": "Hub", "base_unit": "PCS", "kind": "stock", "item_group_id": hw,
                "standard_cost": "4.00"}),
        )
        .await);
    let licence = id(app
        .post(
            "/api/v1/items",
            t,
            json!({"sku": "L1", "name": "Licence", "base_unit": "PCS", "kind": "service", "item_group_id": sw}),
        )
        .await);
    let list =
        id(app.post("/api/v1/price-lists", t, json!({"name": "L", "currency": "EUR", "is_default": true})).await);
    for (i, p) in [(item, "10.00"), (licence, "50.00")] {
        ok(app.post(&format!("/api/v1/price-lists/{list}/prices"), t, json!({"item_id": i, "price": p})).await);
    }
    let wh = id(app.post("/api/v1/warehouses", t, json!({"code": "MAIN", "name": "Main", "is_default": true})).await);
    ok(app
        .post(
            "/api/v1/stock/receipts",
            t,
            json!({"item_id": item, "warehouse_id": wh, "quantity": "20", "unit_cost": "4.00"}),
        )
        .await);
    let (anna_uid, anna) = app.user("anna", &["sales_agent"]).await;
    let (bob_uid, bob) = app.user("bob", &["sales_agent"]).await;
    let (boss_uid, boss) = app.user("boss", &["sales_manager"]).await;
    let lead = id(app.post("/api/v1/sales-persons", t, json!({"name": "Boss", "user_id": boss_uid})).await);
    let p_anna = id(app
        .post("/api/v1/sales-persons", t, json!({"name": "Anna", "user_id": anna_uid, "manager_id": lead}))
        .await);
    let p_bob = id(app.post("/api/v1/sales-persons", t, json!({"name": "Bob", "user_id": bob_uid})).await);
    let c1 = id(app
        .post(
            "/api/v1/customers",
            t,
            json!({"name": "Acme", "currency": "EUR", "owner_id": anna_uid, "sales_person_id": p_anna}),
        )
        .await);
    let c2 = id(app
        .post(
            "/api/v1/customers",
            t,
            json!({"name": "Beta", "currency": "EUR", "owner_id": bob_uid, "sales_person_id": p_bob}),
        )
        .await);
    let confirm = |customer: i64, lines: Value| {
        let app = &app;
        async move {
            let o = ok(app
                .post(
                    "/api/v1/sales-orders",
                    t,
                    json!({"customer_id": customer, "contract_number": "K", "payment_terms_days": 14, "lines": lines}),
                )
                .await);
            let oid = o["id"].as_i64().unwrap();
            ok(app.post(&format!("/api/v1/sales-orders/{oid}/submit"), t, json!({})).await);
            ok(app.post(&format!("/api/v1/sales-orders/{oid}/confirm"), t, json!({})).await);
            o
        }
    };
    let o1 = confirm(c1, json!([{"item_id": item, "quantity": "3"}])).await;
    let o2 = confirm(c2, json!([{"item_id": licence, "quantity": "2"}])).await;
    let o3 = confirm(c2, json!([{"item_id": licence, "quantity": "1"}])).await;

    // Orders: by item group, revenue first.
    let r = rows(&ok(app.get("/api/v1/reports/sales?basis=orders&by=item_group", t).await));
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!(r[0]["key"], sw.to_string());
    assert_eq!(r[0]["label"], "Software");
    assert_eq!(r[0]["revenue"], "150.00");
    assert_eq!(r[0]["quantity"], "3");
    assert_eq!(r[0]["documents"], 2);
    assert_eq!(r[0]["average_document_value"], "75.00");
    assert_eq!(r[1]["revenue"], "30.00");
    // A cancelled order no longer counts.
    ok(app.post(&format!("/api/v1/sales-orders/{}/cancel", o3["id"]), t, json!({"reason": "changed mind"})).await);
    let r = rows(&ok(app.get("/api/v1/reports/sales?basis=orders&by=customer", t).await));
    assert_eq!(row(&r, &c2.to_string())["revenue"], "100.00");
    // A line reduced on a confirmed order counts reduced.
    ok(app
        .post(
            &format!("/api/v1/sales-orders/{}/lines/{}/reduce", o2["id"], o2["lines"][0]["id"]),
            t,
            json!({"quantity": "1", "reason": "customer needs one"}),
        )
        .await);
    let r = rows(&ok(app.get("/api/v1/reports/sales?basis=orders&by=customer", t).await));
    assert_eq!(row(&r, &c2.to_string())["revenue"], "50.00");
    assert_eq!(row(&r, &c2.to_string())["quantity"], "1");

    // Invoices: the hubs shipped and billed at the ledger's cost; one credited back.
    let d = ok(app
        .post(
            &format!("/api/v1/sales-orders/{}/deliveries", o1["id"]),
            t,
            json!({"lines": [{"line_id": o1["lines"][0]["id"], "quantity": "3"}]}),
        )
        .await);
    ok(app.post(&format!("/api/v1/deliveries/{}/ship", d["id"]), t, json!({})).await);
    let inv = ok(app.post(&format!("/api/v1/deliveries/{}/invoice", d["id"]), t, json!({})).await);
    ok(app.post(&format!("/api/v1/invoices/{}/post", inv["id"]), t, json!({})).await);
    let r = rows(&ok(app.get("/api/v1/reports/sales?by=customer", t).await));
    assert_eq!(r.len(), 1, "only what is invoiced: {r:?}");
    assert_eq!(r[0]["revenue"], "30.00");
    assert_eq!(r[0]["cost"], "12.00", "3 × 4.00, as the ledger booked the delivery");
    assert_eq!(r[0]["margin"], "18.00");
    assert_eq!(r[0]["margin_percent"], "60");
    let cn = ok(app
        .post(
            &format!("/api/v1/invoices/{}/credit-notes", inv["id"]),
            t,
            json!({"reason": "one broken", "lines": [{"invoice_line_id": inv["lines"][0]["id"], "quantity": "1"}]}),
        )
        .await);
    ok(app.post(&format!("/api/v1/invoices/{}/post", cn["id"]), t, json!({})).await);
    let r = rows(&ok(app.get("/api/v1/reports/sales?by=item,month", t).await));
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0]["key"], item.to_string());
    assert_eq!(r[0]["key2"], month);
    assert_eq!(r[0]["revenue"], "20.00", "net of the credit note");
    assert_eq!(r[0]["quantity"], "2");
    assert_eq!(r[0]["documents"], 2, "the invoice and the credit note");
    // A database from before the facts: the same report once they are written.
    let before = ok(app.get("/api/v1/reports/sales?by=customer&basis=orders", t).await);
    app.with_db(|c| {
        use diesel::RunQueryDsl;
        diesel::delete(ordo_db::schema::sales_facts::table).execute(c).unwrap();
    });
    assert_eq!(rows(&ok(app.get("/api/v1/reports/sales?by=customer&basis=orders", t).await)), Vec::<Value>::new());
    assert_eq!(ordo_api::after_migrate(&app.db).unwrap(), 4, "two live orders, an invoice and a credit note");
    assert_eq!(ordo_api::after_migrate(&app.db).unwrap(), 0, "once");
    assert_eq!(ok(app.get("/api/v1/reports/sales?by=customer&basis=orders", t).await), before);
    let r = rows(&ok(app.get("/api/v1/reports/sales?by=customer", t).await));
    assert_eq!((r[0]["revenue"].as_str(), r[0]["cost"].as_str()), (Some("20.00"), Some("8.00")));
    // Last year had nothing.
    let r = rows(&ok(app.get("/api/v1/reports/sales?by=customer&compare=last_year", t).await));
    assert_eq!(r[0]["compared_revenue"], "0.00");
    assert!(r[0]["revenue_change_percent"].is_null());
    // Agents see their customers' sales only; CSV has the same rows.
    assert_eq!(rows(&ok(app.get("/api/v1/reports/sales?by=customer", &anna).await)).len(), 1);
    assert!(rows(&ok(app.get("/api/v1/reports/sales?by=customer&basis=orders", &bob).await))
        .iter()
        .all(|r| r["key"].as_str() == Some(c2.to_string().as_str())));
    let csv = app
        .call(
            reqwest::Method::GET,
            "/api/v1/reports/sales?basis=orders&by=customer",
            t,
            None,
            &[("accept", "text/csv")],
        )
        .await;
    assert_eq!(csv.status, 200);
    let text = csv.body.as_str().unwrap().to_string();
    assert!(text.lines().next().unwrap().split(',').any(|c| c == "revenue"), "{text}");
    assert_eq!(text.lines().count(), 3, "{text}");
    // Unknown groupings and filters are named.
    let r = app.get("/api/v1/reports/sales?by=weather", t).await;
    r.problem(400, "invalid_query");
    assert_eq!(r.error_fields(), ["by"]);
    app.get("/api/v1/reports/sales?by=month,year", t).await.problem(400, "invalid_query");
    app.get("/api/v1/reports/sales?colour=red", t).await.problem(400, "invalid_query");

    // Targets: Anna 100.00 invoiced this month, her manager's team 300.00 on orders.
    let target = |body: Value| {
        let app = &app;
        async move { app.post("/api/v1/sales-targets", t, body).await }
    };
    id(target(
        json!({"name": "Anna", "period": month, "sales_person_id": p_anna, "measure": "amount", "value": "100"}),
    )
    .await);
    id(target(json!({"name": "Team", "period": month, "sales_person_id": lead, "include_team": true,
        "measure": "amount", "basis": "orders", "value": "300"}))
    .await);
    id(target(json!({"name": "Bob", "period": month, "sales_person_id": p_bob, "measure": "quantity",
        "basis": "orders", "value": "4"}))
    .await);
    target(json!({"name": "Again", "period": month, "sales_person_id": p_anna, "measure": "amount", "value": "5"}))
        .await
        .problem(409, "duplicate");
    let r = target(json!({"name": "Bad", "period": "2026-13", "include_team": true, "measure": "quantity",
        "basis": "payments", "value": "0"}))
    .await;
    r.problem(422, "validation_failed");
    let mut f = r.error_fields();
    f.sort();
    assert_eq!(f, ["period", "value"]);
    target(json!({"name": "Bad", "period": month, "include_team": true, "measure": "quantity", "basis": "payments", "value": "1"}))
        .await
        .problem(422, "validation_failed");

    // A weighted opportunity of Anna's expected this month: 50% of 50.00.
    ok(app.post("/api/v1/pipeline-stages", t, json!({"name": "Proposal", "position": 1, "probability": "50"})).await);
    ok(app
        .post(
            "/api/v1/opportunities",
            &anna,
            json!({"title": "More hubs", "customer_id": c1, "amount": "50.00", "currency": "EUR",
                "expected_close": today.to_string()}),
        )
        .await);
    let r = rows(&ok(app.get(&format!("/api/v1/reports/target-attainment?period={month}"), t).await));
    assert_eq!(r.len(), 3, "{r:?}");
    let a = r.iter().find(|x| x["key"] == p_anna).unwrap();
    assert_eq!((a["target"].as_str(), a["actual"].as_str()), (Some("100"), Some("20")));
    assert_eq!(a["percent"], "20");
    assert_eq!(a["gap"], "80");
    assert_eq!(a["forecast"], "45", "20 + 50% of 50");
    let team = r.iter().find(|x| x["key"] == lead).unwrap();
    assert_eq!(team["actual"], "30", "Anna's confirmed order counts for her manager's team");
    let b = r.iter().find(|x| x["key"] == p_bob).unwrap();
    assert_eq!((b["measure"].as_str(), b["actual"].as_str()), (Some("quantity"), Some("1")));
    // Each sees their own; the manager their team's.
    let mine = rows(&ok(app.get(&format!("/api/v1/reports/target-attainment?period={month}"), &anna).await));
    assert_eq!(mine.iter().map(|x| x["key"].as_i64().unwrap()).collect::<Vec<_>>(), [p_anna]);
    let theirs = rows(&ok(app.get(&format!("/api/v1/reports/target-attainment?period={month}"), &boss).await));
    let mut keys: Vec<i64> = theirs.iter().map(|x| x["key"].as_i64().unwrap()).collect();
    keys.sort();
    assert_eq!(keys, [lead, p_anna]);
    let r = rows(&ok(app.get(&format!("/api/v1/reports/target-attainment?period={month}&by=territory"), t).await));
    assert!(r.iter().all(|x| x["key"].is_null()), "no territory targets: one row per measure and basis");
    app.get("/api/v1/reports/target-attainment?period=soon", t).await.problem(422, "validation_failed");

    // A document counts once per row, however many of its lines fall in the row.
    confirm(
        c2,
        json!([{"item_id": licence, "quantity": "1"}, {"item_id": licence, "quantity": "1"},
            {"item_id": item, "quantity": "1"}]),
    )
    .await;
    let docs = |query: String| {
        let app = &app;
        async move {
            let r = rows(&ok(app.get(&format!("/api/v1/reports/sales?basis=orders&{query}"), t).await));
            let mut d: Vec<(String, i64)> = r
                .iter()
                .map(|x| (x["key"].as_str().unwrap_or("-").to_string(), x["documents"].as_i64().unwrap()))
                .collect();
            d.sort();
            d
        }
    };
    let s = |id: i64| id.to_string();
    let sorted = |mut v: Vec<(String, i64)>| {
        v.sort();
        v
    };
    assert_eq!(docs("by=customer".into()).await, sorted(vec![(s(c1), 1), (s(c2), 2)]));
    assert_eq!(docs("by=month".into()).await, [(month.to_string(), 3)]);
    assert_eq!(docs("by=item_group".into()).await, sorted(vec![(s(hw), 2), (s(sw), 2)]));
    assert_eq!(docs("by=item".into()).await, sorted(vec![(s(item), 2), (s(licence), 2)]));
    let hw_only = docs(format!("by=customer&item_group_id={hw}")).await;
    assert_eq!(hw_only, sorted(vec![(s(c1), 1), (s(c2), 1)]), "the new order once, not twice");
    assert_eq!(docs(format!("by=item_group&item_id={licence}")).await, [(s(sw), 2)]);
}
