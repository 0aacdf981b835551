//! Sorting, filtering and searching lists: every sort pages without skipping or
//! repeating a row, descending is the exact reverse of ascending, a cursor belongs to its
//! sort, and the document filters (`q`, `updated_since`, dates) answer what they say
//! within the caller's scope.

use crate::support::TestApp;
use serde_json::Value;

/// Every id of a list in one sort, following cursors `limit` rows at a time.
async fn walk(app: &TestApp, token: &str, path: &str, sort: &str, limit: usize) -> Vec<i64> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut url = format!("{path}{sep}sort={sort}&limit={limit}");
    let mut ids = Vec::new();
    for _ in 0..500 {
        let r = app.get(&url, token).await;
        assert_eq!(r.status, 200, "{url}: {}", r.body);
        let data = r.body["data"].as_array().unwrap();
        assert!(data.len() <= limit);
        ids.extend(data.iter().map(|d| d["id"].as_i64().unwrap()));
        match r.body["next_cursor"].as_str() {
            Some(c) => url = format!("{path}{sep}sort={sort}&limit={limit}&cursor={c}"),
            None => return ids,
        }
    }
    panic!("{path} sort={sort}: no end");
}

async fn rows(app: &TestApp, token: &str, path: &str) -> Vec<Value> {
    let r = app.get(path, token).await;
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    assert!(r.body["next_cursor"].is_null(), "{path}: fits one page");
    r.body["data"].as_array().unwrap().clone()
}

/// For each list and each sort it offers: small pages give the same sequence as one
/// big page, that sequence holds every row once, and `-key` is its exact reverse (ties
/// go by id both ways). Where the key is a number, a date or a zero-padded document
/// number, the order itself is checked too (names depend on the database's collation).
async fn every_sort_pages_exactly(app: TestApp) {
    let manager = app.login("manager", "manager-demo").await;
    type Key = fn(&Value) -> Option<SortKey>;
    let num: Key = |d| text(&d["number"]);
    let date: Key = |d| text(&d["date"]);
    let total: Key = |d| d["totals"]["gross"].as_str().map(|g| SortKey::Amount(g.parse().unwrap()));
    let sku: Key = |d| text(&d["sku"]);
    let created: Key = |d| {
        let t = d["created_at"].as_str()?;
        Some(SortKey::Time(time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).unwrap()))
    };
    type Sorts<'a> = &'a [(&'a str, Option<Key>)];
    let lists: &[(&str, Sorts)] = &[
        (
            "/api/v1/sales-orders",
            &[
                ("number", Some(num)),
                ("date", Some(date)),
                ("total", Some(total)),
                ("customer_name", None),
                ("created_at", Some(created)),
                ("updated_at", None),
                ("id", None),
            ],
        ),
        (
            "/api/v1/quotations",
            &[("number", Some(num)), ("date", Some(date)), ("total", Some(total)), ("customer_name", None)],
        ),
        ("/api/v1/blanket-orders", &[("number", Some(num)), ("date", None), ("customer_name", None)]),
        ("/api/v1/deliveries", &[("number", Some(num)), ("customer_name", None), ("created_at", Some(created))]),
        ("/api/v1/returns", &[("number", Some(num)), ("updated_at", None)]),
        ("/api/v1/customers", &[("number", Some(num)), ("name", None), ("updated_at", None)]),
        ("/api/v1/items", &[("sku", Some(sku)), ("name", None), ("created_at", Some(created))]),
        ("/api/v1/leads", &[("number", Some(num)), ("created_at", None)]),
        ("/api/v1/opportunities", &[("title", None), ("amount", None), ("stage_changed_at", None)]),
        ("/api/v1/warehouses", &[("id", None)]),
        ("/api/v1/stock/ledger", &[("id", None)]),
    ];
    for (path, sorts) in lists {
        let all = rows(&app, &manager, &format!("{path}?limit=200")).await;
        let mut every: Vec<i64> = all.iter().map(|d| d["id"].as_i64().unwrap()).collect();
        every.sort();
        assert!(!every.is_empty(), "{path}: the demo has rows");
        for (key, value) in sorts.iter() {
            let one = walk(&app, &manager, path, key, 200).await;
            let mut seen = one.clone();
            seen.sort();
            assert_eq!(seen, every, "{path} sort={key}: every row once");
            for limit in [1, 3] {
                assert_eq!(walk(&app, &manager, path, key, limit).await, one, "{path} sort={key} limit={limit}");
            }
            let mut desc = walk(&app, &manager, path, &format!("-{key}"), 2).await;
            desc.reverse();
            assert_eq!(desc, one, "{path}: -{key} is the reverse of {key}");
            if let Some(value) = value {
                let by_id: std::collections::HashMap<i64, &Value> =
                    all.iter().map(|d| (d["id"].as_i64().unwrap(), d)).collect();
                let keys: Vec<(Option<SortKey>, i64)> = one.iter().map(|id| (value(by_id[id]), *id)).collect();
                let mut sorted = keys.clone();
                sorted.sort();
                assert_eq!(keys, sorted, "{path} sort={key}: in order");
            }
        }
    }

    // Documents default to newest first; other lists to oldest first.
    for path in ["/api/v1/sales-orders", "/api/v1/quotations", "/api/v1/deliveries", "/api/v1/returns"] {
        let ids: Vec<i64> = rows(&app, &manager, &format!("{path}?limit=200"))
            .await
            .iter()
            .map(|d| d["id"].as_i64().unwrap())
            .collect();
        assert!(ids.windows(2).all(|w| w[0] > w[1]), "{path}: newest first by default: {ids:?}");
    }
    let ids: Vec<i64> =
        rows(&app, &manager, "/api/v1/customers?limit=200").await.iter().map(|d| d["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));

    // A cursor belongs to its sort; an unknown sort key is refused with the allowed ones.
    let page = app.get("/api/v1/sales-orders?sort=number&limit=1", &manager).await;
    let cursor = page.body["next_cursor"].as_str().unwrap().to_string();
    let r = app.get(&format!("/api/v1/sales-orders?sort=-date&limit=1&cursor={cursor}"), &manager).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.error_fields(), vec!["cursor"]);
    assert!(r.body["errors"][0]["message"].as_str().unwrap().contains("sort=number"), "{}", r.body);
    let r = app.get(&format!("/api/v1/sales-orders?limit=1&cursor={cursor}"), &manager).await;
    assert_eq!(r.status, 422, "the default sort is another sort: {}", r.body);
    let r = app.get("/api/v1/sales-orders?sort=colour", &manager).await;
    r.problem(400, "invalid_query");
    assert_eq!(r.error_fields(), vec!["sort"]);
    let r = app.get("/api/v1/customers?sort=total", &manager).await;
    r.problem(400, "invalid_query");
    // A tampered cursor (right sort, a key of the wrong type) is a 422, not a 500.
    let forged = base64_url(r#"v2:{"s":"number","i":3,"k":17}"#);
    let r = app.get(&format!("/api/v1/sales-orders?sort=number&cursor={forged}"), &manager).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.error_fields(), vec!["cursor"]);
}

fn text(v: &Value) -> Option<SortKey> {
    v.as_str().map(|s| SortKey::Text(s.to_string()))
}

/// What a client-side check compares: text (ASCII: numbers, SKUs, ISO dates) or an
/// exact amount.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum SortKey {
    Text(String),
    Amount(rust_decimal::Decimal),
    Time(time::OffsetDateTime),
}

fn base64_url(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

/// `q`, `updated_since`, `date_from`/`date_to` on document lists, inside the caller's
/// scope: an agent searching for another agent's customer by name finds nothing.
async fn document_filters(app: TestApp) {
    let manager = app.login("manager", "manager-demo").await;
    let alice = app.login("alice", "alice-demo").await;
    let orders = rows(&app, &manager, "/api/v1/sales-orders?limit=200").await;
    let customers = rows(&app, &manager, "/api/v1/customers?limit=200").await;
    let name_of =
        |id: i64| -> String { customers.iter().find(|c| c["id"] == id).unwrap()["name"].as_str().unwrap().to_string() };
    let ids = |v: &[Value]| -> Vec<i64> { v.iter().map(|d| d["id"].as_i64().unwrap()).collect() };
    let expect = |pred: &dyn Fn(&Value) -> bool| -> Vec<i64> {
        ids(&orders.iter().filter(|d| pred(d)).cloned().collect::<Vec<_>>())
    };

    // Number prefix, any case.
    let first = &orders[0];
    let number = first["number"].as_str().unwrap();
    let got = rows(&app, &manager, &format!("/api/v1/sales-orders?limit=200&q={}", number.to_lowercase())).await;
    assert_eq!(ids(&got), vec![first["id"].as_i64().unwrap()], "{number}");
    let prefix = &number[..number.len() - 1];
    let got = rows(&app, &manager, &format!("/api/v1/sales-orders?limit=200&q={prefix}")).await;
    assert_eq!(ids(&got), expect(&|d| d["number"].as_str().unwrap().starts_with(prefix)));
    // Part of the customer's name, any case.
    let cid = first["customer_id"].as_i64().unwrap();
    let name = name_of(cid);
    let word = name.split_whitespace().next().unwrap().to_uppercase();
    let got = rows(&app, &manager, &format!("/api/v1/sales-orders?limit=200&q={}", urlencode(&word))).await;
    let want = expect(&|d| name_of(d["customer_id"].as_i64().unwrap()).to_uppercase().contains(&word));
    assert_eq!(ids(&got), want);
    assert!(!want.is_empty());
    // The customer's PO number: set one and find the order by a piece of it.
    let r = app
        .patch(
            &format!("/api/v1/sales-orders/{}", first["id"]),
            &manager,
            serde_json::json!({"customer_po": "PO-zebra-4711"}),
        )
        .await;
    if r.status == 200 {
        let got = rows(&app, &manager, "/api/v1/sales-orders?limit=200&q=ZEBRA-47").await;
        assert_eq!(ids(&got), vec![first["id"].as_i64().unwrap()]);
        // Only what changed since: that order.
        let since = r.body["updated_at"].as_str().unwrap();
        let got =
            rows(&app, &manager, &format!("/api/v1/sales-orders?limit=200&updated_since={}", urlencode(since))).await;
        assert_eq!(ids(&got), vec![first["id"].as_i64().unwrap()]);
    } else {
        assert_eq!(r.status, 409, "a confirmed demo order is read-only: {}", r.body);
    }
    // Wildcards match literally.
    assert!(rows(&app, &manager, "/api/v1/sales-orders?limit=200&q=%25").await.is_empty());
    assert!(rows(&app, &manager, "/api/v1/sales-orders?limit=200&q=_").await.is_empty());

    // Date range, inclusive both ends.
    let mut dates: Vec<&str> = orders.iter().map(|d| d["date"].as_str().unwrap()).collect();
    dates.sort();
    let (lo, hi) = (dates[dates.len() / 4], dates[dates.len() * 3 / 4]);
    let got = rows(&app, &manager, &format!("/api/v1/sales-orders?limit=200&date_from={lo}&date_to={hi}")).await;
    assert_eq!(
        ids(&got),
        expect(&|d| {
            let x = d["date"].as_str().unwrap();
            x >= lo && x <= hi
        })
    );
    let r = app.get("/api/v1/sales-orders?date_from=31.12.2026", &manager).await;
    r.problem(400, "invalid_query");
    assert_eq!(r.error_fields(), vec!["date_from"]);
    let r = app.get("/api/v1/sales-orders?updated_since=yesterday", &manager).await;
    r.problem(400, "invalid_query");

    // Scope: an agent searching for a customer she does not own finds nothing; the
    // manager finds the same customer's documents.
    let bob = app.login("bob", "bob-demo").await;
    let mut found = None;
    for agent in [&alice, &bob] {
        let mine = rows(&app, agent, "/api/v1/customers?limit=200").await;
        let foreign = customers
            .iter()
            .find(|c| !mine.iter().any(|m| m["id"] == c["id"]) && orders.iter().any(|o| o["customer_id"] == c["id"]));
        if let Some(f) = foreign {
            found = Some((agent.clone(), mine, f.clone()));
            break;
        }
    }
    let (agent, mine, foreign) = found.expect("a customer of another agent with orders");
    let fname = foreign["name"].as_str().unwrap();
    let got = rows(&app, &agent, &format!("/api/v1/sales-orders?limit=200&q={}", urlencode(fname))).await;
    assert!(got.iter().all(|d| mine.iter().any(|m| m["id"] == d["customer_id"])), "{got:?}");
    let got = rows(&app, &manager, &format!("/api/v1/sales-orders?limit=200&q={}", urlencode(fname))).await;
    assert!(got.iter().any(|d| d["customer_id"] == foreign["id"]));

    // include_total: the count of every matching row, in scope, on any page; only when asked.
    let r = app.get("/api/v1/sales-orders?limit=2&include_total=true", &manager).await;
    assert_eq!(r.body["total"], orders.len() as i64, "{}", r.body);
    let cursor = r.body["next_cursor"].as_str().unwrap();
    let r = app.get(&format!("/api/v1/sales-orders?limit=2&include_total=true&cursor={cursor}"), &manager).await;
    assert_eq!(r.body["total"], orders.len() as i64, "the total is of the list, not of what is left");
    assert!(app.get("/api/v1/sales-orders?limit=2", &manager).await.body.get("total").is_none());
    let r = app
        .get(&format!("/api/v1/sales-orders?limit=1&include_total=true&date_from={lo}&date_to={hi}"), &manager)
        .await;
    assert_eq!(
        r.body["total"],
        expect(&|d| {
            let x = d["date"].as_str().unwrap();
            x >= lo && x <= hi
        })
        .len() as i64
    );
    let r = app.get("/api/v1/customers?limit=1&include_total=true", &agent).await;
    assert_eq!(r.body["total"], mine.len() as i64, "an agent counts their own customers");
    let r = app.get("/api/v1/items?limit=1&include_total=true&sort=-name", &manager).await;
    assert_eq!(r.body["total"], 50);
    for path in ["/api/v1/quotations", "/api/v1/blanket-orders", "/api/v1/deliveries", "/api/v1/returns"] {
        let all = rows(&app, &agent, &format!("{path}?limit=200")).await;
        let r = app.get(&format!("{path}?limit=1&include_total=true"), &agent).await;
        assert_eq!(r.body["total"], all.len() as i64, "{path}");
    }
    let r = app.get("/api/v1/sales-orders?include_total=maybe", &manager).await;
    r.problem(400, "invalid_query");

    // The same filters on quotations, blanket orders, deliveries and returns.
    for path in ["/api/v1/quotations", "/api/v1/blanket-orders", "/api/v1/deliveries", "/api/v1/returns"] {
        let all = rows(&app, &manager, &format!("{path}?limit=200")).await;
        let n = all[0]["number"].as_str().unwrap();
        let got = rows(&app, &manager, &format!("{path}?limit=200&q={n}")).await;
        assert!(got.iter().any(|d| d["id"] == all[0]["id"]), "{path} q={n}");
        assert!(got.iter().all(|d| d["number"].as_str().unwrap().starts_with(n)));
        let got = rows(&app, &manager, &format!("{path}?limit=200&date_from=2999-01-01")).await;
        assert!(got.is_empty(), "{path}: nothing from the future");
        let got =
            rows(&app, &manager, &format!("{path}?limit=200&date_to=2999-01-01&updated_since=2000-01-01T00:00:00Z"))
                .await;
        assert_eq!(got.len(), all.len(), "{path}");
    }
}

/// `?expand=` embeds the customer, contact, owner, sales person and line items, equal to
/// what their own endpoints say, in a constant number of statements per page, and
/// only within what the caller may see.
async fn expansion(app: TestApp) {
    let admin = app.login("admin", "admin-demo").await;
    let manager = app.login("manager", "manager-demo").await;
    let users = rows(&app, &admin, "/api/v1/users?limit=200").await;
    let display = |id: &Value| users.iter().find(|u| &u["id"] == id).map(|u| u["display_name"].clone());
    let customers = rows(&app, &manager, "/api/v1/customers?limit=200").await;
    let customer = |id: &Value| customers.iter().find(|c| &c["id"] == id).unwrap().clone();

    let orders =
        rows(&app, &manager, "/api/v1/sales-orders?limit=200&expand=customer,owner,contact,sales_person").await;
    assert!(orders.len() >= 5);
    let mut owners = 0;
    for o in &orders {
        let c = customer(&o["customer_id"]);
        let e = &o["expanded"];
        assert_eq!(e["customer"]["id"], o["customer_id"]);
        assert_eq!(e["customer"]["name"], c["name"]);
        assert_eq!(e["customer"]["number"], c["number"]);
        match display(&c["owner_id"]) {
            Some(name) => {
                owners += 1;
                assert_eq!(e["owner"]["display_name"], name, "{o}");
                assert_eq!(e["owner"]["id"], c["owner_id"]);
            }
            None => assert!(e.get("owner").is_none()),
        }
        assert_eq!(e.get("contact").is_some(), !o["contact_id"].is_null(), "{o}");
        if !o["contact_id"].is_null() {
            assert_eq!(e["contact"]["id"], o["contact_id"]);
        }
        assert_eq!(e.get("sales_person").is_some(), !o["sales_person_id"].is_null());
    }
    assert!(owners > 0, "the demo's customers have owners");
    // Without expand: no embedded objects at all.
    assert!(rows(&app, &manager, "/api/v1/sales-orders?limit=200").await.iter().all(|o| o.get("expanded").is_none()));
    // No query per row: a page of 2 and a page of all cost the same statements.
    let small = app.get("/api/v1/sales-orders?limit=2&expand=customer,owner,contact,sales_person", &manager).await;
    let big = app.get("/api/v1/sales-orders?limit=200&expand=customer,owner,contact,sales_person", &manager).await;
    assert_eq!(small.statements(), big.statements(), "expansion is per page, not per row");

    // Lines' items on a single document, equal to the items' own records.
    let o = &orders[orders.len() - 1];
    let one = app.get(&format!("/api/v1/sales-orders/{}?expand=lines.item,customer", o["id"]), &manager).await;
    assert_eq!(one.status, 200, "{}", one.body);
    let lines = one.body["lines"].as_array().unwrap();
    assert!(!lines.is_empty());
    for l in lines {
        let item = app.get(&format!("/api/v1/items/{}", l["item_id"]), &manager).await.body;
        assert_eq!(l["item"]["sku"], item["sku"], "{l}");
        assert_eq!(l["item"]["name"], item["name"]);
        assert_eq!(l["item"]["base_unit"], item["base_unit"]);
    }
    assert_eq!(one.body["expanded"]["customer"]["id"], o["customer_id"]);
    for path in ["/api/v1/quotations", "/api/v1/blanket-orders", "/api/v1/deliveries", "/api/v1/returns"] {
        let docs = rows(&app, &manager, &format!("{path}?limit=200&expand=customer,lines.item")).await;
        for d in &docs {
            assert_eq!(d["expanded"]["customer"]["id"], d["customer_id"], "{path}");
        }
        let id = &docs[0]["id"];
        let one = app.get(&format!("{path}/{id}?expand=lines.item"), &manager).await;
        assert_eq!(one.status, 200, "{path}: {}", one.body);
        for l in one.body["lines"].as_array().unwrap() {
            assert!(l["item"]["sku"].is_string(), "{path}: {l}");
        }
    }

    // An agent resolves the owner's display name on their own records and sees nothing
    // of anyone else's: another agent's order stays a 404 with or without expand.
    let alice = app.login("alice", "alice-demo").await;
    let me = app.get("/api/v1/me", &alice).await.body;
    let mine = rows(&app, &alice, "/api/v1/customers?limit=200&expand=owner").await;
    assert!(!mine.is_empty());
    for c in &mine {
        assert_eq!(c["expanded"]["owner"]["display_name"], me["user"]["display_name"], "{c}");
        assert_eq!(c["expanded"]["owner"]["id"], me["id"]);
    }
    let her_orders = rows(&app, &alice, "/api/v1/sales-orders?limit=200&expand=customer,owner").await;
    assert!(her_orders.iter().all(|o| mine.iter().any(|c| c["id"] == o["customer_id"])));
    // (The demo's orders are all alice's customers': bob is the other agent.)
    let bob = app.login("bob", "bob-demo").await;
    let bobs = rows(&app, &bob, "/api/v1/customers?limit=200").await;
    let foreign = orders.iter().find(|o| !bobs.iter().any(|c| c["id"] == o["customer_id"])).unwrap();
    app.get(&format!("/api/v1/sales-orders/{}?expand=customer", foreign["id"]), &bob).await.problem(404, "not_found");
    let c = app.get(&format!("/api/v1/customers/{}?expand=owner", foreign["customer_id"]), &bob).await;
    c.problem(404, "not_found");
    let listed = rows(&app, &bob, "/api/v1/sales-orders?limit=200&expand=customer,owner").await;
    assert!(listed.iter().all(|o| bobs.iter().any(|c| c["id"] == o["customer_id"])));

    // Unknown expansions are a 400 naming the parameter.
    let r = app.get("/api/v1/sales-orders?expand=customer,price", &manager).await;
    r.problem(400, "invalid_query");
    assert_eq!(r.error_fields(), vec!["expand"]);
    app.get("/api/v1/customers?expand=lines.item", &manager).await.problem(400, "invalid_query");
    app.get(&format!("/api/v1/deliveries/{}?expand=everything", 1), &manager).await.problem(400, "invalid_query");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// RFC 4180 as the export writes it: quoted cells may hold commas, quotes and newlines.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut cell, mut quoted) = (vec![], vec![], String::new(), false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            ('"', true) => quoted = false,
            ('"', false) if cell.is_empty() => quoted = true,
            (',', false) => row.push(std::mem::take(&mut cell)),
            ('\r', false) if chars.peek() == Some(&'\n') => {}
            ('\n', false) => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (c, _) => cell.push(c),
        }
    }
    assert!(cell.is_empty() && row.is_empty(), "every line ends with CRLF");
    rows
}

async fn csv(app: &TestApp, token: &str, path: &str) -> Vec<Vec<String>> {
    let r = app.call(reqwest::Method::GET, path, token, None, &[("accept", "text/csv")]).await;
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    assert_eq!(r.header("content-type").as_deref(), Some("text/csv; charset=utf-8"));
    assert!(r.header("content-disposition").unwrap().starts_with("attachment; filename="));
    parse_csv(r.body.as_str().expect("a CSV body"))
}

/// `Accept: text/csv` exports every row of a list, across pages, in the request's sort
/// and filters and the caller's scope, with the item schema's columns; values are the
/// JSON values exactly (money stays a decimal string); formulas are defused.
async fn csv_export(app: TestApp) {
    let manager = app.login("manager", "manager-demo").await;
    let bob = app.login("bob", "bob-demo").await;
    // More than one 200-row read: 230 customers beside the demo's.
    for n in 0..230 {
        let name = if n == 0 { "=HYPERLINK(\"x\"), \"Quoted\" Ltd".to_string() } else { format!("Bulk {n:03}") };
        let r = app
            .post(
                "/api/v1/customers",
                &manager,
                serde_json::json!({"name": name, "currency": "EUR",
            "credit_limit": "1234.50", "legal_name": "Line 1\nLine 2"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let json_ids = walk(&app, &manager, "/api/v1/customers", "-name", 200).await;
    let table = csv(&app, &manager, "/api/v1/customers?sort=-name&limit=5").await;
    let spec: Value = serde_json::from_str(&std::fs::read_to_string("openapi/openapi.json").unwrap()).unwrap();
    let columns: Vec<&String> =
        spec["components"]["schemas"]["Customer"]["properties"].as_object().unwrap().keys().collect();
    assert_eq!(table[0].iter().collect::<Vec<_>>(), columns, "the header is the schema's properties in order");
    let col = |name: &str| table[0].iter().position(|c| c == name).unwrap();
    let ids: Vec<i64> = table[1..].iter().map(|r| r[col("id")].parse().unwrap()).collect();
    assert_eq!(ids, json_ids, "every row once, in the requested sort, ignoring limit");
    let odd = table.iter().find(|r| r[col("name")].contains("HYPERLINK")).unwrap();
    assert_eq!(odd[col("name")], "'=HYPERLINK(\"x\"), \"Quoted\" Ltd");
    assert_eq!(odd[col("credit_limit")], "1234.50");
    assert_eq!(odd[col("legal_name")], "Line 1\nLine 2");
    assert_eq!(odd[col("tags")], "[]", "arrays are JSON text");

    // Filters and scope apply as for JSON.
    let eur = csv(&app, &manager, "/api/v1/customers?q=Bulk").await;
    assert_eq!(eur.len() - 1, 229);
    let bobs = csv(&app, &bob, "/api/v1/customers").await;
    let bob_json = walk(&app, &bob, "/api/v1/customers", "id", 200).await;
    assert_eq!(bobs.len() - 1, bob_json.len());

    // Other lists: documents with their sort, a one-page list, a history, a search.
    let orders = csv(&app, &manager, "/api/v1/sales-orders?sort=-total").await;
    let order_ids = walk(&app, &manager, "/api/v1/sales-orders", "-total", 200).await;
    let oc = orders[0].iter().position(|c| c == "id").unwrap();
    assert_eq!(orders[1..].iter().map(|r| r[oc].parse::<i64>().unwrap()).collect::<Vec<_>>(), order_ids);
    assert!(csv(&app, &manager, "/api/v1/currencies").await.len() > 100);
    let hits = csv(&app, &manager, "/api/v1/search?q=bulk&kinds=customer").await;
    assert_eq!(hits.len() - 1, 229);

    // Negotiation: JSON stays the default and wins when preferred; errors stay problems.
    let r = app
        .call(
            reqwest::Method::GET,
            "/api/v1/customers?limit=1",
            &manager,
            None,
            &[("accept", "text/csv;q=0.5, application/json")],
        )
        .await;
    assert!(r.body["data"].is_array());
    let r = app
        .call(
            reqwest::Method::GET,
            "/api/v1/customers?limit=1",
            &manager,
            None,
            &[("accept", "application/json;q=0.2, text/csv")],
        )
        .await;
    assert!(r.body.is_string());
    let r = app
        .call(reqwest::Method::GET, "/api/v1/customers?sort=shoe_size", &manager, None, &[("accept", "text/csv")])
        .await;
    r.problem(400, "invalid_query");
    let r = app.call(reqwest::Method::GET, "/api/v1/users", &bob, None, &[("accept", "text/csv")]).await;
    r.problem(403, "forbidden");
}

crate::on_demo!(every_sort_pages_exactly, document_filters, expansion, csv_export);
