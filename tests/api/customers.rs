//! Customers and contacts: CRUD, validation, scope, archive, idempotency, budgets.

use crate::on_both_backends;
use crate::support::TestApp;
use reqwest::Method;
use serde_json::{json, Value};

on_both_backends!(
    create_read_update_history,
    list_paginates_filters_and_searches,
    bad_input_is_refused_and_writes_nothing,
    parent_cycles_are_refused,
    agents_see_only_their_customers,
    delete_hard_or_archive,
    idempotent_create,
    idempotency_keys_die_with_their_request,
    contacts_subresource,
    statement_budgets,
);

fn full_customer() -> Value {
    json!({
        "name": "Acme GmbH",
        "legal_name": "Acme Gesellschaft mbH",
        "tax_id": "DE123456789",
        "email": "orders@acme.example",
        "phone": "+49 30 1234",
        "billing_address": {"line1": "Hauptstr. 1", "city": "Berlin", "postal_code": "10115", "country": "DE"},
        "currency": "EUR",
        "payment_terms_days": 14,
        "credit_limit": "25000.50",
        "status": "active",
        "tags": ["key-account"],
        "attributes": {"segment": "industrial", "employees": 120}
    })
}

async fn create_read_update_history(app: TestApp) {
    let t = &app.admin_token;
    let r = app.post("/api/v1/customers", t, full_customer()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_i64().unwrap();
    assert_eq!(r.body["number"], "C-000001");
    assert_eq!(r.body["credit_limit"], "25000.50");
    assert_eq!(r.body["payment_terms_days"], 14);
    assert_eq!(r.body["billing_address"]["country"], "DE");
    assert_eq!(r.body["attributes"]["employees"], 120);
    assert_eq!(r.etag_version(), Some(1));
    assert_eq!(r.header("location"), Some(format!("/api/v1/customers/{id}")));
    assert!(r.header("x-request-id").is_some());

    let second = app.post("/api/v1/customers", t, json!({"name": "Beta", "currency": "JPY"})).await;
    assert_eq!(second.body["number"], "C-000002");
    assert_eq!(second.body["payment_terms_days"], 30, "default terms");
    assert_eq!(second.body["credit_limit"], Value::Null);

    let g = app.get(&format!("/api/v1/customers/{id}"), t).await;
    assert_eq!(g.status, 200);
    assert_eq!(g.body, r.body);

    // Merge-patch: absent stays, null clears; If-Match honoured.
    let p = app
        .call(
            Method::PATCH,
            &format!("/api/v1/customers/{id}"),
            t,
            Some(json!({"name": "Acme AG", "phone": null, "credit_limit": "30000", "status": "blocked"})),
            &[("If-Match", "\"1\"")],
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.body["name"], "Acme AG");
    assert_eq!(p.body["phone"], Value::Null);
    assert_eq!(p.body["email"], "orders@acme.example");
    assert_eq!(p.body["credit_limit"], "30000.00");
    assert_eq!(p.body["status"], "blocked");
    assert_eq!(p.body["version"], 2);
    assert_eq!(p.etag_version(), Some(2));

    // A stale If-Match is 412 and writes nothing.
    let audit_before = app.count("audit_log");
    let stale = app
        .call(
            Method::PATCH,
            &format!("/api/v1/customers/{id}"),
            t,
            Some(json!({"name": "Lost update"})),
            &[("If-Match", "\"1\"")],
        )
        .await;
    stale.problem(412, "precondition_failed");
    assert_eq!(app.count("audit_log"), audit_before);
    assert_eq!(app.get(&format!("/api/v1/customers/{id}"), t).await.body["name"], "Acme AG");

    let h = app.get(&format!("/api/v1/customers/{id}/history"), t).await;
    let entries = h.body["data"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["action"], "create");
    assert_eq!(entries[0]["actor"], "user:1");
    assert_eq!(entries[1]["action"], "update");
    assert_eq!(entries[1]["changes"]["name"], json!({"from": "Acme GmbH", "to": "Acme AG"}));
    assert_eq!(entries[1]["changes"]["credit_limit"], json!({"from": "25000.50", "to": "30000.00"}));
    assert!(entries[1]["changes"].get("email").is_none(), "unchanged fields are not in the diff");
}

async fn list_paginates_filters_and_searches(app: TestApp) {
    let t = &app.admin_token;
    let (agent_id, _) = app.user("anna", &["sales_agent"]).await;
    for (i, name) in ["Alpha Tools", "Beta Foods", "alpha Mining", "Gamma 100%", "Delta_X"].iter().enumerate() {
        let mut body = json!({"name": name, "currency": "EUR", "tax_id": format!("TX{i}")});
        if i % 2 == 0 {
            body["owner_id"] = json!(agent_id);
        }
        assert_eq!(app.post("/api/v1/customers", t, body).await.status, 201);
    }
    let p1 = app.get("/api/v1/customers?limit=2", t).await;
    assert_eq!(p1.body["data"].as_array().unwrap().len(), 2);
    let cursor = p1.body["next_cursor"].as_str().unwrap().to_string();
    let p2 = app.get(&format!("/api/v1/customers?limit=2&cursor={cursor}"), t).await;
    let p3 =
        app.get(&format!("/api/v1/customers?limit=2&cursor={}", p2.body["next_cursor"].as_str().unwrap()), t).await;
    assert_eq!(p3.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(p3.body["next_cursor"], Value::Null);
    let names = |r: &crate::support::Resp| -> Vec<String> {
        r.body["data"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_string()).collect()
    };
    let mut all = names(&p1);
    all.extend(names(&p2));
    all.extend(names(&p3));
    assert_eq!(all, vec!["Alpha Tools", "Beta Foods", "alpha Mining", "Gamma 100%", "Delta_X"]);

    assert_eq!(names(&app.get("/api/v1/customers?q=ALPHA", t).await), vec!["Alpha Tools", "alpha Mining"]);
    assert_eq!(names(&app.get("/api/v1/customers?q=100%25", t).await), vec!["Gamma 100%"], "% is literal");
    assert_eq!(names(&app.get("/api/v1/customers?q=a_x", t).await), vec!["Delta_X"], "_ is literal");
    assert_eq!(names(&app.get("/api/v1/customers?q=tx1", t).await), vec!["Beta Foods"], "search by tax id");
    assert_eq!(names(&app.get("/api/v1/customers?q=C-000003", t).await), vec!["alpha Mining"], "search by number");
    assert_eq!(names(&app.get(&format!("/api/v1/customers?owner_id={agent_id}"), t).await).len(), 3);
    assert_eq!(app.get("/api/v1/customers?status=blocked", t).await.body["data"].as_array().unwrap().len(), 0);
    assert_eq!(
        app.get("/api/v1/customers?updated_since=2000-01-01T00:00:00Z", t).await.body["data"].as_array().unwrap().len(),
        5
    );
    assert_eq!(
        app.get("/api/v1/customers?updated_since=2999-01-01T00:00:00Z", t).await.body["data"].as_array().unwrap().len(),
        0
    );

    app.get("/api/v1/customers?limit=0", t).await.problem(422, "validation_failed");
    app.get("/api/v1/customers?limit=500", t).await.problem(422, "validation_failed");
    app.get("/api/v1/customers?limit=abc", t).await.problem(400, "invalid_query");
    app.get("/api/v1/customers?cursor=bogus", t).await.problem(422, "validation_failed");
    app.get("/api/v1/customers?status=sleeping", t).await.problem(400, "invalid_query");
    let unknown = app.get("/api/v1/customers?stauts=active", t).await;
    unknown.problem(400, "invalid_query");
    assert_eq!(unknown.error_fields(), vec!["stauts"]);
    app.get("/api/v1/customers?updated_since=yesterday", t).await.problem(400, "invalid_query");
}

async fn bad_input_is_refused_and_writes_nothing(app: TestApp) {
    let t = &app.admin_token;
    let rows = app.count("customers");
    let audit = app.count("audit_log");

    app.raw(Method::POST, "/api/v1/customers", t, "application/json", "{\"name\": ")
        .await
        .problem(400, "malformed_json");
    app.raw(Method::POST, "/api/v1/customers", t, "application/json", "{} []").await.problem(400, "malformed_json");
    app.raw(Method::POST, "/api/v1/customers", t, "text/plain", "{}").await.problem(415, "unsupported_media_type");

    let wrong_type = app.post("/api/v1/customers", t, json!({"name": 42, "currency": "EUR"})).await;
    wrong_type.problem(422, "validation_failed");
    assert_eq!(wrong_type.error_fields(), vec!["name"]);
    assert_eq!(wrong_type.body["errors"][0]["code"], "invalid_type");

    let unknown = app.post("/api/v1/customers", t, json!({"name": "X", "currency": "EUR", "colour": "red"})).await;
    unknown.problem(422, "validation_failed");
    assert_eq!(unknown.error_fields(), vec!["colour"]);
    assert_eq!(unknown.body["errors"][0]["code"], "unknown_field");

    let nested_unknown = app.post("/api/v1/customers", t, json!({"name": "X", "currency": "EUR", "billing_address": {"line1": "a", "city": "b", "country": "DE", "planet": "Mars"}})).await;
    assert_eq!(nested_unknown.error_fields(), vec!["billing_address.planet"]);

    let money =
        app.post("/api/v1/customers", t, json!({"name": "X", "currency": "EUR", "credit_limit": "100.12345"})).await;
    money.problem(422, "validation_failed");
    assert_eq!(money.error_fields(), vec!["credit_limit"]);
    assert!(money.body["errors"][0]["message"].as_str().unwrap().contains("4 decimal places"));
    let float = app.post("/api/v1/customers", t, json!({"name": "X", "currency": "EUR", "credit_limit": 100.5})).await;
    assert_eq!(float.error_fields(), vec!["credit_limit"], "numbers are refused: money is a string");
    let huge = app
        .post("/api/v1/customers", t, json!({"name": "X", "currency": "EUR", "credit_limit": "1000000000000000"}))
        .await;
    assert_eq!(huge.error_fields(), vec!["credit_limit"]);

    let currency = app.post("/api/v1/customers", t, json!({"name": "X", "currency": "XYZ"})).await;
    currency.problem(422, "validation_failed");
    assert_eq!(currency.error_fields(), vec!["currency"]);
    let missing = app.post("/api/v1/customers", t, json!({"name": "X"})).await;
    assert_eq!(missing.error_fields(), vec!["currency"]);
    assert_eq!(missing.body["errors"][0]["code"], "required");

    // Every failing field at once.
    let many = app
        .post(
            "/api/v1/customers",
            t,
            json!({"name": "", "currency": "EUR", "email": "not-an-email", "payment_terms_days": 99999, "credit_limit": "-5",
                   "billing_address": {"line1": "", "city": "Berlin", "country": "Germany"}, "tags": [""]}),
        )
        .await;
    many.problem(422, "validation_failed");
    assert_eq!(
        many.error_fields(),
        vec![
            "billing_address.country",
            "billing_address.line1",
            "credit_limit",
            "email",
            "name",
            "payment_terms_days",
            "tags"
        ]
    );

    // Type errors and rule violations together, in one answer.
    let mixed = app
        .post(
            "/api/v1/customers",
            t,
            json!({"name": "", "currency": "EUR", "credit_limit": "1.23456", "email": "nope", "payment_terms_days": "x",
                   "colour": "red", "billing_address": {"line1": "a", "city": 7, "country": "DE"}}),
        )
        .await;
    mixed.problem(422, "validation_failed");
    assert_eq!(
        mixed.error_fields(),
        vec!["billing_address.city", "colour", "credit_limit", "email", "name", "payment_terms_days"]
    );

    let ghost_parent =
        app.post("/api/v1/customers", t, json!({"name": "X", "currency": "EUR", "parent_id": 999})).await;
    ghost_parent.problem(404, "not_found");
    assert_eq!(ghost_parent.error_fields(), vec!["parent_id"]);
    let ghost_owner = app.post("/api/v1/customers", t, json!({"name": "X", "currency": "EUR", "owner_id": 999})).await;
    ghost_owner.problem(404, "not_found");
    assert_eq!(ghost_owner.error_fields(), vec!["owner_id"]);

    app.get("/api/v1/customers/999", t).await.problem(404, "not_found");
    app.patch("/api/v1/customers/999", t, json!({"name": "Y"})).await.problem(404, "not_found");
    app.delete("/api/v1/customers/999", t).await.problem(404, "not_found");

    assert_eq!(app.count("customers"), rows, "no customer written");
    assert_eq!(app.count("audit_log"), audit, "no audit entry written");
    // The number series did not advance either: the next customer is C-000001.
    assert_eq!(
        app.post("/api/v1/customers", t, json!({"name": "First", "currency": "EUR"})).await.body["number"],
        "C-000001"
    );
}

async fn parent_cycles_are_refused(app: TestApp) {
    let t = &app.admin_token;
    let a =
        app.post("/api/v1/customers", t, json!({"name": "A", "currency": "EUR"})).await.body["id"].as_i64().unwrap();
    let b = app.post("/api/v1/customers", t, json!({"name": "B", "currency": "EUR", "parent_id": a})).await.body["id"]
        .as_i64()
        .unwrap();
    let c = app.post("/api/v1/customers", t, json!({"name": "C", "currency": "EUR", "parent_id": b})).await.body["id"]
        .as_i64()
        .unwrap();
    let r = app.patch(&format!("/api/v1/customers/{a}"), t, json!({"parent_id": c})).await;
    r.problem(422, "validation_failed");
    assert_eq!(r.body["errors"][0]["code"], "cycle");
    app.patch(&format!("/api/v1/customers/{a}"), t, json!({"parent_id": a})).await.problem(422, "validation_failed");
    assert_eq!(app.get(&format!("/api/v1/customers/{a}"), t).await.body["parent_id"], Value::Null);
    // Re-parenting without a cycle works; the children filter sees it.
    assert_eq!(app.patch(&format!("/api/v1/customers/{c}"), t, json!({"parent_id": a})).await.status, 200);
    assert_eq!(app.get(&format!("/api/v1/customers?parent_id={a}"), t).await.body["data"].as_array().unwrap().len(), 2);
}

async fn agents_see_only_their_customers(app: TestApp) {
    let (a1, t1) = app.user("agent1", &["sales_agent"]).await;
    let (_a2, t2) = app.user("agent2", &["sales_agent"]).await;
    let mine = app.post("/api/v1/customers", &t1, json!({"name": "Mine", "currency": "EUR"})).await;
    assert_eq!(mine.status, 201);
    assert_eq!(mine.body["owner_id"], a1, "an agent's new customer is theirs");
    let id = mine.body["id"].as_i64().unwrap();
    app.post(&format!("/api/v1/customers/{id}/contacts"), &t1, json!({"name": "Buyer"})).await;
    let other = app.post("/api/v1/customers", &t2, json!({"name": "Theirs", "currency": "EUR"})).await.body["id"]
        .as_i64()
        .unwrap();
    let audit = app.count("audit_log");

    // The other agent: 404 everywhere, exactly like a missing id.
    let missing = app.get("/api/v1/customers/99999", &t2).await;
    let hidden = app.get(&format!("/api/v1/customers/{id}"), &t2).await;
    hidden.problem(404, "not_found");
    assert_eq!(
        hidden.body["detail"].as_str().unwrap().replace(&id.to_string(), "N"),
        missing.body["detail"].as_str().unwrap().replace("99999", "N")
    );
    app.patch(&format!("/api/v1/customers/{id}"), &t2, json!({"name": "Mine now"})).await.problem(404, "not_found");
    app.delete(&format!("/api/v1/customers/{id}"), &t2).await.problem(404, "not_found");
    app.get(&format!("/api/v1/customers/{id}/history"), &t2).await.problem(404, "not_found");
    app.get(&format!("/api/v1/customers/{id}/contacts"), &t2).await.problem(404, "not_found");
    app.post(&format!("/api/v1/customers/{id}/contacts"), &t2, json!({"name": "Spy"})).await.problem(404, "not_found");
    // A parent (group) customer is a credit decision: agents may not set one at all,
    // so another agent's customer and their own get the same 403 naming the field.
    for parent in [id, other] {
        let r =
            app.post("/api/v1/customers", &t2, json!({"name": "Child", "currency": "EUR", "parent_id": parent})).await;
        r.problem(403, "forbidden");
        assert_eq!(r.error_fields(), vec!["parent_id"]);
    }
    app.patch(&format!("/api/v1/customers/{other}"), &t2, json!({"parent_id": id})).await.problem(403, "forbidden");
    // Nor can an agent hand a customer to someone else.
    app.post("/api/v1/customers", &t2, json!({"name": "Gift", "currency": "EUR", "owner_id": a1}))
        .await
        .problem(403, "forbidden");
    app.patch(&format!("/api/v1/customers/{other}"), &t2, json!({"owner_id": a1})).await.problem(403, "forbidden");
    assert_eq!(app.count("audit_log"), audit, "nothing written by refused requests");

    let list2 = app.get("/api/v1/customers", &t2).await;
    let ids: Vec<i64> = list2.body["data"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![other]);
    // A filter for someone else's customers finds nothing rather than leaking them.
    assert_eq!(
        app.get(&format!("/api/v1/customers?owner_id={a1}"), &t2).await.body["data"].as_array().unwrap().len(),
        0
    );
    // The owner and a manager see it.
    assert_eq!(app.get(&format!("/api/v1/customers/{id}"), &t1).await.status, 200);
    assert_eq!(app.get(&format!("/api/v1/customers/{id}"), &app.admin_token).await.status, 200);
    // The manager may reassign it; then the first agent loses it.
    let (_, mgr) = app.user("boss", &["sales_manager"]).await;
    let (a3, _) = app.user("agent3", &["sales_agent"]).await;
    assert_eq!(app.patch(&format!("/api/v1/customers/{id}"), &mgr, json!({"owner_id": a3})).await.status, 200);
    app.get(&format!("/api/v1/customers/{id}"), &t1).await.problem(404, "not_found");
}

async fn delete_hard_or_archive(app: TestApp) {
    let t = &app.admin_token;
    let lone =
        app.post("/api/v1/customers", t, json!({"name": "Lone", "currency": "EUR"})).await.body["id"].as_i64().unwrap();
    app.post(&format!("/api/v1/customers/{lone}/contacts"), t, json!({"name": "Goes too"})).await;
    let d = app.delete(&format!("/api/v1/customers/{lone}"), t).await;
    assert_eq!(d.status, 204);
    app.get(&format!("/api/v1/customers/{lone}"), t).await.problem(404, "not_found");
    assert_eq!(app.count("contacts"), 0, "contacts belong to the customer");

    let parent = app.post("/api/v1/customers", t, json!({"name": "Parent", "currency": "EUR"})).await.body["id"]
        .as_i64()
        .unwrap();
    app.post("/api/v1/customers", t, json!({"name": "Child", "currency": "EUR", "parent_id": parent})).await;
    let contact = app.post(&format!("/api/v1/customers/{parent}/contacts"), t, json!({"name": "Stays"})).await.body
        ["id"]
        .as_i64()
        .unwrap();
    let stale =
        app.call(Method::DELETE, &format!("/api/v1/customers/{parent}"), t, None, &[("If-Match", "\"9\"")]).await;
    stale.problem(412, "precondition_failed");
    let a = app.call(Method::DELETE, &format!("/api/v1/customers/{parent}"), t, None, &[("If-Match", "\"1\"")]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body["archived_at"].is_string());
    // Gone from default lists, readable by id, back with include_archived.
    let names = |r: &crate::support::Resp| -> Vec<String> {
        r.body["data"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(names(&app.get("/api/v1/customers", t).await), vec!["Child"]);
    assert_eq!(names(&app.get("/api/v1/customers?include_archived=true", t).await), vec!["Parent", "Child"]);
    assert_eq!(app.get(&format!("/api/v1/customers/{parent}"), t).await.status, 200);
    app.patch(&format!("/api/v1/customers/{parent}"), t, json!({"name": "Revived"})).await.problem(409, "archived");
    // Its contacts are read-only with it.
    app.delete(&format!("/api/v1/customers/{parent}/contacts/{contact}"), t).await.problem(409, "archived");
    app.post(&format!("/api/v1/customers/{parent}/contacts"), t, json!({"name": "New"})).await.problem(409, "archived");
    let h = app.get(&format!("/api/v1/customers/{parent}/history"), t).await;
    assert_eq!(h.body["data"][1]["action"], "archive");
}

async fn idempotent_create(app: TestApp) {
    let t = &app.admin_token;
    let body = json!({"name": "Once", "currency": "EUR"});
    let first = app.call(Method::POST, "/api/v1/customers", t, Some(body.clone()), &[("Idempotency-Key", "k-1")]).await;
    assert_eq!(first.status, 201);
    let replay =
        app.call(Method::POST, "/api/v1/customers", t, Some(body.clone()), &[("Idempotency-Key", "k-1")]).await;
    assert_eq!(replay.status, 201);
    assert_eq!(replay.body, first.body);
    assert_eq!(replay.header("location"), first.header("location"));
    assert_eq!(replay.header("etag"), first.header("etag"));
    assert_eq!(replay.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(app.count("customers"), 1, "one row for two requests");

    let other = app
        .call(
            Method::POST,
            "/api/v1/customers",
            t,
            Some(json!({"name": "Twice", "currency": "EUR"})),
            &[("Idempotency-Key", "k-1")],
        )
        .await;
    other.problem(422, "idempotency_key_reused");
    assert_eq!(app.count("customers"), 1);
    // Keys are per principal: another user's k-1 is a new request.
    let (_, mgr) = app.user("mgr", &["sales_manager"]).await;
    let theirs =
        app.call(Method::POST, "/api/v1/customers", &mgr, Some(body.clone()), &[("Idempotency-Key", "k-1")]).await;
    assert_eq!(theirs.status, 201);
    assert_ne!(theirs.body["id"], first.body["id"]);
    // A failed request releases its key so the corrected retry can use it.
    let bad = app
        .call(
            Method::POST,
            "/api/v1/customers",
            t,
            Some(json!({"name": "P", "currency": "EUR", "parent_id": 999})),
            &[("Idempotency-Key", "k-2")],
        )
        .await;
    bad.problem(404, "not_found");
    let good = app
        .call(
            Method::POST,
            "/api/v1/customers",
            t,
            Some(json!({"name": "P", "currency": "EUR"})),
            &[("Idempotency-Key", "k-2")],
        )
        .await;
    assert_eq!(good.status, 201);
    app.call(Method::POST, "/api/v1/customers", t, Some(body), &[("Idempotency-Key", "bad key with spaces")])
        .await
        .problem(400, "invalid_idempotency_key");
}

async fn contacts_subresource(app: TestApp) {
    let t = &app.admin_token;
    let id = app.post("/api/v1/customers", t, json!({"name": "With contacts", "currency": "EUR"})).await.body["id"]
        .as_i64()
        .unwrap();
    let base = format!("/api/v1/customers/{id}/contacts");
    let c1 = app
        .post(&base, t, json!({"name": "Ann", "role": "purchasing", "email": "ann@x.example", "is_primary": true}))
        .await;
    assert_eq!(c1.status, 201, "{}", c1.body);
    let c1id = c1.body["id"].as_i64().unwrap();
    assert_eq!(c1.header("location"), Some(format!("{base}/{c1id}")));
    let c2 = app.post(&base, t, json!({"name": "Ben", "is_primary": true})).await;
    let c2id = c2.body["id"].as_i64().unwrap();
    assert_eq!(app.get(&format!("{base}/{c1id}"), t).await.body["is_primary"], false, "one primary contact");
    app.post(&base, t, json!({"name": "", "email": "nope"})).await.problem(422, "validation_failed");
    let p = app
        .call(
            Method::PATCH,
            &format!("{base}/{c1id}"),
            t,
            Some(json!({"is_primary": true, "role": null})),
            &[("If-Match", "\"2\"")],
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.body["role"], Value::Null);
    assert_eq!(app.get(&format!("{base}/{c2id}"), t).await.body["is_primary"], false);
    let list = app.get(&base, t).await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 2);
    assert_eq!(app.delete(&format!("{base}/{c2id}"), t).await.status, 204);
    app.get(&format!("{base}/{c2id}"), t).await.problem(404, "not_found");
    // A contact id under the wrong customer is not found.
    let other = app.post("/api/v1/customers", t, json!({"name": "Other", "currency": "EUR"})).await.body["id"]
        .as_i64()
        .unwrap();
    app.get(&format!("/api/v1/customers/{other}/contacts/{c1id}"), t).await.problem(404, "not_found");
}

async fn statement_budgets(app: TestApp) {
    let t = &app.admin_token;
    let create = app.post("/api/v1/customers", t, full_customer()).await;
    assert!(create.statements() <= 6, "create customer took {} statements", create.statements());
    let id = create.body["id"].as_i64().unwrap();
    let read = app.get(&format!("/api/v1/customers/{id}"), t).await;
    assert!(read.statements() <= 6, "read customer took {} statements", read.statements());
    for n in 0..60 {
        app.post("/api/v1/customers", t, json!({"name": format!("Bulk {n}"), "currency": "EUR"})).await;
    }
    let page = app.get("/api/v1/customers?limit=50", t).await;
    assert_eq!(page.body["data"].as_array().unwrap().len(), 50);
    assert!(page.statements() <= 4, "a page of 50 took {} statements", page.statements());
    let small = app.get("/api/v1/customers?limit=5", t).await;
    assert_eq!(small.statements(), page.statements(), "statements do not grow with page size");
}

async fn idempotency_keys_die_with_their_request(app: TestApp) {
    use base64::Engine;
    use diesel::prelude::*;
    use ordo_db::schema::idempotency_keys as ik;
    use sha2::Digest;

    let app = &app;
    let t = &app.admin_token;
    let post = |body: Value, key: &'static str| async move {
        app.call(Method::POST, "/api/v1/customers", t, Some(body), &[("Idempotency-Key", key)]).await
    };
    // Concurrent duplicates: one runs, the others wait for it and replay its answer.
    let body = json!({"name": "Once", "currency": "EUR"});
    let results = futures_util::future::join_all((0..10).map(|_| post(body.clone(), "k-race"))).await;
    let ids: std::collections::HashSet<i64> = results
        .iter()
        .map(|r| {
            assert_eq!(r.status, 201, "{}", r.body);
            r.body["id"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(ids.len(), 1, "every duplicate got the first answer");
    assert_eq!(results.iter().filter(|r| r.header("idempotent-replayed").is_none()).count(), 1);
    assert_eq!(app.count("customers"), 1);

    // A failed request leaves no claim: the retry (here with a corrected body) runs at once.
    let keys = app.count("idempotency_keys");
    post(json!({"name": "", "currency": "EUR"}), "k-fix").await.problem(422, "validation_failed");
    let fixed = post(json!({"name": "Fixed", "currency": "EUR"}), "k-fix").await;
    assert_eq!(fixed.status, 201, "{}", fixed.body);
    assert_eq!(app.count("idempotency_keys"), keys + 1);

    // A claim without a response (what a process killed mid-request left before claims
    // moved into the transaction) is no lock: the retry takes it over at once.
    let body = json!({"name": "Crashed", "currency": "EUR"});
    let mut h = sha2::Sha256::new();
    h.update(format!("POST /api/v1/customers\n{}", serde_json::to_string(&body).unwrap()));
    let hash = base64::engine::general_purpose::STANDARD_NO_PAD.encode(h.finalize());
    app.db
        .write(&ordo_db::Stats::default(), |c| {
            diesel::insert_into(ik::table)
                .values((
                    ik::principal.eq("user:1"),
                    ik::idem_key.eq("k-crash"),
                    ik::request_hash.eq(&hash),
                    ik::created_at.eq(ordo_core::time_util::now()),
                ))
                .execute(c)?;
            Ok(())
        })
        .unwrap();
    let before = app.count("customers");
    let r = post(body.clone(), "k-crash").await;
    assert_eq!(r.status, 201, "{}", r.body);
    let replay = post(body, "k-crash").await;
    assert_eq!(replay.body["id"], r.body["id"]);
    assert_eq!(replay.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(app.count("customers"), before + 1);
}
