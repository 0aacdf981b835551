//! E-mail through the outbox, against the test SMTP receiver (support::smtp_receiver):
//! a posted invoice of an `invoice_delivery: email` customer is mailed with its PDF and
//! UBL XML; `POST .../send` queues a message that the `email_delivery` job delivers,
//! retrying a temporary refusal and failing a permanent one with the server's answer;
//! a rolled-back posting mails nothing; bad addresses are 422 and change nothing;
//! another agent's document is 404.

use crate::on_both_backends;
use crate::support::{id, ok, pdf_pages, smtp_receiver, uuid_like, ReceivedMail, TestApp};
use base64::Engine;
use serde_json::{json, Value};

on_both_backends!(documents_are_mailed_through_the_outbox);

async fn run_mail_job(app: &TestApp) -> Value {
    ok(app.post("/api/v1/jobs/email_delivery/run", &app.admin_token, json!({})).await)
}

async fn outbox(app: &TestApp, document: &str) -> Vec<Value> {
    let page = ok(app.get(&format!("/api/v1/outbox?document={document}"), &app.admin_token).await);
    page["data"].as_array().unwrap().clone()
}

/// Messages the receiver got for an address.
fn received(to: &str) -> Vec<ReceivedMail> {
    smtp_receiver().1.lock().unwrap().iter().filter(|m| m.rcpt.iter().any(|r| r == to)).cloned().collect()
}

/// The decoded body of the MIME part whose headers name `content_type`.
fn part(data: &str, content_type: &str) -> Vec<u8> {
    let at = data.find(&format!("Content-Type: {content_type}")).unwrap_or_else(|| panic!("{content_type} in {data}"));
    let rest = &data[at..];
    let body_start = rest.find("\r\n\r\n").unwrap() + 4;
    let body = &rest[body_start..];
    let end = body.find("\r\n--").unwrap_or(body.len());
    let b64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(b64).expect("base64 part")
}

async fn documents_are_mailed_through_the_outbox(app: TestApp) {
    let t = &app.admin_token;
    let (_, anna) = app.user("anna", &["sales_agent"]).await;
    let item = crate::documents::radiator(&app).await;
    let company = ok(app.get("/api/v1/company", t).await);
    let etag = format!("\"{}\"", company["version"]);
    ok(app
        .call(
            reqwest::Method::PUT,
            "/api/v1/company",
            t,
            Some(json!({"legal_name": "Ordo Sp. z o.o.", "tax_id": "PL1234563218", "default_language": "pl",
                "address": {"line1": "ul. Prosta 20", "city": "Warszawa", "postal_code": "00-850", "country": "PL"},
                "endpoint_id": "1234563218", "endpoint_scheme": "9945"})),
            &[("If-Match", etag.as_str())],
        )
        .await);
    let tag = uuid_like();
    let inbox = format!("faktury-{tag}@klient.test");
    let customer = id(app
        .post(
            "/api/v1/customers",
            t,
            json!({"name": "Klient", "currency": "EUR", "email": inbox, "invoice_delivery": "email", "e_invoice": true,
                "tax_id": "5260001246", "endpoint_id": "5260001246", "endpoint_scheme": "9945",
                "billing_address": {"line1": "ul. Piotrkowska 1", "city": "Łódź", "postal_code": "90-001", "country": "PL"}}),
        )
        .await);
    let lines = json!([{"item_id": item, "quantity": "2"}]);
    let inv = id(app.post("/api/v1/invoices", t, json!({"customer_id": customer, "lines": lines})).await);

    // A draft is not sent; a bad address is 422; neither leaves a message.
    app.post(&format!("/api/v1/invoices/{inv}/send"), t, json!({})).await.problem(422, "not_posted");
    let bad = app
        .post(&format!("/api/v1/invoices/{inv}/send"), t, json!({"to": ["not an address"], "cc": ["a@b@c.test"]}))
        .await;
    assert_eq!(
        (bad.status.as_u16(), bad.error_fields()),
        (422, vec!["cc".to_string(), "to".to_string()]),
        "{}",
        bad.body
    );
    app.post(&format!("/api/v1/invoices/{inv}/send"), t, json!({"bcc": ["a@b.test"]}))
        .await
        .problem(422, "validation_failed");
    assert!(outbox(&app, &format!("invoice:{inv}")).await.is_empty());

    // Posting queues the mail in the same transaction; the job delivers it.
    let posted = ok(app.post(&format!("/api/v1/invoices/{inv}/post"), t, json!({})).await);
    let number = posted["number"].as_str().unwrap().to_string();
    let queued = outbox(&app, &format!("invoice:{inv}")).await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!((queued[0]["status"].as_str(), queued[0]["created_by"].as_str()), (Some("pending"), Some("posting")));
    assert_eq!(queued[0]["to"], json!([inbox]));
    // Posting it again fails (409) and rolls back: no second message.
    app.post(&format!("/api/v1/invoices/{inv}/post"), t, json!({})).await.problem(409, "already_posted");
    run_mail_job(&app).await;
    let sent = outbox(&app, &format!("invoice:{inv}")).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["status"], "sent", "{}", sent[0]);
    assert!(sent[0]["last_answer"].as_str().unwrap().starts_with("250"), "{}", sent[0]);
    let mails = received(&inbox);
    assert_eq!(mails.len(), 1, "exactly once");
    let data = &mails[0].data;
    assert!(
        data.contains("From: \"Ordo Test\" <billing@ordo.test>")
            || data.contains("From: Ordo Test <billing@ordo.test>"),
        "{data}"
    );
    assert!(data.contains(&format!("Subject: Faktura {number}")) || data.contains("Subject: =?utf-8?"), "{data}");
    assert!(data.contains(&format!("filename=\"{number}.pdf\"").replace('/', "-")), "{data}");
    let pdf = part(data, "application/pdf");
    let text = pdf_pages(&pdf).join("\n");
    assert!(text.contains(&number) && text.contains("Klient"), "{text}");
    let xml = String::from_utf8(part(data, "application/xml")).unwrap();
    assert!(xml.contains("<Invoice ") && xml.contains(&format!("<cbc:ID>{number}</cbc:ID>")), "{xml}");
    // Nothing is due any more: the next run sends nothing again.
    run_mail_job(&app).await;
    assert_eq!(received(&inbox).len(), 1);

    // A temporary refusal is retried (the answer kept), a permanent one fails at once.
    let order = id(app.post("/api/v1/sales-orders", t, json!({"customer_id": customer, "lines": lines})).await);
    let busy = format!("busy-{tag}@fail-temp.test");
    let m = ok(app
        .post(
            &format!("/api/v1/sales-orders/{order}/send"),
            t,
            json!({"to": [busy], "message": "Proszę o potwierdzenie."}),
        )
        .await);
    assert_eq!((m["status"].as_str(), m["document_kind"].as_str()), (Some("pending"), Some("sales_order")));
    for attempt in 1..=2 {
        run_mail_job(&app).await;
        let m = &outbox(&app, &format!("sales_order:{order}")).await[0];
        assert_eq!((m["status"].as_str(), m["attempts"].as_i64()), (Some("pending"), Some(attempt)), "{m}");
        assert!(m["last_answer"].as_str().unwrap().contains("451"), "{m}");
        assert_eq!(m["log"].as_array().unwrap().len(), attempt as usize);
    }
    let gone = format!("gone-{tag}@fail-perm.test");
    ok(app.post(&format!("/api/v1/invoices/{inv}/send"), t, json!({"to": [gone]})).await);
    run_mail_job(&app).await;
    let msgs = outbox(&app, &format!("invoice:{inv}")).await;
    let failed = msgs.iter().find(|m| m["to"] == json!([gone])).unwrap();
    assert_eq!((failed["status"].as_str(), failed["attempts"].as_i64()), (Some("failed"), Some(1)), "{failed}");
    assert!(failed["last_answer"].as_str().unwrap().contains("550"), "{failed}");

    // An agent: 404 for another agent's customer, and their outbox is scoped.
    app.post(&format!("/api/v1/sales-orders/{order}/send"), &anna, json!({})).await.problem(404, "not_found");
    let theirs = ok(app.get("/api/v1/outbox", &anna).await);
    assert_eq!(theirs["data"], json!([]));
    app.get("/api/v1/outbox?document=invoice", t).await.problem(422, "validation_failed");

    // Invoices the recurring job posts by itself are mailed the same way.
    let first = time::OffsetDateTime::now_utc().date().replace_day(1).unwrap();
    let monthly = format!("monthly-{tag}@klient.test");
    let subscriber = id(app
        .post(
            "/api/v1/customers",
            t,
            json!({"name": "Abonent", "currency": "EUR", "email": monthly, "invoice_delivery": "email"}),
        )
        .await);
    ok(app
        .post(
            "/api/v1/recurring-invoices",
            t,
            json!({"name": "Serwis", "customer_id": subscriber, "period": "monthly", "day_of_period": 1,
                "start_date": first.to_string(), "auto_post": true, "lines": lines}),
        )
        .await);
    ok(app.post("/api/v1/jobs/recurring_invoices/run", t, json!({})).await);
    run_mail_job(&app).await;
    assert_eq!(received(&monthly).len(), 1, "the auto-posted invoice is mailed once");
}
