//! Billing and receivables: invoices from orders, deliveries, returns and directly;
//! posting with gap-free legal numbers; credit notes that never credit more than was
//! invoiced; payments (cheques too) and allocations that never settle more than is
//! open; statements and aging; the races on every limited quantity.

use crate::on_both_backends;
use crate::support::{id, ok, Resp, TestApp};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::str::FromStr;

on_both_backends!(
    order_to_cash,
    invoicing_follows_the_policy_and_deliveries,
    drafts_post_with_gap_free_numbers,
    credit_notes_never_exceed_the_invoice,
    payments_cheques_and_allocations,
    statement_and_aging_agree_with_open_invoices,
    foreign_currency_payment_records_the_exchange_difference,
    an_agent_sees_only_their_customers_billing,
    credit_and_obligo_control,
    standard_sales_codes_fill_any_document,
    draft_invoice_lines_change_one_at_a_time,
    recurring_invoices_once_per_period,
    posting_and_allocating_statement_budgets,
    random_billing_keeps_the_books,
    collection_runs_dunning_once_per_level,
    commissions_on_invoices_and_payments,
    concurrent_invoicing_bills_each_line_once,
    concurrent_allocations_of_the_last_open_amount,
    concurrent_postings_take_consecutive_numbers,
);

fn d(v: &Value) -> Decimal {
    Decimal::from_str(v.as_str().unwrap_or_else(|| panic!("not a decimal string: {v}"))).unwrap()
}
fn q(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

struct World {
    item: i64,
    service: i64,
    warehouse: i64,
    customer: i64,
}

/// A VAT 23% stock item at 10.00 and a service at 50.00 (no stock), 100 in stock, a
/// customer invoiced on order, and DE shipping of 15.00 (taxed at 23%) below 500.00.
async fn world(app: &TestApp, policy: &str) -> World {
    let t = &app.admin_token;
    let vat = id(app.post("/api/v1/tax-rates", t, json!({"code": "VAT23", "name": "VAT 23%", "percent": "23"})).await);
    let list =
        id(app.post("/api/v1/price-lists", t, json!({"name": "L", "currency": "EUR", "is_default": true})).await);
    let item = id(app
        .post(
            "/api/v1/items",
            t,
            json!({"sku": "W1", "name": "Widget", "base_unit": "PCS", "kind": "stock", "tax_rate_id": vat}),
        )
        .await);
    let service = id(app
        .post(
            "/api/v1/items",
            t,
            json!({"sku": "SRV", "name": "Installation", "base_unit": "H", "kind": "service", "tax_rate_id": vat}),
        )
        .await);
    for (i, p) in [(item, "10.00"), (service, "50.00")] {
        ok(app.post(&format!("/api/v1/price-lists/{list}/prices"), t, json!({"item_id": i, "price": p})).await);
    }
    ok(app
        .post(
            "/api/v1/shipping-rules",
            t,
            json!({"name": "DE parcel", "countries": ["DE"], "basis": "net_amount", "charge": "fixed",
                "amount": "15.00", "currency": "EUR", "free_above": "500.00", "tax_rate_id": vat}),
        )
        .await);
    let warehouse =
        id(app.post("/api/v1/warehouses", t, json!({"code": "MAIN", "name": "Main", "is_default": true})).await);
    ok(app
        .post(
            "/api/v1/stock/receipts",
            t,
            json!({"item_id": item, "warehouse_id": warehouse, "quantity": "100", "unit_cost": "4.00"}),
        )
        .await);
    let customer = id(app
        .post(
            "/api/v1/customers",
            t,
            json!({"name": "Acme", "currency": "EUR", "payment_terms_days": 14, "invoicing_policy": policy}),
        )
        .await);
    World { item, service, warehouse, customer }
}

/// A confirmed order of the customer; returns the order.
async fn confirmed(app: &TestApp, customer: i64, lines: Value) -> Value {
    let t = &app.admin_token;
    let o = ok(app
        .post(
            "/api/v1/sales-orders",
            t,
            json!({"customer_id": customer, "contract_number": "K-1", "payment_terms_days": 14,
                "shipping_country": "DE", "lines": lines}),
        )
        .await);
    let oid = o["id"].as_i64().unwrap();
    ok(app.post(&format!("/api/v1/sales-orders/{oid}/submit"), t, json!({})).await);
    ok(app.post(&format!("/api/v1/sales-orders/{oid}/confirm"), t, json!({})).await);
    ok(app.get(&format!("/api/v1/sales-orders/{oid}"), t).await)
}

async fn ship(app: &TestApp, order: i64, line: i64, quantity: &str) -> Value {
    let t = &app.admin_token;
    let dl = ok(app
        .post(
            &format!("/api/v1/sales-orders/{order}/deliveries"),
            t,
            json!({"lines": [{"line_id": line, "quantity": quantity}]}),
        )
        .await);
    let id = dl["id"].as_i64().unwrap();
    ok(app.post(&format!("/api/v1/deliveries/{id}/ship"), t, json!({})).await)
}

/// How much of a delivery's first line is on invoices.
async fn delivery_invoiced(app: &TestApp, delivery: i64) -> Value {
    ok(app.get(&format!("/api/v1/deliveries/{delivery}"), &app.admin_token).await)["lines"][0]["invoiced_quantity"]
        .clone()
}

async fn post(app: &TestApp, invoice: i64) -> Value {
    ok(app.post(&format!("/api/v1/invoices/{invoice}/post"), &app.admin_token, json!({})).await)
}

fn year() -> i32 {
    time::OffsetDateTime::now_utc().year()
}

async fn order_to_cash(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app, "on_order").await;
    let o = confirmed(
        &app,
        w.customer,
        json!([{"item_id": w.item, "quantity": "6"}, {"item_id": w.service, "quantity": "2"}]),
    )
    .await;
    let oid = o["id"].as_i64().unwrap();
    // 6 × 10 + 2 × 50 = 160 net + 15 shipping = 175 net; tax 23% = 40.25; gross 215.25.
    assert_eq!((d(&o["totals"]["net"]), d(&o["totals"]["gross"])), (q("175"), q("215.25")));
    let inv = ok(app.post(&format!("/api/v1/sales-orders/{oid}/invoice"), t, json!({})).await);
    assert_eq!(inv["status"], "draft");
    assert!(inv["number"].as_str().unwrap().starts_with("DRAFT-"), "{}", inv["number"]);
    assert_eq!(inv["sales_order_id"], oid);
    // The same lines give the same totals as the order, to the cent.
    for k in ["net", "tax", "gross", "shipping"] {
        assert_eq!(d(&inv["totals"][k]), d(&o["totals"][k]), "{k}");
    }
    let lines = inv["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["source_line_id"], o["lines"][0]["id"]);
    // The order shows what is invoiced per line.
    let after = ok(app.get(&format!("/api/v1/sales-orders/{oid}"), t).await);
    assert_eq!(
        (d(&after["lines"][0]["invoiced"]["quantity"]), d(&after["lines"][0]["invoiced"]["net"])),
        (q("6"), q("60"))
    );
    assert_eq!(d(&after["lines"][1]["invoiced"]["tax"]), q("23"));
    // Nothing is invoiced twice.
    app.post(&format!("/api/v1/sales-orders/{oid}/invoice"), t, json!({})).await.problem(422, "nothing_to_invoice");
    let iid = inv["id"].as_i64().unwrap();
    let posted = post(&app, iid).await;
    assert_eq!(posted["status"], "posted");
    assert_eq!(posted["number"], format!("INV-{}-000001", year()));
    assert_eq!(posted["draft_number"], inv["number"]);
    let date =
        time::Date::parse(posted["date"].as_str().unwrap(), &time::format_description::well_known::Iso8601::DATE)
            .unwrap();
    assert_eq!(posted["due_date"], (date + time::Duration::days(14)).to_string());
    assert_eq!(d(&posted["open_amount"]), q("215.25"));
    assert_eq!(d(&posted["totals"]["base_gross"]), q("215.25"));
    // Posted is final.
    app.post(&format!("/api/v1/invoices/{iid}/post"), t, json!({})).await.problem(409, "already_posted");
    app.patch(&format!("/api/v1/invoices/{iid}"), t, json!({"notes": "x"})).await.problem(409, "already_posted");
    app.delete(&format!("/api/v1/invoices/{iid}"), t).await.problem(409, "already_posted");
    // A partial payment by cheque, allocated: partially paid.
    let pay = ok(app
        .post(
            "/api/v1/payments",
            t,
            json!({"customer_id": w.customer, "amount": "100.00", "currency": "EUR", "method": "cheque",
                "cheque_due_date": (date + time::Duration::days(90)).to_string(), "allocate_oldest_first": true}),
        )
        .await);
    assert_eq!(pay["status"], "received");
    assert_eq!((d(&pay["allocated"]), d(&pay["unallocated"])), (q("100"), q("0")));
    let inv_now = ok(app.get(&format!("/api/v1/invoices/{iid}"), t).await);
    assert_eq!((inv_now["status"].as_str(), d(&inv_now["open_amount"])), (Some("partially_paid"), q("115.25")));
    // The rest by transfer: paid.
    let rest = ok(app
        .post(
            "/api/v1/payments",
            t,
            json!({"customer_id": w.customer, "amount": "115.25", "currency": "EUR", "method": "bank_transfer"}),
        )
        .await);
    let rid = rest["id"].as_i64().unwrap();
    ok(app.post(&format!("/api/v1/payments/{rid}/allocations"), t, json!({"invoices": [{"invoice_id": iid}]})).await);
    assert_eq!(ok(app.get(&format!("/api/v1/invoices/{iid}"), t).await)["status"], "paid");
    let allocs = ok(app.get(&format!("/api/v1/invoices/{iid}/allocations"), t).await);
    assert_eq!(allocs["data"].as_array().unwrap().len(), 2);
    // The history says who posted and allocated.
    let h = ok(app.get(&format!("/api/v1/invoices/{iid}/history"), t).await);
    let actions: Vec<&str> = h["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, vec!["create", "post"]);
}

async fn invoicing_follows_the_policy_and_deliveries(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app, "on_delivery").await;
    let o = confirmed(&app, w.customer, json!([{"item_id": w.item, "quantity": "6"}])).await;
    let (oid, line) = (o["id"].as_i64().unwrap(), o["lines"][0]["id"].as_i64().unwrap());
    // Nothing delivered yet: nothing to invoice.
    app.post(&format!("/api/v1/sales-orders/{oid}/invoice"), t, json!({})).await.problem(422, "nothing_to_invoice");
    let d1 = ship(&app, oid, line, "4").await;
    let d1id = d1["id"].as_i64().unwrap();
    // More than was delivered, chosen by hand: 422 naming the line.
    let too_much = app
        .post(
            &format!("/api/v1/sales-orders/{oid}/invoice"),
            t,
            json!({"lines": [{"order_line_id": line, "quantity": "5"}]}),
        )
        .await;
    too_much.problem(422, "exceeds_invoiceable");
    assert_eq!(too_much.error_fields(), vec!["lines[0].quantity"]);
    let inv1 = ok(app.post(&format!("/api/v1/deliveries/{d1id}/invoice"), t, json!({})).await);
    assert_eq!(d(&inv1["lines"][0]["quantity"]), q("4"));
    assert_eq!(inv1["lines"][0]["delivery_line_id"], d1["lines"][0]["id"]);
    // 4 × 10 = 40 + shipping 15 (first invoice of the order) = 55 net, 67.65 gross.
    assert_eq!((d(&inv1["totals"]["net"]), d(&inv1["totals"]["gross"])), (q("55"), q("67.65")));
    app.post(&format!("/api/v1/deliveries/{d1id}/invoice"), t, json!({})).await.problem(422, "nothing_to_invoice");
    // Deleting the draft gives the lines (and the shipping) back.
    let i1 = inv1["id"].as_i64().unwrap();
    assert_eq!(delivery_invoiced(&app, d1id).await, "4");
    assert_eq!(app.delete(&format!("/api/v1/invoices/{i1}"), t).await.status, 204);
    assert_eq!(delivery_invoiced(&app, d1id).await, "0");
    let again = ok(app.post(&format!("/api/v1/deliveries/{d1id}/invoice"), t, json!({})).await);
    assert_eq!(d(&again["totals"]["net"]), q("55"));
    // The second delivery goes on a collective invoice with the rest.
    ship(&app, oid, line, "2").await;
    let coll = ok(app.post("/api/v1/invoices/collective", t, json!({"customer_id": w.customer})).await);
    assert_eq!(d(&coll["lines"][0]["quantity"]), q("2"));
    assert_eq!((d(&coll["totals"]["net"]), d(&coll["totals"]["shipping"])), (q("20"), q("0")));
    app.post("/api/v1/invoices/collective", t, json!({"customer_id": w.customer}))
        .await
        .problem(422, "nothing_to_invoice");
    let after = ok(app.get(&format!("/api/v1/sales-orders/{oid}"), t).await);
    assert_eq!(d(&after["lines"][0]["invoiced"]["quantity"]), q("6"));
    // Together the invoices are the order, to the cent.
    assert_eq!(d(&again["totals"]["gross"]) + d(&coll["totals"]["gross"]), d(&o["totals"]["gross"]));
    // A periodic customer is invoiced collectively only.
    let periodic = id(app
        .post("/api/v1/customers", t, json!({"name": "Monthly", "currency": "EUR", "invoicing_policy": "periodic"}))
        .await);
    let po = confirmed(&app, periodic, json!([{"item_id": w.item, "quantity": "1"}])).await;
    let poid = po["id"].as_i64().unwrap();
    app.post(&format!("/api/v1/sales-orders/{poid}/invoice"), t, json!({})).await.problem(422, "invoicing_policy");
    let pd = ship(&app, poid, po["lines"][0]["id"].as_i64().unwrap(), "1").await;
    app.post(&format!("/api/v1/deliveries/{}/invoice", pd["id"]), t, json!({})).await.problem(422, "invoicing_policy");
    ok(app.post("/api/v1/invoices/collective", t, json!({"customer_id": periodic})).await);
    // A draft order is not invoiced.
    let draft = ok(app
        .post(
            "/api/v1/sales-orders",
            t,
            json!({"customer_id": w.customer, "lines": [{"item_id": w.item, "quantity": "1"}]}),
        )
        .await);
    app.post(&format!("/api/v1/sales-orders/{}/invoice", draft["id"]), t, json!({}))
        .await
        .problem(409, "order_not_confirmed");
}

async fn drafts_post_with_gap_free_numbers(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app, "on_order").await;
    let direct = |n: &str| json!({"customer_id": w.customer, "lines": [{"item_id": w.service, "quantity": n}]});
    let a = ok(app.post("/api/v1/invoices", t, direct("1")).await);
    let b = ok(app.post("/api/v1/invoices", t, direct("2")).await);
    let c = ok(app.post("/api/v1/invoices", t, direct("3")).await);
    // Priced by the engine: 2 × 50 = 100 net, 123 gross.
    assert_eq!((d(&b["totals"]["net"]), d(&b["totals"]["gross"])), (q("100"), q("123")));
    // Deleting a draft takes no number; a rolled-back posting neither.
    assert_eq!(app.delete(&format!("/api/v1/invoices/{}", b["id"]), t).await.status, 204);
    let future = (time::OffsetDateTime::now_utc().date() + time::Duration::days(1)).to_string();
    let r = app.post(&format!("/api/v1/invoices/{}/post", c["id"]), t, json!({"date": future})).await;
    r.problem(422, "validation_failed");
    assert_eq!(r.error_fields(), vec!["date"]);
    let today = time::OffsetDateTime::now_utc().date();
    let yesterday = (today - time::Duration::days(1)).to_string();
    let pc = ok(app.post(&format!("/api/v1/invoices/{}/post", c["id"]), t, json!({"date": yesterday})).await);
    assert_eq!(pc["number"], format!("INV-{}-000001", (today - time::Duration::days(1)).year()));
    // The numbers and the dates of a series run in the same order.
    if (today - time::Duration::days(2)).year() == today.year() {
        let r = app
            .post(
                &format!("/api/v1/invoices/{}/post", a["id"]),
                t,
                json!({"date": (today - time::Duration::days(2)).to_string()}),
            )
            .await;
        r.problem(422, "date_before_last_posted");
        assert_eq!(ok(app.get(&format!("/api/v1/invoices/{}", a["id"]), t).await)["status"], "draft");
    }
    let pa = post(&app, a["id"].as_i64().unwrap()).await;
    assert_eq!(pa["number"], format!("INV-{}-000002", year()));
    let series = ok(app.get("/api/v1/number-series", t).await);
    let inv = series["data"].as_array().unwrap().iter().find(|s| s["code"] == "invoice").unwrap().clone();
    assert_eq!((inv["gap_free"].as_bool(), inv["next_value"].as_i64()), (Some(true), Some(3)));
    assert_eq!(inv["preview"], format!("INV-{}-000003", year()));
    let r = app.patch("/api/v1/number-series/invoice", t, json!({"next_value": 10, "gap_free": false})).await;
    r.problem(422, "validation_failed");
    assert_eq!(r.error_fields(), ["gap_free", "next_value"], "the law wants invoices gap-free");
    ok(app.patch("/api/v1/number-series/invoice", t, json!({"pattern": "F/{YYYY}/{#####}"})).await);
    let third = ok(app.post("/api/v1/invoices", t, direct("1")).await);
    assert_eq!(post(&app, third["id"].as_i64().unwrap()).await["number"], format!("F/{}/00003", year()));
    // Unknown fields and bad ids get clear answers.
    let r = app.post("/api/v1/invoices", t, json!({"customer_id": w.customer, "lines": [], "color": "red"})).await;
    r.problem(422, "validation_failed");
    assert!(r.error_fields().contains(&"color".to_string()), "{}", r.body);
    let missing = app
        .post("/api/v1/invoices", t, json!({"customer_id": 999999, "lines": [{"item_id": w.item, "quantity": "1"}]}))
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.error_fields(), vec!["customer_id"]);
}

async fn credit_notes_never_exceed_the_invoice(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app, "on_delivery").await;
    let o = confirmed(&app, w.customer, json!([{"item_id": w.item, "quantity": "6"}])).await;
    let (oid, line) = (o["id"].as_i64().unwrap(), o["lines"][0]["id"].as_i64().unwrap());
    let dl = ship(&app, oid, line, "6").await;
    let inv = ok(app.post(&format!("/api/v1/deliveries/{}/invoice", dl["id"]), t, json!({})).await);
    let iid = inv["id"].as_i64().unwrap();
    // A draft is changed or deleted, not credited.
    app.post(&format!("/api/v1/invoices/{iid}/credit-notes"), t, json!({"reason": "x", "full": true}))
        .await
        .problem(409, "not_posted");
    post(&app, iid).await;
    let il = inv["lines"][0]["id"].as_i64().unwrap();
    let over = app
        .post(
            &format!("/api/v1/invoices/{iid}/credit-notes"),
            t,
            json!({"reason": "damaged", "lines": [{"invoice_line_id": il, "quantity": "7"}]}),
        )
        .await;
    over.problem(422, "exceeds_invoiced");
    assert_eq!(over.error_fields(), vec!["lines[0]"]);
    // Two of six returned: 20 net, 24.60 gross.
    let cn = ok(app
        .post(
            &format!("/api/v1/invoices/{iid}/credit-notes"),
            t,
            json!({"reason": "damaged", "lines": [{"invoice_line_id": il, "quantity": "2"}]}),
        )
        .await);
    assert_eq!(cn["kind"], "credit_note");
    assert_eq!((d(&cn["totals"]["net"]), d(&cn["totals"]["gross"])), (q("20"), q("24.6")));
    // A price correction on what is left: at most 40 net.
    let too_big = app
        .post(
            &format!("/api/v1/invoices/{iid}/credit-notes"),
            t,
            json!({"reason": "price", "lines": [{"invoice_line_id": il, "amount": "40.01"}]}),
        )
        .await;
    too_big.problem(422, "exceeds_invoiced");
    let corr = ok(app
        .post(
            &format!("/api/v1/invoices/{iid}/credit-notes"),
            t,
            json!({"reason": "price", "lines": [{"invoice_line_id": il, "amount": "5.00"}]}),
        )
        .await);
    assert_eq!(d(&corr["totals"]["tax"]), q("1.15"));
    let cnid = cn["id"].as_i64().unwrap();
    let posted = post(&app, cnid).await;
    assert_eq!(posted["number"], format!("CN-{}-000001", year()));
    // Posting settles the invoice it corrects.
    let i = ok(app.get(&format!("/api/v1/invoices/{iid}"), t).await);
    assert_eq!(d(&i["open_amount"]), d(&i["totals"]["gross"]) - q("24.6"));
    assert_eq!(d(&i["credited"]), q("24.6") + q("6.15"));
    // The full reversal takes exactly what is left, shipping included.
    let full = ok(app
        .post(&format!("/api/v1/invoices/{iid}/credit-notes"), t, json!({"reason": "cancel", "full": true}))
        .await);
    assert_eq!(
        d(&full["totals"]["gross"]) + q("24.6") + q("6.15"),
        d(&inv["totals"]["gross"]),
        "credit notes add up to the invoice"
    );
    app.post(&format!("/api/v1/invoices/{iid}/credit-notes"), t, json!({"reason": "again", "full": true}))
        .await
        .problem(422, "nothing_to_credit");
    // Deleting a draft credit note frees what it credited, and only that: the delivery
    // stays invoiced.
    assert_eq!(app.delete(&format!("/api/v1/invoices/{}", full["id"]), t).await.status, 204);
    assert_eq!(delivery_invoiced(&app, dl["id"].as_i64().unwrap()).await, "6");
    let redo = ok(app
        .post(&format!("/api/v1/invoices/{iid}/credit-notes"), t, json!({"reason": "cancel", "full": true}))
        .await);
    assert_eq!(redo["totals"]["gross"], full["totals"]["gross"]);
    // From a return: what came back, on the invoice that billed it.
    let r = ok(app
        .post(
            "/api/v1/returns",
            t,
            json!({"delivery_id": dl["id"], "reason": "broken", "condition": "resaleable",
                "lines": [{"delivery_line_id": dl["lines"][0]["id"], "quantity": "1"}]}),
        )
        .await);
    let rid = r["id"].as_i64().unwrap();
    app.post(&format!("/api/v1/returns/{rid}/credit-note"), t, json!({})).await.problem(409, "return_not_received");
    ok(app.post(&format!("/api/v1/returns/{rid}/receive"), t, json!({"warehouse_id": w.warehouse})).await);
    // Everything is credited already by the drafts: nothing left for the return.
    assert_eq!(app.delete(&format!("/api/v1/invoices/{}", redo["id"]), t).await.status, 204);
    let rc = ok(app.post(&format!("/api/v1/returns/{rid}/credit-note"), t, json!({})).await);
    assert_eq!((d(&rc["lines"][0]["quantity"]), d(&rc["totals"]["net"])), (q("1"), q("10")));
    assert_eq!(rc["return_id"], rid);
    app.post(&format!("/api/v1/returns/{rid}/credit-note"), t, json!({})).await.problem(409, "already_credited");
}

async fn payments_cheques_and_allocations(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app, "on_order").await;
    let mut invoices = vec![];
    for n in ["1", "2"] {
        let i = ok(app
            .post(
                "/api/v1/invoices",
                t,
                json!({"customer_id": w.customer, "lines": [{"item_id": w.service, "quantity": n}]}),
            )
            .await);
        invoices.push(post(&app, i["id"].as_i64().unwrap()).await);
    }
    let (i1, i2) = (invoices[0]["id"].as_i64().unwrap(), invoices[1]["id"].as_i64().unwrap());
    // 61.50 and 123.00 open. A cheque of 150.00 allocated explicitly, 61.50 + 88.50.
    let chq = ok(app
        .post(
            "/api/v1/payments",
            t,
            json!({"customer_id": w.customer, "amount": "150.00", "currency": "EUR", "method": "cheque"}),
        )
        .await);
    let pid = chq["id"].as_i64().unwrap();
    assert!(chq["number"].as_str().unwrap().starts_with("PAY-"));
    let over = app
        .post(
            &format!("/api/v1/payments/{pid}/allocations"),
            t,
            json!({"invoices": [{"invoice_id": i1, "amount": "61.51"}]}),
        )
        .await;
    over.problem(422, "exceeds_open_amount");
    assert_eq!(over.error_fields(), vec!["invoices[0].amount"]);
    let beyond = app
        .post(
            &format!("/api/v1/payments/{pid}/allocations"),
            t,
            json!({"invoices": [{"invoice_id": i1, "amount": "61.50"}, {"invoice_id": i2, "amount": "100.00"}]}),
        )
        .await;
    beyond.problem(422, "exceeds_payment");
    // Nothing was written by either.
    assert_eq!(d(&ok(app.get(&format!("/api/v1/invoices/{i1}"), t).await)["open_amount"]), q("61.5"));
    let p = ok(app
        .post(
            &format!("/api/v1/payments/{pid}/allocations"),
            t,
            json!({"invoices": [{"invoice_id": i1}, {"invoice_id": i2}]}),
        )
        .await);
    assert_eq!((d(&p["allocated"]), d(&p["unallocated"])), (q("150"), q("0")));
    assert_eq!(d(&ok(app.get(&format!("/api/v1/invoices/{i2}"), t).await)["open_amount"]), q("34.5"));
    // Undo the second allocation, then bounce the cheque: both invoices open again.
    let a2 = p["allocations"][1]["id"].as_i64().unwrap();
    let p = ok(app.post(&format!("/api/v1/payments/{pid}/allocations/{a2}/reverse"), t, json!({})).await);
    assert_eq!(d(&p["unallocated"]), q("88.5"));
    app.post(&format!("/api/v1/payments/{pid}/allocations/{a2}/reverse"), t, json!({}))
        .await
        .problem(409, "already_reversed");
    // Money on account from a cheque is not paid back before the bank pays it.
    app.post(&format!("/api/v1/payments/{pid}/refund"), t, json!({})).await.problem(409, "cheque_not_cleared");
    let b = ok(app.post(&format!("/api/v1/payments/{pid}/bounce"), t, json!({"fee": "5.00"})).await);
    assert_eq!((b["status"].as_str(), d(&b["allocated"]), d(&b["unallocated"])), (Some("bounced"), q("0"), q("0")));
    let i = ok(app.get(&format!("/api/v1/invoices/{i1}"), t).await);
    assert_eq!((i["status"].as_str(), d(&i["open_amount"])), (Some("posted"), q("61.5")));
    app.post(&format!("/api/v1/payments/{pid}/clear"), t, json!({})).await.problem(409, "not_a_pending_cheque");
    app.post(&format!("/api/v1/payments/{pid}/allocations"), t, json!({"oldest_first": true}))
        .await
        .problem(409, "payment_bounced");
    // Overpayment stays on account, is allocated later, and the rest is refunded.
    let big = ok(app
        .post(
            "/api/v1/payments",
            t,
            json!({"customer_id": w.customer, "amount": "200.00", "currency": "EUR", "method": "bank_transfer",
                "allocate_oldest_first": true}),
        )
        .await);
    assert_eq!((d(&big["allocated"]), d(&big["unallocated"])), (q("184.5"), q("15.5")));
    let bid = big["id"].as_i64().unwrap();
    app.post(&format!("/api/v1/payments/{bid}/refund"), t, json!({"amount": "15.51"}))
        .await
        .problem(422, "exceeds_payment");
    let refunded = ok(app.post(&format!("/api/v1/payments/{bid}/refund"), t, json!({})).await);
    assert_eq!((d(&refunded["refunded"]), d(&refunded["unallocated"])), (q("15.5"), q("0")));
    // Bad input: unknown currency, future date, zero amount, a due date on a transfer.
    for (body, field) in [
        (json!({"customer_id": w.customer, "amount": "1.00", "currency": "XXQ", "method": "cash"}), "currency"),
        (json!({"customer_id": w.customer, "amount": "0", "currency": "EUR", "method": "cash"}), "amount"),
        (json!({"customer_id": w.customer, "amount": "1.001", "currency": "EUR", "method": "cash"}), "amount"),
        (
            json!({"customer_id": w.customer, "amount": "1.00", "currency": "EUR", "method": "cash", "cheque_due_date": "2030-01-01"}),
            "cheque_due_date",
        ),
    ] {
        let r = app.post("/api/v1/payments", t, body).await;
        assert!(r.status == 422 || r.status == 400, "{field}: {} {}", r.status, r.body);
        assert!(r.error_fields().iter().any(|f| f == field), "{field}: {}", r.body);
    }
    let list = ok(app.get(&format!("/api/v1/payments?customer_id={}&unallocated=false", w.customer), t).await);
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
}

async fn statement_and_aging_agree_with_open_invoices(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app, "on_order").await;
    let today = time::OffsetDateTime::now_utc().date();
    let day = |n: i64| (today - time::Duration::days(n)).to_string();
    // Invoices dated 100, 45 and 10 days ago, 14 days' terms: 86, 31 days overdue and current.
    let mut ids = vec![];
    for (qty, age) in [("1", 100), ("2", 45), ("4", 10)] {
        let i = ok(app
            .post(
                "/api/v1/invoices",
                t,
                json!({"customer_id": w.customer, "lines": [{"item_id": w.service, "quantity": qty}]}),
            )
            .await);
        let iid = i["id"].as_i64().unwrap();
        ok(app.post(&format!("/api/v1/invoices/{iid}/post"), t, json!({"date": day(age)})).await);
        ids.push(iid);
    }
    // A payment 20 days ago settled the oldest (61.50); one yesterday half the second.
    let p1 = ok(app
        .post("/api/v1/payments", t, json!({"customer_id": w.customer, "amount": "61.50", "currency": "EUR", "method": "bank_transfer", "date": day(20)}))
        .await);
    ok(app
        .post(&format!("/api/v1/payments/{}/allocations", p1["id"]), t, json!({"invoices": [{"invoice_id": ids[0]}]}))
        .await);
    let p2 = ok(app
        .post("/api/v1/payments", t, json!({"customer_id": w.customer, "amount": "61.50", "currency": "EUR", "method": "bank_transfer", "date": day(1)}))
        .await);
    ok(app
        .post(&format!("/api/v1/payments/{}/allocations", p2["id"]), t, json!({"invoices": [{"invoice_id": ids[1]}]}))
        .await);
    let aging = |as_of: String| {
        let app = &app;
        async move { ok(app.get(&format!("/api/v1/reports/aging?as_of={as_of}"), &app.admin_token).await) }
    };
    // Today: 61.50 of the second (31 days overdue) and 246.00 current.
    let now = aging(day(0)).await;
    let row = &now["rows"][0];
    let bucket = |r: &Value, label: &str| {
        d(&r["buckets"].as_array().unwrap().iter().find(|b| b["label"] == label).unwrap()["amount"])
    };
    assert_eq!((bucket(row, "current"), bucket(row, "31-60"), d(&row["total"])), (q("246"), q("61.5"), q("307.5")));
    // As of 30 days ago: only the first two existed; the oldest was unpaid (56 days
    // overdue), the second a day overdue.
    let then = aging(day(30)).await;
    let row = &then["rows"][0];
    assert_eq!((bucket(row, "31-60"), bucket(row, "1-30"), d(&row["total"])), (q("61.5"), q("123"), q("184.5")));
    assert_eq!(bucket(row, "current"), q("0"));
    assert_eq!(d(&then["totals"]["total"]), q("184.5"));
    // As of 5 days ago the first payment counts, the second not yet.
    let mid = aging(day(5)).await;
    assert_eq!(d(&mid["rows"][0]["total"]), q("123") + q("246"));
    // Σ open invoices today = the aging total.
    let open: Decimal = {
        let l = ok(app.get(&format!("/api/v1/invoices?customer_id={}&kind=invoice", w.customer), t).await);
        l["data"].as_array().unwrap().iter().map(|i| d(&i["open_amount"])).sum()
    };
    assert_eq!(open, d(&now["totals"]["total"]));
    // The statement: opening balance before the window, every movement, closing.
    let st =
        ok(app.get(&format!("/api/v1/customers/{}/statement?from={}&to={}", w.customer, day(50), day(0)), t).await);
    assert_eq!(d(&st["opening_balance"]), q("61.5"));
    let kinds: Vec<&str> = st["entries"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["invoice", "payment", "invoice", "payment"]);
    assert_eq!(d(&st["closing_balance"]), open);
    assert_eq!(d(&st["base_closing_balance"]), open);
    app.get(&format!("/api/v1/customers/{}/statement?from={}&to={}", w.customer, day(0), day(5)), t)
        .await
        .problem(422, "validation_failed");
    app.get("/api/v1/reports/aging?buckets=x", t).await.problem(422, "validation_failed");
    let by_agent = ok(app.get("/api/v1/reports/aging?by=sales_agent", t).await);
    assert_eq!(by_agent["rows"][0]["group_name"], "(none)");
}

async fn foreign_currency_payment_records_the_exchange_difference(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app, "on_order").await;
    let today = time::OffsetDateTime::now_utc().date();
    let long_ago = (today - time::Duration::days(40)).to_string();
    let recent = (today - time::Duration::days(5)).to_string();
    ok(app
        .post(
            "/api/v1/exchange-rates",
            t,
            json!({"from_currency": "USD", "to_currency": "EUR", "rate": "0.9", "valid_from": long_ago}),
        )
        .await);
    ok(app
        .post(
            "/api/v1/exchange-rates",
            t,
            json!({"from_currency": "USD", "to_currency": "EUR", "rate": "0.95", "valid_from": recent}),
        )
        .await);
    let list = id(app.post("/api/v1/price-lists", t, json!({"name": "USD", "currency": "USD"})).await);
    ok(app
        .post(&format!("/api/v1/price-lists/{list}/prices"), t, json!({"item_id": w.service, "price": "100.00"}))
        .await);
    let us =
        id(app.post("/api/v1/customers", t, json!({"name": "Yankee", "currency": "USD", "price_list_id": list})).await);
    let i = ok(app
        .post("/api/v1/invoices", t, json!({"customer_id": us, "lines": [{"item_id": w.service, "quantity": "1"}]}))
        .await);
    let iid = i["id"].as_i64().unwrap();
    // Posted 30 days ago at 0.9: 123.00 USD gross = 110.70 EUR.
    let p = ok(app
        .post(
            &format!("/api/v1/invoices/{iid}/post"),
            t,
            json!({"date": (today - time::Duration::days(30)).to_string()}),
        )
        .await);
    assert_eq!((p["totals"]["base_rate"].as_str(), d(&p["totals"]["base_gross"])), (Some("0.9"), q("110.7")));
    // Paid in EUR today at 0.95: 123.00 USD = 116.85 EUR; the EUR booked was 110.70.
    let pay = ok(app
        .post(
            "/api/v1/payments",
            t,
            json!({"customer_id": us, "amount": "116.85", "currency": "EUR", "method": "bank_transfer"}),
        )
        .await);
    let pay = ok(app
        .post(&format!("/api/v1/payments/{}/allocations", pay["id"]), t, json!({"invoices": [{"invoice_id": iid}]}))
        .await);
    let a = &pay["allocations"][0];
    assert_eq!((d(&a["amount"]), d(&a["source_amount"])), (q("123"), q("116.85")));
    assert_eq!(d(&a["fx_difference"]), q("6.15"), "gain: paid 116.85 EUR for what was booked at 110.70");
    assert_eq!(ok(app.get(&format!("/api/v1/invoices/{iid}"), t).await)["status"], "paid");
    // The posting rate stays although rates changed since.
    assert_eq!(ok(app.get(&format!("/api/v1/invoices/{iid}"), t).await)["totals"]["base_rate"], "0.9");
    // The period's realised exchange result: a 6.15 gain, by customer and by currency.
    let (from, to) = (today - time::Duration::days(1), today);
    let url = |by: &str| format!("/api/v1/reports/exchange-differences?from={from}&to={to}&by={by}");
    let r = ok(app.get(&url("customer"), t).await);
    assert_eq!((r["rows"][0]["group_name"].as_str(), d(&r["rows"][0]["gain"])), (Some("Yankee"), q("6.15")));
    assert_eq!((d(&r["totals"]["net"]), r["totals"]["allocations"].as_i64()), (q("6.15"), Some(1)));
    assert_eq!(ok(app.get(&url("currency"), t).await)["rows"][0]["group_name"], "USD");
    // An agent sees their own customers' differences only (Yankee is nobody's).
    let (_, bert) = app.user("bert", &["sales_agent"]).await;
    let theirs = ok(app.get(&url("customer"), &bert).await);
    assert!(theirs["rows"].as_array().unwrap().is_empty(), "{theirs}");
    assert_eq!(d(&theirs["totals"]["net"]), q("0"));
    // Nothing in a period before it; an undone allocation books the gain back.
    let before = format!("/api/v1/reports/exchange-differences?from={}&to={}", today - time::Duration::days(9), from);
    assert!(ok(app.get(&before, t).await)["rows"].as_array().unwrap().is_empty());
    ok(app.post(&format!("/api/v1/payments/{}/allocations/{}/reverse", pay["id"], a["id"]), t, json!({})).await);
    let r = ok(app.get(&url("customer"), t).await);
    assert_eq!((d(&r["totals"]["gain"]), d(&r["totals"]["loss"])), (q("6.15"), q("-6.15")));
    assert_eq!((d(&r["totals"]["net"]), r["totals"]["allocations"].as_i64()), (q("0"), Some(2)));
    app.get(&format!("/api/v1/reports/exchange-differences?from={to}&to={from}"), t)
        .await
        .problem(422, "validation_failed");
    app.get("/api/v1/reports/exchange-differences?from=2026-01-01", t).await.problem(400, "invalid_query");
}

async fn an_agent_sees_only_their_customers_billing(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app, "on_order").await;
    let (anna_id, anna) = app.user("anna", &["sales_agent"]).await;
    let (_, bert) = app.user("bert", &["sales_agent"]).await;
    let (_, acc) = app.user("carl", &["accountant"]).await;
    app.patch(&format!("/api/v1/customers/{}", w.customer), t, json!({"owner_id": anna_id})).await;
    let o = confirmed(&app, w.customer, json!([{"item_id": w.item, "quantity": "1"}])).await;
    let oid = o["id"].as_i64().unwrap();
    // An agent reads, an accountant bills.
    app.post(&format!("/api/v1/sales-orders/{oid}/invoice"), &anna, json!({})).await.problem(403, "forbidden");
    app.post(&format!("/api/v1/sales-orders/{oid}/invoice"), &bert, json!({})).await.problem(404, "not_found");
    let inv = ok(app.post(&format!("/api/v1/sales-orders/{oid}/invoice"), &acc, json!({})).await);
    let iid = inv["id"].as_i64().unwrap();
    ok(app.post(&format!("/api/v1/invoices/{iid}/post"), &acc, json!({})).await);
    let pay = ok(app
        .post(
            "/api/v1/payments",
            &acc,
            json!({"customer_id": w.customer, "amount": "1.00", "currency": "EUR", "method": "cash"}),
        )
        .await);
    ok(app.get(&format!("/api/v1/invoices/{iid}"), &anna).await);
    app.get(&format!("/api/v1/invoices/{iid}"), &bert).await.problem(404, "not_found");
    app.get(&format!("/api/v1/payments/{}", pay["id"]), &bert).await.problem(404, "not_found");
    app.get(&format!("/api/v1/customers/{}/statement?from=2020-01-01&to=2030-01-01", w.customer), &bert)
        .await
        .problem(404, "not_found");
    for path in ["/api/v1/invoices", "/api/v1/payments"] {
        assert_eq!(ok(app.get(path, &anna).await)["data"].as_array().unwrap().len(), 1, "{path}");
        assert!(ok(app.get(path, &bert).await)["data"].as_array().unwrap().is_empty(), "{path}");
    }
    assert_eq!(ok(app.get("/api/v1/reports/aging", &anna).await)["rows"].as_array().unwrap().len(), 1);
    assert!(ok(app.get("/api/v1/reports/aging", &bert).await)["rows"].as_array().unwrap().is_empty());
    // An agent cannot allocate or post.
    app.post(&format!("/api/v1/payments/{}/allocations", pay["id"]), &anna, json!({"oldest_first": true}))
        .await
        .problem(403, "forbidden");
}

async fn draft_order(app: &TestApp, customer: i64, item: i64, n: &str) -> i64 {
    id(app
        .post(
            "/api/v1/sales-orders",
            &app.admin_token,
            json!({"customer_id": customer, "contract_number": "K", "payment_terms_days": 14, "shipping_country": "DE",
                "lines": [{"item_id": item, "quantity": n}]}),
        )
        .await)
}

async fn credit_and_obligo_control(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app, "on_order").await;
    ok(app
        .patch(
            &format!("/api/v1/customers/{}", w.customer),
            t,
            json!({"credit_limit": "300.00", "obligo_limit": "300.00"}),
        )
        .await);
    let child = id(app
        .post("/api/v1/customers", t, json!({"name": "Acme Branch", "currency": "EUR", "parent_id": w.customer}))
        .await);
    let (_, manager) = app.user("mona", &["sales_manager"]).await;
    let (_, agent) = app.user("anna", &["sales_agent"]).await;
    // 20 × 10 + 15 shipping = 215 net, 264.45 gross: within 300.
    let o1 = draft_order(&app, w.customer, w.item, "20").await;
    ok(app.post(&format!("/api/v1/sales-orders/{o1}/submit"), t, json!({})).await);
    ok(app.post(&format!("/api/v1/sales-orders/{o1}/confirm"), t, json!({})).await);
    // The branch's order counts against the parent's limit: 79.95 more is 344.40.
    let o2 = draft_order(&app, child, w.item, "5").await;
    let r = app.post(&format!("/api/v1/sales-orders/{o2}/submit"), t, json!({})).await;
    r.problem(422, "credit_limit_exceeded");
    assert!(r.body["detail"].as_str().unwrap().contains("344.40"), "{}", r.body);
    assert_eq!(ok(app.get(&format!("/api/v1/sales-orders/{o2}"), t).await)["status"], "draft", "nothing changed");
    // The refusal rolled back, its event did not: one `credit_limit.exceeded` for the branch.
    let ev = ok(app.get("/api/v1/events?type=credit_limit.exceeded", t).await);
    let ev = ev["data"].as_array().unwrap();
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(
        (ev[0]["customer_id"].as_i64(), ev[0]["data"]["limit"].as_str()),
        (Some(child), Some("credit")),
        "{}",
        ev[0]
    );
    assert_eq!(d(&ev[0]["data"]["limit_amount"]), q("300"));
    let pos = ok(app.get(&format!("/api/v1/customers/{child}/credit"), t).await);
    assert_eq!(
        (pos["account_id"].as_i64(), d(&pos["open_orders"]), d(&pos["credit_exposure"])),
        (Some(w.customer), q("264.45"), q("264.45"))
    );
    assert_eq!(d(&pos["credit_utilisation"]), q("88.15"));
    // A sales manager lets it through with a reason; an agent may not.
    app.post(&format!("/api/v1/sales-orders/{o2}/credit-override"), &agent, json!({"reason": "x"}))
        .await
        .problem(404, "not_found");
    let (_, acc) = app.user("carl", &["accountant"]).await;
    app.post(&format!("/api/v1/sales-orders/{o2}/credit-override"), &acc, json!({"reason": "x"}))
        .await
        .problem(403, "forbidden");
    let over = ok(app
        .post(&format!("/api/v1/sales-orders/{o2}/credit-override"), &manager, json!({"reason": "pays on time"}))
        .await);
    assert_eq!(over["approval"]["credit_override"]["reason"], "pays on time");
    ok(app.post(&format!("/api/v1/sales-orders/{o2}/submit"), t, json!({})).await);
    ok(app.post(&format!("/api/v1/sales-orders/{o2}/confirm"), t, json!({})).await);
    let journal = ok(app.get(&format!("/api/v1/sales-orders/{o2}/journal"), t).await).to_string();
    assert!(journal.contains("pays on time"), "{journal}");
    let pos = ok(app.get(&format!("/api/v1/customers/{}/credit", w.customer), t).await);
    assert_eq!((d(&pos["credit_exposure"]), d(&pos["credit_utilisation"])), (q("344.4"), q("114.8")));
    // Invoiced: the first order moves from open orders to receivables.
    let inv = ok(app.post(&format!("/api/v1/sales-orders/{o1}/invoice"), t, json!({})).await);
    let iid = inv["id"].as_i64().unwrap();
    post(&app, iid).await;
    let pos = ok(app.get(&format!("/api/v1/customers/{}/credit", w.customer), t).await);
    assert_eq!((d(&pos["open_orders"]), d(&pos["open_receivables"])), (q("79.95"), q("264.45")));
    // Paid by a post-dated cheque: paid for credit, still a risk for the obligo.
    let due = (time::OffsetDateTime::now_utc().date() + time::Duration::days(90)).to_string();
    let chq = ok(app
        .post(
            "/api/v1/payments",
            t,
            json!({"customer_id": w.customer, "amount": "264.45", "currency": "EUR", "method": "cheque",
                "cheque_due_date": due, "allocate_oldest_first": true}),
        )
        .await);
    let pos = ok(app.get(&format!("/api/v1/customers/{}/credit", w.customer), t).await);
    assert_eq!(
        (d(&pos["open_receivables"]), d(&pos["credit_exposure"]), d(&pos["uncleared_cheques"]), d(&pos["obligo"])),
        (q("0"), q("79.95"), q("264.45"), q("344.4"))
    );
    let o3 = draft_order(&app, w.customer, w.item, "1").await;
    app.post(&format!("/api/v1/sales-orders/{o3}/submit"), t, json!({})).await.problem(422, "obligo_limit_exceeded");
    let report = ok(app.get("/api/v1/reports/credit", t).await);
    assert_eq!(report["data"][0]["account_id"], w.customer);
    assert!(ok(app.get("/api/v1/reports/credit", &agent).await)["data"].as_array().unwrap().is_empty());
    // Cleared, the cheque is no risk any more.
    ok(app.post(&format!("/api/v1/payments/{}/clear", chq["id"]), t, json!({})).await);
    ok(app.post(&format!("/api/v1/sales-orders/{o3}/submit"), t, json!({})).await);
    // A blocked customer's orders are not confirmed.
    ok(app.patch(&format!("/api/v1/customers/{}", w.customer), t, json!({"status": "blocked"})).await);
    app.post(&format!("/api/v1/sales-orders/{o3}/confirm"), t, json!({})).await.problem(422, "customer_blocked");
}

async fn standard_sales_codes_fill_any_document(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app, "on_order").await;
    let kit = ok(app
        .post(
            "/api/v1/standard-sales-codes",
            t,
            json!({"code": "KIT", "name": "Starter kit", "lines": [
                {"item_id": w.item, "quantity": "3"},
                {"item_id": w.service, "quantity": "1", "price": "40.00", "description": "Fitting, fixed price"}]}),
        )
        .await);
    assert_eq!(kit["lines"].as_array().unwrap().len(), 2);
    app.post(
        "/api/v1/standard-sales-codes",
        t,
        json!({"code": "KIT", "name": "again", "lines": [{"item_id": w.item, "quantity": "1"}]}),
    )
    .await
    .problem(409, "duplicate_code");
    // A code with prices needs the pricing permission.
    let (_, agent) = app.user("anna", &["sales_agent"]).await;
    app.post(
        "/api/v1/standard-sales-codes",
        &agent,
        json!({"code": "X", "name": "x", "lines": [{"item_id": w.item, "quantity": "1"}]}),
    )
    .await
    .problem(403, "forbidden");
    let customer = w.customer;
    let body = json!({"customer_id": customer, "lines": [{"item_id": w.item, "quantity": "1"}]});
    let docs = [
        ("quotations", ok(app.post("/api/v1/quotations", t, body.clone()).await)),
        ("sales-orders", ok(app.post("/api/v1/sales-orders", t, body.clone()).await)),
        ("invoices", ok(app.post("/api/v1/invoices", t, body.clone()).await)),
    ];
    for (kind, doc) in docs {
        let id = doc["id"].as_i64().unwrap();
        let url = format!("/api/v1/{kind}/{id}/lines/from-standard-code");
        let after = ok(app.post(&url, t, json!({"code": "KIT"})).await);
        let lines = after["lines"].as_array().unwrap();
        assert_eq!(lines.len(), 3, "{kind}");
        // 1 + 3 widgets at 10 + fitting at the code's 40 = 80 net.
        assert_eq!(d(&after["totals"]["net"]), q("80"), "{kind}: {}", after["totals"]);
        assert_eq!(d(&lines[2]["unit_price"]), q("40"), "{kind}");
        let missing = app.post(&url, t, json!({"code": "NOPE"})).await;
        assert_eq!((missing.status.as_u16(), missing.error_fields()), (404, vec!["code".to_string()]), "{kind}");
    }
    let today = time::OffsetDateTime::now_utc().date();
    let b = ok(app
        .post(
            "/api/v1/blanket-orders",
            t,
            json!({"customer_id": customer, "kind": "quantity", "valid_from": today.to_string(),
                "valid_to": (today + time::Duration::days(30)).to_string(), "lines": [{"item_id": w.item, "quantity": "10"}]}),
        )
        .await);
    let after = ok(app
        .post(&format!("/api/v1/blanket-orders/{}/lines/from-standard-code", b["id"]), t, json!({"code": "KIT"}))
        .await);
    assert_eq!(after["lines"].as_array().unwrap().len(), 3);
}

/// A draft invoice's lines: added and changed lines are priced by the engine, a line
/// billing an order line is removed (the order line is invoiceable again) but never
/// changed, credit notes and posted invoices take no line edits, and a refused edit
/// changes nothing.
async fn draft_invoice_lines_change_one_at_a_time(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app, "on_order").await;
    let o = confirmed(
        &app,
        w.customer,
        json!([{"item_id": w.item, "quantity": "6"}, {"item_id": w.service, "quantity": "2"}]),
    )
    .await;
    let oid = o["id"].as_i64().unwrap();
    let inv = ok(app.post(&format!("/api/v1/sales-orders/{oid}/invoice"), t, json!({})).await);
    let iid = inv["id"].as_i64().unwrap();
    let base = format!("/api/v1/invoices/{iid}/lines");
    // 160 lines + 15 shipping = 175 net. A service hour added: +50.
    let added = ok(app.post(&base, t, json!({"item_id": w.service, "quantity": "1"})).await);
    let lines = added["lines"].as_array().unwrap().clone();
    assert_eq!(lines.len(), 3);
    assert_eq!((d(&added["totals"]["net"]), d(&added["totals"]["gross"])), (q("225"), q("276.75")));
    assert_eq!(lines[2]["source_line_id"], Value::Null);
    let new_line = lines[2]["id"].as_i64().unwrap();
    // Changed to 3 hours: priced again (150), the billed lines keep the order's amounts.
    let changed = ok(app.patch(&format!("{base}/{new_line}"), t, json!({"quantity": "3"})).await);
    assert_eq!(d(&changed["totals"]["net"]), q("325"));
    assert_eq!(d(&changed["lines"][2]["net"]), q("150"));
    assert_eq!(changed["version"].as_i64(), added["version"].as_i64().map(|v| v + 1));
    // A line billing an order line is not changed; the refusal changes nothing.
    let billed = lines[0]["id"].as_i64().unwrap();
    app.patch(&format!("{base}/{billed}"), t, json!({"quantity": "1"})).await.problem(409, "billed_line");
    app.patch(&format!("{base}/{new_line}"), t, json!({"quantity": "-1"})).await.problem(422, "validation_failed");
    app.patch(&format!("{base}/999999"), t, json!({"quantity": "1"})).await.problem(404, "not_found");
    let same = ok(app.get(&format!("/api/v1/invoices/{iid}"), t).await);
    assert_eq!((d(&same["totals"]["net"]), &same["version"]), (q("325"), &changed["version"]));
    // Removed, the billed line is invoiceable again on the order; the invoice drops its 60.
    let removed = ok(app.delete(&format!("{base}/{billed}"), t).await);
    assert_eq!(removed["lines"].as_array().unwrap().len(), 2);
    assert_eq!(d(&removed["totals"]["net"]), q("265"));
    let order = ok(app.get(&format!("/api/v1/sales-orders/{oid}"), t).await);
    assert_eq!(d(&order["lines"][0]["invoiced"]["quantity"]), q("0"));
    let rest = ok(app.post(&format!("/api/v1/sales-orders/{oid}/invoice"), t, json!({})).await);
    assert_eq!((rest["lines"].as_array().unwrap().len(), d(&rest["totals"]["net"])), (1, q("60")));
    // A stale version is refused.
    let stale = app
        .call(
            reqwest::Method::POST,
            &base,
            t,
            Some(json!({"item_id": w.item, "quantity": "1"})),
            &[("If-Match", "\"1\"")],
        )
        .await;
    stale.problem(412, "precondition_failed");
    // Posted: no line edits; its credit note takes none either.
    let posted = post(&app, iid).await;
    assert_eq!(d(&posted["totals"]["net"]), q("265"));
    app.post(&base, t, json!({"item_id": w.item, "quantity": "1"})).await.problem(409, "already_posted");
    let cn = ok(app
        .post(&format!("/api/v1/invoices/{iid}/credit-notes"), t, json!({"full": true, "reason": "cancelled"}))
        .await);
    let cn_line = cn["lines"][0]["id"].as_i64().unwrap();
    app.delete(&format!("/api/v1/invoices/{}/lines/{cn_line}", cn["id"]), t).await.problem(409, "credit_note_lines");
    // History names what changed.
    let h = ok(app.get(&format!("/api/v1/invoices/{iid}/history"), t).await);
    let actions: Vec<&str> = h["data"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    for a in ["add_line", "update_line", "remove_line", "post"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
}

async fn recurring_invoices_once_per_period(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app, "on_order").await;
    let today = time::OffsetDateTime::now_utc().date();
    // Monthly on the 1st, from the 1st of the month three months back: four periods due.
    let start = time::Date::from_calendar_date(today.year(), today.month(), 1).unwrap();
    let mut from = start;
    for _ in 0..3 {
        from = time::Date::from_calendar_date(from.year(), from.month().previous(), 1)
            .unwrap()
            .replace_year(if from.month() == time::Month::January { from.year() - 1 } else { from.year() })
            .unwrap();
    }
    let tpl = ok(app
        .post(
            "/api/v1/recurring-invoices",
            t,
            json!({"name": "Maintenance", "customer_id": w.customer, "period": "monthly", "day_of_period": 1,
                "start_date": from.to_string(), "auto_post": true, "lines": [{"item_id": w.service, "quantity": "1"}]}),
        )
        .await);
    let tid = tpl["id"].as_i64().unwrap();
    let bad = app
        .post(
            "/api/v1/recurring-invoices",
            t,
            json!({"name": "x", "customer_id": w.customer, "period": "weekly", "day_of_period": 31, "start_date": "2026-01-01", "lines": []}),
        )
        .await;
    bad.problem(422, "validation_failed");
    let jobs = ok(app.get("/api/v1/jobs", t).await);
    let names: Vec<&str> = jobs["data"].as_array().unwrap().iter().map(|j| j["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        vec!["email_delivery", "quotation_expiry", "recurring_invoices", "sla_timers", "webhook_delivery"]
    );
    // Many runs at once: one runs, the others find it held; then again and again.
    let rs =
        futures_util::future::join_all((0..6).map(|_| app.post("/api/v1/jobs/recurring_invoices/run", t, json!({}))))
            .await;
    assert!(rs.iter().any(|r| r.status == 200), "{:?}", statuses(&rs));
    for r in rs.iter().filter(|r| r.status != 200) {
        r.problem(409, "job_running");
    }
    for _ in 0..2 {
        ok(app.post("/api/v1/jobs/recurring_invoices/run", t, json!({})).await);
    }
    let runs = ok(app.get(&format!("/api/v1/recurring-invoices/{tid}/runs"), t).await);
    let runs = runs["data"].as_array().unwrap();
    assert_eq!(runs.len(), 4, "one run per period: {runs:?}");
    let list = ok(app.get(&format!("/api/v1/invoices?customer_id={}&status=posted", w.customer), t).await);
    let invoices = list["data"].as_array().unwrap();
    assert_eq!(invoices.len(), 4, "one invoice per period");
    let mut dates: Vec<&str> = invoices.iter().map(|i| i["date"].as_str().unwrap()).collect();
    dates.sort();
    assert_eq!(dates[0], from.to_string());
    let log = ok(app.get("/api/v1/jobs/recurring_invoices/runs?sort=-id", t).await);
    assert_eq!(log["data"][0]["status"], "ok");
    app.get("/api/v1/jobs/nope/runs", t).await.problem(404, "not_found");
    let (_, acc) = app.user("carl", &["accountant"]).await;
    app.get("/api/v1/jobs", &acc).await.problem(403, "forbidden");
}

async fn posting_and_allocating_statement_budgets(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app, "on_order").await;
    let mut ids = vec![];
    for n in [1usize, 5, 20] {
        let lines: Vec<Value> = (0..n).map(|_| json!({"item_id": w.service, "quantity": "1"})).collect();
        let i = ok(app.post("/api/v1/invoices", t, json!({"customer_id": w.customer, "lines": lines})).await);
        let r = app.post(&format!("/api/v1/invoices/{}/post", i["id"]), t, json!({})).await;
        assert_eq!(r.status, 200);
        ids.push((n, r.statements()));
    }
    let five = ids[1].1;
    assert!(five <= 25, "posting a 5-line invoice took {five} statements");
    assert_eq!(ids[0].1, ids[2].1, "posting is flat in the number of lines: {ids:?}");
    let p = ok(app
        .post(
            "/api/v1/payments",
            t,
            json!({"customer_id": w.customer, "amount": "2000.00", "currency": "EUR", "method": "bank_transfer"}),
        )
        .await);
    let r = app.post(&format!("/api/v1/payments/{}/allocations", p["id"]), t, json!({"oldest_first": true})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["allocations"].as_array().unwrap().len(), 3);
    assert!(r.statements() <= 15, "allocating to 3 invoices took {} statements", r.statements());
    // The credit report reads every account in the same statements, however many.
    let mut counts = vec![];
    for n in 0..4 {
        let c = ok(app
            .post(
                "/api/v1/customers",
                t,
                json!({"name": format!("Limited {n}"), "currency": "EUR", "credit_limit": "100000.00"}),
            )
            .await);
        ok(app
            .post(
                "/api/v1/customers",
                t,
                json!({"name": format!("Branch {n}"), "currency": "EUR", "parent_id": c["id"]}),
            )
            .await);
        confirmed(&app, c["id"].as_i64().unwrap(), json!([{"item_id": w.item, "quantity": "1"}])).await;
        let r = app.get("/api/v1/reports/credit?min_utilisation=0", t).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["data"].as_array().unwrap().len(), n + 1, "{}", r.body);
        counts.push(r.statements());
    }
    assert!(counts.windows(2).all(|w| w[0] == w[1]), "the credit report grows with its accounts: {counts:?}");
}

async fn collection_runs_dunning_once_per_level(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app, "on_order").await;
    let (anna_id, anna) = app.user("anna", &["sales_agent"]).await;
    ok(app.patch(&format!("/api/v1/customers/{}", w.customer), t, json!({"owner_id": anna_id})).await);
    app.post("/api/v1/collection/run", t, json!({})).await.problem(422, "no_dunning_levels");
    let letter = "Dear {customer}, invoices {invoices} ({total}) are up to {days} days overdue.";
    ok(app.post("/api/v1/dunning-levels", t, json!({"level": 1, "name": "Reminder", "days_overdue": 7, "fee": "5.00", "letters": {"en": letter, "pl": "Szanowni {customer}"}})).await);
    ok(app.post("/api/v1/dunning-levels", t, json!({"level": 2, "name": "Second reminder", "days_overdue": 30, "fee": "15.00", "letters": {"en": letter}})).await);
    app.post(
        "/api/v1/dunning-levels",
        t,
        json!({"level": 2, "name": "again", "days_overdue": 40, "letters": {"en": "x"}}),
    )
    .await
    .problem(409, "duplicate_level");
    let today = time::OffsetDateTime::now_utc().date();
    let day = |n: i64| (today - time::Duration::days(n)).to_string();
    // Posted in date order (a series' dates follow its numbers): the last one of today
    // is not overdue and stays out of every run.
    let other =
        id(app.post("/api/v1/customers", t, json!({"name": "Slow", "currency": "EUR", "payment_terms_days": 7})).await);
    for (age, customer) in [(60, w.customer), (25, w.customer), (20, other), (0, w.customer)] {
        let i = ok(app
            .post(
                "/api/v1/invoices",
                t,
                json!({"customer_id": customer, "lines": [{"item_id": w.service, "quantity": "1"}]}),
            )
            .await);
        let iid = i["id"].as_i64().unwrap();
        ok(app.post(&format!("/api/v1/invoices/{iid}/post"), t, json!({"date": day(age)})).await);
    }
    // Proposed: level 2 for the 46-days-overdue invoice, level 1 for the 11-days one.
    let p = ok(app.post("/api/v1/collection/run", t, json!({})).await);
    assert_eq!(p["confirmed"], false);
    assert_eq!(p["customers"].as_array().unwrap().len(), 2, "{p}");
    let c = &p["customers"][0];
    assert_eq!((c["customer_id"].as_i64(), c["level"].as_i64()), (Some(w.customer), Some(2)));
    let levels: Vec<i64> = c["invoices"].as_array().unwrap().iter().map(|i| i["level"].as_i64().unwrap()).collect();
    assert_eq!(levels, vec![2, 1]);
    assert_eq!(d(&c["fees"]), q("20"));
    let text = c["letter"].as_str().unwrap();
    assert!(
        text.starts_with("Dear Acme, invoices INV-") && text.contains("(123.00 EUR)") && text.contains("46 days"),
        "{text}"
    );
    assert!(
        ok(app.get("/api/v1/collection/notices", t).await)["data"].as_array().unwrap().is_empty(),
        "a proposal records nothing"
    );
    // A promise to pay pauses dunning until its date.
    let bad = app
        .post(&format!("/api/v1/customers/{other}/promises-to-pay"), t, json!({"date": day(1), "amount": "10.00"}))
        .await;
    bad.problem(422, "validation_failed");
    let promise = ok(app
        .post(&format!("/api/v1/customers/{other}/promises-to-pay"), t, json!({"date": (today + time::Duration::days(7)).to_string(), "amount": "61.50", "note": "after their customer pays"}))
        .await);
    assert_eq!(promise["status"], "open");
    let p = ok(app.post("/api/v1/collection/run", t, json!({})).await);
    assert_eq!(p["paused_by_promise"], json!([other]));
    assert!(p["customers"].as_array().unwrap().iter().all(|c| c["customer_id"] != other));
    // Confirmed: recorded once, with a task for the customer's agent.
    let done = ok(app.post("/api/v1/collection/run", t, json!({"confirm": true})).await);
    let task = done["customers"][0]["activity_id"].as_i64().expect("a collection task");
    let a = ok(app.get(&format!("/api/v1/activities/{task}"), &anna).await);
    assert_eq!((a["kind"].as_str(), a["assignee_id"].as_i64()), (Some("task"), Some(anna_id)));
    assert_eq!(ok(app.get("/api/v1/collection/notices", t).await)["data"].as_array().unwrap().len(), 2);
    let again = ok(app.post("/api/v1/collection/run", t, json!({"confirm": true})).await);
    assert!(again["customers"].as_array().unwrap().is_empty(), "each invoice gets each level once: {again}");
    // Kept once paid.
    ok(app.post("/api/v1/payments", t, json!({"customer_id": other, "amount": "61.50", "currency": "EUR", "method": "cash", "allocate_oldest_first": true})).await);
    assert_eq!(
        ok(app.get(&format!("/api/v1/customers/{other}/promises-to-pay"), t).await)["data"][0]["status"],
        "kept"
    );
    // The customer's reminder: JSON, and printed from its templates (HTML and PDF).
    let letter = ok(app.get(&format!("/api/v1/customers/{}/dunning-letter", w.customer), t).await);
    assert_eq!((letter["level"].as_i64(), letter["invoices"].as_array().unwrap().len()), (Some(2), 2), "{letter}");
    assert_eq!(d(&letter["fees"]), q("20"));
    let path = format!("/api/v1/customers/{}/dunning-letter?language=pl", w.customer);
    let (status, ct, pdf) = app.get_bytes(&path, t, "application/pdf").await;
    assert_eq!((status.as_u16(), ct.as_str()), (200, "application/pdf"));
    let text = crate::support::pdf_pages(&pdf).join("\n");
    assert!(text.contains("Wezwanie do zapłaty") && text.contains("Dear Acme"), "{text}");
    let html = app.call(reqwest::Method::GET, &path, &anna, None, &[("Accept", "text/html")]).await;
    assert!(html.body.as_str().unwrap().contains("Dni po terminie"), "{}", html.body);
    app.get(&format!("/api/v1/customers/{other}/dunning-letter"), t).await.problem(404, "not_found");
    // The statement of account, printed.
    let path = format!("/api/v1/customers/{}/statement?from={}&to={}", w.customer, day(90), day(0));
    let (status, _, pdf) = app.get_bytes(&path, t, "application/pdf").await;
    assert_eq!(status.as_u16(), 200);
    let text = crate::support::pdf_pages(&pdf).join("\n");
    assert!(
        text.contains("Statement of account") && text.contains("Closing balance") && text.contains("INV-"),
        "{text}"
    );
    let html = app.call(reqwest::Method::GET, &path, t, None, &[("Accept", "text/html")]).await;
    assert!(html.body.as_str().unwrap().contains("Opening balance"), "{}", html.body);
    assert!(ok(app.get(&path, t).await)["entries"].is_array(), "JSON stays the default");
    // Its template is replaced like any kind's.
    ok(app
        .post(
            "/api/v1/document-templates",
            t,
            json!({"kind": "statement", "format": "pdf", "language": "en",
                "body": "= Account of {{ customer.name }}\n{{ document.closing_balance | money(document.currency) }}"}),
        )
        .await);
    let (_, _, pdf) = app.get_bytes(&path, t, "application/pdf").await;
    let text = crate::support::pdf_pages(&pdf).join("\n");
    assert!(text.contains("Account of Acme"), "{text}");
    // Agents read, accountants run.
    app.post("/api/v1/collection/run", &anna, json!({})).await.problem(403, "forbidden");
    assert_eq!(ok(app.get("/api/v1/collection/notices", &anna).await)["data"].as_array().unwrap().len(), 2);
}

async fn commissions_on_invoices_and_payments(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app, "on_order").await;
    let person = id(app.post("/api/v1/sales-persons", t, json!({"name": "Sam Seller"})).await);
    let tools = id(app.post("/api/v1/item-groups", t, json!({"name": "Tools"})).await);
    ok(app.patch(&format!("/api/v1/items/{}", w.item), t, json!({"item_group_id": tools})).await);
    ok(app.patch(&format!("/api/v1/customers/{}", w.customer), t, json!({"sales_person_id": person})).await);
    let plan = |basis: &str| {
        json!({"name": format!("Sam {basis}"), "sales_person_id": person, "basis": basis,
        "default_rate": "5", "group_rates": [{"item_group_id": tools, "rate": "10"}]})
    };
    let invoiced = id(app.post("/api/v1/commission-plans", t, plan("invoiced")).await);
    let paid = id(app.post("/api/v1/commission-plans", t, plan("paid")).await);
    let both =
        app.post("/api/v1/commission-plans", t, json!({"name": "x", "basis": "paid", "default_rate": "1"})).await;
    both.problem(422, "validation_failed");
    // 2 tools at 10 (10%) and 1 hour at 50 (5%): 2.00 + 2.50 = 4.50 on 70.00 net.
    let i = ok(app
        .post(
            "/api/v1/invoices",
            t,
            json!({"customer_id": w.customer, "lines": [{"item_id": w.item, "quantity": "2"}, {"item_id": w.service, "quantity": "1"}]}),
        )
        .await);
    assert_eq!(i["sales_person_id"], person);
    let iid = i["id"].as_i64().unwrap();
    post(&app, iid).await;
    // A price correction of 10.00 on the tools takes 1.00 back.
    let cn = ok(app
        .post(
            &format!("/api/v1/invoices/{iid}/credit-notes"),
            t,
            json!({"reason": "price", "lines": [{"invoice_line_id": i["lines"][0]["id"], "amount": "10.00"}]}),
        )
        .await);
    post(&app, cn["id"].as_i64().unwrap()).await;
    // Half of what is open paid: the paid plan earns half the invoice's commission.
    ok(app
        .post(
            "/api/v1/payments",
            t,
            json!({"customer_id": w.customer, "amount": "43.05", "currency": "EUR", "method": "bank_transfer", "allocate_oldest_first": true}),
        )
        .await);
    let period = time::OffsetDateTime::now_utc().date().to_string()[..7].to_string();
    let r = ok(app.get(&format!("/api/v1/commissions?period={period}&sales_person_id={person}"), t).await);
    let reports = r["data"].as_array().unwrap();
    assert_eq!(reports.len(), 2);
    let by_plan = |p: i64| reports.iter().find(|x| x["plan_id"] == p).unwrap().clone();
    let inv = by_plan(invoiced);
    let kinds: Vec<(&str, Decimal)> =
        inv["entries"].as_array().unwrap().iter().map(|e| (e["kind"].as_str().unwrap(), d(&e["commission"]))).collect();
    assert_eq!(kinds, vec![("invoice", q("4.5")), ("credit_note", q("-1"))]);
    assert_eq!(d(&inv["total"]), q("3.5"));
    let pd = by_plan(paid);
    assert_eq!((pd["entries"].as_array().unwrap().len(), d(&pd["total"])), (1, q("2.25")));
    app.get("/api/v1/commissions?period=2026-13", t).await.problem(422, "validation_failed");
    // A statement freezes the month; paid, it is final.
    let st =
        ok(app.post(&format!("/api/v1/commission-plans/{invoiced}/statements"), t, json!({"period": period})).await);
    assert_eq!((st["status"].as_str(), d(&st["total"])), (Some("open"), q("3.5")));
    let again =
        ok(app.post(&format!("/api/v1/commission-plans/{invoiced}/statements"), t, json!({"period": period})).await);
    let sid = again["id"].as_i64().unwrap();
    let payd = ok(app.post(&format!("/api/v1/commission-statements/{sid}/pay"), t, json!({})).await);
    assert_eq!(payd["status"], "paid");
    app.post(&format!("/api/v1/commission-statements/{sid}/pay"), t, json!({})).await.problem(409, "statement_paid");
    app.post(&format!("/api/v1/commission-plans/{invoiced}/statements"), t, json!({"period": period}))
        .await
        .problem(409, "statement_paid");
    let list = ok(app.get(&format!("/api/v1/commission-plans/{invoiced}/statements"), t).await);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    // A sales agent sees the plans of the sales person linked to them, nobody else's.
    let (_, agent) = app.user("anna", &["sales_agent"]).await;
    let none = ok(app.get(&format!("/api/v1/commissions?period={period}"), &agent).await);
    assert!(none["data"].as_array().unwrap().is_empty(), "{none}");
    app.get(&format!("/api/v1/commission-plans/{invoiced}/statements"), &agent).await.problem(404, "not_found");
    let (sam_user, sam) = app.user("sam", &["sales_agent"]).await;
    ok(app.patch(&format!("/api/v1/sales-persons/{person}"), t, json!({"user_id": sam_user})).await);
    let own = ok(app.get(&format!("/api/v1/commissions?period={period}"), &sam).await);
    assert_eq!(own["data"].as_array().unwrap().len(), 2, "{own}");
    assert_eq!(
        ok(app.get(&format!("/api/v1/commission-plans/{invoiced}/statements"), &sam).await)["data"][0]["status"],
        "paid"
    );
}

// ---- races ------------------------------------------------------------------------------------

fn statuses(rs: &[Resp]) -> Vec<(u16, Value)> {
    rs.iter().map(|r| (r.status.as_u16(), r.body["code"].clone())).collect()
}

async fn concurrent_invoicing_bills_each_line_once(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app, "on_order").await;
    let o = confirmed(
        &app,
        w.customer,
        json!([{"item_id": w.item, "quantity": "6"}, {"item_id": w.service, "quantity": "1"}]),
    )
    .await;
    let oid = o["id"].as_i64().unwrap();
    let url = format!("/api/v1/sales-orders/{oid}/invoice");
    let rs = futures_util::future::join_all((0..12).map(|_| app.post(&url, t, json!({})))).await;
    let made: Vec<&Resp> = rs.iter().filter(|r| r.status == 201).collect();
    assert_eq!(made.len(), 1, "{:?}", statuses(&rs));
    for r in rs.iter().filter(|r| r.status != 201) {
        assert!(
            (r.status == 409 && r.body["code"] == "concurrent_invoicing")
                || (r.status == 422 && r.body["code"] == "nothing_to_invoice"),
            "{} {}",
            r.status,
            r.body
        );
    }
    let after = ok(app.get(&format!("/api/v1/sales-orders/{oid}"), t).await);
    assert_eq!(d(&after["lines"][0]["invoiced"]["quantity"]), q("6"));
    assert_eq!(d(&after["lines"][0]["invoiced"]["net"]), q("60"));
    let list = ok(app.get(&format!("/api/v1/invoices?sales_order_id={oid}"), t).await);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(d(&list["data"][0]["totals"]["gross"]), d(&o["totals"]["gross"]));
}

async fn concurrent_allocations_of_the_last_open_amount(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app, "on_order").await;
    let i = ok(app
        .post(
            "/api/v1/invoices",
            t,
            json!({"customer_id": w.customer, "lines": [{"item_id": w.service, "quantity": "1"}]}),
        )
        .await);
    let iid = i["id"].as_i64().unwrap();
    post(&app, iid).await;
    let mut pays = vec![];
    for _ in 0..12 {
        let p = ok(app
            .post(
                "/api/v1/payments",
                t,
                json!({"customer_id": w.customer, "amount": "61.50", "currency": "EUR", "method": "cash"}),
            )
            .await);
        pays.push(p["id"].as_i64().unwrap());
    }
    let urls: Vec<String> = pays.iter().map(|p| format!("/api/v1/payments/{p}/allocations")).collect();
    let body = json!({"invoices": [{"invoice_id": iid, "amount": "61.50"}]});
    let rs = futures_util::future::join_all(urls.iter().map(|u| app.post(u, t, body.clone()))).await;
    let won = rs.iter().filter(|r| r.status == 200).count();
    assert_eq!(won, 1, "{:?}", statuses(&rs));
    for r in rs.iter().filter(|r| r.status != 200) {
        r.problem(422, "exceeds_open_amount");
    }
    let inv = ok(app.get(&format!("/api/v1/invoices/{iid}"), t).await);
    assert_eq!((inv["status"].as_str(), d(&inv["settled"])), (Some("paid"), q("61.5")));
    let unallocated: Decimal = {
        let l = ok(app.get(&format!("/api/v1/payments?customer_id={}&limit=200", w.customer), t).await);
        l["data"].as_array().unwrap().iter().map(|p| d(&p["unallocated"])).sum()
    };
    assert_eq!(unallocated, q("61.5") * Decimal::from(11), "the losers wrote nothing");
    // Payments allocated oldest first never fail for a race: each takes what is still
    // open when it runs, the rest stays on account.
    let i2 = ok(app
        .post(
            "/api/v1/invoices",
            t,
            json!({"customer_id": w.customer, "lines": [{"item_id": w.service, "quantity": "1"}]}),
        )
        .await);
    let i2 = i2["id"].as_i64().unwrap();
    post(&app, i2).await;
    let body = json!({"customer_id": w.customer, "amount": "20.00", "currency": "EUR", "method": "cash",
        "allocate_oldest_first": true});
    let rs = futures_util::future::join_all((0..8).map(|_| app.post("/api/v1/payments", t, body.clone()))).await;
    assert!(rs.iter().all(|r| r.status == 201), "{:?}", statuses(&rs));
    let allocated: Decimal = rs.iter().map(|r| d(&r.body["allocated"])).sum();
    assert_eq!(allocated, q("61.5"), "exactly what was open");
    let inv = ok(app.get(&format!("/api/v1/invoices/{i2}"), t).await);
    assert_eq!((inv["status"].as_str(), d(&inv["settled"])), (Some("paid"), q("61.5")));
}

async fn concurrent_postings_take_consecutive_numbers(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app, "on_order").await;
    let mut drafts = vec![];
    for _ in 0..10 {
        let i = ok(app
            .post(
                "/api/v1/invoices",
                t,
                json!({"customer_id": w.customer, "lines": [{"item_id": w.service, "quantity": "1"}]}),
            )
            .await);
        drafts.push(i["id"].as_i64().unwrap());
    }
    // Each posted twice at once: one posts, the other is a 409.
    let urls: Vec<String> = drafts.iter().chain(drafts.iter()).map(|i| format!("/api/v1/invoices/{i}/post")).collect();
    let rs = futures_util::future::join_all(urls.iter().map(|u| app.post(u, t, json!({})))).await;
    assert_eq!(rs.iter().filter(|r| r.status == 200).count(), 10, "{:?}", statuses(&rs));
    for r in rs.iter().filter(|r| r.status != 200) {
        r.problem(409, "already_posted");
    }
    let mut numbers: Vec<String> =
        rs.iter().filter(|r| r.status == 200).map(|r| r.body["number"].as_str().unwrap().to_string()).collect();
    numbers.sort();
    let want: Vec<String> = (1..=10).map(|n| format!("INV-{}-{n:06}", year())).collect();
    assert_eq!(numbers, want, "gap-free and unique");
}

// ---- model-based: random billing operations, the books checked after every step ----------

use crate::integrity::all;

/// The books, read through the API only; panics naming what does not add up.
async fn check_books(app: &TestApp, customers: &[i64], orders: &[i64], label: &str) {
    let t = &app.admin_token;
    let docs = all(app, "/api/v1/invoices").await;
    let mut full = std::collections::HashMap::new();
    for d in &docs {
        let id = d["id"].as_i64().unwrap();
        let inv = ok(app.get(&format!("/api/v1/invoices/{id}"), t).await);
        full.insert(id, inv);
    }
    for inv in full.values() {
        let id = inv["id"].as_i64().unwrap();
        let allocs = ok(app.get(&format!("/api/v1/invoices/{id}/allocations"), t).await);
        let active = allocs["data"].as_array().unwrap().iter().filter(|a| a["reversed_at"].is_null());
        let gross = d(&inv["totals"]["gross"]);
        let settled = d(&inv["settled"]);
        let sum: Decimal = if inv["kind"] == "invoice" {
            active.map(|a| d(&a["amount"])).sum()
        } else {
            active.map(|a| d(&a["source_amount"])).sum()
        };
        assert_eq!(settled, sum, "{label}: {} settled = Σ its active allocations", inv["number"]);
        assert!(settled <= gross && settled >= Decimal::ZERO, "{label}: {} settles within its gross", inv["number"]);
        assert_eq!(d(&inv["open_amount"]), gross - settled, "{label}: open = gross − settled");
        if inv["status"] == "draft" {
            assert_eq!(settled, Decimal::ZERO, "{label}: a draft is not settled");
        }
        // Totals = Σ lines (+ shipping), to the cent.
        let lines = inv["lines"].as_array().unwrap();
        let line_net: Decimal = lines.iter().map(|l| d(&l["net"])).sum();
        assert_eq!(
            line_net + d(&inv["totals"]["shipping"]),
            d(&inv["totals"]["net"]),
            "{label}: {} net = Σ lines",
            inv["number"]
        );
        if inv["kind"] == "invoice" {
            // What credit notes took of each line is what they hold.
            for l in lines {
                let credited: Decimal = full
                    .values()
                    .filter(|c| c["kind"] == "credit_note" && c["credited_invoice_id"] == inv["id"])
                    .flat_map(|c| c["lines"].as_array().unwrap().iter())
                    .filter(|cl| cl["source_line_id"] == l["id"])
                    .map(|cl| d(&cl["net"]))
                    .sum();
                assert_eq!(d(&l["credited"]["net"]), credited, "{label}: invoice line {} credited", l["id"]);
                assert!(credited <= d(&l["net"]), "{label}: no line is credited beyond its net");
            }
            let cn_gross: Decimal = full
                .values()
                .filter(|c| c["kind"] == "credit_note" && c["credited_invoice_id"] == inv["id"])
                .map(|c| d(&c["totals"]["gross"]))
                .sum();
            assert_eq!(d(&inv["credited"]), cn_gross, "{label}: {} credited = Σ its credit notes", inv["number"]);
            assert!(cn_gross <= gross, "{label}: credit notes never exceed the invoice");
        }
    }
    // Order lines: invoiced = Σ invoice lines billing them, never beyond the line.
    for o in orders {
        let order = ok(app.get(&format!("/api/v1/sales-orders/{o}"), t).await);
        for l in order["lines"].as_array().unwrap() {
            let billed: Vec<&Value> = full
                .values()
                .filter(|i| i["kind"] == "invoice")
                .flat_map(|i| i["lines"].as_array().unwrap().iter())
                .filter(|il| il["source_line_id"] == l["id"])
                .collect();
            let q: Decimal = billed.iter().map(|il| d(&il["base_quantity"])).sum();
            let net: Decimal = billed.iter().map(|il| d(&il["net"])).sum();
            assert_eq!(
                (d(&l["invoiced"]["quantity"]), d(&l["invoiced"]["net"])),
                (q, net),
                "{label}: order line {}",
                l["id"]
            );
            assert!(q <= d(&l["base_quantity"]) && net <= d(&l["net"]), "{label}: never invoiced beyond the line");
            if q == d(&l["base_quantity"]) {
                assert_eq!(net, d(&l["net"]), "{label}: a fully invoiced line is invoiced to the cent");
            }
        }
    }
    // Payments: allocated = Σ active allocations; never beyond the amount.
    let pays = all(app, "/api/v1/payments").await;
    for p in &pays {
        let full_p = ok(app.get(&format!("/api/v1/payments/{}", p["id"]), t).await);
        let active = full_p["allocations"].as_array().unwrap().iter().filter(|a| a["reversed_at"].is_null());
        let (alloc, refunds): (Vec<&Value>, Vec<&Value>) = active.partition(|a| a["kind"] == "payment");
        let allocated: Decimal = alloc.iter().map(|a| d(&a["source_amount"])).sum();
        let refunded: Decimal = refunds.iter().map(|a| d(&a["amount"])).sum();
        assert_eq!(d(&full_p["allocated"]), allocated, "{label}: {} allocated", p["number"]);
        assert_eq!(d(&full_p["refunded"]), refunded, "{label}: {} refunded", p["number"]);
        assert!(allocated + refunded <= d(&full_p["amount"]), "{label}: a payment is not spent twice");
        if full_p["status"] == "bounced" {
            assert_eq!(allocated, Decimal::ZERO, "{label}: a bounced cheque pays nothing");
        }
    }
    // Per customer: the statement's balance is what the documents say.
    for c in customers {
        let st = ok(app.get(&format!("/api/v1/customers/{c}/statement?from=2000-01-01&to=2100-01-01"), t).await);
        let posted = |kind: &str| -> Decimal {
            full.values()
                .filter(|i| i["customer_id"] == *c && i["kind"] == kind && i["status"] != "draft")
                .map(|i| d(&i["totals"]["gross"]))
                .sum()
        };
        let paid: Decimal =
            pays.iter().filter(|p| p["customer_id"] == *c && p["status"] != "bounced").map(|p| d(&p["amount"])).sum();
        // Receivables: Σ open invoices − Σ open credit notes − money on account.
        let open_inv: Decimal = full
            .values()
            .filter(|i| i["customer_id"] == *c && i["kind"] == "invoice" && i["status"] != "draft")
            .map(|i| d(&i["open_amount"]))
            .sum();
        let open_cn: Decimal = full
            .values()
            .filter(|i| i["customer_id"] == *c && i["kind"] == "credit_note" && i["status"] != "draft")
            .map(|i| d(&i["open_amount"]))
            .sum();
        let on_account: Decimal = pays.iter().filter(|p| p["customer_id"] == *c).map(|p| d(&p["unallocated"])).sum();
        let refunds: Decimal =
            pays.iter().filter(|p| p["customer_id"] == *c).map(|p| d(&p["refunded"])).sum::<Decimal>()
                + cn_refunds(app, &full, *c).await;
        assert_eq!(
            open_inv - open_cn - on_account,
            posted("invoice") - posted("credit_note") - paid + refunds,
            "{label}: customer {c}: receivables = invoices − credit notes − payments (+ refunds)"
        );
        assert_eq!(
            d(&st["closing_balance"]),
            open_inv - open_cn - on_account,
            "{label}: customer {c}: statement balance"
        );
    }
}

/// What a customer's credit notes paid back.
async fn cn_refunds(app: &TestApp, full: &std::collections::HashMap<i64, Value>, customer: i64) -> Decimal {
    let mut sum = Decimal::ZERO;
    for cn in full.values().filter(|i| i["customer_id"] == customer && i["kind"] == "credit_note") {
        let a = ok(app.get(&format!("/api/v1/invoices/{}/allocations", cn["id"]), &app.admin_token).await);
        sum += a["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["kind"] == "refund" && x["reversed_at"].is_null())
            .map(|x| d(&x["amount"]))
            .sum::<Decimal>();
    }
    sum
}

async fn random_billing_keeps_the_books(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app, "on_order").await;
    let second = id(app
        .post("/api/v1/customers", t, json!({"name": "Beta", "currency": "EUR", "invoicing_policy": "on_delivery"}))
        .await);
    let customers = [w.customer, second];
    let (seeds, steps) = crate::integrity::seeds();
    let steps = (steps / 3).max(20);
    for seed in seeds {
        let mut rng = crate::integrity::Rng(seed);
        let mut orders: Vec<i64> = vec![];
        let mut tally: std::collections::BTreeMap<usize, (u32, u32)> = Default::default();
        for step in 0..steps {
            let label = format!("seed {seed} step {step}");
            let op = rng.below(12);
            let customer = rng.pick(&customers).unwrap();
            let r: Option<Resp> = match op {
                0 => {
                    let n = (1 + rng.below(6)).to_string();
                    let o = confirmed(
                        &app,
                        customer,
                        json!([{"item_id": w.item, "quantity": n}, {"item_id": w.service, "quantity": "1"}]),
                    )
                    .await;
                    orders.push(o["id"].as_i64().unwrap());
                    None
                }
                1 => match rng.pick(&orders) {
                    Some(o) => {
                        let order = ok(app.get(&format!("/api/v1/sales-orders/{o}"), t).await);
                        let line = order["lines"][0]["id"].as_i64().unwrap();
                        let r = app
                            .post(
                                &format!("/api/v1/sales-orders/{o}/deliveries"),
                                t,
                                json!({"lines": [{"line_id": line, "quantity": (1 + rng.below(3)).to_string()}]}),
                            )
                            .await;
                        if r.status == 201 {
                            Some(app.post(&format!("/api/v1/deliveries/{}/ship", r.body["id"]), t, json!({})).await)
                        } else {
                            Some(r)
                        }
                    }
                    None => None,
                },
                2 => match rng.pick(&orders) {
                    Some(o) => Some(app.post(&format!("/api/v1/sales-orders/{o}/invoice"), t, json!({})).await),
                    None => None,
                },
                3 => Some(app.post("/api/v1/invoices/collective", t, json!({"customer_id": customer})).await),
                4 | 5 => {
                    let drafts = all(&app, "/api/v1/invoices?status=draft").await;
                    match rng.pick_ref(&drafts) {
                        Some(dr) if rng.below(4) == 0 => {
                            Some(app.delete(&format!("/api/v1/invoices/{}", dr["id"]), t).await)
                        }
                        Some(dr) => Some(app.post(&format!("/api/v1/invoices/{}/post", dr["id"]), t, json!({})).await),
                        None => None,
                    }
                }
                6 => {
                    let posted = all(&app, "/api/v1/invoices?kind=invoice&status=posted").await;
                    match rng.pick_ref(&posted) {
                        Some(i) => {
                            let inv = ok(app.get(&format!("/api/v1/invoices/{}", i["id"]), t).await);
                            let l = &inv["lines"][rng.below(inv["lines"].as_array().unwrap().len())];
                            let body = match rng.below(3) {
                                0 => json!({"reason": "model", "full": true}),
                                1 => {
                                    json!({"reason": "model", "lines": [{"invoice_line_id": l["id"], "quantity": "1"}]})
                                }
                                _ => {
                                    json!({"reason": "model", "lines": [{"invoice_line_id": l["id"], "amount": "3.33"}]})
                                }
                            };
                            Some(app.post(&format!("/api/v1/invoices/{}/credit-notes", i["id"]), t, body).await)
                        }
                        None => None,
                    }
                }
                7 | 8 => {
                    let cheque = rng.below(3) == 0;
                    let amount = format!("{}.{:02}", 5 + rng.below(120), rng.below(100));
                    let mut body = json!({"customer_id": customer, "amount": amount, "currency": "EUR",
                        "method": if cheque { "cheque" } else { "bank_transfer" }});
                    if rng.below(2) == 0 {
                        body["allocate_oldest_first"] = json!(true);
                    }
                    Some(app.post("/api/v1/payments", t, body).await)
                }
                9 => {
                    let pays = all(&app, &format!("/api/v1/payments?customer_id={customer}&unallocated=true")).await;
                    match rng.pick_ref(&pays) {
                        Some(p) => Some(
                            app.post(
                                &format!("/api/v1/payments/{}/allocations", p["id"]),
                                t,
                                json!({"oldest_first": true}),
                            )
                            .await,
                        ),
                        None => None,
                    }
                }
                10 => {
                    let pays = all(&app, "/api/v1/payments").await;
                    match rng.pick_ref(&pays) {
                        Some(p) => {
                            let full = ok(app.get(&format!("/api/v1/payments/{}", p["id"]), t).await);
                            match (
                                rng.below(3),
                                full["allocations"]
                                    .as_array()
                                    .unwrap()
                                    .iter()
                                    .find(|a| a["reversed_at"].is_null() && a["kind"] == "payment"),
                            ) {
                                (0, Some(a)) => Some(
                                    app.post(
                                        &format!("/api/v1/payments/{}/allocations/{}/reverse", p["id"], a["id"]),
                                        t,
                                        json!({}),
                                    )
                                    .await,
                                ),
                                (1, _) => {
                                    Some(app.post(&format!("/api/v1/payments/{}/bounce", p["id"]), t, json!({})).await)
                                }
                                _ => {
                                    Some(app.post(&format!("/api/v1/payments/{}/refund", p["id"]), t, json!({})).await)
                                }
                            }
                        }
                        None => None,
                    }
                }
                _ => {
                    let cns = all(&app, "/api/v1/invoices?kind=credit_note").await;
                    match rng.pick_ref(&cns) {
                        Some(cn) if cn["status"] == "draft" => {
                            Some(app.post(&format!("/api/v1/invoices/{}/post", cn["id"]), t, json!({})).await)
                        }
                        Some(cn) => {
                            Some(app.post(&format!("/api/v1/invoices/{}/refund", cn["id"]), t, json!({})).await)
                        }
                        None => None,
                    }
                }
            };
            if let Some(r) = r {
                assert!(
                    r.status.is_success() || r.status == 409 || r.status == 422,
                    "{label} op {op}: {} {}",
                    r.status,
                    r.body
                );
                let e = tally.entry(op).or_default();
                if r.status.is_success() {
                    e.0 += 1
                } else {
                    e.1 += 1
                }
            }
            check_books(&app, &customers, &orders, &label).await;
        }
        eprintln!("billing model seed {seed}: {} orders; per op (ok, refused): {tally:?}", orders.len());
    }
}
