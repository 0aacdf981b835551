//! The service desk: a complaint through its stages, SLA clocks (paused while waiting,
//! escalated once when at risk or breached by the leased job), the return and credit
//! note it leads to, the scored queue, the service report (JSON and CSV), and the bad
//! input that must change nothing. Time is moved by rewriting a ticket's stored
//! instants, so the job sees a deadline pass without the test waiting for it.

use crate::on_both_backends;
use crate::support::{id, ok, smtp_receiver, uuid_like, TestApp};
use diesel::prelude::*;
use ordo_db::schema::tickets;
use serde_json::{json, Value};
use time::{Duration, PrimitiveDateTime};

on_both_backends!(a_complaint_through_its_sla, the_queue_is_scored_and_bad_input_changes_nothing);

struct World {
    item: i64,
    customer: i64,
    order: i64,
    delivery: i64,
    delivery_line: i64,
    invoice: i64,
    warehouse: i64,
    agent: String,
    other_agent: String,
    other_customer: i64,
}

fn now() -> PrimitiveDateTime {
    let t = time::OffsetDateTime::now_utc();
    PrimitiveDateTime::new(t.date(), t.time())
}

/// An agent's customer with a shipped and invoiced order, a second agent with a
/// customer of their own, and a desk that works around the clock (so SLA minutes run
/// whenever the test does).
async fn world(app: &TestApp) -> World {
    let t = &app.admin_token;
    let item = id(app
        .post("/api/v1/items", t, json!({"sku": "KB", "name": "Kettle", "base_unit": "PCS", "kind": "stock"}))
        .await);
    let list =
        id(app.post("/api/v1/price-lists", t, json!({"name": "L", "currency": "EUR", "is_default": true})).await);
    ok(app.post(&format!("/api/v1/price-lists/{list}/prices"), t, json!({"item_id": item, "price": "40.00"})).await);
    let warehouse =
        id(app.post("/api/v1/warehouses", t, json!({"code": "MAIN", "name": "Main", "is_default": true})).await);
    ok(app
        .post(
            "/api/v1/stock/receipts",
            t,
            json!({"item_id": item, "warehouse_id": warehouse, "quantity": "50", "unit_cost": "15.00"}),
        )
        .await);
    let (uid, agent) = app.user("anna", &["sales_agent"]).await;
    let (other_uid, other_agent) = app.user("bert", &["sales_agent"]).await;
    let customer =
        id(app.post("/api/v1/customers", t, json!({"name": "Acme", "currency": "EUR", "owner_id": uid})).await);
    let other_customer =
        id(app.post("/api/v1/customers", t, json!({"name": "Other", "currency": "EUR", "owner_id": other_uid})).await);
    let o = ok(app
        .post(
            "/api/v1/sales-orders",
            t,
            json!({"customer_id": customer, "contract_number": "K", "payment_terms_days": 14,
                "lines": [{"item_id": item, "quantity": "3"}]}),
        )
        .await);
    let order = o["id"].as_i64().unwrap();
    ok(app.post(&format!("/api/v1/sales-orders/{order}/submit"), t, json!({})).await);
    ok(app.post(&format!("/api/v1/sales-orders/{order}/confirm"), t, json!({})).await);
    let d = ok(app
        .post(
            &format!("/api/v1/sales-orders/{order}/deliveries"),
            t,
            json!({"lines": [{"line_id": o["lines"][0]["id"], "quantity": "3"}]}),
        )
        .await);
    let delivery = d["id"].as_i64().unwrap();
    ok(app.post(&format!("/api/v1/deliveries/{delivery}/ship"), t, json!({})).await);
    let invoice = id(app.post(&format!("/api/v1/deliveries/{delivery}/invoice"), t, json!({})).await);
    ok(app.post(&format!("/api/v1/invoices/{invoice}/post"), t, json!({})).await);
    // Every day a working day, 00:00–23:59 UTC.
    ok(app.put_json("/api/v1/calendar", t, json!({"weekend": [], "holidays": []})).await);
    let mut s = ok(app.get("/api/v1/service-settings", t).await);
    s["business_hours"] = json!({"start": "00:00", "end": "23:59", "utc_offset_minutes": 0});
    for k in ["version", "updated_at"] {
        s.as_object_mut().unwrap().remove(k);
    }
    ok(app.put_json("/api/v1/service-settings", t, s).await);
    World {
        item,
        customer,
        order,
        delivery,
        delivery_line: d["lines"][0]["id"].as_i64().unwrap(),
        invoice,
        warehouse,
        agent,
        other_agent,
        other_customer,
    }
}

/// Moves a ticket's stored SLA instants: `(column, minutes from now)`.
fn shift(app: &TestApp, ticket: i64, risk_at: i64, due_at: i64, resolution: bool) {
    let (risk, due) = (now() + Duration::minutes(risk_at), now() + Duration::minutes(due_at));
    app.with_db(|c| {
        let q = diesel::update(tickets::table.find(ticket));
        if resolution {
            q.set((
                tickets::resolution_risk_at.eq(risk),
                tickets::resolution_due_at.eq(due),
                tickets::sla_next_at.eq(risk.min(due)),
            ))
            .execute(c)
        } else {
            q.set((
                tickets::first_response_risk_at.eq(risk),
                tickets::first_response_due_at.eq(due),
                tickets::sla_next_at.eq(risk.min(due)),
            ))
            .execute(c)
        }
        .unwrap();
    });
}

async fn events(app: &TestApp, kind: &str) -> Vec<Value> {
    ok(app.get(&format!("/api/v1/events?type={kind}"), &app.admin_token).await)["data"].as_array().unwrap().clone()
}

async fn a_complaint_through_its_sla(app: TestApp) {
    let w = world(&app).await;
    let t = &app.admin_token;
    let (sam, desk) = app.user("sam", &["service_agent"]).await;
    let (_, viewer) = app.user("vera", &["viewer"]).await;
    // Unique addresses: every test app mails through the one test SMTP receiver.
    let (sam_mail, lead_mail) =
        (format!("sam-{}@example.com", uuid_like()), format!("lead-{}@example.com", uuid_like()));
    ok(app.patch(&format!("/api/v1/users/{sam}"), t, json!({"email": sam_mail})).await);
    let team = id(app.post("/api/v1/service-teams", t, json!({"name": "Quality"})).await);
    let category = id(app.post("/api/v1/ticket-categories", t, json!({"name": "Damaged goods"})).await);
    ok(app
        .post(
            "/api/v1/sla-policies",
            t,
            json!({"name": "Standard", "first_response_minutes": 60, "resolution_minutes": 480, "at_risk_percent": 75,
            "escalations": [
                {"when": "at_risk"},
                {"when": "breached", "target": "resolution", "raise_priority": true, "reassign_to_team_id": team,
                 "email_assignee": true, "email_to": [lead_mail, sam_mail]}
            ]}),
        )
        .await);

    // The agent opens a complaint about their customer's delivery.
    let r = app
        .post(
            "/api/v1/tickets",
            &w.agent,
            json!({"customer_id": w.customer, "kind": "complaint", "subject": "Kettle arrived dented",
                "sales_order_id": w.order, "delivery_id": w.delivery, "invoice_id": w.invoice, "item_id": w.item,
                "category_id": category, "impact": "high", "urgency": "medium"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.header("location").unwrap().ends_with(&format!("/api/v1/tickets/{}", r.body["id"])));
    let tk = r.body;
    let tid = tk["id"].as_i64().unwrap();
    assert!(tk["number"].as_str().unwrap().starts_with("TCK-"));
    assert_eq!(tk["stage"], "new");
    assert_eq!(tk["state"], "new");
    assert_eq!(tk["priority"], "high", "high impact × medium urgency");
    assert_eq!(tk["priority_source"], "matrix");
    assert_eq!(tk["sla"]["policy_name"], "Standard");
    assert_eq!(tk["sla"]["first_response"]["target_minutes"], 60);
    assert_eq!(tk["sla"]["first_response"]["state"], "on_track");
    assert_eq!(tk["sla"]["resolution"]["state"], "on_track");
    assert_eq!(tk["score"], 50, "default weights: high 30 + complaint 20");
    assert_eq!(events(&app, "ticket.created").await.len(), 1);

    // Another agent sees nothing of it, and cannot open a ticket on the customer.
    app.get(&format!("/api/v1/tickets/{tid}"), &w.other_agent).await.problem(404, "not_found");
    app.get(&format!("/api/v1/tickets/{tid}/comments"), &w.other_agent).await.problem(404, "not_found");
    assert_eq!(ok(app.get("/api/v1/tickets", &w.other_agent).await)["data"], json!([]));
    app.post("/api/v1/tickets", &w.other_agent, json!({"customer_id": w.customer, "kind": "question", "subject": "?"}))
        .await
        .problem(404, "not_found");
    // The agent may open but not work it; the viewer reads only.
    app.post(&format!("/api/v1/tickets/{tid}/move"), &w.agent, json!({"stage": "triaged"}))
        .await
        .problem(403, "forbidden");
    let r = app.patch(&format!("/api/v1/tickets/{tid}"), &w.agent, json!({"assignee_id": 1})).await;
    r.problem(403, "forbidden");
    assert_eq!(r.error_fields(), ["assignee_id"]);
    assert_eq!(ok(app.get(&format!("/api/v1/tickets/{tid}"), &viewer).await)["id"], tid);
    app.post(&format!("/api/v1/tickets/{tid}/comments"), &viewer, json!({"body": "hi"}))
        .await
        .problem(403, "forbidden");

    // The desk triages; an internal note is no answer, a public one is the first response.
    let tk = ok(app
        .post(&format!("/api/v1/tickets/{tid}/move"), &desk, json!({"stage": "triaged", "comment": "photos asked"}))
        .await);
    assert_eq!(tk["state"], "active");
    ok(app
        .post(&format!("/api/v1/tickets/{tid}/comments"), &desk, json!({"body": "checking", "internal": true}))
        .await);
    let tk = ok(app.get(&format!("/api/v1/tickets/{tid}"), &desk).await);
    assert!(tk["sla"]["first_response"]["done_at"].is_null());
    let c = app.post(&format!("/api/v1/tickets/{tid}/comments"), &desk, json!({"body": "We will replace it."})).await;
    assert_eq!(c.status, 201, "{}", c.body);
    let tk = ok(app.get(&format!("/api/v1/tickets/{tid}"), &desk).await);
    assert_eq!(tk["sla"]["first_response"]["state"], "met");
    let comments = ok(app.get(&format!("/api/v1/tickets/{tid}/comments"), &w.agent).await);
    assert_eq!(comments["data"].as_array().unwrap().len(), 3);
    assert_eq!(comments["data"][0]["internal"], true);

    // Waiting for the customer stops the clock; the job leaves a paused ticket alone.
    let tk =
        ok(app.post(&format!("/api/v1/tickets/{tid}/move"), &desk, json!({"stage": "waiting_for_customer"})).await);
    assert_eq!(tk["sla"]["paused"], true);
    assert_eq!(tk["sla"]["resolution"]["state"], "paused");
    let due_before = tk["sla"]["resolution"]["due_at"].clone();
    let tk = ok(app.post(&format!("/api/v1/tickets/{tid}/move"), &desk, json!({"stage": "in_progress"})).await);
    assert_eq!(tk["sla"]["paused"], false);
    assert_eq!(tk["sla"]["resolution"]["state"], "on_track");
    assert!(
        tk["sla"]["resolution"]["due_at"].as_str() >= due_before.as_str(),
        "a pause never brings a deadline closer"
    );

    // Time passes: the resolution target is breached. The job escalates once: the
    // event, the team, the priority one step up, a mail to the assignee and the lead,
    // recorded on the ticket.
    ok(app.patch(&format!("/api/v1/tickets/{tid}"), &desk, json!({"assignee_id": sam})).await);
    shift(&app, tid, -120, -60, true);
    ok(app.post("/api/v1/jobs/sla_timers/run", t, json!({})).await);
    let tk = ok(app.get(&format!("/api/v1/tickets/{tid}"), &desk).await);
    assert_eq!(tk["sla"]["resolution"]["state"], "breached");
    assert_eq!(tk["team_id"], team);
    assert_eq!(tk["priority"], "critical");
    assert_eq!(tk["priority_source"], "manual");
    assert_eq!(tk["score"], 80, "rescored: critical 60 + complaint 20");
    let esc = tk["escalations"].as_array().unwrap();
    assert_eq!(esc.len(), 1, "{esc:?}");
    assert_eq!(esc[0]["level"], "breached");
    assert_eq!(esc[0]["target"], "resolution");
    let actions: Vec<&str> = esc[0]["actions"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "notified",
            format!("reassigned to team {team}").as_str(),
            "priority high → critical",
            format!("e-mailed {sam_mail}, {lead_mail}").as_str()
        ]
    );
    // The mail goes through the outbox: text only, once, to both.
    let queued = ok(app.get(&format!("/api/v1/outbox?document=ticket:{tid}"), t).await);
    assert_eq!(queued["data"].as_array().unwrap().len(), 1, "{queued}");
    assert_eq!(queued["data"][0]["document_kind"], "ticket");
    assert_eq!(queued["data"][0]["to"], json!([sam_mail, lead_mail]));
    let others = ok(app.get(&format!("/api/v1/outbox?document=ticket:{tid}"), &w.other_agent).await);
    assert_eq!(others["data"], json!([]), "another agent's customer's mail is not listed");
    ok(app.post("/api/v1/jobs/email_delivery/run", t, json!({})).await);
    let inbox: Vec<_> =
        smtp_receiver().1.lock().unwrap().iter().filter(|m| m.rcpt.contains(&lead_mail)).cloned().collect();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].rcpt, [sam_mail.clone(), lead_mail.clone()]);
    let number = tk["number"].as_str().unwrap();
    assert!(inbox[0].data.contains(&format!("[SLA breached] {number}")), "{}", inbox[0].data);
    assert!(inbox[0].data.contains("resolution: due "), "{}", inbox[0].data);
    assert!(!inbox[0].data.contains("application/pdf"), "a notice carries no document");
    assert_eq!(ok(app.get(&format!("/api/v1/outbox?document=ticket:{tid}"), t).await)["data"][0]["status"], "sent");
    let breached = events(&app, "ticket.sla_breached").await;
    assert_eq!(breached.len(), 1);
    assert_eq!(breached[0]["data"]["priority"], "critical", "the event carries the escalated ticket");
    ok(app.post("/api/v1/jobs/sla_timers/run", t, json!({})).await);
    assert_eq!(ok(app.get(&format!("/api/v1/tickets/{tid}"), &desk).await)["escalations"].as_array().unwrap().len(), 1);
    let breaches = ok(app.get("/api/v1/reports/service/breaches", &w.agent).await);
    assert_eq!(breaches["data"].as_array().unwrap().len(), 1);
    assert_eq!(breaches["data"][0]["target"], "resolution");
    assert_eq!(ok(app.get("/api/v1/reports/service/breaches", &w.other_agent).await)["data"], json!([]));
    let listed = ok(app.get("/api/v1/tickets?breached=true", &desk).await);
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);

    // The complaint leads to a return and, once received, a credit note.
    let tk = ok(app
        .post(
            &format!("/api/v1/tickets/{tid}/return"),
            &desk,
            json!({"condition": "damaged", "lines": [{"delivery_line_id": w.delivery_line, "quantity": "1"}]}),
        )
        .await);
    let ret = tk["return_authorization"]["id"].as_i64().unwrap();
    assert_eq!(tk["return_authorization"]["status"], "authorised");
    app.post(
        &format!("/api/v1/tickets/{tid}/return"),
        &desk,
        json!({"condition": "damaged", "lines": [{"delivery_line_id": w.delivery_line, "quantity": "1"}]}),
    )
    .await
    .problem(409, "return_exists");
    ok(app.post(&format!("/api/v1/returns/{ret}/receive"), t, json!({"warehouse_id": w.warehouse})).await);
    let cn = ok(app.post(&format!("/api/v1/returns/{ret}/credit-note"), t, json!({})).await);
    let tk = ok(app.get(&format!("/api/v1/tickets/{tid}"), &w.agent).await);
    assert_eq!(tk["return_authorization"]["status"], "received");
    assert_eq!(tk["credit_notes"][0]["id"], cn["id"]);

    // Files on the ticket follow the ticket's scope.
    let f = id(app
        .attach(&format!("/api/v1/tickets/{tid}/attachments"), &w.agent, &[("kind", "other")], "photo.txt", b"dent")
        .await);
    app.get(&format!("/api/v1/tickets/{tid}/attachments/{f}"), &w.other_agent).await.problem(404, "not_found");

    // Resolve, close; a closed ticket takes no change but can be reopened in time.
    app.post(&format!("/api/v1/tickets/{tid}/move"), &desk, json!({"stage": "closed"}))
        .await
        .problem(409, "not_resolved");
    let tk = ok(app.post(&format!("/api/v1/tickets/{tid}/move"), &desk, json!({"stage": "resolved"})).await);
    assert_eq!(tk["state"], "resolved");
    assert_eq!(tk["sla"]["resolution"]["state"], "breached", "resolved, but late");
    assert!(tk["reopen_until"].is_string());
    let tk = ok(app.post(&format!("/api/v1/tickets/{tid}/move"), &desk, json!({"stage": "closed"})).await);
    assert_eq!(tk["state"], "closed");
    app.patch(&format!("/api/v1/tickets/{tid}"), &desk, json!({"subject": "x"})).await.problem(409, "ticket_closed");
    app.post(&format!("/api/v1/tickets/{tid}/comments"), &desk, json!({"body": "x"}))
        .await
        .problem(409, "ticket_closed");
    let tk = ok(app.post(&format!("/api/v1/tickets/{tid}/reopen"), &desk, json!({"reason": "Still dented"})).await);
    assert_eq!(tk["stage"], "triaged");
    assert!(tk["resolved_at"].is_null());
    let actions: Vec<String> = ok(app.get(&format!("/api/v1/tickets/{tid}/history?limit=200"), &w.agent).await)["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    for a in ["create", "move", "comment", "escalate", "return", "reopen"] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }

    // A second ticket becomes at risk: notified once, then nothing more until due.
    let t2 = id(app
        .post("/api/v1/tickets", &desk, json!({"customer_id": w.customer, "kind": "question", "subject": "Manual?"}))
        .await);
    shift(&app, t2, -1, 60, false);
    ok(app.post("/api/v1/jobs/sla_timers/run", t, json!({})).await);
    ok(app.post("/api/v1/jobs/sla_timers/run", t, json!({})).await);
    let tk = ok(app.get(&format!("/api/v1/tickets/{t2}"), &desk).await);
    assert_eq!(tk["sla"]["first_response"]["state"], "at_risk");
    assert_eq!(tk["escalations"].as_array().unwrap().len(), 1);
    let risk = events(&app, "ticket.sla_at_risk").await;
    assert_eq!(risk.len(), 1);
    assert_eq!(risk[0]["subject"]["id"], t2);

    // The service report: by stage (every stage, the backlog's age) and as CSV.
    let rep = ok(app.get("/api/v1/reports/service?by=stage", &desk).await);
    let rows = rep["data"].as_array().unwrap();
    assert_eq!(rows.len(), 6, "every stage: {rows:?}");
    assert_eq!(rows[0]["key"], "new");
    let triaged = rows.iter().find(|r| r["key"] == "triaged").unwrap();
    assert_eq!(triaged["open"], 1);
    assert_eq!(triaged["open_under_1d"], 1);
    let by_kind = ok(app.get("/api/v1/reports/service?by=kind", &desk).await);
    let complaint = by_kind["data"].as_array().unwrap().iter().find(|r| r["key"] == "complaint").unwrap().clone();
    assert_eq!(complaint["opened"], 1);
    assert_eq!(complaint["sla_met"], 1, "first response met");
    assert_eq!(complaint["sla_breached"], 1, "resolution breached");
    assert_eq!(complaint["sla_attainment"], "50");
    assert_eq!(complaint["first_responses"], 1);
    assert_eq!(complaint["resolutions"], 0, "reopened");
    let r =
        app.call(reqwest::Method::GET, "/api/v1/reports/service?by=kind", &desk, None, &[("accept", "text/csv")]).await;
    assert_eq!(r.status, 200);
    let csv = r.body.as_str().unwrap().to_string();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    for col in ["key", "opened", "open_over_30d", "first_response_p90_minutes", "sla_attainment"] {
        assert!(header.contains(&col), "{col} in {csv}");
    }
    assert_eq!(lines.count(), 2, "complaint and question: {csv}");
    // The agent's report counts only their customers' tickets.
    let theirs = ok(app.get("/api/v1/reports/service?by=kind", &w.other_agent).await);
    assert!(theirs["data"].as_array().unwrap().iter().all(|r| r["opened"] == 0), "{theirs}");
}

async fn the_queue_is_scored_and_bad_input_changes_nothing(app: TestApp) {
    let w = world(&app).await;
    let t = &app.admin_token;
    let vip = id(app.post("/api/v1/customer-groups", t, json!({"name": "Key accounts"})).await);
    let q = |p: &str| json!({"customer_id": w.customer, "kind": "question", "subject": "?", "priority": p});
    let low = id(app.post("/api/v1/tickets", t, q("low")).await);
    let high = id(app
        .post(
            "/api/v1/tickets",
            t,
            json!({"customer_id": w.other_customer, "kind": "complaint", "subject": "!", "priority": "high"}),
        )
        .await);
    let order =
        |v: &Value| -> Vec<i64> { v["data"].as_array().unwrap().iter().map(|x| x["id"].as_i64().unwrap()).collect() };
    assert_eq!(order(&ok(app.get("/api/v1/tickets?open=true&sort=-score", t).await)), [high, low]);

    // Key accounts weigh most: the weights and the customer's group both rescore.
    let mut s = ok(app.get("/api/v1/ticket-scoring", t).await);
    s["customer_groups"] = json!([{"id": vip, "weight": 500}]);
    for k in ["version", "updated_at"] {
        s.as_object_mut().unwrap().remove(k);
    }
    ok(app.put_json("/api/v1/ticket-scoring", t, s).await);
    assert_eq!(order(&ok(app.get("/api/v1/tickets?open=true&sort=-score", t).await)), [high, low]);
    ok(app.patch(&format!("/api/v1/customers/{}", w.customer), t, json!({"customer_group_id": vip})).await);
    let queue = ok(app.get("/api/v1/tickets?open=true&sort=-score&limit=1", t).await);
    assert_eq!(order(&queue), [low]);
    assert_eq!(queue["data"][0]["score"], 500);
    let next = queue["next_cursor"].as_str().unwrap();
    assert_eq!(
        order(&ok(app.get(&format!("/api/v1/tickets?open=true&sort=-score&limit=1&cursor={next}"), t).await)),
        [high]
    );

    // Bad input: problem+json, nothing written.
    let before = app.count("tickets");
    let r = app
        .post(
            "/api/v1/tickets",
            t,
            json!({"customer_id": w.other_customer, "kind": "complaint", "subject": "x", "sales_order_id": w.order}),
        )
        .await;
    r.problem(422, "customer_mismatch");
    assert_eq!(r.error_fields(), ["sales_order_id"]);
    app.post(
        "/api/v1/tickets",
        &w.other_agent,
        json!({"customer_id": w.other_customer, "kind": "complaint", "subject": "x", "delivery_id": w.delivery}),
    )
    .await
    .problem(404, "not_found");
    let r = app.post("/api/v1/tickets", t, json!({"customer_id": w.customer, "kind": "gripe", "subject": ""})).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(app.count("tickets"), before);
    app.post(&format!("/api/v1/tickets/{low}/move"), t, json!({"stage": "limbo"}))
        .await
        .problem(422, "validation_failed");
    app.post(
        &format!("/api/v1/tickets/{low}/return"),
        t,
        json!({"condition": "damaged", "lines": [{"delivery_line_id": w.delivery_line, "quantity": "1"}]}),
    )
    .await
    .problem(422, "not_a_complaint");
    app.get("/api/v1/reports/service?by=weather", t).await.problem(400, "invalid_query");
    app.get("/api/v1/reports/service?colour=red", t).await.problem(400, "invalid_query");
    let r = app
        .post("/api/v1/sla-policies", t, json!({"name": "Zero", "first_response_minutes": 0, "resolution_minutes": -5}))
        .await;
    r.problem(422, "validation_failed");
    let mut f = r.error_fields();
    f.sort();
    assert_eq!(f, ["first_response_minutes", "resolution_minutes"]);
    let gold =
        json!({"name": "Gold", "customer_group_id": vip, "first_response_minutes": 30, "resolution_minutes": 240});
    ok(app.post("/api/v1/sla-policies", t, gold.clone()).await);
    app.post("/api/v1/sla-policies", t, gold).await.problem(409, "duplicate");
    assert_eq!(app.count("sla_policies"), 1);
    // A new ticket of the key account gets the group's policy.
    let vt = ok(app.post("/api/v1/tickets", t, q("medium")).await);
    assert_eq!(vt["sla"]["policy_name"], "Gold");
    assert_eq!(ok(app.get(&format!("/api/v1/tickets/{high}"), t).await)["sla"], Value::Null, "no policy for others");

    // A stage tickets are in cannot go; the settings stay as they were.
    let mut s = ok(app.get("/api/v1/service-settings", t).await);
    let version = s["version"].clone();
    s["stages"] = json!([
        {"code": "open", "name": "Open", "category": "new"},
        {"code": "done", "name": "Done", "category": "resolved"},
        {"code": "closed", "name": "Closed", "category": "closed"}
    ]);
    for k in ["version", "updated_at"] {
        s.as_object_mut().unwrap().remove(k);
    }
    app.put_json("/api/v1/service-settings", t, s).await.problem(409, "stage_in_use");
    assert_eq!(ok(app.get("/api/v1/service-settings", t).await)["version"], version);

    // Reopening is for a while only.
    ok(app.post(&format!("/api/v1/tickets/{low}/move"), t, json!({"stage": "resolved"})).await);
    app.with_db(|c| {
        diesel::update(tickets::table.find(low))
            .set(tickets::resolved_at.eq(now() - Duration::days(30)))
            .execute(c)
            .unwrap();
    });
    app.post(&format!("/api/v1/tickets/{low}/reopen"), t, json!({"reason": "again"}))
        .await
        .problem(422, "reopen_window_passed");
}
