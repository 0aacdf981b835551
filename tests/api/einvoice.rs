//! E-invoices and PDFs. Every invoice shape the test makes (two tax rates, line
//! discounts, shipping, an exempt and a reverse-charge customer, a foreign currency,
//! a credit note) is fetched as UBL and validated like a Peppol access point does:
//! the UBL 2.1 XSD, the CEN EN 16931 rules and the OpenPeppol BIS 3 rules (the
//! official Schematron run by Saxon, scripts/einvoice-check.py); a broken rule
//! fails with its id. What the records lack is a 422 naming it; another agent's
//! invoice is 404. Every kind renders as PDF, checked with a PDF text extractor:
//! text in Polish, Russian and Hebrew, page numbers, the table header on every page.

use crate::on_both_backends;
use crate::support::{id, ok, pdf_pages, run_pyscript, uuid_like, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

on_both_backends!(e_invoices_pass_the_official_rules, documents_render_as_pdf);

async fn post(app: &TestApp, invoice: i64) -> Value {
    ok(app.post(&format!("/api/v1/invoices/{invoice}/post"), &app.admin_token, json!({})).await)
}

async fn ubl(app: &TestApp, invoice: i64) -> String {
    let r = app
        .call(
            Method::GET,
            &format!("/api/v1/invoices/{invoice}/document"),
            &app.admin_token,
            None,
            &[("Accept", "application/xml")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type").as_deref(), Some("application/xml; charset=utf-8"));
    r.body.as_str().expect("XML").to_string()
}

async fn e_invoices_pass_the_official_rules(app: TestApp) {
    let t = &app.admin_token;
    let (_, anna) = app.user("anna", &["sales_agent"]).await;
    let (_, bert) = app.user("bert", &["sales_agent"]).await;
    let vat23 =
        id(app.post("/api/v1/tax-rates", t, json!({"code": "VAT23", "name": "VAT 23%", "percent": "23"})).await);
    let vat8 = id(app.post("/api/v1/tax-rates", t, json!({"code": "VAT8", "name": "VAT 8%", "percent": "8"})).await);
    let list =
        id(app.post("/api/v1/price-lists", t, json!({"name": "L", "currency": "EUR", "is_default": true})).await);
    let mut items = vec![];
    for (sku, name, unit, tax, price) in [
        ("GRZ-1", "Grzejnik żeliwny", "PCS", vat23, "1234.50"),
        ("BOOK-1", "Katalog <2026> & więcej", "PCS", vat8, "19.99"),
        ("SRV-1", "Montaż", "H", vat23, "85.00"),
    ] {
        let i = id(app
            .post(
                "/api/v1/items",
                t,
                json!({"sku": sku, "name": name, "base_unit": unit, "kind": "service", "tax_rate_id": tax}),
            )
            .await);
        ok(app.post(&format!("/api/v1/price-lists/{list}/prices"), t, json!({"item_id": i, "price": price})).await);
        items.push(i);
    }
    ok(app
        .post(
            "/api/v1/shipping-rules",
            t,
            json!({"name": "PL parcel", "countries": ["PL"], "basis": "net_amount", "charge": "fixed",
                "amount": "15.00", "currency": "EUR", "tax_rate_id": vat23}),
        )
        .await);
    let address = json!({"line1": "ul. Piotrkowska 1", "city": "Łódź", "postal_code": "90-001", "country": "PL"});
    let customer = |name: &str, treatment: &str, extra: Value| {
        let mut body = json!({"name": name, "currency": "EUR", "tax_treatment": treatment, "tax_id": "5260001246",
            "billing_address": address, "shipping_address": address, "discount_percent": "10",
            "endpoint_id": "5260001246", "endpoint_scheme": "9945"});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    let standard = id(app
        .post("/api/v1/customers", t, customer("Łódź Spółka", "standard", json!({"invoicing_policy": "on_order"})))
        .await);
    let exempt = id(app.post("/api/v1/customers", t, customer("Fundacja", "exempt", json!({}))).await);
    let reverse = id(app
        .post(
            "/api/v1/customers",
            t,
            customer("Berlin GmbH", "reverse_charge", json!({"tax_id": "DE123456789", "endpoint_id": "DE123456789"})),
        )
        .await);
    let lines = json!([{"item_id": items[0], "quantity": "3"}, {"item_id": items[1], "quantity": "7"},
        {"item_id": items[2], "quantity": "2.5", "description": "Montaż na miejscu \"pod klucz\""}]);
    let draft = |c: i64| app.post("/api/v1/invoices", t, json!({"customer_id": c, "lines": lines}));
    // The standard customer's invoice bills an order, with its shipping.
    let order = id(app
        .post(
            "/api/v1/sales-orders",
            t,
            json!({"customer_id": standard, "shipping_country": "PL", "customer_po": "ZAM/7", "contract_number": "K-1",
                "lines": lines}),
        )
        .await);
    for step in ["submit", "confirm"] {
        ok(app.post(&format!("/api/v1/sales-orders/{order}/{step}"), t, json!({})).await);
    }
    let i_std = id(app.post(&format!("/api/v1/sales-orders/{order}/invoice"), t, json!({})).await);

    // A draft has no legal number; the company has no electronic address yet.
    let r = app
        .call(Method::GET, &format!("/api/v1/invoices/{i_std}/document"), t, None, &[("Accept", "application/xml")])
        .await;
    r.problem(422, "e_invoice_incomplete");
    let mut missing = r.error_fields();
    missing.sort();
    assert_eq!(missing, vec!["company.address", "company.endpoint_id", "company.tax_id", "status"], "{}", r.body);
    let company = ok(app.get("/api/v1/company", t).await);
    let etag = format!("\"{}\"", company["version"]);
    ok(app
        .call(
            Method::PUT,
            "/api/v1/company",
            t,
            Some(json!({"legal_name": "Ordo Sp. z o.o.", "tax_id": "PL1234563218", "default_language": "pl",
                "iban": "PL61 1090 1014 0000 0712 1981 2874", "bic": "WBKPPLPP", "bank_name": "Santander",
                "address": {"line1": "ul. Prosta 20", "city": "Warszawa", "postal_code": "00-850", "country": "PL"},
                "endpoint_id": "1234563218", "endpoint_scheme": "9945"})),
            &[("If-Match", etag.as_str())],
        )
        .await);
    post(&app, i_std).await;

    // Foreign currency: USD at 0.9 EUR.
    ok(app
        .post(
            "/api/v1/exchange-rates",
            t,
            json!({"from_currency": "USD", "to_currency": "EUR", "rate": "0.9", "valid_from": "2020-01-01"}),
        )
        .await);
    let usd_list = id(app.post("/api/v1/price-lists", t, json!({"name": "USD", "currency": "USD"})).await);
    ok(app
        .post(&format!("/api/v1/price-lists/{usd_list}/prices"), t, json!({"item_id": items[2], "price": "99.99"}))
        .await);
    let yankee = id(app
        .post(
            "/api/v1/customers",
            t,
            customer("Yankee Inc.", "standard", json!({"currency": "USD", "price_list_id": usd_list})),
        )
        .await);
    let i_usd = id(app
        .post(
            "/api/v1/invoices",
            t,
            json!({"customer_id": yankee, "customer_po": "PO-77", "lines": [{"item_id": items[2], "quantity": "3"}]}),
        )
        .await);
    let mut invoices = vec![i_std, id(draft(exempt).await), id(draft(reverse).await), i_usd];
    for &i in &invoices[1..] {
        post(&app, i).await;
    }
    let std_doc = ok(app.get(&format!("/api/v1/invoices/{i_std}"), t).await);
    assert_ne!(std_doc["totals"]["shipping"], "0.00", "the shape needs shipping: {}", std_doc["totals"]);
    assert_eq!(std_doc["totals"]["taxes"].as_array().unwrap().len(), 2, "two tax rates");
    let first = std_doc["lines"][0]["id"].as_i64().unwrap();
    let cn = id(app
        .post(
            &format!("/api/v1/invoices/{i_std}/credit-notes"),
            t,
            json!({"reason": "Uszkodzony w transporcie", "lines": [{"invoice_line_id": first, "quantity": "1"}]}),
        )
        .await);
    post(&app, cn).await;
    invoices.push(cn);

    let dir = std::env::temp_dir().join(format!("ordo-ubl-{}", uuid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = vec![];
    for &i in &invoices {
        let xml = ubl(&app, i).await;
        let f = dir.join(format!("{i}.xml"));
        std::fs::write(&f, &xml).unwrap();
        files.push(f);
    }
    let cn_xml = std::fs::read_to_string(&files[4]).unwrap();
    assert!(cn_xml.contains("<CreditNote ") && cn_xml.contains("<cbc:CreditNoteTypeCode>381<"), "{cn_xml}");
    let std_xml = std::fs::read_to_string(&files[0]).unwrap();
    for want in ["Katalog &lt;2026&gt; &amp; więcej", "<cbc:ChargeIndicator>true<", "schemeID=\"9945\""] {
        assert!(std_xml.contains(want), "{want} in {std_xml}");
    }
    // The validator itself must catch a wrong total (BR-CO-16), or it proves nothing.
    let payable = std_xml.find("<cbc:PayableAmount").unwrap();
    let end = payable + std_xml[payable..].find("</cbc:PayableAmount>").unwrap();
    let tampered = format!("{}<cbc:PayableAmount currencyID=\"EUR\">1.00{}", &std_xml[..payable], &std_xml[end..]);
    let tampered_file = dir.join("tampered.xml");
    std::fs::write(&tampered_file, tampered).unwrap();
    let (passed, report) = run_pyscript("einvoice-check.py", &[tampered_file.as_path()]);
    assert!(!passed && report.contains("BR-CO-16"), "{report}");
    let (_, report) = run_pyscript("einvoice-check.py", &files.iter().map(|f| f.as_path()).collect::<Vec<_>>());
    let _ = std::fs::remove_dir_all(&dir);
    let mut broken = vec![];
    for line in report.lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        for e in r["schema"].as_array().unwrap() {
            broken.push(format!("{}: XSD {e}", r["file"]));
        }
        for rule in r["rules"].as_array().unwrap().iter().filter(|r| r["flag"] == "fatal") {
            broken.push(format!("{}: {} {} at {}", r["file"], rule["id"], rule["text"], rule["location"]));
        }
    }
    assert_eq!(report.lines().count(), files.len(), "{report}");
    assert!(broken.is_empty(), "rule violations:\n{}\n{std_xml}", broken.join("\n"));

    // The alias path answers the same; HTML and PDF by negotiation; others are 406.
    let alias = app.get(&format!("/api/v1/invoices/{i_usd}/ubl"), t).await;
    assert_eq!(alias.body.as_str(), Some(ubl(&app, i_usd).await.as_str()));
    let text =
        app.call(Method::GET, &format!("/api/v1/invoices/{i_usd}/ubl"), t, None, &[("Accept", "text/xml")]).await;
    assert_eq!(text.header("content-type").as_deref(), Some("text/xml; charset=utf-8"));
    assert_eq!(text.body, alias.body);
    let r =
        app.call(Method::GET, &format!("/api/v1/invoices/{i_usd}/document"), t, None, &[("Accept", "image/png")]).await;
    r.problem(406, "not_acceptable");
    // Another agent: 404, also for the e-invoice.
    let mut body = customer("Anny", "standard", json!({}));
    body.as_object_mut().unwrap().remove("discount_percent");
    let mine = id(app.post("/api/v1/customers", &anna, body).await);
    let theirs = id(app.post("/api/v1/invoices", t, json!({"customer_id": mine, "lines": lines})).await);
    post(&app, theirs).await;
    assert_eq!(app.get(&format!("/api/v1/invoices/{theirs}/ubl"), &anna).await.status, 200);
    app.get(&format!("/api/v1/invoices/{theirs}/ubl"), &bert).await.problem(404, "not_found");
    // The customer lacks an electronic address: named.
    ok(app.patch(&format!("/api/v1/customers/{mine}"), t, json!({"endpoint_id": null, "endpoint_scheme": null})).await);
    let r = app.get(&format!("/api/v1/invoices/{theirs}/ubl"), t).await;
    r.problem(422, "e_invoice_incomplete");
    assert_eq!(r.error_fields(), vec!["customer.endpoint_id"]);
    // Half an address is refused.
    let r = app.patch(&format!("/api/v1/customers/{mine}"), t, json!({"endpoint_id": "5260001246"})).await;
    assert_eq!((r.status.as_u16(), r.error_fields()), (422, vec!["endpoint_scheme".to_string()]), "{}", r.body);
}

/// A document as PDF: the text of each page.
async fn pdf(app: &TestApp, path: String) -> Vec<String> {
    let (status, ct, body) = app.get_bytes(&path, &app.admin_token, "application/pdf").await;
    assert_eq!((status.as_u16(), ct.as_str()), (200, "application/pdf"), "{path}: {}", String::from_utf8_lossy(&body));
    pdf_pages(&body)
}

async fn documents_render_as_pdf(app: TestApp) {
    let t = &app.admin_token;
    let item = crate::documents::radiator(&app).await;
    let customer = id(app
        .post(
            "/api/v1/customers",
            t,
            json!({"name": "ООО Ромашка", "currency": "EUR",
                "billing_address": {"line1": "ул. Ленина 1", "city": "Москва", "country": "RU"}}),
        )
        .await);
    // 120 lines: several pages.
    let lines: Vec<Value> = (0..120).map(|n| json!({"item_id": item, "quantity": format!("{}", n + 1)})).collect();
    let inv = id(app.post("/api/v1/invoices", t, json!({"customer_id": customer, "lines": lines})).await);
    let short = json!([{"item_id": item, "quantity": "1000"}]);
    let q = id(app.post("/api/v1/quotations", t, json!({"customer_id": customer, "lines": short})).await);
    let o = id(app.post("/api/v1/sales-orders", t, json!({"customer_id": customer, "lines": short})).await);
    let b = id(app
        .post(
            "/api/v1/blanket-orders",
            t,
            json!({"customer_id": customer, "kind": "quantity", "valid_from": "2026-01-01", "valid_to": "2099-12-31",
                "lines": short}),
        )
        .await);
    let pages = pdf(&app, format!("/api/v1/invoices/{inv}/document?language=pl")).await;
    assert!(pages.len() >= 3, "120 lines take pages: {}", pages.len());
    let n = pages.len();
    for (i, text) in pages.iter().enumerate() {
        // Page numbers and the table header on every page.
        assert!(text.contains(&format!("Strona {} / {n}", i + 1)), "page {}: {text}", i + 1);
        assert!(text.contains("Cena jedn."), "header on page {}: {text}", i + 1);
    }
    let all = pages.join("\n");
    for want in ["Faktura", "ООО Ромашка", "Москва", "Grzejnik żeliwny", "1 234,50 EUR"] {
        assert!(all.replace('\u{a0}', " ").contains(want), "{want} in {all}");
    }
    // Hebrew reads right to left: the extractor sees the words (in either order).
    let he = pdf(&app, format!("/api/v1/quotations/{q}/document?language=he")).await.join("\n");
    for word in ["הצעת", "מחיר", "ООО", "Ромашка"] {
        assert!(he.contains(word), "{word} in {he}");
    }
    for path in [format!("/api/v1/sales-orders/{o}/document"), format!("/api/v1/blanket-orders/{b}/document")] {
        let text = pdf(&app, path).await.join("\n");
        assert!(text.contains("1,234,500.00") || text.contains("1 234 500,00"), "{text}");
    }
    // A PDF template replaces the built-in one; a broken one is refused with its line.
    let bad = app
        .post(
            "/api/v1/document-templates",
            t,
            json!({"kind": "invoice", "format": "pdf", "language": "pl", "body": "= {{ labels.title }}\n#table(columns: 2, [a]"}),
        )
        .await;
    bad.problem(422, "validation_failed");
    assert!(bad.body["errors"][0]["message"].as_str().unwrap().contains("line 2"), "{}", bad.body);
    ok(app
        .post(
            "/api/v1/document-templates",
            t,
            json!({"kind": "invoice", "format": "pdf", "language": "pl",
                "body": "= Własna {{ document.number }}\n{{ customer.name }}"}),
        )
        .await);
    let own = pdf(&app, format!("/api/v1/invoices/{inv}/document?language=pl")).await;
    assert_eq!(own.len(), 1);
    assert!(own[0].contains("Własna DRAFT-") && own[0].contains("ООО Ромашка"), "{}", own[0]);
    // The HTML template of the same kind and language is another template.
    let html = app
        .call(Method::GET, &format!("/api/v1/invoices/{inv}/document?language=pl"), t, None, &[("Accept", "text/html")])
        .await;
    assert!(html.body.as_str().unwrap().contains("Faktura"));
}
