//! Sales team, pipeline, quotations and sales orders over HTTP.

use crate::on_both_backends;
use crate::support::{Resp, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

on_both_backends!(
    sales_team_and_leads,
    opportunities_and_stages,
    quotation_lifecycle,
    order_approval_and_confirmation,
    order_rules_and_scope,
    coupon_redemption_is_counted_once,
    order_statement_budget,
    blanket_orders_and_call_offs,
    numbering_has_no_gaps_or_duplicates
);

fn id(r: &Resp) -> i64 {
    assert!(r.status.is_success(), "{} {}", r.status, r.body);
    r.body["id"].as_i64().unwrap()
}

fn ok(r: Resp) -> Value {
    assert!(r.status.is_success(), "{} {}", r.status, r.body);
    r.body
}

struct World {
    item_a: i64,
    item_b: i64,
    c1: i64,
}

/// Two taxed items on a default EUR list, a 5% group discount and a customer with 2%.
async fn world(app: &TestApp) -> World {
    let t = &app.admin_token;
    let vat23 =
        id(&app.post("/api/v1/tax-rates", t, json!({"code": "VAT23", "name": "VAT 23%", "percent": "23"})).await);
    let vat8 = id(&app.post("/api/v1/tax-rates", t, json!({"code": "VAT8", "name": "VAT 8%", "percent": "8"})).await);
    let g = id(&app.post("/api/v1/item-groups", t, json!({"name": "Tools"})).await);
    let item_a = id(&app
        .post(
            "/api/v1/items",
            t,
            json!({"sku": "A", "name": "Hammer", "base_unit": "PCS", "kind": "stock",
            "item_group_id": g, "tax_rate_id": vat23, "standard_cost": "4.20"}),
        )
        .await);
    let item_b = id(&app
        .post(
            "/api/v1/items",
            t,
            json!({"sku": "B", "name": "Manual", "base_unit": "PCS", "kind": "stock", "tax_rate_id": vat8}),
        )
        .await);
    let retail = id(&app
        .post("/api/v1/price-lists", t, json!({"name": "Retail EUR", "currency": "EUR", "is_default": true}))
        .await);
    let prices = format!("/api/v1/price-lists/{retail}/prices");
    for (item, price, min) in [(item_a, "10.00", "0"), (item_a, "9.00", "10"), (item_b, "100.00", "0")] {
        id(&app.post(&prices, t, json!({"item_id": item, "price": price, "min_quantity": min})).await);
    }
    id(&app.post("/api/v1/group-discounts", t, json!({"item_group_id": g, "percent": "5"})).await);
    let c1 = id(&app
        .post(
            "/api/v1/customers",
            t,
            json!({"name": "C1", "currency": "EUR", "discount_percent": "2", "payment_terms_days": 14}),
        )
        .await);
    // Confirmed orders reserve from the default warehouse.
    id(&app.post("/api/v1/warehouses", t, json!({"code": "MAIN", "name": "Main", "is_default": true})).await);
    World { item_a, item_b, c1 }
}

fn line(item: i64, qty: &str) -> Value {
    json!({"item_id": item, "quantity": qty})
}

async fn sales_team_and_leads(app: TestApp) {
    let t = &app.admin_token;
    let europe = id(&app.post("/api/v1/territories", t, json!({"name": "Europe"})).await);
    let de = id(&app.post("/api/v1/territories", t, json!({"name": "Germany", "parent_id": europe})).await);
    let cycle = app.patch(&format!("/api/v1/territories/{europe}"), t, json!({"parent_id": de})).await;
    cycle.problem(422, "validation_failed");
    assert_eq!(cycle.error_fields(), vec!["parent_id"]);
    app.post("/api/v1/territories", t, json!({"name": "Nowhere", "parent_id": 999})).await.problem(404, "not_found");
    let children = app.get(&format!("/api/v1/territories?parent_id={europe}"), t).await;
    assert_eq!(children.body["data"].as_array().unwrap().len(), 1);

    let (agent_id, agent) = app.user("anna", &["sales_agent"]).await;
    let (_, other) = app.user("otto", &["sales_agent"]).await;
    // Names are stored trimmed: whitespace alone is no name (schemathesis found "\r").
    let blank = app.post("/api/v1/sales-persons", t, json!({"name": "\r"})).await;
    blank.problem(422, "validation_failed");
    assert_eq!(blank.error_fields(), vec!["name"]);
    let blank = app.post("/api/v1/customers", t, json!({"name": "  ", "currency": "EUR"})).await;
    assert_eq!(blank.error_fields(), vec!["name"]);
    let boss = id(&app.post("/api/v1/sales-persons", t, json!({"name": "Boss"})).await);
    let sp = id(&app
        .post(
            "/api/v1/sales-persons",
            t,
            json!({"name": "Anna", "user_id": agent_id, "manager_id": boss, "territory_id": de}),
        )
        .await);
    app.post("/api/v1/sales-persons", t, json!({"name": "Anna again", "user_id": agent_id}))
        .await
        .problem(409, "duplicate_user");
    app.patch(&format!("/api/v1/sales-persons/{boss}"), t, json!({"manager_id": sp}))
        .await
        .problem(422, "validation_failed");
    let partner =
        app.post("/api/v1/sales-partners", t, json!({"name": "Reseller GmbH", "commission_rate": "7.5"})).await;
    assert_eq!(partner.body["commission_rate"], "7.5");
    let bad = app.post("/api/v1/sales-partners", t, json!({"name": "X", "commission_rate": "120"})).await;
    assert_eq!(bad.error_fields(), vec!["commission_rate"]);
    let camp = app
        .post(
            "/api/v1/campaigns",
            t,
            json!({"name": "Spring fair", "code": "SPRING26", "budget": "5000.00",
            "start_date": "2026-03-01", "end_date": "2026-02-01"}),
        )
        .await;
    camp.problem(422, "validation_failed");
    assert_eq!(camp.error_fields(), vec!["currency", "end_date"]);
    let camp = id(&app
        .post(
            "/api/v1/campaigns",
            t,
            json!({"name": "Spring fair", "code": "SPRING26", "budget": "5000.00", "currency": "EUR"}),
        )
        .await);
    // Agents read the set-up but do not change it.
    assert_eq!(app.get("/api/v1/campaigns", &agent).await.status, 200);
    app.post("/api/v1/territories", &agent, json!({"name": "Mine"})).await.problem(403, "forbidden");
    // A team reference in use cannot be deleted.
    let cust = ok(app
        .post("/api/v1/customers", t, json!({"name": "Kunde", "currency": "EUR", "territory_id": de, "sales_person_id": sp, "contact_frequency_days": 30}))
        .await);
    assert_eq!(cust["territory_id"], de);
    app.delete(&format!("/api/v1/territories/{de}"), t).await.problem(409, "in_use");
    assert_eq!(app.get(&format!("/api/v1/customers?territory_id={de}"), t).await.body["data"][0]["id"], cust["id"]);
    app.post("/api/v1/customers", t, json!({"name": "X", "currency": "EUR", "campaign_id": 777}))
        .await
        .problem(404, "not_found");

    // Leads: an agent's leads are their own; another agent gets 404.
    let lead = ok(app
        .post(
            "/api/v1/leads",
            &agent,
            json!({"company_name": "Acme", "person_name": "Ada", "email": "ada@acme.test",
            "source": "web form", "campaign_id": camp, "territory_id": de}),
        )
        .await);
    assert_eq!(lead["status"], "new");
    assert_eq!(lead["owner_id"], agent_id);
    assert!(lead["number"].as_str().unwrap().starts_with("L-"));
    let lid = lead["id"].as_i64().unwrap();
    app.get(&format!("/api/v1/leads/{lid}"), &other).await.problem(404, "not_found");
    assert_eq!(app.get("/api/v1/leads", &other).await.body["data"].as_array().unwrap().len(), 0);
    app.post(&format!("/api/v1/leads/{lid}/qualify"), &other, json!({})).await.problem(404, "not_found");
    app.post("/api/v1/leads", &agent, json!({"email": "x@y.test"})).await.problem(422, "validation_failed");
    ok(app.post(&format!("/api/v1/leads/{lid}/contact"), &agent, json!({})).await);
    app.post(&format!("/api/v1/leads/{lid}/contact"), &agent, json!({})).await.problem(409, "invalid_transition");
    ok(app.post(&format!("/api/v1/leads/{lid}/qualify"), &agent, json!({})).await);

    // Conversion: customer + opportunity in one transaction; a failure writes nothing.
    let customers_before = app.count("customers");
    let failed = app
        .post(&format!("/api/v1/leads/{lid}/convert"), &agent,
            json!({"customer": {"currency": "EUR"}, "opportunity": {"title": "Big deal", "amount": "1000", "currency": "EUR"}}))
        .await;
    failed.problem(422, "no_pipeline_stage");
    assert_eq!(app.count("customers"), customers_before, "nothing written");
    id(&app
        .post("/api/v1/pipeline-stages", t, json!({"name": "Qualification", "position": 1, "probability": "20"}))
        .await);
    let conv = ok(app
        .post(&format!("/api/v1/leads/{lid}/convert"), &agent,
            json!({"customer": {"currency": "EUR"}, "opportunity": {"title": "Big deal", "amount": "1000", "currency": "EUR"}}))
        .await);
    assert_eq!(conv["lead"]["status"], "converted");
    assert_eq!(conv["customer"]["name"], "Acme");
    assert_eq!(conv["customer"]["owner_id"], agent_id);
    assert_eq!(conv["customer"]["territory_id"], de);
    assert_eq!(conv["opportunity"]["customer_id"], conv["customer"]["id"]);
    assert_eq!(conv["opportunity"]["lead_id"], lid);
    assert_eq!(conv["opportunity"]["effective_probability"], "20");
    assert_eq!(conv["opportunity"]["weighted_amount"], "200.00");
    app.post(&format!("/api/v1/leads/{lid}/convert"), &agent, json!({"customer_id": conv["customer"]["id"]}))
        .await
        .problem(409, "lead_converted");
    app.patch(&format!("/api/v1/leads/{lid}"), &agent, json!({"notes": "x"})).await.problem(409, "lead_converted");
    let lead2 = id(&app.post("/api/v1/leads", &agent, json!({"person_name": "Bob"})).await);
    let dq = ok(app.post(&format!("/api/v1/leads/{lead2}/disqualify"), &agent, json!({"reason": "no budget"})).await);
    assert_eq!(dq["disqualified_reason"], "no budget");
    app.post(&format!("/api/v1/leads/{lead2}/convert"), &agent, json!({"customer": {"currency": "EUR"}}))
        .await
        .problem(409, "lead_disqualified");
    // Linking a customer the agent cannot see is 404.
    let lead3 = id(&app.post("/api/v1/leads", &other, json!({"person_name": "Carl"})).await);
    app.post(&format!("/api/v1/leads/{lead3}/convert"), &other, json!({"customer_id": cust["id"]}))
        .await
        .problem(404, "not_found");
    let h = app.get(&format!("/api/v1/leads/{lid}/history"), &agent).await;
    let actions: Vec<&str> = h.body["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, vec!["create", "update", "update", "convert"]);
}

async fn opportunities_and_stages(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app).await;
    let s1 = id(&app
        .post("/api/v1/pipeline-stages", t, json!({"name": "Qualify", "position": 1, "probability": "10"}))
        .await);
    let s2 = id(&app
        .post("/api/v1/pipeline-stages", t, json!({"name": "Proposal", "position": 2, "probability": "50"}))
        .await);
    let (_, agent) = app.user("anna", &["sales_agent"]).await;
    let (_, other) = app.user("otto", &["sales_agent"]).await;
    let cust = id(&app.post("/api/v1/customers", &agent, json!({"name": "Mine", "currency": "EUR"})).await);
    let opp = ok(app
        .post("/api/v1/opportunities", &agent, json!({"title": "Tools", "customer_id": cust, "amount": "2000.00",
            "currency": "EUR", "expected_close": "2026-12-31",
            "items": [{"item_id": w.item_a, "quantity": "3"}, {"item_id": w.item_b, "quantity": "1", "estimated_price": "90"}]}))
        .await);
    assert_eq!(opp["stage_id"], s1, "the first stage by default");
    assert_eq!(opp["weighted_amount"], "200.00");
    let oid = opp["id"].as_i64().unwrap();
    app.get(&format!("/api/v1/opportunities/{oid}"), &other).await.problem(404, "not_found");
    app.post(
        "/api/v1/opportunities",
        &other,
        json!({"title": "x", "customer_id": cust, "amount": "1", "currency": "EUR"}),
    )
    .await
    .problem(404, "not_found");
    let bad = app
        .post(
            "/api/v1/opportunities",
            &agent,
            json!({"title": "x", "customer_id": cust, "amount": "-1", "currency": "EUR",
            "items": [{"item_id": w.item_a, "quantity": "0"}]}),
        )
        .await;
    bad.problem(422, "validation_failed");
    assert_eq!(bad.error_fields(), vec!["amount", "items[0].quantity"]);
    let moved = ok(app.patch(&format!("/api/v1/opportunities/{oid}"), &agent, json!({"stage_id": s2})).await);
    assert_eq!(moved["effective_probability"], "50");
    assert_eq!(moved["weighted_amount"], "1000.00");
    assert_eq!(moved["items"].as_array().unwrap().len(), 2, "items stay when not patched");
    let overridden = ok(app.patch(&format!("/api/v1/opportunities/{oid}"), &agent, json!({"probability": "75"})).await);
    assert_eq!(overridden["weighted_amount"], "1500.00");
    let changes = app.get(&format!("/api/v1/opportunities/{oid}/stage-changes"), &agent).await;
    let c = changes.body["data"].as_array().unwrap();
    assert_eq!(c.len(), 2);
    assert_eq!((c[0]["from_stage_id"].clone(), c[1]["from_stage_id"].clone()), (Value::Null, json!(s1)));
    app.delete(&format!("/api/v1/pipeline-stages/{s2}"), t).await.problem(409, "in_use");

    // A quotation from the opportunity's items, priced by the engine.
    let q = app.post(&format!("/api/v1/opportunities/{oid}/quotation"), &agent, json!({})).await;
    assert_eq!(q.status, 201, "{}", q.body);
    assert_eq!(q.body["opportunity_id"], oid);
    let nets: Vec<&str> = q.body["lines"].as_array().unwrap().iter().map(|l| l["net"].as_str().unwrap()).collect();
    assert_eq!(nets, vec!["28.50", "100.00"]);

    let lost = ok(app
        .post(&format!("/api/v1/opportunities/{oid}/lose"), &agent, json!({"reason": "price", "competitor": "Rival"}))
        .await);
    assert_eq!((lost["status"].as_str(), lost["competitor"].as_str()), (Some("lost"), Some("Rival")));
    app.post(&format!("/api/v1/opportunities/{oid}/win"), &agent, json!({})).await.problem(409, "opportunity_closed");
    let lead = id(&app.post("/api/v1/leads", &agent, json!({"person_name": "Ada"})).await);
    let on_lead = ok(app
        .post(
            "/api/v1/opportunities",
            &agent,
            json!({"title": "Early", "lead_id": lead, "amount": "10", "currency": "EUR"}),
        )
        .await);
    app.post(&format!("/api/v1/opportunities/{}/quotation", on_lead["id"]), &agent, json!({}))
        .await
        .problem(409, "no_customer");
}

async fn quotation_lifecycle(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app).await;
    let (_, agent) = app.user("anna", &["sales_agent"]).await;
    let (_, manager) = app.user("mia", &["sales_manager"]).await;
    app.patch(
        &format!("/api/v1/customers/{}", w.c1),
        t,
        json!({"owner_id": app.user("agent2", &["sales_agent"]).await.0}),
    )
    .await;
    let today = time::OffsetDateTime::now_utc().date();
    let q = app
        .post(
            "/api/v1/quotations",
            &manager,
            json!({"customer_id": w.c1,
            "lines": [line(w.item_a, "3"), line(w.item_a, "12"), line(w.item_b, "1")]}),
        )
        .await;
    assert_eq!(q.status, 201, "{}", q.body);
    let b = &q.body;
    assert!(b["number"].as_str().unwrap().starts_with("QT-"));
    assert_eq!((b["revision"].as_i64(), b["status"].as_str()), (Some(1), Some("draft")));
    assert_eq!(b["date"], today.to_string());
    assert_eq!(b["valid_until"], (today + time::Duration::days(30)).to_string(), "30 days by default");
    assert_eq!(b["payment_terms_days"], 14, "the customer's terms");
    assert_eq!(b["totals"]["net"], "226.48");
    assert_eq!(b["totals"]["tax"], "37.39");
    assert_eq!(b["totals"]["gross"], "263.87");
    assert_eq!(b["totals"]["base_net"], "226.48");
    let qid = b["id"].as_i64().unwrap();
    let url = format!("/api/v1/quotations/{qid}");
    // The agent does not own C1: 404 everywhere.
    app.get(&url, &agent).await.problem(404, "not_found");
    app.post("/api/v1/quotations", &agent, json!({"customer_id": w.c1})).await.problem(404, "not_found");

    // A manual price needs the permission and a reason, and shows in the explanation.
    let l2 = b["lines"][1]["id"].as_i64().unwrap();
    let (_, clerk) = app.user("sam", &["sales_agent", "viewer"]).await;
    app.patch(&format!("{url}/lines/{l2}"), &clerk, json!({"manual_price": "8.00", "override_reason": "loyal"}))
        .await
        .problem(403, "forbidden");
    let no_reason = app.patch(&format!("{url}/lines/{l2}"), &manager, json!({"manual_price": "8.00"})).await;
    no_reason.problem(422, "validation_failed");
    assert_eq!(no_reason.error_fields(), vec!["lines[0].override_reason"]);
    let o = ok(app
        .patch(
            &format!("{url}/lines/{l2}"),
            &manager,
            json!({"manual_price": "8.00", "override_reason": "loyal customer"}),
        )
        .await);
    assert_eq!(o["lines"][1]["net"], "96.00");
    assert_eq!(o["lines"][1]["tax"], "22.08");
    assert_eq!(o["totals"]["net"], "221.93");
    assert_eq!(o["lines"][0]["version"], 1, "other lines untouched");
    assert_eq!(o["lines"][1]["version"], 2);
    let text = o["explanation"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect::<Vec<_>>().join("\n");
    assert!(text.contains("Line 2: set by hand, unit price 8.00 by mia (reason: loyal customer)"), "{text}");
    // Header change re-prices: a special price for B now applies.
    app.post(&format!("/api/v1/customers/{}/prices", w.c1), t, json!({"item_id": w.item_b, "price": "80.00"})).await;
    let h = ok(app.patch(&url, &manager, json!({"notes": "as discussed"})).await);
    assert_eq!(h["lines"][2]["net"], "80.00");
    app.patch(&url, &manager, json!({"lines": []})).await.problem(422, "validation_failed");

    // Sent quotations do not change; revise makes a new revision.
    let sent = ok(app.post(&format!("{url}/send"), &manager, json!({})).await);
    assert_eq!(sent["status"], "sent");
    app.patch(&url, &manager, json!({"notes": "x"})).await.problem(409, "not_draft");
    app.post(&format!("{url}/lines"), &manager, line(w.item_a, "1")).await.problem(409, "not_draft");
    let rev = app.post(&format!("{url}/revise"), &manager, json!({})).await;
    assert_eq!(rev.status, 200, "{}", rev.body);
    assert_eq!(rev.body["number"], b["number"]);
    assert_eq!(rev.body["revision"], 2);
    assert_eq!(rev.body["previous_id"], qid);
    assert_eq!(rev.body["lines"][1]["net"], "96.00", "the override travels with the revision");
    assert_eq!(app.get(&url, &manager).await.body["status"], "superseded");
    let rid = rev.body["id"].as_i64().unwrap();
    let rurl = format!("/api/v1/quotations/{rid}");
    let all = app.get(&format!("/api/v1/quotations?number={}", b["number"].as_str().unwrap()), &manager).await;
    assert_eq!(all.body["data"].as_array().unwrap().len(), 2);
    app.post(&format!("{rurl}/accept"), &manager, json!({})).await.problem(409, "invalid_transition");
    ok(app.post(&format!("{rurl}/send"), &manager, json!({})).await);
    ok(app.post(&format!("{rurl}/accept"), &manager, json!({})).await);
    let conv = app.post(&format!("{rurl}/convert"), &manager, json!({"into": "sales_order"})).await;
    assert_eq!(conv.status, 201, "{}", conv.body);
    let order = &conv.body["sales_order"];
    assert_eq!(order["quotation_id"], rid);
    assert_eq!(order["totals"], rev.body["totals"], "lines and prices as quoted");
    assert_eq!(order["status"], "draft");
    assert_eq!(app.get(&rurl, &manager).await.body["sales_order_id"], order["id"]);
    app.post(&format!("{rurl}/convert"), &manager, json!({"into": "sales_order"}))
        .await
        .problem(409, "already_converted");
    // Prices are kept as quoted even after the list changes and the order is edited.
    let oid = order["id"].as_i64().unwrap();
    let edited = ok(app.patch(&format!("/api/v1/sales-orders/{oid}"), &manager, json!({"customer_po": "PO-1"})).await);
    assert_eq!(edited["totals"], rev.body["totals"]);
    // A new requested date keeps the quoted price; a new quantity is priced afresh
    // (the quote covered one unit, not two).
    let ol = edited["lines"][2]["id"].as_i64().unwrap();
    let lurl = format!("/api/v1/sales-orders/{oid}/lines/{ol}");
    let dated = ok(app.patch(&lurl, &manager, json!({"requested_date": "2027-03-01"})).await);
    assert_eq!(dated["lines"][2]["net"], "80.00");
    assert!(dated["lines"][2]["pricing"]["locked_from"].is_string(), "{}", dated["lines"][2]);
    let more = ok(app.patch(&lurl, &manager, json!({"quantity": "2"})).await);
    assert_eq!(more["lines"][2]["net"], "160.00");
    assert!(more["lines"][2]["pricing"].get("locked_from").is_none(), "{}", more["lines"][2]);
    assert_eq!(more["lines"][0]["pricing"]["locked_from"], dated["lines"][0]["pricing"]["locked_from"]);

    // Expiry: evaluated on read and persisted by the daily job.
    let old = ok(app
        .post(
            "/api/v1/quotations",
            &manager,
            json!({"customer_id": w.c1, "date": "2026-01-01", "valid_until": "2026-01-31",
            "lines": [line(w.item_a, "1")]}),
        )
        .await);
    let ourl = format!("/api/v1/quotations/{}", old["id"]);
    let s = ok(app.post(&format!("{ourl}/send"), &manager, json!({})).await);
    assert_eq!(s["status"], "expired", "past its validity the moment it is read");
    app.post(&format!("{ourl}/accept"), &manager, json!({})).await.problem(409, "invalid_transition");
    let expired = app.get("/api/v1/quotations?status=expired", &manager).await;
    assert_eq!(expired.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(ordo_api::jobs::run_daily(&app.db).unwrap(), 1);
    assert_eq!(ordo_api::jobs::run_daily(&app.db).unwrap(), 0, "idempotent");
    let hist = app.get(&format!("{ourl}/history"), &manager).await;
    assert_eq!(hist.body["data"].as_array().unwrap().last().unwrap()["action"], "expire");
    ok(app.post(&format!("{ourl}/archive"), &manager, json!({})).await);
    assert!(app.get("/api/v1/quotations?status=expired", &manager).await.body["data"].as_array().unwrap().is_empty());
    let with = app.get("/api/v1/quotations?status=expired&include_archived=true", &manager).await;
    assert_eq!(with.body["data"].as_array().unwrap().len(), 1);
    // Rejected quotations do not convert.
    let r = ok(app
        .post("/api/v1/quotations", &manager, json!({"customer_id": w.c1, "lines": [line(w.item_b, "1")]}))
        .await);
    let rurl = format!("/api/v1/quotations/{}", r["id"]);
    ok(app.post(&format!("{rurl}/send"), &manager, json!({})).await);
    let rej = ok(app.post(&format!("{rurl}/reject"), &manager, json!({"reason": "too expensive"})).await);
    assert_eq!(rej["status_reason"], "too expensive");
    app.post(&format!("{rurl}/convert"), &manager, json!({"into": "sales_order"})).await.problem(409, "not_accepted");
}

/// An approval route (manager from 100 EUR, finance above 50% discount) and a checklist.
async fn setup_route(app: &TestApp) {
    let t = &app.admin_token;
    id(&app
        .post(
            "/api/v1/approval-routes",
            t,
            json!({"name": "Standard", "stages": [
                {"name": "Manager", "role": "sales_manager", "condition": {"kind": "total_at_least", "amount": "100"}},
                {"name": "Finance", "role": "accountant", "condition": {"kind": "discount_above", "percent": "50"}},
                {"name": "Credit", "role": "accountant", "condition": {"kind": "customer_new"}}
            ]}),
        )
        .await);
    id(&app
        .post(
            "/api/v1/checklist-templates",
            t,
            json!({"name": "Standard", "points": [
            {"text": "Delivery packaging agreed"}, {"text": "Photos sent", "required": false}]}),
        )
        .await);
}

async fn order_approval_and_confirmation(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app).await;
    setup_route(&app).await;
    let (agent_id, agent) = app.user("anna", &["sales_agent"]).await;
    let (_, manager) = app.user("mia", &["sales_manager"]).await;
    let (_, manager2) = app.user("max", &["sales_manager"]).await;
    let (_, acct) = app.user("ace", &["accountant"]).await;
    app.patch(&format!("/api/v1/customers/{}", w.c1), t, json!({"owner_id": agent_id})).await;

    let o = app
        .post(
            "/api/v1/sales-orders",
            &agent,
            json!({"customer_id": w.c1, "customer_po": "PO-77",
            "lines": [line(w.item_a, "3"), line(w.item_a, "12"), line(w.item_b, "1")]}),
        )
        .await;
    assert_eq!(o.status, 201, "{}", o.body);
    assert!(o.body["number"].as_str().unwrap().starts_with("SO-"));
    assert_eq!(o.body["totals"]["gross"], "263.87");
    assert_eq!(o.body["lines"][0]["planned_unit_cost"], "4.20");
    assert_eq!(o.body["lines"][0]["production_state"], "not_planned");
    let oid = o.body["id"].as_i64().unwrap();
    let url = format!("/api/v1/sales-orders/{oid}");
    app.post(&format!("{url}/approve"), &manager, json!({})).await.problem(409, "not_pending_approval");
    let ready = ok(app.get(&format!("{url}/readiness"), &agent).await);
    assert_eq!((ready["next_step"].as_str(), ready["ready"].as_bool()), (Some("submit"), Some(true)));
    assert!(!ready["notes"].as_array().unwrap().is_empty(), "what confirmation will need: {ready}");
    let sub = ok(app.post(&format!("{url}/submit"), &agent, json!({})).await);
    assert_eq!(sub["status"], "pending_approval");
    let ready = ok(app.get(&format!("{url}/readiness"), &agent).await);
    let stages: Vec<&str> = ready["blockers"].as_array().unwrap().iter().map(|b| b["kind"].as_str().unwrap()).collect();
    assert_eq!((ready["next_step"].as_str(), stages), (Some("approve"), vec!["approval", "approval"]));
    let names: Vec<&str> =
        sub["approval"]["stages"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["Manager", "Credit"], "the discount stage does not apply");
    app.patch(&url, &agent, json!({"requested_date": "2026-12-01"})).await.problem(409, "not_draft");
    app.post(&format!("{url}/approve"), &agent, json!({})).await.problem(403, "forbidden");
    app.post(&format!("{url}/approve"), &acct, json!({})).await.problem(403, "forbidden");

    // Two managers approve the same stage at once: one wins, the other is refused.
    let body = json!({"stage": "Manager", "comment": "fine"});
    let (a, b) = futures_util::future::join(
        app.post(&format!("{url}/approve"), &manager, body.clone()),
        app.post(&format!("{url}/approve"), &manager2, body.clone()),
    )
    .await;
    let mut codes = vec![a.status.as_u16(), b.status.as_u16()];
    codes.sort();
    assert_eq!(codes, vec![200, 409], "{} {}", a.body, b.body);
    let after = app.get(&url, &agent).await;
    assert_eq!(after.body["approval"]["stages"][0]["status"], "approved");
    assert_eq!(after.body["approval"]["stages"][1]["status"], "pending");
    assert_eq!(after.body["status"], "pending_approval");
    let approved = ok(app.post(&format!("{url}/approve"), &acct, json!({"stage": "Credit"})).await);
    assert_eq!(approved["status"], "approved");
    assert!(approved["approval"]["approved_at"].is_string());

    // Confirmation needs the contract number and the ticked checklist: the 422 and
    // the readiness list name everything at once.
    let cl = app.get(&format!("{url}/checklist"), &agent).await;
    let points = cl.body.as_array().unwrap();
    assert_eq!(points.len(), 2);
    let p1 = points[0]["id"].as_i64().unwrap();
    let c = app.post(&format!("{url}/confirm"), &agent, json!({})).await;
    c.problem(422, "confirmation_incomplete");
    assert_eq!(
        c.error_fields(),
        vec!["contract_number".to_string(), format!("checklist[{p1}]")],
        "only the required point"
    );
    let ready = ok(app.get(&format!("{url}/readiness"), &agent).await);
    assert_eq!((ready["next_step"].as_str(), ready["ready"].as_bool()), (Some("confirm"), Some(false)));
    let kinds: Vec<&str> = ready["blockers"].as_array().unwrap().iter().map(|b| b["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["field", "checklist"], "{ready}");
    app.patch(&url, &agent, json!({"currency": "USD"})).await.problem(409, "not_draft");
    ok(app.patch(&url, &agent, json!({"contract_number": "K-2026-7"})).await);
    let c = app.post(&format!("{url}/confirm"), &agent, json!({})).await;
    c.problem(422, "confirmation_incomplete");
    assert_eq!(c.body["errors"].as_array().unwrap().len(), 1, "only the required point");
    let ticked = ok(app
        .post(
            &format!("{url}/checklist/{p1}/tick"),
            &agent,
            json!({"ticked": true, "comment": "pallets, shrink-wrapped"}),
        )
        .await);
    assert_eq!(ticked[0]["ticked_by"], "anna");
    assert_eq!(ok(app.get(&format!("{url}/readiness"), &agent).await)["ready"], true);
    let conf = ok(app.post(&format!("{url}/confirm"), &agent, json!({})).await);
    assert_eq!(conf["status"], "in_execution");
    let ready = ok(app.get(&format!("{url}/readiness"), &agent).await);
    assert_eq!(ready["next_step"], "deliver");
    app.post(&format!("{url}/checklist/{p1}/tick"), &agent, json!({"ticked": false}))
        .await
        .problem(409, "checklist_closed");

    // A planning system reports production on one line.
    let (_, planner) = app.user("plan", &["warehouse"]).await;
    let l0 = after.body["lines"][0]["id"].as_i64().unwrap();
    let prod = ok(app
        .patch(
            &format!("{url}/lines/{l0}/production"),
            &planner,
            json!({"production_state": "in_production", "actual_cost": "12.60"}),
        )
        .await);
    assert_eq!(
        (prod["production_state"].as_str(), prod["actual_cost"].as_str()),
        (Some("in_production"), Some("12.60"))
    );
    app.patch(&format!("{url}/lines/{l0}/production"), &agent, json!({"production_state": "done"}))
        .await
        .problem(403, "forbidden");

    ok(app.post(&format!("{url}/comments"), &agent, json!({"text": "Customer called about the date"})).await);
    let j = app.get(&format!("{url}/journal"), &agent).await;
    let stages: Vec<&str> = j.body.as_array().unwrap().iter().map(|s| s["stage"].as_str().unwrap()).collect();
    assert_eq!(
        stages,
        vec!["draft", "pending_approval: Manager", "pending_approval: Credit", "approved", "in_execution"]
    );
    let last = j.body.as_array().unwrap().last().unwrap();
    assert_eq!(last["entries"][0]["kind"], "comment");

    ok(app.post(&format!("{url}/close"), &agent, json!({"reason": "customer takes what was delivered"})).await);
    let arch = ok(app.post(&format!("{url}/archive"), &agent, json!({})).await);
    assert_eq!(arch["status"], "archived");
    app.post(&format!("{url}/comments"), &agent, json!({"text": "x"})).await;
    app.patch(&url, &agent, json!({"notes": "x"})).await.problem(409, "archived");
    assert!(app.get("/api/v1/sales-orders", &agent).await.body["data"].as_array().unwrap().is_empty());
    assert_eq!(
        app.get("/api/v1/sales-orders?include_archived=true", &agent).await.body["data"].as_array().unwrap().len(),
        1
    );

    // Rejection cancels; a cancelled order can be archived.
    let o2 = id(&app
        .post("/api/v1/sales-orders", &agent, json!({"customer_id": w.c1, "lines": [line(w.item_b, "2")]}))
        .await);
    let u2 = format!("/api/v1/sales-orders/{o2}");
    ok(app.post(&format!("{u2}/submit"), &agent, json!({})).await);
    let rej = ok(app.post(&format!("{u2}/reject"), &manager, json!({"reason": "margin too thin"})).await);
    assert_eq!(rej["status"], "cancelled");
    assert_eq!(rej["status_reason"], "rejected at Manager: margin too thin");
    ok(app.post(&format!("{u2}/archive"), &agent, json!({})).await);
    // A small order for a known customer is approved at once.
    let o3 = id(&app
        .post("/api/v1/sales-orders", &agent, json!({"customer_id": w.c1, "lines": [line(w.item_a, "1")]}))
        .await);
    let s3 = ok(app.post(&format!("/api/v1/sales-orders/{o3}/submit"), &agent, json!({})).await);
    assert_eq!(s3["status"], "approved");
    assert!(s3["approval"]["stages"].as_array().unwrap().is_empty());
}

async fn order_rules_and_scope(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app).await;
    let (agent_id, agent) = app.user("anna", &["sales_agent"]).await;
    let (_, other) = app.user("otto", &["sales_agent"]).await;
    app.patch(&format!("/api/v1/customers/{}", w.c1), t, json!({"owner_id": agent_id})).await;
    let o = id(&app
        .post("/api/v1/sales-orders", &agent, json!({"customer_id": w.c1, "lines": [line(w.item_a, "1")]}))
        .await);
    let url = format!("/api/v1/sales-orders/{o}");
    app.get(&url, &other).await.problem(404, "not_found");
    app.get(&format!("{url}/journal"), &other).await.problem(404, "not_found");
    app.post(&format!("{url}/submit"), &other, json!({})).await.problem(404, "not_found");
    assert!(app.get("/api/v1/sales-orders", &other).await.body["data"].as_array().unwrap().is_empty());
    app.post("/api/v1/sales-orders", &other, json!({"customer_id": w.c1})).await.problem(404, "not_found");

    let orders_before = app.with_db(|c| {
        use diesel::prelude::*;
        ordo_db::schema::sales_orders::table.count().get_result::<i64>(c).unwrap()
    });
    let blocked =
        id(&app.post("/api/v1/customers", t, json!({"name": "Blocked", "currency": "EUR", "status": "blocked"})).await);
    app.post("/api/v1/sales-orders", t, json!({"customer_id": blocked, "lines": [line(w.item_a, "1")]}))
        .await
        .problem(422, "customer_blocked");
    app.patch(&format!("/api/v1/items/{}", w.item_b), t, json!({"active": false})).await;
    let inactive = app
        .post(
            "/api/v1/sales-orders",
            t,
            json!({"customer_id": w.c1, "lines": [line(w.item_a, "1"), line(w.item_b, "1")]}),
        )
        .await;
    assert_eq!(inactive.status, 422, "{}", inactive.body);
    assert_eq!(inactive.error_fields(), vec!["lines[1].item_id"]);
    let bad = app
        .post(
            "/api/v1/sales-orders",
            t,
            json!({"customer_id": w.c1, "currency": "XXY", "lines": [{"item_id": w.item_a, "quantity": "-1"}]}),
        )
        .await;
    bad.problem(422, "validation_failed");
    assert_eq!(bad.error_fields(), vec!["currency", "lines[0].quantity"]);
    let unknown = app.post("/api/v1/sales-orders", t, json!({"customer_id": w.c1, "lines": [line(999, "1")]})).await;
    unknown.problem(422, "unpriceable_lines");
    assert_eq!(unknown.error_fields(), vec!["lines[0].item_id"]);
    let after = app.with_db(|c| {
        use diesel::prelude::*;
        ordo_db::schema::sales_orders::table.count().get_result::<i64>(c).unwrap()
    });
    assert_eq!(after, orders_before, "nothing written on failure");
    // Free lines from rules cannot be edited directly.
    app.delete(&format!("{url}/lines/999999"), &agent).await.problem(404, "not_found");
    let stale =
        app.call(Method::POST, &format!("{url}/submit"), &agent, Some(json!({})), &[("If-Match", "\"7\"")]).await;
    stale.problem(412, "precondition_failed");
    let cancelled = ok(app.post(&format!("{url}/cancel"), &agent, json!({"reason": "customer changed mind"})).await);
    assert_eq!(cancelled["status"], "cancelled");
    app.post(&format!("{url}/confirm"), &agent, json!({})).await.problem(409, "not_approved");

    // Ids of someone else's records anywhere in a body are 404s naming the field.
    let other_cust = id(&app.post("/api/v1/customers", &other, json!({"name": "Otto's", "currency": "EUR"})).await);
    let contact =
        id(&app.post(&format!("/api/v1/customers/{other_cust}/contacts"), &other, json!({"name": "X"})).await);
    let foreign = app
        .post(
            "/api/v1/sales-orders",
            &agent,
            json!({"customer_id": w.c1, "contact_id": contact, "lines": [line(w.item_a, "1")]}),
        )
        .await;
    foreign.problem(404, "not_found");
    assert_eq!(foreign.error_fields(), vec!["contact_id"]);
    let their_opp =
        app.post("/api/v1/pipeline-stages", t, json!({"name": "S", "position": 1, "probability": "10"})).await;
    assert_eq!(their_opp.status, 201);
    let opp = id(&app
        .post(
            "/api/v1/opportunities",
            &other,
            json!({"title": "x", "customer_id": other_cust, "amount": "1", "currency": "EUR"}),
        )
        .await);
    let q = app.post("/api/v1/quotations", &agent, json!({"customer_id": w.c1, "opportunity_id": opp})).await;
    q.problem(404, "not_found");
    assert_eq!(q.error_fields(), vec!["opportunity_id"]);
    // Customers and items on documents are archived, not deleted.
    let arch = app.delete(&format!("/api/v1/customers/{}", w.c1), t).await;
    assert_eq!(arch.status, 200, "{}", arch.body);
    assert!(arch.body["archived_at"].is_string());
    let arch = app.delete(&format!("/api/v1/items/{}", w.item_a), t).await;
    assert_eq!(arch.status, 200, "{}", arch.body);
    assert_eq!(app.get(&url, t).await.status, 200, "the order stays readable");
}

async fn coupon_redemption_is_counted_once(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app).await;
    let rule = id(&app
        .post(
            "/api/v1/pricing-rules",
            t,
            json!({"name": "10% with code", "action": "discount_percent", "percent": "10", "coupon_only": true}),
        )
        .await);
    let coupon =
        id(&app.post("/api/v1/coupons", t, json!({"code": "ONCE", "pricing_rule_id": rule, "max_uses": 1})).await);
    let mk = || {
        app.post(
            "/api/v1/sales-orders",
            t,
            json!({"customer_id": w.c1, "coupon_code": "once", "lines": [line(w.item_b, "1")]}),
        )
    };
    let a = ok(mk().await);
    let b = ok(mk().await);
    assert_eq!(a["totals"]["net"], "88.20", "100 - 10% - 2%");
    ok(app.post(&format!("/api/v1/sales-orders/{}/submit", a["id"]), t, json!({})).await);
    let refused = app.post(&format!("/api/v1/sales-orders/{}/submit", b["id"]), t, json!({})).await;
    refused.problem(422, "coupon_invalid");
    assert_eq!(app.get(&format!("/api/v1/coupons/{coupon}"), t).await.body["uses"], 1);
    assert_eq!(
        app.get(&format!("/api/v1/sales-orders/{}", b["id"]), t).await.body["status"],
        "draft",
        "nothing written"
    );
    ok(app.post(&format!("/api/v1/sales-orders/{}/cancel", a["id"]), t, json!({"reason": "duplicate"})).await);
    assert_eq!(app.get(&format!("/api/v1/coupons/{coupon}"), t).await.body["uses"], 0, "released on cancel");
    ok(app.post(&format!("/api/v1/sales-orders/{}/submit", b["id"]), t, json!({})).await);
    assert_eq!(app.get(&format!("/api/v1/coupons/{coupon}"), t).await.body["uses"], 1);
}

async fn order_statement_budget(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app).await;
    let lines =
        |n: usize| -> Vec<Value> { (0..n).map(|i| line(if i % 2 == 0 { w.item_a } else { w.item_b }, "2")).collect() };
    let five = app.post("/api/v1/sales-orders", t, json!({"customer_id": w.c1, "lines": lines(5)})).await;
    assert_eq!(five.status, 201, "{}", five.body);
    let six = app.post("/api/v1/sales-orders", t, json!({"customer_id": w.c1, "lines": lines(6)})).await;
    let twenty = app.post("/api/v1/sales-orders", t, json!({"customer_id": w.c1, "lines": lines(20)})).await;
    assert!(five.statements() <= 25, "5-line order: {} statements", five.statements());
    assert!(six.statements() <= five.statements() + 1, "{} vs {}", six.statements(), five.statements());
    assert!(twenty.statements() <= five.statements() + 15, "{} vs {}", twenty.statements(), five.statements());
    // Editing one line of a large order writes that line only.
    let oid = twenty.body["id"].as_i64().unwrap();
    let l7 = twenty.body["lines"][7]["id"].as_i64().unwrap();
    let edit = app.patch(&format!("/api/v1/sales-orders/{oid}/lines/{l7}"), t, json!({"quantity": "3"})).await;
    assert_eq!(edit.status, 200, "{}", edit.body);
    let versions: Vec<i64> =
        edit.body["lines"].as_array().unwrap().iter().map(|l| l["version"].as_i64().unwrap()).collect();
    assert_eq!(versions.iter().filter(|v| **v == 2).count(), 1, "{versions:?}");
    assert_eq!(edit.body["lines"][7]["quantity"], "3");
    assert!(edit.statements() <= five.statements() + 2, "edit: {} statements", edit.statements());
}

async fn blanket_orders_and_call_offs(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app).await;
    let (agent_id, agent) = app.user("anna", &["sales_agent"]).await;
    let (_, other) = app.user("otto", &["sales_agent"]).await;
    app.patch(&format!("/api/v1/customers/{}", w.c1), t, json!({"owner_id": agent_id})).await;
    let today = time::OffsetDateTime::now_utc().date();
    let (from, to) = (today.to_string(), (today + time::Duration::days(364)).to_string());
    let bad = app
        .post(
            "/api/v1/blanket-orders",
            &agent,
            json!({"customer_id": w.c1, "kind": "value", "valid_from": to, "valid_to": from}),
        )
        .await;
    bad.problem(422, "validation_failed");
    assert_eq!(bad.error_fields(), vec!["valid_to", "value_ceiling"]);
    let b = ok(app
        .post(
            "/api/v1/blanket-orders",
            &agent,
            json!({"customer_id": w.c1, "kind": "quantity", "valid_from": from, "valid_to": to,
            "contract_number": "FW-1", "lines": [line(w.item_a, "100"), line(w.item_b, "10")]}),
        )
        .await);
    assert!(b["number"].as_str().unwrap().starts_with("BO-"));
    assert_eq!(b["lines"][0]["net"], "837.90", "9.00 tier, -5%, -2%");
    assert_eq!(b["agreed_value"], "1817.90");
    let bid = b["id"].as_i64().unwrap();
    let url = format!("/api/v1/blanket-orders/{bid}");
    app.get(&url, &other).await.problem(404, "not_found");
    let la = b["lines"][0]["id"].as_i64().unwrap();
    let lb = b["lines"][1]["id"].as_i64().unwrap();

    // A monthly schedule, editable line by line.
    let sched = app
        .post(
            &format!("{url}/schedule"),
            &agent,
            json!({"line_id": la, "period": "monthly", "quantity": "10",
            "from": from, "to": (today + time::Duration::days(75)).to_string()}),
        )
        .await;
    assert_eq!(sched.status, 201, "{}", sched.body);
    let lines = sched.body.as_array().unwrap();
    assert_eq!(lines.len(), 3);
    let sid = lines[1]["id"].as_i64().unwrap();
    let moved = ok(app.patch(&format!("{url}/schedule/{sid}"), &agent, json!({"quantity": "15"})).await);
    assert_eq!(moved["quantity"], "15");
    app.post(
        &format!("{url}/schedule"),
        &agent,
        json!({"line_id": 999, "period": "weekly", "quantity": "1", "from": from, "to": from}),
    )
    .await
    .problem(404, "not_found");

    // Call-offs only from an active blanket order, at the agreed prices.
    let co = json!({"lines": [{"line_id": la, "quantity": "30"}]});
    app.post(&format!("{url}/call-off"), &agent, co.clone()).await.problem(409, "blanket_not_active");
    ok(app.post(&format!("{url}/activate"), &agent, json!({})).await);
    app.patch(&url, &agent, json!({"notes": "x"})).await.problem(409, "not_draft");
    let order = app.post(&format!("{url}/call-off"), &agent, co).await;
    assert_eq!(order.status, 201, "{}", order.body);
    assert_eq!(order.body["blanket_order_id"], bid);
    assert_eq!(order.body["lines"][0]["net"], "251.37", "30 x 8.379");
    assert_eq!(order.body["lines"][0]["blanket_line_id"], la);
    assert_eq!(order.body["contract_number"], "FW-1");
    let got = ok(app.get(&url, &agent).await);
    assert_eq!(got["lines"][0]["remaining_quantity"], "70");
    assert_eq!(got["called_off_value"], "251.37");
    let orders_before = app.get("/api/v1/sales-orders", t).await.body["data"].as_array().unwrap().len();
    let over = app
        .post(
            &format!("{url}/call-off"),
            &agent,
            json!({"lines": [{"line_id": la, "quantity": "71"}, {"line_id": lb, "quantity": "1"}]}),
        )
        .await;
    over.problem(422, "blanket_exceeded");
    assert_eq!(over.error_fields(), vec!["lines[0].quantity"]);
    assert_eq!(
        app.get("/api/v1/sales-orders", t).await.body["data"].as_array().unwrap().len(),
        orders_before,
        "nothing written"
    );
    app.post(
        &format!("{url}/call-off"),
        &agent,
        json!({"lines": [{"line_id": la, "quantity": "71"}], "allow_exceeding": true}),
    )
    .await
    .problem(403, "forbidden");
    // Order lines naming blanket lines are call-offs too.
    let via = app
        .post(
            "/api/v1/sales-orders",
            &agent,
            json!({"customer_id": w.c1, "lines": [{"item_id": w.item_b, "quantity": "4", "blanket_line_id": lb}]}),
        )
        .await;
    assert_eq!(via.status, 201, "{}", via.body);
    assert_eq!(via.body["blanket_order_id"], bid);
    assert_eq!(ok(app.get(&url, &agent).await)["lines"][1]["remaining_quantity"], "6");
    let oid = order.body["id"].as_i64().unwrap();
    app.patch(
        &format!("/api/v1/sales-orders/{oid}/lines/{}", order.body["lines"][0]["id"]),
        &agent,
        json!({"quantity": "1"}),
    )
    .await
    .problem(409, "call_off_lines");
    // Cancelling a call-off gives its quantity back.
    ok(app.post(&format!("/api/v1/sales-orders/{oid}/cancel"), &agent, json!({"reason": "wrong"})).await);
    let back = ok(app.get(&url, &agent).await);
    assert_eq!(back["lines"][0]["remaining_quantity"], "100");
    assert_eq!(back["called_off_value"], via.body["totals"]["net"]);

    // A value blanket order caps the call-offs' net value.
    let v = ok(app
        .post(
            "/api/v1/blanket-orders",
            t,
            json!({"customer_id": w.c1, "kind": "value", "valid_from": from, "valid_to": to,
            "value_ceiling": "300.00", "lines": [line(w.item_b, "1")]}),
        )
        .await);
    let vurl = format!("/api/v1/blanket-orders/{}", v["id"]);
    ok(app.post(&format!("{vurl}/activate"), t, json!({})).await);
    let vl = v["lines"][0]["id"].as_i64().unwrap();
    ok(app.post(&format!("{vurl}/call-off"), t, json!({"lines": [{"line_id": vl, "quantity": "3"}]})).await);
    assert_eq!(ok(app.get(&vurl, t).await)["remaining_value"], "6.00");
    app.post(&format!("{vurl}/call-off"), t, json!({"lines": [{"line_id": vl, "quantity": "1"}]}))
        .await
        .problem(422, "blanket_exceeded");
    let forced = app
        .post(
            &format!("{vurl}/call-off"),
            t,
            json!({"lines": [{"line_id": vl, "quantity": "1"}], "allow_exceeding": true}),
        )
        .await;
    assert_eq!(forced.status, 201, "{}", forced.body);

    // An accepted quotation converts into a blanket order.
    let q = ok(app.post("/api/v1/quotations", t, json!({"customer_id": w.c1, "lines": [line(w.item_a, "50")]})).await);
    let qurl = format!("/api/v1/quotations/{}", q["id"]);
    ok(app.post(&format!("{qurl}/send"), t, json!({})).await);
    ok(app.post(&format!("{qurl}/accept"), t, json!({})).await);
    let conv = app.post(&format!("{qurl}/convert"), t, json!({"into": "blanket_order"})).await;
    assert_eq!(conv.status, 201, "{}", conv.body);
    assert_eq!(conv.body["blanket_order"]["quotation_id"], q["id"]);
    assert_eq!(conv.body["blanket_order"]["lines"][0]["net"], q["lines"][0]["net"]);
    assert_eq!(ok(app.get(&qurl, t).await)["blanket_order_id"], conv.body["blanket_order"]["id"]);
}

async fn numbering_has_no_gaps_or_duplicates(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app).await;
    let series = ok(app.get("/api/v1/number-series", t).await);
    let so = series["data"].as_array().unwrap().iter().find(|s| s["code"] == "sales_order").unwrap().clone();
    assert_eq!(so["pattern"], "SO-{YYYY}-{######}");
    let year = time::OffsetDateTime::now_utc().year();
    assert_eq!(so["gap_free"], false, "only the legal series are gap-free by default");
    let p = ok(app
        .patch(
            "/api/v1/number-series/sales_order",
            t,
            json!({"pattern": "ORD{YYYY}/{####}", "next_value": 40, "gap_free": true}),
        )
        .await);
    assert_eq!(p["preview"], format!("ORD{year}/0040"));
    assert_eq!(p["gap_free"], true);
    app.patch("/api/v1/number-series/sales_order", t, json!({"next_value": 3})).await.problem(422, "validation_failed");
    app.patch("/api/v1/number-series/sales_order", t, json!({"pattern": "no counter"}))
        .await
        .problem(422, "validation_failed");
    app.patch("/api/v1/number-series/nope", t, json!({"next_value": 3})).await.problem(404, "not_found");
    let (_, agent) = app.user("anna", &["sales_agent"]).await;
    app.patch("/api/v1/number-series/sales_order", &agent, json!({"next_value": 99})).await.problem(403, "forbidden");
    // Ten concurrent creations and one that fails: ten consecutive numbers, no gap.
    let body = json!({"customer_id": w.c1, "lines": [line(w.item_a, "1")]});
    let mut calls: Vec<_> = (0..10).map(|_| app.post("/api/v1/sales-orders", t, body.clone())).collect();
    // Fails after taking a number (the item cannot be priced): the number goes back.
    calls.insert(5, app.post("/api/v1/sales-orders", t, json!({"customer_id": w.c1, "lines": [line(999, "1")]})));
    let results = futures_util::future::join_all(calls).await;
    let mut numbers: Vec<String> =
        results.iter().filter(|r| r.status == 201).map(|r| r.body["number"].as_str().unwrap().to_string()).collect();
    numbers.sort();
    let expected: Vec<String> = (40..50).map(|n| format!("ORD{year}/{n:04}")).collect();
    assert_eq!(numbers, expected);
    // Not gap-free (blocks per process; PostgreSQL takes them from a sequence that never
    // waits): the series goes on where it stood, numbers stay unique.
    let p = ok(app.patch("/api/v1/number-series/sales_order", t, json!({"gap_free": false})).await);
    assert_eq!((p["gap_free"].as_bool(), p["next_value"].as_i64()), (Some(false), Some(50)));
    let calls: Vec<_> = (0..10).map(|_| app.post("/api/v1/sales-orders", t, body.clone())).collect();
    let mut numbers: Vec<i64> = futures_util::future::join_all(calls)
        .await
        .iter()
        .map(|r| {
            assert_eq!(r.status, 201, "{}", r.body);
            r.body["number"].as_str().unwrap().rsplit('/').next().unwrap().parse().unwrap()
        })
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(numbers.len(), 10, "unique: {numbers:?}");
    assert!(numbers[0] >= 50, "after the gap-free ones: {numbers:?}");
    let so = ok(app.get("/api/v1/number-series", t).await)["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["code"] == "sales_order")
        .unwrap()
        .clone();
    // The process took its numbers in blocks of 20 (one or more, as the concurrent
    // requests raced for the first): the series stands past every number given.
    let next = so["next_value"].as_i64().unwrap();
    assert!(next > numbers[9] && (next - 50) % 20 == 0, "{next} after blocks of 20 from 50: {numbers:?}");
    // Moving it on moves the sequence too.
    ok(app.patch("/api/v1/number-series/sales_order", t, json!({"next_value": 500})).await);
    let o = ok(app.post("/api/v1/sales-orders", t, body.clone()).await);
    assert_eq!(o["number"], format!("ORD{year}/0500"));
}
