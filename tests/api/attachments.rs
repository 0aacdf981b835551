//! Attachments on any record (items, customers, documents, the company): the record's
//! rights and scope decide (another agent gets 404 on every route, a viewer cannot
//! write), files keep names in any script, rules no field states are 422 and store
//! nothing, a deleted customer's files go with it; the company's logo is printed on
//! every document; mailing a quotation offers it and carries its items' files flagged
//! `send_with_offers` (and only those).

use crate::on_both_backends;
use crate::support::{id, ok, pdf_images, smtp_receiver, uuid_like, TestApp};
use reqwest::Method;
use serde_json::json;

on_both_backends!(attachments_follow_their_records, quotations_are_mailed_with_their_items_files);

/// A 1×1 PNG.
fn png() -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
        .unwrap()
}

async fn attachments_follow_their_records(app: TestApp) {
    let t = &app.admin_token;
    let (anna_id, anna) = app.user("anna", &["sales_agent"]).await;
    let (_, bert) = app.user("bert", &["sales_agent"]).await;
    let (_, viewer) = app.user("vera", &["viewer"]).await;
    let item = crate::documents::radiator(&app).await;
    let customer = id(app.post("/api/v1/customers", &anna, json!({"name": "Anna's", "currency": "EUR"})).await);
    let files = format!("/api/v1/customers/{customer}/attachments");

    // A name in Polish survives into the download header (RFC 6266), not a 500.
    let contract = b"%PDF-1.4 contract".to_vec();
    let created = app.attach(&files, &anna, &[("kind", "other")], "umowa żółta.pdf", &contract).await;
    let location = created.header("location");
    let a = ok(created);
    assert_eq!((a["owner_type"].as_str(), a["owner_id"].as_i64()), (Some("customer"), Some(customer)));
    assert_eq!(
        (a["filename"].as_str(), a["content_type"].as_str()),
        (Some("umowa żółta.pdf"), Some("application/pdf"))
    );
    let aid = a["id"].as_i64().unwrap();
    assert_eq!(location, Some(format!("{files}/{aid}")));
    let (status, ct, bytes) = app.get_bytes(&format!("{files}/{aid}"), &anna, "*/*").await;
    assert_eq!((status.as_u16(), ct.as_str(), bytes), (200, "application/pdf", contract.clone()));
    let got = app.client.get(format!("{}{files}/{aid}", app.base)).bearer_auth(&anna).send().await.unwrap();
    let disposition = got.headers()["content-disposition"].to_str().unwrap().to_string();
    assert!(disposition.contains("filename*=UTF-8''umowa%20%C5%BC%C3%B3%C5%82ta.pdf"), "{disposition}");

    // Another agent: every route of the customer's files is 404, as the customer is.
    app.get(&files, &bert).await.problem(404, "not_found");
    app.get(&format!("{files}/{aid}"), &bert).await.problem(404, "not_found");
    app.get(&format!("{files}/{aid}/history"), &bert).await.problem(404, "not_found");
    app.patch(&format!("{files}/{aid}"), &bert, json!({"filename": "x"})).await.problem(404, "not_found");
    app.delete(&format!("{files}/{aid}"), &bert).await.problem(404, "not_found");
    app.attach(&files, &bert, &[("kind", "other")], "x.txt", b"x").await.problem(404, "not_found");
    // A viewer reads, never writes.
    assert_eq!(ok(app.get(&files, &viewer).await)["data"].as_array().unwrap().len(), 1);
    app.attach(&files, &viewer, &[("kind", "other")], "x.txt", b"x").await.problem(403, "forbidden");

    // Rules no single field states: 422 with every failing field, nothing stored.
    let r = app.attach(&files, &anna, &[("kind", "logo"), ("send_with_offers", "true")], "l.txt", b"text").await;
    assert_eq!(
        (r.status.as_u16(), r.error_fields()),
        (422, vec!["file".into(), "kind".into(), "send_with_offers".into()])
    );
    let r = app.attach(&files, &anna, &[("kind", "other"), ("send_with_offers", "maybe")], "a.txt", b"a").await;
    assert_eq!((r.status.as_u16(), r.error_fields()), (422, vec!["send_with_offers".to_string()]));
    app.patch(&format!("{files}/{aid}"), &anna, json!({"send_with_offers": true}))
        .await
        .problem(422, "validation_failed");
    app.patch(&format!("{files}/{aid}"), &anna, json!({"owner_id": 1})).await.problem(422, "validation_failed");
    assert_eq!(ok(app.get(&files, &anna).await)["data"].as_array().unwrap().len(), 1);

    // A document's files are its own: the quotation's list holds only the quotation's.
    let q = id(app
        .post(
            "/api/v1/quotations",
            &anna,
            json!({"customer_id": customer, "lines": [{"item_id": item, "quantity": "1"}]}),
        )
        .await);
    let qfiles = format!("/api/v1/quotations/{q}/attachments");
    let spec = ok(app.attach(&qfiles, &anna, &[("kind", "specification")], "spec.txt", b"spec").await);
    assert_eq!(ok(app.get(&qfiles, &anna).await)["data"].as_array().unwrap().len(), 1);
    assert_eq!(ok(app.get(&files, &anna).await)["data"].as_array().unwrap().len(), 1);
    // The quotation's file is not reachable through the customer, nor the other way.
    app.get(&format!("{files}/{}", spec["id"]), &anna).await.problem(404, "not_found");
    app.get(&format!("{qfiles}/{aid}"), &anna).await.problem(404, "not_found");
    app.get(&qfiles, &bert).await.problem(404, "not_found");

    // An item's brochure goes with offers; the flag changes under If-Match.
    let ifiles = format!("/api/v1/items/{item}/attachments");
    let b =
        ok(app.attach(&ifiles, t, &[("kind", "brochure"), ("send_with_offers", "true")], "b.pdf", b"%PDF-1.4 b").await);
    assert_eq!(b["send_with_offers"], true);
    let bid = b["id"].as_i64().unwrap();
    let stale = app
        .call(
            Method::PATCH,
            &format!("{ifiles}/{bid}"),
            t,
            Some(json!({"send_with_offers": false})),
            &[("If-Match", "\"7\"")],
        )
        .await;
    stale.problem(412, "precondition_failed");
    let changed = app
        .call(
            Method::PATCH,
            &format!("{ifiles}/{bid}"),
            t,
            Some(json!({"send_with_offers": false, "filename": "Broszura.pdf"})),
            &[("If-Match", "\"1\"")],
        )
        .await;
    let changed = ok(changed);
    assert_eq!((changed["send_with_offers"].as_bool(), changed["version"].as_i64()), (Some(false), Some(2)));
    let h = ok(app.get(&format!("{ifiles}/{bid}/history"), t).await);
    assert_eq!(h["data"][1]["action"], "update");

    // The company's logo: an image only, the sales set-up's to change, on every document.
    app.attach("/api/v1/company/attachments", t, &[("kind", "logo")], "logo.txt", b"not an image")
        .await
        .problem(422, "validation_failed");
    app.attach("/api/v1/company/attachments", &anna, &[("kind", "logo")], "logo.png", &png())
        .await
        .problem(403, "forbidden");
    let logo = app.attach("/api/v1/company/attachments", t, &[("kind", "logo")], "logo.png", &png()).await;
    let location = logo.header("location");
    let logo_id = ok(logo)["id"].as_i64().unwrap();
    assert_eq!(location, Some(format!("/api/v1/company/attachments/{logo_id}")));
    assert_eq!(ok(app.get("/api/v1/company/attachments", &anna).await)["data"].as_array().unwrap().len(), 1);
    let (status, _, html) = app.get_bytes(&format!("/api/v1/quotations/{q}/document"), &anna, "text/html").await;
    assert_eq!(status, 200);
    assert!(String::from_utf8(html).unwrap().contains("src=\"data:image&#x2f;png;base64,"), "the logo is inline");
    let (status, _, pdf) = app.get_bytes(&format!("/api/v1/quotations/{q}/document"), &anna, "application/pdf").await;
    assert_eq!(status, 200);
    assert_eq!(pdf_images(&pdf)[0], 1, "the logo is on the first page");
    let (status, _, pdf) = app
        .get_bytes(
            &format!("/api/v1/customers/{customer}/statement?from=2026-01-01&to=2026-12-31"),
            &anna,
            "application/pdf",
        )
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&pdf));
    assert_eq!(pdf_images(&pdf)[0], 1, "and on the statement");

    // A deleted customer's files go with it (records and, unshared, the bytes).
    let gone = id(app
        .post("/api/v1/customers", t, json!({"name": "Short-lived", "currency": "EUR", "owner_id": anna_id}))
        .await);
    let unique = format!("only here {}", uuid_like());
    let f = ok(app
        .attach(&format!("/api/v1/customers/{gone}/attachments"), t, &[("kind", "other")], "u.txt", unique.as_bytes())
        .await);
    let stored = app.files_dir.join(f["sha256"].as_str().unwrap());
    assert!(stored.exists());
    assert_eq!(app.delete(&format!("/api/v1/customers/{gone}"), t).await.status, 204);
    assert!(!stored.exists(), "the file went with the customer");
    app.get(&format!("/api/v1/customers/{gone}/attachments"), t).await.problem(404, "not_found");
}

async fn quotations_are_mailed_with_their_items_files(app: TestApp) {
    let t = &app.admin_token;
    let (_, anna) = app.user("anna", &["sales_agent"]).await;
    let (_, bert) = app.user("bert", &["sales_agent"]).await;
    let item = crate::documents::radiator(&app).await;
    let ifiles = format!("/api/v1/items/{item}/attachments");
    ok(app
        .attach(&ifiles, t, &[("kind", "brochure"), ("send_with_offers", "true")], "broszura.pdf", b"%PDF-1.4 brochure")
        .await);
    ok(app
        .attach(&ifiles, t, &[("kind", "certificate"), ("send_with_offers", "true")], "CE.pdf", b"%PDF-1.4 CE")
        .await);
    ok(app.attach(&ifiles, t, &[("kind", "specification")], "internal-costs.txt", b"not for customers").await);
    let inbox = format!("oferty-{}@klient.test", uuid_like());
    let customer =
        id(app.post("/api/v1/customers", &anna, json!({"name": "Klient", "currency": "EUR", "email": inbox})).await);
    let lines = json!([{"item_id": item, "quantity": "1"}, {"item_id": item, "quantity": "3"}]);
    let q = id(app.post("/api/v1/quotations", &anna, json!({"customer_id": customer, "lines": lines})).await);

    app.post(&format!("/api/v1/quotations/{q}/email"), &bert, json!({})).await.problem(404, "not_found");
    let m = app.post(&format!("/api/v1/quotations/{q}/email"), &anna, json!({"language": "pl"})).await;
    assert_eq!(m.status, 202, "{}", m.body);
    assert_eq!(
        m.body["item_documents"],
        json!(["broszura.pdf", "CE.pdf"]),
        "flagged files once each, not the internal one"
    );
    assert_eq!(ok(app.get(&format!("/api/v1/quotations/{q}"), &anna).await)["status"], "sent", "mailing offers it");
    ok(app.post("/api/v1/jobs/email_delivery/run", t, json!({})).await);
    let outbox = ok(app.get(&format!("/api/v1/outbox?document=quotation:{q}"), t).await);
    assert_eq!(outbox["data"][0]["status"], "sent", "{outbox}");
    let got: Vec<_> = smtp_receiver().1.lock().unwrap().iter().filter(|m| m.rcpt.contains(&inbox)).cloned().collect();
    assert_eq!(got.len(), 1);
    let data = &got[0].data;
    for name in ["broszura.pdf", "CE.pdf"] {
        assert!(data.contains(&format!("filename=\"{name}\"")), "{name} attached");
    }
    assert!(!data.contains("internal-costs"), "an unflagged file stays home");
    assert_eq!(data.matches("Content-Type: application/pdf").count(), 3, "the offer and two item files");

    // Without the items' files when asked; a sent quotation is mailed as it is.
    let again =
        app.post(&format!("/api/v1/quotations/{q}/email"), &anna, json!({"attach_item_documents": false})).await;
    assert_eq!((again.status.as_u16(), again.body["item_documents"].clone()), (202, json!([])));

    // A failed mailing leaves the draft a draft: no address, 422, nothing changed.
    let mute = id(app.post("/api/v1/customers", &anna, json!({"name": "No mail", "currency": "EUR"})).await);
    let q2 = id(app
        .post("/api/v1/quotations", &anna, json!({"customer_id": mute, "lines": [{"item_id": item, "quantity": "1"}]}))
        .await);
    let r = app.post(&format!("/api/v1/quotations/{q2}/email"), &anna, json!({})).await;
    assert_eq!((r.status.as_u16(), r.error_fields()), (422, vec!["to".to_string()]));
    assert_eq!(ok(app.get(&format!("/api/v1/quotations/{q2}"), &anna).await)["status"], "draft");
    assert!(ok(app.get(&format!("/api/v1/outbox?document=quotation:{q2}"), t).await)["data"]
        .as_array()
        .unwrap()
        .is_empty());
    // A cancelled quotation is not mailed.
    ok(app.post(&format!("/api/v1/quotations/{q2}/cancel"), &anna, json!({"reason": "no"})).await);
    app.post(&format!("/api/v1/quotations/{q2}/email"), &anna, json!({"to": ["a@b.test"]}))
        .await
        .problem(422, "cancelled");
}
