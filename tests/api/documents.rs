//! Printable documents: each kind renders to HTML from the built-in template with the
//! document's numbers formatted per language; a replacement template is checked before
//! it is stored (syntax with its line, unknown variables, runaway loops) and used per
//! kind and language; content negotiation; another agent's document is 404.

use crate::on_both_backends;
use crate::support::{id, ok, TestApp};
use serde_json::json;

on_both_backends!(documents_render_from_templates);

async fn html(app: &TestApp, path: &str, token: &str) -> String {
    let r = app.call(reqwest::Method::GET, path, token, None, &[("Accept", "text/html")]).await;
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    assert_eq!(r.header("content-type").as_deref(), Some("text/html; charset=utf-8"));
    r.body.as_str().expect("an HTML body").to_string()
}

/// A 23% taxed item (`GRZ-1 Grzejnik żeliwny`) at 1234.50 EUR on the default price list.
pub async fn radiator(app: &TestApp) -> i64 {
    let t = &app.admin_token;
    let vat = id(app.post("/api/v1/tax-rates", t, json!({"code": "VAT23", "name": "VAT 23%", "percent": "23"})).await);
    let list =
        id(app.post("/api/v1/price-lists", t, json!({"name": "L", "currency": "EUR", "is_default": true})).await);
    let item = id(app
        .post(
            "/api/v1/items",
            t,
            json!({"sku": "GRZ-1", "name": "Grzejnik żeliwny", "base_unit": "PCS", "kind": "service", "tax_rate_id": vat}),
        )
        .await);
    ok(app.post(&format!("/api/v1/price-lists/{list}/prices"), t, json!({"item_id": item, "price": "1234.50"})).await);
    item
}

async fn documents_render_from_templates(app: TestApp) {
    let t = &app.admin_token;
    let (_, anna) = app.user("anna", &["sales_agent"]).await;
    let (_, bert) = app.user("bert", &["sales_agent"]).await;
    let item = radiator(&app).await;
    let customer = id(app
        .post(
            "/api/v1/customers",
            &anna,
            json!({"name": "Łódź Spółka", "currency": "EUR", "tax_id": "PL5260001246",
                "billing_address": {"line1": "ul. Piotrkowska 1", "city": "Łódź", "postal_code": "90-001", "country": "PL"}}),
        )
        .await);
    let lines = json!([{"item_id": item, "quantity": "1000"}]);
    let q = id(app.post("/api/v1/quotations", &anna, json!({"customer_id": customer, "lines": lines})).await);
    let o = id(app.post("/api/v1/sales-orders", &anna, json!({"customer_id": customer, "lines": lines})).await);
    let i = id(app.post("/api/v1/invoices", t, json!({"customer_id": customer, "lines": lines})).await);
    // 1000 × 1234.50 = 1,234,500.00 net; 23% tax; 1,518,435.00 gross.
    let en = html(&app, &format!("/api/v1/invoices/{i}/document"), t).await;
    for want in [
        "Invoice",
        "Łódź Spółka",
        "PL5260001246",
        "GRZ-1 Grzejnik żeliwny",
        "1,234,500.00\u{a0}EUR",
        "1,518,435.00\u{a0}EUR",
    ] {
        assert!(en.contains(want), "{want} in {en}");
    }
    let pl = html(&app, &format!("/api/v1/invoices/{i}/document?language=pl"), t).await;
    for want in ["Faktura", "1\u{a0}234\u{a0}500,00\u{a0}EUR", "Brutto", "1\u{a0}234,50\u{a0}EUR"] {
        assert!(pl.contains(want), "{want} in {pl}");
    }
    assert!(html(&app, &format!("/api/v1/quotations/{q}/document"), &anna).await.contains("Quotation"));
    // The company prints on every document; its default language is the documents'.
    let mut c = ok(app.get("/api/v1/company", &anna).await);
    let v = c["version"].as_i64().unwrap();
    for k in ["version", "updated_at"] {
        c.as_object_mut().unwrap().remove(k);
    }
    let etag = format!("\"{v}\"");
    let headers = [("If-Match", etag.as_str())];
    let put = |body: serde_json::Value| app.call(reqwest::Method::PUT, "/api/v1/company", t, Some(body), &headers);
    let mut bad = c.clone();
    bad["iban"] = json!("PL00 1090 1014 0000 0712 1981 2874");
    let r = put(bad).await;
    assert_eq!((r.status.as_u16(), r.error_fields()), (422, vec!["iban".to_string()]), "{}", r.body);
    let mut half = c.clone();
    half["endpoint_id"] = json!("5260001246");
    assert_eq!(put(half).await.error_fields(), vec!["endpoint_scheme".to_string()]);
    app.put_json("/api/v1/company", &anna, c.clone()).await.problem(403, "forbidden");
    let company = json!({"legal_name": "Ordo Sp. z o.o.", "tax_id": "PL1234563218", "iban": "PL61 1090 1014 0000 0712 1981 2874",
        "address": {"line1": "ul. Długa 5", "city": "Gdańsk", "postal_code": "80-001", "country": "PL"},
        "default_language": "pl", "endpoint_id": "1234563218", "endpoint_scheme": "9945"});
    let r = put(company.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["version"].as_i64(), Some(v + 1));
    put(company.clone()).await.problem(412, "precondition_failed");
    assert_eq!(ok(app.get("/api/v1/company", &anna).await)["legal_name"], "Ordo Sp. z o.o.");
    let default = html(&app, &format!("/api/v1/invoices/{i}/document"), t).await;
    for want in ["Ordo Sp. z o.o.", "ul. Długa 5", "PL1234563218", "PL61 1090 1014 0000 0712 1981 2874", "Faktura"] {
        assert!(default.contains(want), "{want} in {default}");
    }
    let mut en = company.clone();
    en["default_language"] = json!("en");
    ok(app.put_json("/api/v1/company", t, en).await);
    assert!(html(&app, &format!("/api/v1/sales-orders/{o}/document"), &anna).await.contains("Order confirmation"));
    let he = html(&app, &format!("/api/v1/quotations/{q}/document?language=he"), &anna).await;
    assert!(he.contains(r#"dir="rtl""#));
    // Names are escaped: a customer cannot inject markup into the document.
    ok(app.patch(&format!("/api/v1/customers/{customer}"), t, json!({"legal_name": "<script>x</script>"})).await);
    let esc = html(&app, &format!("/api/v1/invoices/{i}/document"), t).await;
    assert!(esc.contains("&lt;script&gt;") && !esc.contains("<script>"), "{esc}");
    // Another agent's document is not found; other formats are not acceptable.
    app.get(&format!("/api/v1/quotations/{q}/document"), &bert).await.problem(404, "not_found");
    let pdf = app
        .call(reqwest::Method::GET, &format!("/api/v1/invoices/{i}/document"), t, None, &[("Accept", "image/png")])
        .await;
    pdf.problem(406, "not_acceptable");
    app.get(&format!("/api/v1/invoices/{i}/document?language=polish"), t).await.problem(422, "validation_failed");

    // A replacement template: checked before it is stored.
    let create = |body: &str| json!({"kind": "invoice", "language": "pl", "body": body});
    let broken = app.post("/api/v1/document-templates", t, create("<h1>{{ document.number }</h1>\n{% for %}")).await;
    assert_eq!((broken.status.as_u16(), broken.error_fields()), (422, vec!["body".to_string()]), "{}", broken.body);
    assert!(broken.body["errors"][0]["message"].as_str().unwrap().contains("line 1"), "{}", broken.body);
    let unknown = app.post("/api/v1/document-templates", t, create("{{ secrets.key }}")).await;
    assert_eq!(unknown.status, 422);
    assert_eq!(unknown.body["errors"][0]["code"], "unknown_variable", "{}", unknown.body);
    let runaway =
        app.post("/api/v1/document-templates", t, create("{% for i in range(100000000) %}{{ i }}{% endfor %}")).await;
    assert_eq!(runaway.status, 422, "{}", runaway.body);
    app.post("/api/v1/document-templates", &anna, create("x")).await.problem(403, "forbidden");
    assert!(ok(app.get("/api/v1/document-templates", t).await)["data"].as_array().unwrap().is_empty());
    let tpl = ok(app
        .post(
            "/api/v1/document-templates",
            t,
            create("<p>FV {{ document.number }} dla {{ customer.name }}: {{ document.totals.gross | money(document.currency) }}</p>"),
        )
        .await);
    app.post("/api/v1/document-templates", t, create("x")).await.problem(409, "duplicate_template");
    let pl = html(&app, &format!("/api/v1/invoices/{i}/document?language=pl"), t).await;
    assert!(pl.contains("dla Łódź Spółka: 1\u{a0}518\u{a0}435,00\u{a0}EUR"), "{pl}");
    // Other languages keep the built-in template.
    assert!(html(&app, &format!("/api/v1/invoices/{i}/document"), t).await.contains("<table"));
    let tid = tpl["id"].as_i64().unwrap();
    let v2 = ok(app
        .patch(&format!("/api/v1/document-templates/{tid}"), t, json!({"body": "<p>v2 {{ document.number }}</p>"}))
        .await);
    assert_eq!(v2["version"], 2);
    let h = ok(app.get(&format!("/api/v1/document-templates/{tid}/history"), t).await);
    assert_eq!(h["data"].as_array().unwrap().len(), 2);
    assert_eq!(app.delete(&format!("/api/v1/document-templates/{tid}"), t).await.status, 204);
    assert!(html(&app, &format!("/api/v1/invoices/{i}/document?language=pl"), t).await.contains("Faktura"));
}
