//! Items and the item-group tree.

use crate::on_both_backends;
use crate::support::TestApp;
use reqwest::Method;
use serde_json::{json, Value};

on_both_backends!(item_crud_and_rules, item_groups_tree, attachments_upload_and_download);

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
    assert_eq!(r.etag_version(), Some(1));

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

async fn attachments_upload_and_download(app: TestApp) {
    use reqwest::multipart::{Form, Part};
    let t = &app.admin_token;
    let item = app
        .post("/api/v1/items", t, json!({"sku": "PIC", "name": "Pictured", "base_unit": "PCS", "kind": "stock"}))
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    let url = format!("{}/api/v1/items/{item}/attachments", app.base);
    let mut png = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    png.extend((0..2000u32).map(|i| (i % 251) as u8));
    let upload = |kind: Option<&str>, bytes: Vec<u8>, name: &str, token: &str| {
        let mut form = Form::new();
        if let Some(k) = kind {
            form = form.text("kind", k.to_string());
        }
        form = form.part("file", Part::bytes(bytes).file_name(name.to_string()).mime_str("text/html").unwrap());
        app.client.post(&url).bearer_auth(token).multipart(form).send()
    };
    let r = upload(Some("photo"), png.clone(), "../../etc/evil.png", t).await.unwrap();
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["content_type"], "image/png", "sniffed, not the claimed text/html");
    assert_eq!(body["filename"], "evil.png", "no path survives");
    assert_eq!(body["size"], png.len());
    let sha = body["sha256"].as_str().unwrap().to_string();
    assert_eq!(sha.len(), 64);
    let stored = app.files_dir.join(&sha);
    assert_eq!(std::fs::read(&stored).unwrap(), png);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&stored).unwrap().permissions().mode() & 0o111, 0, "never executable");
    }
    let aid = body["id"].as_i64().unwrap();
    let (_, agent) = app.user("agent", &["sales_agent"]).await;
    let got = app.client.get(format!("{url}/{aid}")).bearer_auth(&agent).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["content-type"], "image/png");
    assert_eq!(got.headers()["x-content-type-options"], "nosniff");
    assert_eq!(got.bytes().await.unwrap().to_vec(), png);

    // Too large (the test server allows 64 KiB): 413 and nothing stored.
    let big = upload(Some("brochure"), vec![b'a'; 70 * 1024], "big.txt", t).await.unwrap();
    assert_eq!(big.status(), 413);
    let missing = upload(None, b"hello".to_vec(), "a.txt", t).await.unwrap();
    assert_eq!(missing.status(), 422);
    let bad_kind = upload(Some("selfie"), b"hello".to_vec(), "a.txt", t).await.unwrap();
    assert_eq!(bad_kind.status(), 422);
    assert_eq!(
        app.get(&format!("/api/v1/items/{item}/attachments"), t).await.body["data"].as_array().unwrap().len(),
        1
    );
    let forbidden = upload(Some("photo"), png.clone(), "x.png", &agent).await.unwrap();
    assert_eq!(forbidden.status(), 403);
    let text = upload(Some("specification"), "plain words".as_bytes().to_vec(), "spec.txt", t).await.unwrap();
    assert_eq!(text.json::<Value>().await.unwrap()["content_type"], "text/plain; charset=utf-8");

    let h = app.get(&format!("/api/v1/items/{item}/attachments/{aid}/history"), t).await;
    assert_eq!(h.body["data"][0]["action"], "create");
    assert_eq!(app.delete(&format!("/api/v1/items/{item}/attachments/{aid}"), t).await.status, 204);
    app.get(&format!("/api/v1/items/{item}/attachments/{aid}"), t).await.problem(404, "not_found");
    assert!(!stored.exists(), "the file goes with its last attachment");
    app.post("/api/v1/items/999/attachments", t, json!({})).await.problem(404, "not_found");
    app.post(&format!("/api/v1/items/{item}/attachments"), t, json!({})).await.problem(415, "unsupported_media_type");
}
