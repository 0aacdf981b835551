//! Pricing resources and the price engine over HTTP.

use crate::on_both_backends;
use crate::support::{Resp, TestApp};
use serde_json::{json, Value};

on_both_backends!(pricing_resources_refuse_bad_input, quote_prices_a_basket_exactly);

fn id(r: &Resp) -> i64 {
    assert!(r.status.is_success(), "{} {}", r.status, r.body);
    r.body["id"].as_i64().unwrap()
}

async fn pricing_resources_refuse_bad_input(app: TestApp) {
    let t = &app.admin_token;
    let vat = id(&app.post("/api/v1/tax-rates", t, json!({"code": "VAT23", "name": "VAT 23%", "percent": "23"})).await);
    app.post("/api/v1/tax-rates", t, json!({"code": "VAT23", "name": "again", "percent": "23"}))
        .await
        .problem(409, "duplicate_code");
    let pct = app.post("/api/v1/tax-rates", t, json!({"code": "X", "name": "X", "percent": "101"})).await;
    pct.problem(422, "validation_failed");
    assert_eq!(pct.error_fields(), vec!["percent"]);

    let fx = json!({"from_currency": "EUR", "to_currency": "PLN", "rate": "4.25", "valid_from": "2026-01-01"});
    assert_eq!(app.post("/api/v1/exchange-rates", t, fx.clone()).await.status, 201);
    app.post("/api/v1/exchange-rates", t, fx).await.problem(409, "duplicate_rate");
    let same = app
        .post(
            "/api/v1/exchange-rates",
            t,
            json!({"from_currency": "EUR", "to_currency": "EUR", "rate": "1", "valid_from": "2026-01-01"}),
        )
        .await;
    assert_eq!(same.error_fields(), vec!["to_currency"]);
    let bad = app
        .post(
            "/api/v1/exchange-rates",
            t,
            json!({"from_currency": "EUR", "to_currency": "ABC", "rate": "0.123456789", "valid_from": "2026-13-01"}),
        )
        .await;
    bad.problem(422, "validation_failed");
    assert_eq!(bad.error_fields(), vec!["rate", "to_currency", "valid_from"]);
    let zero = app
        .post(
            "/api/v1/exchange-rates",
            t,
            json!({"from_currency": "EUR", "to_currency": "USD", "rate": "0", "valid_from": "2026-01-01"}),
        )
        .await;
    assert_eq!(zero.error_fields(), vec!["rate"]);

    let retail =
        id(&app.post("/api/v1/price-lists", t, json!({"name": "Retail", "currency": "EUR", "is_default": true})).await);
    let derived = id(&app
        .post(
            "/api/v1/price-lists",
            t,
            json!({"name": "Resale", "currency": "EUR", "base_price_list_id": retail, "markup_percent": "30"}),
        )
        .await);
    app.post("/api/v1/price-lists", t, json!({"name": "Odd", "currency": "XYZ"}))
        .await
        .problem(422, "validation_failed");
    app.post("/api/v1/price-lists", t, json!({"name": "Retail", "currency": "EUR"}))
        .await
        .problem(409, "duplicate_name");
    let cyc = app.patch(&format!("/api/v1/price-lists/{retail}"), t, json!({"base_price_list_id": derived})).await;
    cyc.problem(422, "validation_failed");
    assert_eq!(cyc.body["errors"][0]["code"], "cycle");
    let markup =
        app.post("/api/v1/price-lists", t, json!({"name": "M", "currency": "EUR", "markup_percent": "-150"})).await;
    assert_eq!(markup.error_fields(), vec!["markup_percent"]);
    let dates = app
        .post(
            "/api/v1/price-lists",
            t,
            json!({"name": "D", "currency": "EUR", "valid_from": "2026-02-01", "valid_to": "2026-01-01"}),
        )
        .await;
    assert_eq!(dates.error_fields(), vec!["valid_to"]);
    // The default flag moves.
    let other =
        id(&app.post("/api/v1/price-lists", t, json!({"name": "Other", "currency": "EUR", "is_default": true})).await);
    assert_eq!(app.get(&format!("/api/v1/price-lists/{retail}"), t).await.body["is_default"], false);
    assert_eq!(app.get(&format!("/api/v1/price-lists/{other}"), t).await.body["is_default"], true);

    let item = id(&app
        .post(
            "/api/v1/items",
            t,
            json!({"sku": "A", "name": "A", "base_unit": "PCS", "kind": "stock", "tax_rate_id": vat}),
        )
        .await);
    let prices = format!("/api/v1/price-lists/{retail}/prices");
    let p = app
        .post(
            &prices,
            t,
            json!({"item_id": item, "price": "10.00", "valid_from": "2026-01-01", "valid_to": "2026-06-30"}),
        )
        .await;
    assert_eq!(p.status, 201, "{}", p.body);
    assert_eq!(p.body["unit"], "PCS", "defaults to the base unit");
    let overlap = app.post(&prices, t, json!({"item_id": item, "price": "11.00", "valid_from": "2026-06-01"})).await;
    overlap.problem(409, "overlapping_price");
    assert_eq!(
        app.post(&prices, t, json!({"item_id": item, "price": "11.00", "valid_from": "2026-07-01"})).await.status,
        201
    );
    assert_eq!(
        app.post(&prices, t, json!({"item_id": item, "price": "9.00", "min_quantity": "10"})).await.status,
        201,
        "another tier"
    );
    let neg = app.post(&prices, t, json!({"item_id": item, "price": "-1", "min_quantity": "-2"})).await;
    assert_eq!(neg.error_fields(), vec!["min_quantity", "price"]);
    let precise = app.post(&prices, t, json!({"item_id": item, "price": "1.00001"})).await;
    assert_eq!(precise.error_fields(), vec!["price"]);
    app.post(&prices, t, json!({"item_id": 999, "price": "1"})).await.problem(404, "not_found");
    app.post("/api/v1/price-lists/999/prices", t, json!({"item_id": item, "price": "1"}))
        .await
        .problem(404, "not_found");
    assert_eq!(app.get(&format!("{prices}?item_id={item}"), t).await.body["data"].as_array().unwrap().len(), 3);

    // Lists in use stay; tax rates in use stay.
    app.delete(&format!("/api/v1/price-lists/{retail}"), t).await.problem(409, "in_use");
    app.delete(&format!("/api/v1/tax-rates/{vat}"), t).await.problem(409, "in_use");
    let h = app.get(&format!("/api/v1/price-lists/{retail}/history"), t).await;
    assert_eq!(h.body["data"].as_array().unwrap().len(), 2, "create, then losing the default flag");

    // Warehouse staff cannot change prices; agents can read them.
    let (_, wh) = app.user("walt", &["warehouse"]).await;
    app.post("/api/v1/price-lists", &wh, json!({"name": "W", "currency": "EUR"})).await.problem(403, "forbidden");
    app.patch(&format!("/api/v1/price-lists/{retail}"), &wh, json!({"name": "W"})).await.problem(403, "forbidden");
    app.get("/api/v1/price-lists", &wh).await.problem(403, "forbidden");
    let (_, agent) = app.user("anna", &["sales_agent"]).await;
    assert_eq!(app.get("/api/v1/price-lists", &agent).await.status, 200);
    let cur = app.get("/api/v1/currencies", &agent).await;
    let eur = cur.body["data"].as_array().unwrap().iter().find(|c| c["code"] == "EUR").unwrap().clone();
    assert_eq!(eur, json!({"code": "EUR", "minor_units": 2, "base": true}));
}

struct World {
    item_a: i64,
    item_b: i64,
    c1: i64,
    retail: i64,
}

async fn world(app: &TestApp) -> World {
    let t = &app.admin_token;
    let vat23 =
        id(&app.post("/api/v1/tax-rates", t, json!({"code": "VAT23", "name": "VAT 23%", "percent": "23"})).await);
    let vat8 = id(&app.post("/api/v1/tax-rates", t, json!({"code": "VAT8", "name": "VAT 8%", "percent": "8"})).await);
    let g = id(&app.post("/api/v1/item-groups", t, json!({"name": "Tools"})).await);
    let item_a = id(&app
        .post("/api/v1/items", t, json!({"sku": "A", "name": "Hammer", "base_unit": "PCS", "kind": "stock", "item_group_id": g, "tax_rate_id": vat23}))
        .await);
    let item_b = id(&app
        .post(
            "/api/v1/items",
            t,
            json!({"sku": "B", "name": "Manual", "base_unit": "PCS", "kind": "stock", "tax_rate_id": vat8}),
        )
        .await);
    let retail = id(&app
        .post("/api/v1/price-lists", t, json!({"name": "Retail EUR", "currency": "EUR", "is_default": true}))
        .await);
    let prices = format!("/api/v1/price-lists/{retail}/prices");
    for (item, price, min) in [(item_a, "10.00", "0"), (item_a, "9.00", "10"), (item_b, "100.00", "0")] {
        id(&app.post(&prices, t, json!({"item_id": item, "price": price, "min_quantity": min})).await);
    }
    id(&app.post("/api/v1/group-discounts", t, json!({"item_group_id": g, "percent": "5"})).await);
    let c1 =
        id(&app.post("/api/v1/customers", t, json!({"name": "C1", "currency": "EUR", "discount_percent": "2"})).await);
    World { item_a, item_b, c1, retail }
}

fn line(item: i64, qty: &str) -> Value {
    json!({"item_id": item, "quantity": qty})
}

async fn quote_prices_a_basket_exactly(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app).await;
    let basket = json!({"customer_id": w.c1, "date": "2026-06-15",
                        "lines": [line(w.item_a, "3"), line(w.item_a, "12"), line(w.item_b, "1")]});
    let q = app.post("/api/v1/pricing/quote", t, basket.clone()).await;
    assert_eq!(q.status, 200, "{}", q.body);
    let b = &q.body;
    assert_eq!(b["price_list_id"], w.retail);
    let nets: Vec<&str> = b["lines"].as_array().unwrap().iter().map(|l| l["net"].as_str().unwrap()).collect();
    assert_eq!(nets, vec!["27.93", "100.55", "98.00"]);
    assert_eq!(b["lines"][1]["base_unit_price"], "9.00", "the 10+ tier");
    assert_eq!(b["lines"][0]["adjustments"][0]["kind"], "group_discount");
    assert_eq!(b["lines"][0]["adjustments"][0]["amount"], "1.50");
    assert_eq!(b["lines"][0]["adjustments"][1]["kind"], "customer_discount");
    assert_eq!(b["lines"][0]["adjustments"][1]["amount"], "0.57");
    assert_eq!(b["lines"][0]["source"]["kind"], "price_list");
    assert_eq!(
        b["totals"],
        json!({
            "net": "226.48", "discount": "11.52", "tax": "37.39", "gross": "263.87",
            "taxes": [
                {"tax_rate_id": 1, "percent": "23", "net": "128.48", "tax": "29.55"},
                {"tax_rate_id": 2, "percent": "8", "net": "98.00", "tax": "7.84"}
            ]
        })
    );
    assert_eq!(
        b["base_currency"],
        json!({"currency": "EUR", "rate": "1", "net": "226.48", "tax": "37.39", "gross": "263.87"})
    );
    let text = b["explanation"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect::<Vec<_>>().join("\n");
    assert!(text.contains("Price list: 'Retail EUR'"), "{text}");
    assert!(text.contains("group discount 5% for all customers: -1.50"), "{text}");
    assert!(text.contains("tax VAT23 23%: 6.42"), "{text}");

    // A special price beats the list and is not discounted.
    let sp = app
        .post(&format!("/api/v1/customers/{}/prices", w.c1), t, json!({"item_id": w.item_b, "price": "80.00"}))
        .await;
    assert_eq!(sp.status, 201, "{}", sp.body);
    assert_eq!(sp.body["currency"], "EUR", "the customer's currency by default");
    let q = app
        .post(
            "/api/v1/pricing/quote",
            t,
            json!({"customer_id": w.c1, "date": "2026-06-15", "lines": [line(w.item_b, "1")]}),
        )
        .await;
    assert_eq!(q.body["lines"][0]["source"]["kind"], "customer_price");
    assert_eq!(q.body["lines"][0]["adjustments"], json!([]));
    assert_eq!((q.body["totals"]["net"].as_str(), q.body["totals"]["gross"].as_str()), (Some("80.00"), Some("86.40")));

    // Another currency: converted at the latest rate on or before the date; base totals back in EUR.
    app.post(
        "/api/v1/exchange-rates",
        t,
        json!({"from_currency": "EUR", "to_currency": "PLN", "rate": "4.25", "valid_from": "2026-01-01"}),
    )
    .await;
    app.post(
        "/api/v1/exchange-rates",
        t,
        json!({"from_currency": "EUR", "to_currency": "PLN", "rate": "4.40", "valid_from": "2026-07-01"}),
    )
    .await;
    let pln = json!({"customer_id": w.c1, "currency": "PLN", "date": "2026-06-15", "lines": [line(w.item_a, "3")]});
    let q = app.post("/api/v1/pricing/quote", t, pln.clone()).await;
    assert_eq!(q.status, 200, "{}", q.body);
    assert_eq!(q.body["lines"][0]["base_unit_price"], "42.50");
    assert_eq!(q.body["totals"]["net"], "118.70");
    assert_eq!(q.body["totals"]["gross"], "146.00");
    assert_eq!(
        q.body["base_currency"],
        json!({"currency": "EUR", "rate": "0.23529412", "net": "27.93", "tax": "6.42", "gross": "34.35"})
    );
    let mut later = pln.clone();
    later["date"] = json!("2026-07-02");
    assert_eq!(app.post("/api/v1/pricing/quote", t, later).await.body["lines"][0]["base_unit_price"], "44.00");
    let usd = app
        .post(
            "/api/v1/pricing/quote",
            t,
            json!({"customer_id": w.c1, "currency": "USD", "lines": [line(w.item_a, "1")]}),
        )
        .await;
    usd.problem(422, "fx_rate_missing");

    // Parent policy: a child without a list uses its parent's (derived) list.
    let wholesale = id(&app
        .post(
            "/api/v1/price-lists",
            t,
            json!({"name": "Wholesale", "currency": "EUR", "base_price_list_id": w.retail, "markup_percent": "20"}),
        )
        .await);
    let parent = id(&app
        .post("/api/v1/customers", t, json!({"name": "Parent", "currency": "EUR", "price_list_id": wholesale}))
        .await);
    let child =
        id(&app.post("/api/v1/customers", t, json!({"name": "Child", "currency": "EUR", "parent_id": parent})).await);
    let q = app.post("/api/v1/pricing/quote", t, json!({"customer_id": child, "lines": [line(w.item_a, "1")]})).await;
    assert_eq!(q.body["price_list_id"], wholesale);
    assert_eq!(q.body["lines"][0]["source"]["kind"], "derived_price_list");
    assert_eq!(q.body["lines"][0]["base_unit_price"], "12.00");
    assert_eq!(q.body["totals"]["net"], "11.40");

    // Tax-exempt customers pay no tax.
    let exempt = id(&app
        .post("/api/v1/customers", t, json!({"name": "NGO", "currency": "EUR", "tax_treatment": "exempt"}))
        .await);
    let q = app.post("/api/v1/pricing/quote", t, json!({"customer_id": exempt, "lines": [line(w.item_a, "1")]})).await;
    assert_eq!((q.body["totals"]["net"].as_str(), q.body["totals"]["tax"].as_str()), (Some("9.50"), Some("0.00")));

    // Bad baskets: every unpriceable line named; validation of the request itself.
    let r = app.post("/api/v1/pricing/quote", t, json!({"customer_id": w.c1, "lines": [line(999, "1"), json!({"item_id": w.item_a, "quantity": "1", "unit": "BOX"})]})).await;
    r.problem(422, "unpriceable_lines");
    assert_eq!(r.error_fields(), vec!["lines[0].item_id", "lines[1]"]);
    let r = app
        .post(
            "/api/v1/pricing/quote",
            t,
            json!({"customer_id": w.c1, "lines": [line(w.item_a, "0"), line(w.item_a, "-1")]}),
        )
        .await;
    assert_eq!(r.error_fields(), vec!["lines[0].quantity", "lines[1].quantity"]);
    let r = app
        .post(
            "/api/v1/pricing/quote",
            t,
            json!({"customer_id": w.c1, "lines": [line(w.item_a, "1"), line(w.item_a, "1.00001")]}),
        )
        .await;
    assert_eq!(r.error_fields(), vec!["lines[1].quantity"]);
    app.post("/api/v1/pricing/quote", t, json!({"customer_id": w.c1, "lines": []}))
        .await
        .problem(422, "validation_failed");
    app.post("/api/v1/pricing/quote", t, json!({"customer_id": 999, "lines": [line(w.item_a, "1")]}))
        .await
        .problem(404, "not_found");

    // Agents price only their own customers.
    let (_, agent) = app.user("agent", &["sales_agent"]).await;
    app.post("/api/v1/pricing/quote", &agent, basket).await.problem(404, "not_found");
    let mine = id(&app.post("/api/v1/customers", &agent, json!({"name": "Mine", "currency": "EUR"})).await);
    assert_eq!(
        app.post("/api/v1/pricing/quote", &agent, json!({"customer_id": mine, "lines": [line(w.item_a, "1")]}))
            .await
            .status,
        200
    );
    app.get(&format!("/api/v1/customers/{}/prices", w.c1), &agent).await.problem(404, "not_found");

    // A constant number of statements, whatever the number of lines.
    let mut many = vec![];
    for n in 0..20 {
        let item = id(&app
            .post(
                "/api/v1/items",
                t,
                json!({"sku": format!("M{n}"), "name": "M", "base_unit": "PCS", "kind": "stock", "tax_rate_id": 1}),
            )
            .await);
        id(&app
            .post(&format!("/api/v1/price-lists/{}/prices", w.retail), t, json!({"item_id": item, "price": "1.00"}))
            .await);
        many.push(line(item, "2"));
    }
    let q20 = app.post("/api/v1/pricing/quote", t, json!({"customer_id": child, "lines": many.clone()})).await;
    assert_eq!(q20.status, 200, "{}", q20.body);
    assert!(q20.statements() <= 15, "a 20-line quote took {} statements", q20.statements());
    let q1 = app.post("/api/v1/pricing/quote", t, json!({"customer_id": child, "lines": [many[0].clone()]})).await;
    assert_eq!(q1.statements(), q20.statements(), "statements do not grow with lines");
}
