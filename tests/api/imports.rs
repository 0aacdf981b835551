//! `POST /imports`: a dry run reports every refused row and writes nothing; a real run
//! is all-or-nothing per file or per batch, resumable, idempotent by key, scoped and
//! permission-checked like the endpoints it stands for; natural keys (SKU, customer
//! number, price list name, warehouse code) resolve; money stays exact.

use crate::support::{id, ok, Resp, TestApp};
use serde_json::{json, Value};

async fn send(app: &TestApp, token: &str, query: &str, ct: &str, body: &str, headers: &[(&str, &str)]) -> Resp {
    app.upload(&format!("/api/v1/imports?{query}"), token, ct, body, headers).await
}

/// Waits for a queued import to finish and answers it.
async fn finished(app: &TestApp, token: &str, r: Resp) -> Value {
    assert_eq!(r.status, 202, "{}", r.body);
    let location = r.header("location").expect("Location");
    assert_eq!(location, format!("/api/v1/imports/{}", r.body["id"]));
    let mut last = Value::Null;
    for _ in 0..600 {
        let v = ok(app.get(&location, token).await);
        last = v.clone();
        if !matches!(v["status"].as_str(), Some("queued" | "running")) {
            assert_eq!(v["rows_done"], v["rows_total"], "{v}");
            return v;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("import did not finish: {last}");
}

fn errors(v: &Value) -> Vec<(i64, String, String)> {
    v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["row"].as_i64().unwrap(), e["field"].as_str().unwrap().into(), e["code"].as_str().unwrap().into()))
        .collect()
}

const CUSTOMERS_BAD: &str =
    "name,currency,credit_limit,billing_address.line1,billing_address.city,billing_address.country,tags,email\r\n\
Alfa Sp. z o.o.,PLN,1234.50,ul. Długa 1,Gdańsk,PL,vip;north,biuro@alfa.pl\r\n\
,PLN,,,,,,\r\n\
\"Beta, \"\"the\"\" Ltd\",XXX,12.34,,,,,\r\n\
Gamma,EUR,lots,,,,,\r\n";

async fn customers_dry_run_then_all_or_nothing(app: TestApp) {
    let t = app.admin_token.clone();
    let before = app.count("customers");
    // A dry run names every refused row and field, and writes nothing.
    let r = send(&app, &t, "kind=customers&dry_run=true", "text/csv", CUSTOMERS_BAD, &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (r.body["rows_total"].as_i64(), r.body["rows_valid"].as_i64(), r.body["rows_failed"].as_i64()),
        (Some(4), Some(1), Some(3)),
        "{}",
        r.body
    );
    let e = errors(&r.body);
    assert!(e.iter().any(|x| x.0 == 2 && x.1 == "name"), "{e:?}");
    assert!(e.iter().any(|x| x.0 == 3 && x.1 == "currency"), "{e:?}");
    assert!(e.iter().any(|x| x.0 == 4 && x.1 == "credit_limit"), "{e:?}");
    assert!(e.iter().all(|x| x.0 != 1), "{e:?}");
    assert_eq!(app.count("customers"), before, "a dry run writes nothing");
    assert_eq!(app.count("imports"), 0);

    // The real run of the same file: one bad row and nothing is imported.
    let v = finished(&app, &t, send(&app, &t, "kind=customers", "text/csv", CUSTOMERS_BAD, &[]).await).await;
    assert_eq!(v["status"], "failed");
    assert_eq!((v["rows_imported"].as_i64(), v["rows_failed"].as_i64()), (Some(0), Some(3)));
    assert_eq!(errors(&v), e, "the real run refuses what the dry run said");
    assert_eq!(app.count("customers"), before);

    // Fixed, it imports every row with every value exact.
    let good = CUSTOMERS_BAD
        .replace("\r\n,PLN,,,,,,", "\r\nDelta,PLN,,,,,,")
        .replace("XXX", "USD")
        .replace("EUR,lots", "EUR,");
    let v = finished(&app, &t, send(&app, &t, "kind=customers", "text/csv", &good, &[]).await).await;
    assert_eq!(v["status"], "completed", "{v}");
    assert_eq!(v["rows_imported"], 4);
    assert_eq!(app.count("customers"), before + 4);
    let found = ok(app.get("/api/v1/customers?q=Alfa", &t).await)["data"][0].clone();
    assert_eq!(found["credit_limit"], "1234.50");
    assert_eq!(found["billing_address"]["city"], "Gdańsk");
    assert_eq!(found["tags"], json!(["vip", "north"]));
    let beta = ok(app.get("/api/v1/customers?q=Beta", &t).await)["data"][0].clone();
    assert_eq!(beta["name"], "Beta, \"the\" Ltd");
    // Every imported customer is in its history as created by the importer.
    let h = ok(app.get(&format!("/api/v1/customers/{}/history", found["id"]), &t).await);
    assert_eq!(h["data"][0]["action"], "create");
}

async fn batches_keys_and_idempotency(app: TestApp) {
    let t = app.admin_token.clone();
    // Items as JSON Lines in batches of 2: the duplicate SKU (a database unique key)
    // spoils only its own batch.
    let lines = [
        json!({"sku": "IMP-1", "name": "One", "base_unit": "PCS", "kind": "stock"}),
        json!({"sku": "IMP-2", "name": "Two", "base_unit": "PCS", "kind": "stock"}),
        json!({"sku": "IMP-3", "name": "Three", "base_unit": "PCS", "kind": "stock"}),
        json!({"sku": "IMP-1", "name": "One again", "base_unit": "PCS", "kind": "stock"}),
        json!({"sku": "IMP-5", "name": "Five", "base_unit": "PCS", "kind": "stock"}),
    ]
    .iter()
    .map(|l| l.to_string())
    .collect::<Vec<_>>()
    .join("\n");
    let dry = ok(send(&app, &t, "kind=items&dry_run=true", "application/x-ndjson", &lines, &[]).await);
    assert_eq!(
        errors(&dry),
        [(4, String::new(), "duplicate_sku".to_string())],
        "the savepoint keeps checking after a failed insert"
    );
    let key = [("idempotency-key", "items-file-1")];
    let first = send(&app, &t, "kind=items&batch_size=2", "application/x-ndjson", &lines, &key).await;
    let again = send(&app, &t, "kind=items&batch_size=2", "application/x-ndjson", &lines, &key).await;
    assert_eq!(again.status, 202);
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(again.body["id"], first.body["id"], "a retried upload is the same import");
    send(&app, &t, "kind=items&batch_size=3", "application/x-ndjson", &lines, &key)
        .await
        .problem(422, "idempotency_key_reused");
    let v = finished(&app, &t, first).await;
    assert_eq!(v["status"], "partially_completed", "{v}");
    assert_eq!((v["rows_imported"].as_i64(), v["rows_failed"].as_i64()), (Some(3), Some(1)));
    let skus: Vec<String> = ok(app.get("/api/v1/items?q=IMP&limit=50", &t).await)["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["sku"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(skus, ["IMP-1", "IMP-2", "IMP-5"], "batch 2 (rows 3-4) was rolled back as a whole");
    assert_eq!(app.count("imports"), 1);

    // Prices by price list name and SKU, exact to the cent; overlaps refused.
    let list = id(app
        .post("/api/v1/price-lists", &t, json!({"name": "Import list", "currency": "EUR", "prices_include_tax": false}))
        .await);
    let prices = "price_list,sku,price,min_quantity\nImport list,IMP-1,10.05,\nImport list,IMP-2,0.10,\nImport list,IMP-5,99999.99,10\n";
    let v = finished(&app, &t, send(&app, &t, "kind=item_prices", "text/csv", prices, &[]).await).await;
    assert_eq!(v["status"], "completed", "{v}");
    let all = ok(app.get(&format!("/api/v1/price-lists/{list}/prices"), &t).await)["data"].clone();
    let mut got: Vec<(String, String)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["price"].as_str().unwrap().into(), p["min_quantity"].as_str().unwrap().into()))
        .collect();
    got.sort();
    assert_eq!(got, [("0.10".into(), "0".into()), ("10.05".into(), "0".into()), ("99999.99".into(), "10".into())]);
    let clash = "price_list,sku,price\nImport list,IMP-1,11.00\nImport list,NOPE,1\nNo such list,IMP-2,1\nImport list,IMP-3,1\n";
    let clash_check = ok(send(&app, &t, "kind=item_prices&dry_run=true", "text/csv", clash, &[]).await);
    assert_eq!(clash_check["errors"][1]["message"], "no item with SKU NOPE found", "the value as given");
    let e = errors(&clash_check);
    assert_eq!(
        e,
        [
            (1, "item_id".to_string(), "overlapping_price".to_string()),
            (2, "sku".into(), "not_found".into()),
            (3, "price_list".into(), "not_found".into()),
            (4, "sku".into(), "not_found".into()),
        ]
    );

    // A price-list adjustment: +10 % on one item, rounded to cents.
    let adj = "price_list,sku,percent\nImport list,IMP-1,10\n";
    assert_eq!(
        finished(&app, &t, send(&app, &t, "kind=price_adjustments", "text/csv", adj, &[]).await).await["status"],
        "completed"
    );
    let item1 = ok(app.get("/api/v1/items?q=IMP-1", &t).await)["data"][0]["id"].clone();
    let p = ok(app.get(&format!("/api/v1/price-lists/{list}/prices?item_id={item1}"), &t).await)["data"][0].clone();
    assert_eq!(p["price"], "11.06", "10.05 × 1.1 = 11.055 → 11.06");

    // Opening stock by SKU and warehouse code.
    let wh = id(app
        .post("/api/v1/warehouses", &t, json!({"code": "IMPWH", "name": "Import WH", "is_default": false}))
        .await);
    let stock = "sku,warehouse,quantity,unit_cost\nIMP-2,IMPWH,12.5,3.20\nIMP-5,IMPWH,7,1\n";
    assert_eq!(
        finished(&app, &t, send(&app, &t, "kind=opening_stock", "text/csv", stock, &[]).await).await["status"],
        "completed"
    );
    let b = ok(app.get(&format!("/api/v1/stock/balances?warehouse_id={wh}"), &t).await)["data"].clone();
    let mut on_hand: Vec<String> =
        b.as_array().unwrap().iter().map(|x| x["on_hand"].as_str().unwrap().to_string()).collect();
    on_hand.sort();
    assert_eq!(on_hand.iter().map(|s| normalise(s)).collect::<Vec<_>>(), ["12.5", "7"]);
}

/// A decimal string without trailing zeros (`"12.500"` → `"12.5"`, `"7.000"` → `"7"`).
fn normalise(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

async fn scope_permissions_and_refusals(app: TestApp) {
    let t = app.admin_token.clone();
    let (_, alice) = app.user("imp-alice", &["sales_agent"]).await;
    let (_, bob) = app.user("imp-bob", &["sales_agent"]).await;
    let c = ok(app.post("/api/v1/customers", &alice, json!({"name": "Alice's client", "currency": "PLN"})).await);
    let number = c["number"].as_str().unwrap();
    let body = format!("{{\"customer_number\": \"{number}\", \"name\": \"Zofia\"}}\n");
    // Bob cannot reach Alice's customer by its number: not found, as everywhere.
    let e = errors(&ok(send(&app, &bob, "kind=contacts&dry_run=true", "application/x-ndjson", &body, &[]).await));
    assert_eq!(e, [(1, "customer_number".to_string(), "not_found".to_string())]);
    let v = finished(&app, &alice, send(&app, &alice, "kind=contacts", "application/x-ndjson", &body, &[]).await).await;
    assert_eq!(v["status"], "completed");
    assert_eq!(
        ok(app.get(&format!("/api/v1/customers/{}/contacts", c["id"]), &alice).await)["data"][0]["name"],
        "Zofia"
    );
    // An import is its author's: Bob gets the 404 of a missing id, the admin sees it.
    let path = format!("/api/v1/imports/{}", v["id"]);
    app.get(&path, &bob).await.problem(404, "not_found");
    assert_eq!(app.get(&path, &t).await.status, 200);
    assert_eq!(ok(app.get("/api/v1/imports", &bob).await)["data"], json!([]));
    assert_eq!(ok(app.get("/api/v1/imports", &alice).await)["data"].as_array().unwrap().len(), 1);

    // Roles: an agent cannot import items; refused before the file is read.
    send(&app, &alice, "kind=items", "text/csv", "sku\nX\n", &[]).await.problem(403, "forbidden");
    // The file itself.
    let r = send(&app, &t, "kind=items", "application/json", "{}", &[]).await;
    assert_eq!(r.status, 415, "{}", r.body);
    // What generated clients send for a file: the content decides the format.
    let e = errors(&ok(send(
        &app,
        &t,
        "kind=items&dry_run=true",
        "application/octet-stream",
        "{\"sku\": \"O1\", \"name\": \"Octet\", \"base_unit\": \"PCS\", \"kind\": \"rocket\"}\n",
        &[],
    )
    .await));
    assert_eq!(e.iter().map(|x| (x.0, x.1.as_str())).collect::<Vec<_>>(), [(1, "kind")]);
    let r = ok(send(
        &app,
        &t,
        "kind=items&dry_run=true",
        "application/octet-stream",
        "sku,name,base_unit,kind\nO2,Octet,PCS,stock\n",
        &[],
    )
    .await);
    assert_eq!((r["format"].as_str(), r["rows_valid"].as_i64()), (Some("csv"), Some(1)));
    let r = send(&app, &t, "kind=items", "text/csv", "", &[]).await;
    r.problem(422, "validation_failed");
    assert_eq!(r.error_fields(), ["body"]);
    send(&app, &t, "kind=items", "text/csv", "sku,sku\nA,B\n", &[]).await.problem(422, "validation_failed");
    send(&app, &t, "kind=items", "text/csv", "sku\n\"open\n", &[]).await.problem(422, "validation_failed");
    send(&app, &t, "kind=planets", "text/csv", "sku\nA\n", &[]).await.problem(400, "invalid_query");
    let r = send(&app, &t, "kind=items&batch_size=0", "text/csv", "sku\nA\n", &[]).await;
    assert_eq!(r.error_fields(), ["batch_size"]);
    // Ragged rows and bad cells are row errors, with the row and the column.
    let e = errors(&ok(send(
        &app,
        &t,
        "kind=items&dry_run=true",
        "text/csv",
        "sku,name,base_unit,kind,active\nA1,A,PCS,stock,maybe\nA2,B\n",
        &[],
    )
    .await));
    assert_eq!(e, [(1, "active".to_string(), "invalid_type".to_string()), (2, String::new(), "columns".to_string())]);
    assert_eq!(app.count("items"), 0);
}

/// A process died mid-import: its lease runs out and the next worker resumes after
/// the last committed batch (rows 1-2 are not imported again); an import whose lease
/// is still held by a live process is left alone.
async fn a_crashed_import_resumes_after_its_last_batch(app: TestApp) {
    use diesel::prelude::*;
    use ordo_db::schema::imports;
    let t = app.admin_token.clone();
    let me = ok(app.get("/api/v1/me", &t).await);
    let principal = json!({"kind": "user", "id": me["id"], "name": "root", "roles": ["admin"]}).to_string();
    let actor = format!("user:{}", me["id"]);
    let ts = ordo_core::time_util::now();
    let insert = |lease: time::PrimitiveDateTime| {
        let (principal, actor) = (principal.clone(), actor.clone());
        app.with_db(move |c| {
            diesel::insert_into(imports::table)
                .values((
                    imports::kind.eq("customers"),
                    imports::format.eq("csv"),
                    imports::status.eq("running"),
                    imports::batch_size.eq(Some(2i64)),
                    imports::rows_total.eq(4i64),
                    imports::rows_done.eq(2i64),
                    imports::rows_imported.eq(2i64),
                    imports::rows_failed.eq(0i64),
                    imports::errors.eq("[]"),
                    imports::payload.eq("name,currency\nResume 1,EUR\nResume 2,EUR\nResume 3,EUR\nResume 4,EUR\n"),
                    imports::principal.eq(principal),
                    imports::actor.eq(actor),
                    imports::lease_until.eq(Some(lease)),
                    imports::created_at.eq(ts),
                    imports::updated_at.eq(ts),
                ))
                .returning(imports::id)
                .get_result::<i64>(c)
                .unwrap()
        })
    };
    let dead = insert(ts - time::Duration::minutes(1));
    let alive = insert(ts + time::Duration::minutes(10));
    // Any upload wakes the worker, which takes every import it may.
    let v = finished(&app, &t, send(&app, &t, "kind=customers", "text/csv", "name,currency\nWake up,EUR\n", &[]).await)
        .await;
    assert_eq!(v["status"], "completed");
    let mut resumed = Value::Null;
    for _ in 0..600 {
        resumed = ok(app.get(&format!("/api/v1/imports/{dead}"), &t).await);
        if resumed["status"] != "running" {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(resumed["status"], "completed", "{resumed}");
    assert_eq!((resumed["rows_done"].as_i64(), resumed["rows_imported"].as_i64()), (Some(4), Some(4)));
    let names: Vec<String> = ok(app.get("/api/v1/customers?q=Resume&sort=name", &t).await)["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["Resume 3", "Resume 4"], "the committed batch is not imported twice");
    let held = ok(app.get(&format!("/api/v1/imports/{alive}"), &t).await);
    assert_eq!(
        (held["status"].as_str(), held["rows_done"].as_i64()),
        (Some("running"), Some(2)),
        "a live lease is respected"
    );
}

crate::on_both_backends!(
    customers_dry_run_then_all_or_nothing,
    batches_keys_and_idempotency,
    scope_permissions_and_refusals,
    a_crashed_import_resumes_after_its_last_batch
);
