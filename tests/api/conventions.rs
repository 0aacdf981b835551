//! The cross-cutting HTTP conventions: problem+json everywhere, request ids, probes.

use crate::on_both_backends;
use crate::support::TestApp;
use reqwest::Method;
use serde_json::json;

on_both_backends!(errors_are_problems, request_ids_and_probes);

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
