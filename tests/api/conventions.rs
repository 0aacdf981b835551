//! The cross-cutting HTTP conventions: problem+json everywhere, request ids, probes.

use crate::on_both_backends;
use crate::support::TestApp;
use reqwest::Method;
use serde_json::json;

on_both_backends!(
    errors_are_problems,
    request_ids_and_probes,
    conditional_requests_and_caching,
    cors_for_configured_origins,
    hardening_headers_on_every_answer
);

/// Every answer — a read, a write, an error, a token, the docs — says no sniffing, no
/// referrer, no framing; none may be kept by a shared cache: representations are
/// `private, no-cache`, errors and tokens `no-store`.
async fn hardening_headers_on_every_answer(app: TestApp) {
    let t = &app.admin_token;
    let hardened = |r: &crate::support::Resp, cache: &str, what: &str| {
        assert_eq!(r.header("x-content-type-options").as_deref(), Some("nosniff"), "{what}");
        assert_eq!(r.header("referrer-policy").as_deref(), Some("no-referrer"), "{what}");
        assert_eq!(r.header("x-frame-options").as_deref(), Some("DENY"), "{what}");
        assert_eq!(r.header("cache-control").as_deref(), Some(cache), "{what}");
    };
    let c = app.post("/api/v1/customers", t, json!({"name": "Acme", "currency": "EUR"})).await;
    assert_eq!(c.status, 201);
    // A write's result carries the tag a client sends back with If-Match: private, as reads.
    hardened(&c, "private, no-cache", "a write's result");
    hardened(&app.get(&format!("/api/v1/customers/{}", c.body["id"]), t).await, "private, no-cache", "a read");
    hardened(&app.get("/api/v1/customers", "").await, "no-store", "401 without a token");
    hardened(&app.get("/api/v1/customers/987654321", t).await, "no-store", "404");
    let grant = |password: &str| json!({"grant_type": "password", "username": "root", "password": password});
    let issued = app.post("/api/v1/auth/token", "", grant("root-password")).await;
    assert_eq!(issued.status, 200, "{}", issued.body);
    hardened(&issued, "no-store", "a token (RFC 6749 5.1)");
    let refused = app.post("/api/v1/auth/token", "", grant("wrong")).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    hardened(&refused, "no-store", "a refused token request");
    let docs = app.client.get(format!("{}/docs/", app.base)).send().await.unwrap();
    assert_eq!(docs.headers().get("x-frame-options").map(|v| v.to_str().unwrap()), Some("DENY"));
    assert_eq!(docs.headers().get("x-content-type-options").map(|v| v.to_str().unwrap()), Some("nosniff"));
}

async fn errors_are_problems(app: TestApp) {
    let t = &app.admin_token;
    let r = app.get("/api/v1/no-such-thing", t).await;
    r.problem(404, "not_found");
    let r = app.call(Method::PUT, "/api/v1/customers/1", t, Some(json!({})), &[]).await;
    r.problem(405, "method_not_allowed");
    assert_eq!(r.header("allow").as_deref(), Some("GET, PATCH, DELETE"));
    app.call(Method::DELETE, "/api/v1/customers", t, None, &[]).await.problem(405, "method_not_allowed");
    app.get("/api/v1/customers/abc", t).await.problem(400, "invalid_path");
    app.get("/api/v1/customers/1/contacts/x", t).await.problem(400, "invalid_path");
    let big = format!("{{\"name\": \"{}\", \"currency\": \"EUR\"}}", "x".repeat(2 * 1024 * 1024));
    app.raw(Method::POST, "/api/v1/customers", t, "application/json", &big).await.problem(413, "payload_too_large");
    app.call(Method::PATCH, "/api/v1/customers/1", t, Some(json!({})), &[("If-Match", "garbage")])
        .await
        .problem(400, "invalid_if_match");
}

async fn request_ids_and_probes(app: TestApp) {
    let r = app.call(Method::GET, "/healthz", "", None, &[("X-Request-Id", "trace-123")]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-request-id").as_deref(), Some("trace-123"));
    let r = app.get("/readyz", "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "ready");
    // A generated id when none (or a malformed one) is sent.
    let r = app.call(Method::GET, "/healthz", "", None, &[("X-Request-Id", "bad id!")]).await;
    assert_eq!(r.header("x-request-id").unwrap().len(), 36);
    let spec = app.get("/api/v1/openapi.json", "").await;
    assert_eq!(spec.body["openapi"], "3.1.0");
    let docs = app.client.get(format!("{}/docs", app.base)).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger"));
}

async fn conditional_requests_and_caching(app: TestApp) {
    let t = &app.admin_token;
    let c = app.post("/api/v1/customers", t, json!({"name": "Acme", "currency": "EUR"})).await;
    let url = format!("/api/v1/customers/{}", c.body["id"]);
    let first = app.get(&url, t).await;
    let tag = first.header("etag").unwrap();
    assert!(tag.starts_with("\"1-"), "version and digest: {tag}");
    assert_eq!(first.header("cache-control").as_deref(), Some("private, no-cache"));
    assert_eq!(first.header("vary").as_deref(), Some("Authorization"));
    // Unchanged: 304 without a body; HEAD: the same headers, no body.
    let again = app.call(Method::GET, &url, t, None, &[("If-None-Match", &tag)]).await;
    assert_eq!(again.status, 304);
    assert_eq!(again.body, serde_json::Value::Null);
    assert_eq!(again.header("etag").as_deref(), Some(tag.as_str()));
    let head = app.call(Method::HEAD, &url, t, None, &[]).await;
    assert_eq!((head.status.as_u16(), head.header("etag")), (200, Some(tag.clone())));
    assert_eq!(head.body, serde_json::Value::Null);
    // The tag works for If-Match; a change makes a new tag and the old one a 200.
    let p = app.call(Method::PATCH, &url, t, Some(json!({"name": "Acme 2"})), &[("If-Match", &tag)]).await;
    assert_eq!(p.status, 200, "{}", p.body);
    app.call(Method::PATCH, &url, t, Some(json!({"name": "Acme 3"})), &[("If-Match", &tag)])
        .await
        .problem(412, "precondition_failed");
    let changed = app.call(Method::GET, &url, t, None, &[("If-None-Match", &tag)]).await;
    assert_eq!(changed.status, 200);
    assert_ne!(changed.header("etag"), Some(tag));
    // Lists too; a new row changes the tag.
    let list = app.get("/api/v1/customers", t).await;
    let ltag = list.header("etag").unwrap();
    assert_eq!(app.call(Method::GET, "/api/v1/customers", t, None, &[("If-None-Match", &ltag)]).await.status, 304);
    assert_eq!(app.call(Method::HEAD, "/api/v1/customers", t, None, &[]).await.status, 200);
    app.post("/api/v1/customers", t, json!({"name": "Beta", "currency": "EUR"})).await;
    assert_eq!(app.call(Method::GET, "/api/v1/customers", t, None, &[("If-None-Match", &ltag)]).await.status, 200);
    // Another caller's view is another representation: no tag is shared across callers
    // that see different data.
    let (_, agent) = app.user("anna", &["sales_agent"]).await;
    let mine = app.call(Method::GET, "/api/v1/customers", &agent, None, &[("If-None-Match", &ltag)]).await;
    assert_eq!(mine.status, 200);
}

async fn cors_for_configured_origins(app: TestApp) {
    let t = &app.admin_token;
    let preflight = |origin: &'static str| {
        let app = &app;
        async move {
            app.call(
                Method::OPTIONS,
                "/api/v1/customers",
                "",
                None,
                &[
                    ("Origin", origin),
                    ("Access-Control-Request-Method", "POST"),
                    ("Access-Control-Request-Headers", "authorization, content-type"),
                ],
            )
            .await
        }
    };
    // The configured origin (the test app allows http://allowed.test).
    let ok = preflight("http://allowed.test").await;
    assert_eq!(ok.status, 204);
    assert_eq!(ok.header("access-control-allow-origin").as_deref(), Some("http://allowed.test"));
    assert!(ok.header("access-control-allow-headers").unwrap().contains("Idempotency-Key"));
    assert!(ok.header("access-control-allow-methods").unwrap().contains("PATCH"));
    assert!(ok.header("access-control-allow-credentials").is_none(), "no cookies: bearer tokens");
    let get = app.call(Method::GET, "/api/v1/customers", t, None, &[("Origin", "http://allowed.test")]).await;
    assert_eq!(get.status, 200);
    assert_eq!(get.header("access-control-allow-origin").as_deref(), Some("http://allowed.test"));
    assert!(get.header("access-control-expose-headers").unwrap().contains("ETag"));
    // Anyone else gets nothing.
    let other = preflight("http://evil.test").await;
    other.problem(403, "cors_origin_not_allowed");
    assert!(other.header("access-control-allow-origin").is_none());
    let get = app.call(Method::GET, "/api/v1/customers", t, None, &[("Origin", "http://evil.test")]).await;
    assert!(get.header("access-control-allow-origin").is_none());
}
