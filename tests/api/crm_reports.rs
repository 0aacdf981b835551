//! Activities with the calendar feed, reports and the demand register over HTTP.

use crate::on_both_backends;
use crate::support::{id, ok, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

on_both_backends!(
    activities_and_calendar,
    pipeline_and_contact_reports,
    demand_report_and_register,
    sales_process_per_owner_and_stage
);

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap()
}

/// Runs SQL on the test database (to put timestamps in the past).
fn exec(app: &TestApp, sql: &str) {
    use diesel::RunQueryDsl;
    app.db.write(&ordo_db::Stats::default(), |c| Ok(diesel::sql_query(sql).execute(c)?)).unwrap();
}

async fn activities_and_calendar(app: TestApp) {
    let t = &app.admin_token;
    let (agent_id, agent) = app.user("anna", &["sales_agent"]).await;
    let (_, other) = app.user("otto", &["sales_agent"]).await;
    let (mgr_id, manager) = app.user("mia", &["sales_manager"]).await;
    let cust = id(app.post("/api/v1/customers", &agent, json!({"name": "Mine", "currency": "EUR"})).await);
    let theirs = id(app.post("/api/v1/customers", t, json!({"name": "Not yours", "currency": "EUR"})).await);
    let now = time::OffsetDateTime::now_utc();
    let a = ok(app
        .post(
            "/api/v1/activities",
            &agent,
            json!({"kind": "call", "subject": "Follow up, offer; 2nd", "customer_id": cust,
            "due_at": rfc3339(now - time::Duration::hours(2)), "body": "Ask about\nthe pallets"}),
        )
        .await);
    assert_eq!(a["assignee_id"], agent_id, "assigned to the caller by default");
    assert_eq!(a["overdue"], true);
    let aid = a["id"].as_i64().unwrap();
    let meeting = ok(app
        .post("/api/v1/activities", &agent, json!({"kind": "meeting", "subject": "Visit", "customer_id": cust,
            "start_at": rfc3339(now + time::Duration::days(2)), "end_at": rfc3339(now + time::Duration::days(2) + time::Duration::hours(1))}))
        .await);
    let mine = app.get("/api/v1/activities?assignee=me&overdue=true", &agent).await;
    assert_eq!(mine.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(mine.body["data"][0]["id"], aid);
    app.get("/api/v1/activities?assignee=nobody", &agent).await.problem(422, "validation_failed");
    app.get(&format!("/api/v1/activities/{aid}"), &other).await.problem(404, "not_found");
    app.post("/api/v1/activities", &other, json!({"kind": "note", "subject": "x", "customer_id": cust}))
        .await
        .problem(404, "not_found");
    app.post("/api/v1/activities", &agent, json!({"kind": "note", "subject": "x", "customer_id": theirs}))
        .await
        .problem(404, "not_found");
    let bad =
        app.post("/api/v1/activities", &agent, json!({"kind": "visit", "subject": "", "due_at": "tomorrow"})).await;
    bad.problem(422, "validation_failed");
    assert_eq!(bad.error_fields(), vec!["due_at", "kind"]);
    let empty = app.post("/api/v1/activities", &agent, json!({"kind": "note", "subject": ""})).await;
    assert_eq!(empty.error_fields(), vec!["subject"]);

    // Assigning to another user puts it on their list.
    let task = ok(app
        .post(
            "/api/v1/activities",
            &agent,
            json!({"kind": "task", "subject": "Approve discount", "customer_id": cust,
            "assignee_id": mgr_id, "due_at": rfc3339(now + time::Duration::days(1))}),
        )
        .await);
    let theirs_list = app.get("/api/v1/activities?assignee=me", &manager).await;
    assert_eq!(theirs_list.body["data"][0]["id"], task["id"]);
    let done = ok(app
        .patch(&format!("/api/v1/activities/{aid}"), &agent, json!({"done": true, "outcome": "will order in May"}))
        .await);
    assert!(done["done_at"].is_string());
    assert_eq!(done["overdue"], false);
    assert!(app.get("/api/v1/activities?assignee=me&overdue=true", &agent).await.body["data"]
        .as_array()
        .unwrap()
        .is_empty());

    // The calendar feed: bearer or a feed token that opens nothing else.
    let ics = app.call(Method::GET, "/api/v1/activities.ics", &agent, None, &[]).await;
    assert_eq!(ics.status, 200);
    assert!(ics.header("content-type").unwrap().starts_with("text/calendar"));
    let text = ics.body.as_str().unwrap().to_string();
    assert!(text.starts_with("BEGIN:VCALENDAR\r\n"), "{text}");
    assert!(text.contains(&format!("UID:activity-{}@ordo", meeting["id"])), "{text}");
    assert!(text.contains("BEGIN:VEVENT") && text.contains("DTSTART:"), "{text}");
    assert!(!text.contains(&format!("activity-{aid}@")), "done activities leave the feed");
    let feed = ok(app.get("/api/v1/activities/calendar-feed", &agent).await);
    let url = feed["url"].as_str().unwrap();
    let by_token = app.call(Method::GET, url, "", None, &[]).await;
    assert_eq!(by_token.status, 200);
    assert_eq!(by_token.body.as_str().unwrap().matches("BEGIN:VEVENT").count(), 1);
    let token = feed["token"].as_str().unwrap();
    app.get("/api/v1/activities", token).await.problem(401, "unauthorized");
    let forged = app.call(Method::GET, "/api/v1/activities.ics?token=abc", "", None, &[]).await;
    forged.problem(401, "unauthorized");
    let h = app.get(&format!("/api/v1/activities/{aid}/history"), &agent).await;
    assert_eq!(h.body["data"].as_array().unwrap().len(), 2);
}

async fn pipeline_and_contact_reports(app: TestApp) {
    let t = &app.admin_token;
    let (agent_id, agent) = app.user("anna", &["sales_agent"]).await;
    let (_, manager) = app.user("mia", &["sales_manager"]).await;
    let s1 = id(app
        .post("/api/v1/pipeline-stages", t, json!({"name": "Qualify", "position": 1, "probability": "10"}))
        .await);
    let s2 = id(app
        .post("/api/v1/pipeline-stages", t, json!({"name": "Proposal", "position": 2, "probability": "50"}))
        .await);
    ok(app
        .post(
            "/api/v1/exchange-rates",
            t,
            json!({"from_currency": "EUR", "to_currency": "PLN", "rate": "4.25", "valid_from": "2026-01-01"}),
        )
        .await);
    let europe = id(app.post("/api/v1/territories", t, json!({"name": "Europe"})).await);
    let c1 = id(app.post("/api/v1/customers", &agent, json!({"name": "Mine", "currency": "EUR"})).await);
    let c2 = id(app.post("/api/v1/customers", t, json!({"name": "Big", "currency": "PLN"})).await);
    let opp = |title: &str, c: i64, amount: &str, cur: &str, stage: i64| {
        json!({"title": title, "customer_id": c, "amount": amount, "currency": cur, "stage_id": stage,
               "expected_close": "2027-01-15", "territory_id": europe})
    };
    let a = id(app.post("/api/v1/opportunities", &agent, opp("A", c1, "1000", "EUR", s1)).await);
    ok(app.post("/api/v1/opportunities", &manager, opp("B", c2, "4250", "PLN", s2)).await);
    let won = id(app.post("/api/v1/opportunities", &manager, opp("C", c2, "10", "EUR", s1)).await);
    let lost = id(app.post("/api/v1/opportunities", &manager, opp("D", c2, "10", "EUR", s1)).await);
    ok(app.post(&format!("/api/v1/opportunities/{won}/win"), &manager, json!({})).await);
    ok(app.post(&format!("/api/v1/opportunities/{lost}/lose"), &manager, json!({"reason": "price"})).await);

    let r = ok(app.get("/api/v1/reports/pipeline", &manager).await);
    assert_eq!(r["open_count"], 2);
    assert_eq!(r["open_amount"], "2000.00");
    assert_eq!(r["weighted_amount"], "600.00");
    let groups = r["groups"].as_array().unwrap();
    assert_eq!(groups[0]["label"], "Qualify");
    assert_eq!(
        (groups[0]["open_amount"].as_str(), groups[0]["weighted_amount"].as_str()),
        (Some("1000.00"), Some("100.00"))
    );
    assert_eq!(
        (groups[1]["open_amount"].as_str(), groups[1]["weighted_amount"].as_str()),
        (Some("1000.00"), Some("500.00"))
    );
    assert_eq!(r["win_rate"], json!({"won": 1, "lost": 1, "rate": "50"}));
    let by_s1: Vec<&Value> = r["stage_durations"].as_array().unwrap().iter().filter(|d| d["stage_id"] == s1).collect();
    assert_eq!(by_s1[0]["samples"], 2, "the won and the lost one left Qualify");
    let by_month = ok(app.get("/api/v1/reports/pipeline?group_by=month", &manager).await);
    assert_eq!(by_month["groups"][0]["key"], "2027-01");
    let by_territory = ok(app.get("/api/v1/reports/pipeline?group_by=territory", &manager).await);
    assert_eq!(by_territory["groups"][0]["label"], "Europe");
    let mine = ok(app.get("/api/v1/reports/pipeline?group_by=owner", &agent).await);
    assert_eq!(mine["open_count"], 1, "an agent sees their own pipeline");
    assert_eq!(mine["groups"][0]["key"], agent_id.to_string());
    let _ = a;
    app.get("/api/v1/reports/pipeline?group_by=colour", &manager).await.problem(400, "invalid_query");

    // Contact discipline: a 7-day rhythm, last call 10 days ago.
    app.patch(&format!("/api/v1/customers/{c1}"), &agent, json!({"contact_frequency_days": 7})).await;
    app.patch(&format!("/api/v1/customers/{c2}"), t, json!({"contact_frequency_days": 30})).await;
    let call = id(app
        .post("/api/v1/activities", &agent, json!({"kind": "call", "subject": "Hi", "customer_id": c1, "done": true}))
        .await);
    let ago = if app.is_sqlite() { "datetime(done_at, '-10 days')" } else { "done_at - INTERVAL '10 days'" };
    exec(&app, &format!("UPDATE activities SET done_at = {ago} WHERE id = {call}"));
    let overdue = ok(app.get("/api/v1/reports/contact-overdue", &manager).await);
    let owners = overdue.as_array().unwrap();
    assert_eq!(owners.len(), 1, "{overdue}");
    assert_eq!(owners[0]["owner_id"], agent_id);
    assert_eq!(owners[0]["customers"][0]["customer_id"], c1);
    assert_eq!(owners[0]["customers"][0]["days_overdue"], 3);
    // A meeting today puts it back on track.
    ok(app
        .post(
            "/api/v1/activities",
            &agent,
            json!({"kind": "meeting", "subject": "Visit", "customer_id": c1, "done": true}),
        )
        .await);
    assert!(ok(app.get("/api/v1/reports/contact-overdue", &agent).await).as_array().unwrap().is_empty());
}

async fn demand_report_and_register(app: TestApp) {
    let t = &app.admin_token;
    let vat = id(app.post("/api/v1/tax-rates", t, json!({"code": "VAT", "name": "VAT", "percent": "20"})).await);
    let a = id(app
        .post(
            "/api/v1/items",
            t,
            json!({"sku": "A", "name": "A", "base_unit": "PCS", "kind": "stock", "tax_rate_id": vat}),
        )
        .await);
    let b = id(app
        .post(
            "/api/v1/items",
            t,
            json!({"sku": "B", "name": "B", "base_unit": "PCS", "kind": "stock", "tax_rate_id": vat}),
        )
        .await);
    let list =
        id(app.post("/api/v1/price-lists", t, json!({"name": "L", "currency": "EUR", "is_default": true})).await);
    for item in [a, b] {
        ok(app
            .post(&format!("/api/v1/price-lists/{list}/prices"), t, json!({"item_id": item, "price": "10.00"}))
            .await);
    }
    let c = id(app.post("/api/v1/customers", t, json!({"name": "C", "currency": "EUR"})).await);
    let stage =
        id(app.post("/api/v1/pipeline-stages", t, json!({"name": "S", "position": 1, "probability": "40"})).await);
    let today = time::OffsetDateTime::now_utc().date();
    let q = ok(app
        .post("/api/v1/quotations", t, json!({"customer_id": c, "lines": [{"item_id": a, "quantity": "5"}]}))
        .await);
    ok(app.post(&format!("/api/v1/quotations/{}/send", q["id"]), t, json!({})).await);
    ok(app.post(&format!("/api/v1/quotations/{}/reject", q["id"]), t, json!({"reason": "too expensive"})).await);
    let in_a_week = (today + time::Duration::days(7)).to_string();
    let o = ok(app
        .post("/api/v1/sales-orders", t, json!({"customer_id": c, "requested_date": in_a_week,
            "lines": [{"item_id": a, "quantity": "3"}, {"item_id": b, "quantity": "1", "requested_date": (today + time::Duration::days(40)).to_string()}]}))
        .await);
    ok(app.post(&format!("/api/v1/sales-orders/{}/submit", o["id"]), t, json!({})).await);
    let lost = id(app
        .post(
            "/api/v1/opportunities",
            t,
            json!({"title": "L", "customer_id": c, "amount": "20", "currency": "EUR", "stage_id": stage,
            "items": [{"item_id": b, "quantity": "2", "estimated_price": "9.50"}]}),
        )
        .await);
    ok(app.post(&format!("/api/v1/opportunities/{lost}/lose"), t, json!({"reason": "price"})).await);
    ok(app
        .post("/api/v1/opportunities", t, json!({"title": "Open", "customer_id": c, "amount": "20", "currency": "EUR", "stage_id": stage,
            "expected_close": (today + time::Duration::days(10)).to_string(), "items": [{"item_id": b, "quantity": "10"}]}))
        .await);

    let r = ok(app.get("/api/v1/reports/demand", t).await);
    let rows = r["rows"].as_array().unwrap();
    let row_a = rows.iter().find(|r| r["item_id"] == a).unwrap();
    assert_eq!(row_a["quoted_quantity"], "5");
    assert_eq!(row_a["quoted_value"], "50.00");
    assert_eq!(row_a["ordered_quantity"], "3");
    assert_eq!(row_a["lost_quantity"], "5");
    assert_eq!(row_a["lost_reasons"], json!([{"reason": "too expensive", "quantity": "5"}]));
    let row_b = rows.iter().find(|r| r["item_id"] == b).unwrap();
    assert_eq!(row_b["lost_value"], "19.00");
    assert_eq!(row_b["lost_reasons"][0]["reason"], "price");

    // The register: firm by requested date, planned from a blanket schedule, pipeline × 40%.
    let bo = ok(app
        .post(
            "/api/v1/blanket-orders",
            t,
            json!({"customer_id": c, "kind": "quantity", "valid_from": today.to_string(),
            "valid_to": (today + time::Duration::days(200)).to_string(), "lines": [{"item_id": a, "quantity": "100"}]}),
        )
        .await);
    let bl = bo["lines"][0]["id"].as_i64().unwrap();
    ok(app
        .post(
            &format!("/api/v1/blanket-orders/{}/schedule", bo["id"]),
            t,
            json!({"line_id": bl, "period": "weekly", "quantity": "10",
            "from": today.to_string(), "to": (today + time::Duration::days(20)).to_string()}),
        )
        .await);
    ok(app.post(&format!("/api/v1/blanket-orders/{}/activate", bo["id"]), t, json!({})).await);
    ok(app
        .post(
            &format!("/api/v1/blanket-orders/{}/call-off", bo["id"]),
            t,
            json!({"lines": [{"line_id": bl, "quantity": "15"}]}),
        )
        .await);
    let reg = ok(app.get("/api/v1/planning/demand?bucket=day&limit=1", t).await);
    assert_eq!(reg["data"].as_array().unwrap().len(), 1);
    let item_a = &reg["data"][0];
    assert_eq!(item_a["item_id"], a);
    let sum = |key: &str| -> rust_decimal::Decimal {
        item_a["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b[key].as_str().unwrap().parse::<rust_decimal::Decimal>().unwrap())
            .sum()
    };
    assert_eq!(sum("firm"), "3".parse().unwrap(), "the pending order; the draft call-off is not firm");
    assert_eq!(sum("planned"), "15".parse().unwrap(), "30 scheduled minus 15 called off, earliest first");
    let firm_bucket = item_a["buckets"].as_array().unwrap().iter().find(|b| b["firm"] != "0").unwrap();
    assert_eq!(firm_bucket["start"], in_a_week);
    let next = reg["next_cursor"].as_str().unwrap();
    let reg2 = ok(app.get(&format!("/api/v1/planning/demand?bucket=month&cursor={next}"), t).await);
    let item_b = &reg2["data"][0];
    assert_eq!(item_b["item_id"], b);
    let pipeline: Vec<&str> = item_b["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["pipeline"].as_str().unwrap())
        .filter(|p| *p != "0")
        .collect();
    assert_eq!(pipeline, vec!["4"]);
    assert!(reg2["next_cursor"].is_null());
    let (_, agent) = app.user("anna", &["sales_agent"]).await;
    app.get("/api/v1/planning/demand", &agent).await.problem(403, "forbidden");
}

async fn sales_process_per_owner_and_stage(app: TestApp) {
    let t = &app.admin_token;
    let (anna_id, anna) = app.user("anna", &["sales_agent"]).await;
    let (mia_id, mia) = app.user("mia", &["sales_manager"]).await;
    let (_, bob) = app.user("bob", &["sales_agent"]).await;
    let s1 = id(app
        .post("/api/v1/pipeline-stages", t, json!({"name": "Qualify", "position": 1, "probability": "10"}))
        .await);
    let s2 = id(app
        .post("/api/v1/pipeline-stages", t, json!({"name": "Proposal", "position": 2, "probability": "50"}))
        .await);
    let c1 = id(app.post("/api/v1/customers", &anna, json!({"name": "Mine", "currency": "EUR"})).await);
    let c2 = id(app.post("/api/v1/customers", t, json!({"name": "Big", "currency": "EUR"})).await);
    let opp = |c: i64, amount: &str| json!({"title": "Deal", "customer_id": c, "amount": amount, "currency": "EUR", "stage_id": s1});
    let a = id(app.post("/api/v1/opportunities", &anna, opp(c1, "1000")).await);
    ok(app.patch(&format!("/api/v1/opportunities/{a}"), &anna, json!({"stage_id": s2})).await);
    ok(app.post(&format!("/api/v1/opportunities/{a}/win"), &anna, json!({})).await);
    for amount in ["500", "300"] {
        let l = id(app.post("/api/v1/opportunities", &anna, opp(c1, amount)).await);
        ok(app.post(&format!("/api/v1/opportunities/{l}/lose"), &anna, json!({"reason": "price"})).await);
    }
    ok(app.post("/api/v1/opportunities", &anna, opp(c1, "999")).await); // still open: not counted
    let e = id(app.post("/api/v1/opportunities", &mia, opp(c2, "200")).await);
    ok(app.post(&format!("/api/v1/opportunities/{e}/win"), &mia, json!({})).await);

    let rows = ok(app.get("/api/v1/reports/sales-process", t).await)["data"].as_array().unwrap().clone();
    let find = |owner: i64, stage: Value| {
        rows.iter()
            .find(|r| r["owner_id"] == owner && r["stage_id"] == stage)
            .unwrap_or_else(|| panic!("{owner} {stage} in {rows:?}"))
    };
    let all = find(anna_id, Value::Null);
    assert_eq!((all["reached"].as_i64(), all["won"].as_i64(), all["lost"].as_i64()), (Some(3), Some(1), Some(2)));
    assert_eq!(all["conversion_rate"], "33.33");
    assert_eq!(all["average_deal_size"], "1000.00");
    assert_eq!(all["lost_reasons"], json!([{"reason": "price", "count": 2}]));
    assert!(all["average_days"].is_string(), "cycle time: {all}");
    let q = find(anna_id, json!(s1));
    assert_eq!((q["reached"].as_i64(), q["won"].as_i64()), (Some(3), Some(1)));
    let p = find(anna_id, json!(s2));
    assert_eq!((p["reached"].as_i64(), p["conversion_rate"].as_str()), (Some(1), Some("100")));
    assert_eq!(find(mia_id, Value::Null)["won"], 1);
    // An agent sees their own process only; another agent nothing of it.
    let mine = ok(app.get("/api/v1/reports/sales-process", &anna).await)["data"].as_array().unwrap().clone();
    assert!(!mine.is_empty() && mine.iter().all(|r| r["owner_id"] == anna_id), "{mine:?}");
    assert_eq!(ok(app.get("/api/v1/reports/sales-process", &bob).await)["data"], json!([]));
    let csv = app.call(Method::GET, "/api/v1/reports/sales-process", t, None, &[("accept", "text/csv")]).await;
    assert_eq!(csv.status, 200);
    assert!(csv.body.as_str().unwrap().lines().next().unwrap().contains("conversion_rate"));
    app.get("/api/v1/reports/sales-process?from=2026-12-01&to=2026-01-01", t).await.problem(422, "validation_failed");
}
