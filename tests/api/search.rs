//! `GET /search`: finds what it indexes through every write path, ranks title hits
//! first, follows renames and deletes, pages without repeats, and never shows a
//! second user what their scope or roles hide.

use crate::support::{id, ok, TestApp};
use serde_json::{json, Value};

async fn hits(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let r = app.get(&format!("/api/v1/search?{query}"), token).await;
    assert_eq!(r.status, 200, "{query}: {}", r.body);
    r.body["data"].as_array().unwrap().clone()
}

fn kinds(h: &[Value]) -> Vec<&str> {
    h.iter().map(|h| h["kind"].as_str().unwrap()).collect()
}

async fn finds_ranks_and_scopes(app: TestApp) {
    let alice = app.login("alice", "alice-demo").await;
    let bob = app.login("bob", "bob-demo").await;
    let manager = app.login("manager", "manager-demo").await;

    // Alice's new customer, its contact, an order of it with a customer PO, and an item.
    let c = id(app
        .post(
            "/api/v1/customers",
            &alice,
            json!({"name": "Zyxwv Ромашка Sp. z o.o.", "currency": "PLN",
        "email": "biuro@example.pl"}),
        )
        .await);
    let contact = id(app
        .post(
            &format!("/api/v1/customers/{c}/contacts"),
            &alice,
            json!({"name": "Anna Qwertyuiop", "email": "anna@qwxmail.pl"}),
        )
        .await);
    let first = app.get("/api/v1/sales-orders?limit=1", &alice).await.body["data"][0]["id"].clone();
    let demo = app.get(&format!("/api/v1/sales-orders/{first}"), &alice).await.body;
    let item = demo["lines"][0]["item_id"].clone();
    let order = ok(app
        .post(
            "/api/v1/sales-orders",
            &alice,
            json!({"customer_id": c, "customer_po": "PO-QX-7781",
            "lines": [{"item_id": item, "quantity": "1"}]}),
        )
        .await);
    let item2 = id(app
        .post(
            "/api/v1/items",
            &manager,
            json!({"sku": "QW-1", "name": "Qwertyuiop widget", "base_unit": "PCS", "kind": "stock"}),
        )
        .await);

    // The customer's name finds the customer first (a title hit), then what hangs off it.
    let h = hits(&app, &alice, "q=zyxwv").await;
    assert_eq!(h[0]["kind"], "customer", "{h:?}");
    assert_eq!(h[0]["id"], c);
    assert_eq!(h[0]["href"], format!("/api/v1/customers/{c}"));
    let mut k = kinds(&h);
    k.sort();
    assert_eq!(k, ["contact", "customer", "sales_order"], "{h:?}");
    for hit in &h {
        // Every href opens, for the one who found it.
        let r = app.get(hit["href"].as_str().unwrap(), &alice).await;
        assert_eq!(r.status, 200, "{hit}");
    }
    let o = h.iter().find(|h| h["kind"] == "sales_order").unwrap();
    assert_eq!(o["title"], order["number"]);
    assert_eq!(o["subtitle"], "Zyxwv Ромашка Sp. z o.o.");
    assert_eq!(o["customer_id"], c);

    // Prefixes, any case, any script; every word must match; punctuation separates words.
    assert_eq!(kinds(&hits(&app, &alice, "q=ZYX").await).len(), 3);
    assert_eq!(hits(&app, &alice, "q=%D0%A0%D0%9E%D0%9C%D0%90%D0%A8&kinds=customer").await[0]["id"], c); // РОМАШ
    assert_eq!(hits(&app, &alice, "q=zyxwv+nosuchword").await.len(), 0);
    let po = hits(&app, &alice, "q=qx-7781").await;
    assert_eq!((po.len(), &po[0]["id"]), (1, &order["id"]), "the customer PO finds its order");
    let number = order["number"].as_str().unwrap();
    let by_number = hits(&app, &alice, &format!("q={number}&kinds=sales_order")).await;
    assert_eq!(by_number[0]["id"], order["id"]);
    let mail = hits(&app, &alice, "q=anna@qwxmail.pl").await;
    assert_eq!((mail.len(), &mail[0]["id"]), (1, &json!(contact)));

    // Kinds narrow the search.
    assert_eq!(kinds(&hits(&app, &alice, "q=qwertyuiop&kinds=item").await), ["item"]);
    let both = hits(&app, &alice, "q=qwertyuiop").await;
    assert_eq!(both.len(), 2, "{both:?}");
    assert!(both.iter().any(|h| h["kind"] == "item" && h["id"] == item2));

    // Bob, another agent, finds the item everyone reads but nothing of Alice's customer.
    assert!(hits(&app, &bob, "q=zyxwv").await.is_empty());
    assert_eq!(kinds(&hits(&app, &bob, "q=qwertyuiop").await), ["item"]);
    assert!(hits(&app, &bob, "q=qx+7781").await.is_empty());
    // Once the customer is his, so is everything that hangs off it.
    let admin = app.login("admin", "admin-demo").await;
    let users = app.get("/api/v1/users?limit=200", &admin).await.body["data"].clone();
    let bob_id = users.as_array().unwrap().iter().find(|u| u["username"] == "bob").unwrap()["id"].clone();
    ok(app.patch(&format!("/api/v1/customers/{c}"), &manager, json!({"owner_id": bob_id})).await);
    assert_eq!(hits(&app, &bob, "q=zyxwv").await.len(), 3);
    assert!(hits(&app, &alice, "q=zyxwv").await.is_empty());

    // A warehouse user reads customers, items and deliveries, but no sales documents.
    let (_, wh) = app.user("searcher-wh", &["warehouse"]).await;
    let mut k = kinds(&hits(&app, &wh, "q=zyxwv").await).into_iter().map(String::from).collect::<Vec<_>>();
    k.sort();
    assert_eq!(k, ["contact", "customer"]);
    app.get("/api/v1/search?q=zyxwv&kinds=sales_order", &wh).await.problem(403, "forbidden");

    // Renames and deletes are followed.
    ok(app.patch(&format!("/api/v1/customers/{c}"), &manager, json!({"name": "Vbnmk Trading"})).await);
    assert!(hits(&app, &manager, "q=zyxwv").await.is_empty());
    let renamed = hits(&app, &manager, "q=vbnmk").await;
    assert_eq!(renamed.len(), 3, "{renamed:?}");
    assert!(renamed.iter().filter(|h| h["kind"] != "customer").all(|h| h["subtitle"] == "Vbnmk Trading"));
    assert_eq!(app.delete(&format!("/api/v1/customers/{c}/contacts/{contact}"), &manager).await.status, 204);
    assert!(hits(&app, &manager, "q=anna+zyxwv").await.is_empty());
    assert_eq!(hits(&app, &manager, "q=vbnmk").await.len(), 2);
}

async fn pages_and_refuses(app: TestApp) {
    let manager = app.login("manager", "manager-demo").await;
    for n in 0..7 {
        ok(app
            .post(
                "/api/v1/items",
                &manager,
                json!({"sku": format!("PG-{n}"), "name": format!("Pagetest gizmo {n}"),
                "base_unit": "PCS", "kind": "stock"}),
            )
            .await);
    }
    let mut seen = Vec::new();
    let mut url = "/api/v1/search?q=pagetest&limit=3".to_string();
    loop {
        let r = app.get(&url, &manager).await;
        assert_eq!(r.status, 200, "{}", r.body);
        seen.extend(r.body["data"].as_array().unwrap().iter().map(|h| h["id"].as_i64().unwrap()));
        match r.body["next_cursor"].as_str() {
            Some(cur) => {
                // A cursor belongs to its search.
                app.get(&format!("/api/v1/search?q=gizmo&limit=3&cursor={cur}"), &manager)
                    .await
                    .problem(422, "validation_failed");
                url = format!("/api/v1/search?q=pagetest&limit=3&cursor={cur}");
            }
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (7, 7), "every hit once: {seen:?}");

    let r = app.get("/api/v1/search?q=--", &manager).await;
    r.problem(422, "validation_failed");
    assert_eq!(r.error_fields(), ["q"]);
    let r = app.get("/api/v1/search?q=a&limit=0", &manager).await;
    assert_eq!(r.error_fields(), ["limit"]);
    app.get("/api/v1/search?q=a&kinds=spaceship", &manager).await.problem(400, "invalid_query");
    app.get("/api/v1/search", &manager).await.problem(400, "invalid_query");
    assert_eq!(app.get("/api/v1/search?q=a", "").await.status, 401);
}

crate::on_demo!(finds_ranks_and_scopes, pages_and_refuses);
