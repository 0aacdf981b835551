//! Items and the item-group tree.

use crate::on_both_backends;
use crate::support::TestApp;
use reqwest::Method;
use serde_json::{json, Value};

on_both_backends!(item_crud_and_rules, item_groups_tree);

async fn item_crud_and_rules(app: TestApp) {
    let t = &app.admin_token;
    let g = app.post("/api/v1/item-groups", t, json!({"name": "Hardware"})).await.body["id"].as_i64().unwrap();
    let r = app
        .post(
            "/api/v1/items",
            t,
            json!({"sku": "HW-001", "name": "Drill", "item_group_id": g, "base_unit": "PCS", "kind": "stock",
                   "standard_cost": "12.3456", "weight": "1.25", "barcode": "5901234123457", "attributes": {"voltage": 230}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_i64().unwrap();
    assert_eq!(r.body["standard_cost"], "12.3456");
    assert_eq!(r.body["weight"], "1.25");
    assert_eq!(r.body["active"], true);
    assert_eq!(r.header("etag").as_deref(), Some("\"1\""));

    let before = (app.count("items"), app.count("audit_log"));
    app.post("/api/v1/items", t, json!({"sku": "HW-001", "name": "Dup", "base_unit": "PCS", "kind": "stock"}))
        .await
        .problem(409, "duplicate_sku");
    let bad = app
        .post(
            "/api/v1/items",
            t,
            json!({"sku": "has space", "name": "", "base_unit": "pcs", "kind": "stock", "standard_cost": "-1"}),
        )
        .await;
    bad.problem(422, "validation_failed");
    assert_eq!(bad.error_fields(), vec!["base_unit", "name", "sku", "standard_cost"]);
    let kind =
        app.post("/api/v1/items", t, json!({"sku": "K", "name": "K", "base_unit": "PCS", "kind": "magic"})).await;
    assert_eq!(kind.error_fields(), vec!["kind"]);
    let prec = app
        .post(
            "/api/v1/items",
            t,
            json!({"sku": "P", "name": "P", "base_unit": "PCS", "kind": "stock", "standard_cost": "0.00001"}),
        )
        .await;
    assert_eq!(prec.error_fields(), vec!["standard_cost"]);
    let grp = app
        .post(
            "/api/v1/items",
            t,
            json!({"sku": "G", "name": "G", "base_unit": "PCS", "kind": "stock", "item_group_id": 999}),
        )
        .await;
    grp.problem(404, "not_found");
    assert_eq!(grp.error_fields(), vec!["item_group_id"]);
    assert_eq!((app.count("items"), app.count("audit_log")), before, "nothing written");

    let svc = app
        .post("/api/v1/items", t, json!({"sku": "SV-1", "name": "Installation", "base_unit": "H", "kind": "service"}))
        .await;
    assert_eq!(svc.body["standard_cost"], "0.00");
    let svc_id = svc.body["id"].as_i64().unwrap();

    let p = app
        .call(
            Method::PATCH,
            &format!("/api/v1/items/{id}"),
            t,
            Some(json!({"active": false, "weight": null, "sku": "HW-001A"})),
            &[("If-Match", "\"1\"")],
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.body["weight"], Value::Null);
    assert_eq!(p.body["sku"], "HW-001A");
    app.patch(&format!("/api/v1/items/{svc_id}"), t, json!({"sku": "HW-001A"})).await.problem(409, "duplicate_sku");

    let names = |r: &crate::support::Resp| -> Vec<String> {
        r.body["data"].as_array().unwrap().iter().map(|c| c["sku"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(names(&app.get("/api/v1/items?active=true", t).await), vec!["SV-1"]);
    assert_eq!(names(&app.get("/api/v1/items?kind=stock", t).await), vec!["HW-001A"]);
    assert_eq!(names(&app.get(&format!("/api/v1/items?item_group_id={g}"), t).await), vec!["HW-001A"]);
    assert_eq!(names(&app.get("/api/v1/items?q=drill", t).await), vec!["HW-001A"]);
    assert_eq!(names(&app.get("/api/v1/items?barcode=5901234123457", t).await), vec!["HW-001A"]);

    let h = app.get(&format!("/api/v1/items/{id}/history"), t).await;
    assert_eq!(h.body["data"][1]["changes"]["active"], json!({"from": true, "to": false}));

    // Nothing references items yet, so DELETE removes it for good.
    assert_eq!(app.delete(&format!("/api/v1/items/{svc_id}"), t).await.status, 204);
    app.get(&format!("/api/v1/items/{svc_id}"), t).await.problem(404, "not_found");
    // The group is in use by the remaining item.
    app.delete(&format!("/api/v1/item-groups/{g}"), t).await.problem(409, "in_use");
}

async fn item_groups_tree(app: TestApp) {
    let t = &app.admin_token;
    let root = app.post("/api/v1/item-groups", t, json!({"name": "All"})).await.body["id"].as_i64().unwrap();
    let mid = app.post("/api/v1/item-groups", t, json!({"name": "Tools", "parent_id": root})).await.body["id"]
        .as_i64()
        .unwrap();
    let leaf = app.post("/api/v1/item-groups", t, json!({"name": "Drills", "parent_id": mid})).await.body["id"]
        .as_i64()
        .unwrap();
    app.post("/api/v1/item-groups", t, json!({"name": "Tools"})).await.problem(409, "duplicate_name");
    let cyc = app.patch(&format!("/api/v1/item-groups/{root}"), t, json!({"parent_id": leaf})).await;
    cyc.problem(422, "validation_failed");
    assert_eq!(cyc.body["errors"][0]["code"], "cycle");
    app.post("/api/v1/item-groups", t, json!({"name": "Orphan", "parent_id": 999})).await.problem(404, "not_found");
    let kids = app.get(&format!("/api/v1/item-groups?parent_id={root}"), t).await;
    assert_eq!(kids.body["data"].as_array().unwrap().len(), 1);
    app.delete(&format!("/api/v1/item-groups/{mid}"), t).await.problem(409, "in_use");
    assert_eq!(app.delete(&format!("/api/v1/item-groups/{leaf}"), t).await.status, 204);
    assert_eq!(app.delete(&format!("/api/v1/item-groups/{mid}"), t).await.status, 204);
    let h = app.get(&format!("/api/v1/item-groups/{root}/history"), t).await;
    assert_eq!(h.body["data"].as_array().unwrap().len(), 1);
    // Warehouse staff maintain the catalogue; agents only read it.
    let (_, agent) = app.user("agent", &["sales_agent"]).await;
    assert_eq!(app.get(&format!("/api/v1/item-groups/{root}"), &agent).await.status, 200);
    app.patch(&format!("/api/v1/item-groups/{root}"), &agent, json!({"name": "Mine"})).await.problem(403, "forbidden");
}
