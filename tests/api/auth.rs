//! Tokens, users, API clients, roles.

use crate::on_both_backends;
use crate::support::{TestApp, AUDIENCE, ISSUER, SECRET};
use reqwest::Method;
use serde_json::json;

on_both_backends!(
    password_grant_form_and_json,
    bad_tokens_are_401,
    client_credentials_and_revocation,
    roles_are_enforced,
    users_admin_lifecycle,
    refresh_tokens_rotate_and_logout_revokes,
);

async fn password_grant_form_and_json(app: TestApp) {
    // JSON body with the same fields as the form.
    let r = app
        .call(
            Method::POST,
            "/api/v1/auth/token",
            "",
            Some(json!({"grant_type": "password", "username": "root", "password": "root-password"})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 600);
    let token = r.body["access_token"].as_str().unwrap().to_string();
    let me = app.get("/api/v1/me", &token).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["name"], "root");
    assert_eq!(me.body["roles"], json!(["admin"]));
    assert_eq!(me.body["user"]["username"], "root");

    let wrong = app
        .call(
            Method::POST,
            "/api/v1/auth/token",
            "",
            Some(json!({"grant_type": "password", "username": "root", "password": "nope"})),
            &[],
        )
        .await;
    wrong.problem(401, "unauthorized");
    let unknown = app
        .call(
            Method::POST,
            "/api/v1/auth/token",
            "",
            Some(json!({"grant_type": "password", "username": "ghost", "password": "nope"})),
            &[],
        )
        .await;
    unknown.problem(401, "unauthorized");
    assert_eq!(wrong.body["detail"], unknown.body["detail"], "no hint which usernames exist");
    let grant = app.call(Method::POST, "/api/v1/auth/token", "", Some(json!({"grant_type": "implicit"})), &[]).await;
    grant.problem(400, "unsupported_grant_type");
    let missing = app
        .call(Method::POST, "/api/v1/auth/token", "", Some(json!({"grant_type": "password", "username": "root"})), &[])
        .await;
    missing.problem(400, "invalid_request");
    assert_eq!(missing.error_fields(), vec!["password"]);
    let text = app.raw(Method::POST, "/api/v1/auth/token", "", "text/plain", "hello").await;
    text.problem(415, "unsupported_media_type");
}

fn token_with(claims: serde_json::Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

async fn bad_tokens_are_401(app: TestApp) {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = |iss: &str, aud: &str, exp: i64| json!({"sub": "user:1", "kind": "user", "uid": 1, "name": "root", "roles": ["admin"], "iss": iss, "aud": aud, "iat": now, "nbf": now - 10, "exp": exp});
    let good = token_with(claims(ISSUER, AUDIENCE, now + 300), SECRET);
    assert_eq!(app.get("/api/v1/customers", &good).await.status, 200, "a well-formed token works");

    let r = app.get("/api/v1/customers", "").await;
    r.problem(401, "unauthorized");
    assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
    let expired = token_with(claims(ISSUER, AUDIENCE, now - 3600), SECRET);
    let r = app.get("/api/v1/customers", &expired).await;
    r.problem(401, "unauthorized");
    assert_eq!(r.body["detail"], "the token has expired");
    let r = app.get("/api/v1/customers", &token_with(claims(ISSUER, "someone-else", now + 300), SECRET)).await;
    r.problem(401, "unauthorized");
    assert_eq!(r.body["detail"], "the token is for another audience");
    let r = app.get("/api/v1/customers", &token_with(claims("evil", AUDIENCE, now + 300), SECRET)).await;
    r.problem(401, "unauthorized");
    app.get(
        "/api/v1/customers",
        &token_with(claims(ISSUER, AUDIENCE, now + 300), "another-secret-another-secret-123456"),
    )
    .await
    .problem(401, "unauthorized");
    app.get("/api/v1/customers", "garbage").await.problem(401, "unauthorized");
}

async fn client_credentials_and_revocation(app: TestApp) {
    let r = app
        .post("/api/v1/api-clients", &app.admin_token, json!({"name": "ERP sync", "roles": ["sales_manager"]}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let (id, client_id, secret) = (
        r.body["id"].as_i64().unwrap(),
        r.body["client_id"].as_str().unwrap().to_string(),
        r.body["client_secret"].as_str().unwrap().to_string(),
    );
    // The secret is shown once: never in reads.
    let read = app.get(&format!("/api/v1/api-clients/{id}"), &app.admin_token).await;
    assert!(read.body.get("client_secret").is_none());
    assert!(!read.body.to_string().contains(&secret));

    let form = app
        .client
        .post(format!("{}/api/v1/auth/token", app.base))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id.as_str()),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let answer = form.json::<serde_json::Value>().await.unwrap();
    assert!(answer.get("refresh_token").is_none(), "clients keep their secret: no refresh token");
    let token = answer["access_token"].as_str().unwrap().to_string();
    let me = app.get("/api/v1/me", &token).await;
    assert_eq!(me.body["kind"], "api_client");
    assert_eq!(me.body["user"], serde_json::Value::Null);
    assert_eq!(
        app.post("/api/v1/customers", &token, json!({"name": "Via client", "currency": "EUR"})).await.status,
        201
    );

    // HTTP Basic client authentication (RFC 6749 2.3.1).
    let basic = app
        .client
        .post(format!("{}/api/v1/auth/token", app.base))
        .basic_auth(&client_id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 200);
    let wrong = app
        .client
        .post(format!("{}/api/v1/auth/token", app.base))
        .form(&[("grant_type", "client_credentials"), ("client_id", client_id.as_str()), ("client_secret", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    let revoked =
        app.call(Method::POST, &format!("/api/v1/api-clients/{id}/revoke"), &app.admin_token, None, &[]).await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_eq!(revoked.body["active"], false);
    app.call(Method::POST, &format!("/api/v1/api-clients/{id}/revoke"), &app.admin_token, None, &[])
        .await
        .problem(409, "already_revoked");
    let after = app
        .client
        .post(format!("{}/api/v1/auth/token", app.base))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id.as_str()),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 401);
    let list = app.get("/api/v1/api-clients", &app.admin_token).await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
}

async fn roles_are_enforced(app: TestApp) {
    let (_, viewer) = app.user("vera", &["viewer"]).await;
    let (_, agent) = app.user("adam", &["sales_agent"]).await;
    let (_, manager) = app.user("mona", &["sales_manager"]).await;
    let (_, warehouse) = app.user("walt", &["warehouse"]).await;
    let before = app.count("audit_log");
    app.post("/api/v1/customers", &viewer, json!({"name": "X", "currency": "EUR"})).await.problem(403, "forbidden");
    app.post("/api/v1/items", &agent, json!({"sku": "A1", "name": "A", "base_unit": "PCS", "kind": "stock"}))
        .await
        .problem(403, "forbidden");
    app.get("/api/v1/users", &manager).await.problem(403, "forbidden");
    app.post("/api/v1/api-clients", &manager, json!({"name": "x", "roles": ["admin"]})).await.problem(403, "forbidden");
    app.post(
        "/api/v1/users",
        &agent,
        json!({"username": "eve", "display_name": "Eve", "password": "password-123", "roles": ["admin"]}),
    )
    .await
    .problem(403, "forbidden");
    assert_eq!(app.count("audit_log"), before, "refused requests write nothing");
    // What the roles do allow.
    assert_eq!(app.get("/api/v1/customers", &viewer).await.status, 200);
    assert_eq!(
        app.post("/api/v1/items", &warehouse, json!({"sku": "W1", "name": "W", "base_unit": "PCS", "kind": "stock"}))
            .await
            .status,
        201
    );
    assert_eq!(app.post("/api/v1/customers", &manager, json!({"name": "M", "currency": "EUR"})).await.status, 201);
}

async fn users_admin_lifecycle(app: TestApp) {
    let (id, token) = app.user("carl", &["sales_agent"]).await;
    let dup = app
        .post(
            "/api/v1/users",
            &app.admin_token,
            json!({"username": "carl", "display_name": "Carl 2", "password": "password-123", "roles": ["viewer"]}),
        )
        .await;
    dup.problem(409, "duplicate_username");
    let bad = app
        .post(
            "/api/v1/users",
            &app.admin_token,
            json!({"username": "X Y", "display_name": "", "password": "short", "roles": []}),
        )
        .await;
    bad.problem(422, "validation_failed");
    assert_eq!(bad.error_fields(), vec!["display_name", "password", "roles", "username"]);
    let unknown_role = app
        .post(
            "/api/v1/users",
            &app.admin_token,
            json!({"username": "zed", "display_name": "Z", "password": "password-123", "roles": ["boss"]}),
        )
        .await;
    unknown_role.problem(422, "validation_failed");
    assert_eq!(unknown_role.error_fields(), vec!["roles[0]"]);

    // A user may read themself, not others.
    assert_eq!(app.get(&format!("/api/v1/users/{id}"), &token).await.status, 200);
    app.get("/api/v1/users/1", &token).await.problem(403, "forbidden");

    let u = app.get(&format!("/api/v1/users/{id}"), &app.admin_token).await;
    assert_eq!(u.etag_version(), Some(1));
    assert!(u.body.get("password_hash").is_none());
    let stale = app
        .call(
            Method::PATCH,
            &format!("/api/v1/users/{id}"),
            &app.admin_token,
            Some(json!({"active": false})),
            &[("If-Match", "\"7\"")],
        )
        .await;
    stale.problem(412, "precondition_failed");
    let off = app
        .call(
            Method::PATCH,
            &format!("/api/v1/users/{id}"),
            &app.admin_token,
            Some(json!({"active": false, "roles": ["viewer", "sales_agent"]})),
            &[("If-Match", "\"1\"")],
        )
        .await;
    assert_eq!(off.status, 200, "{}", off.body);
    assert_eq!(off.body["roles"], json!(["sales_agent", "viewer"]));
    let login = app
        .client
        .post(format!("{}/api/v1/auth/token", app.base))
        .form(&[("grant_type", "password"), ("username", "carl"), ("password", "password-123")])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 401, "deactivated users get no token");
    // Password change, then reactivate.
    app.patch(&format!("/api/v1/users/{id}"), &app.admin_token, json!({"active": true, "password": "new-password-1"}))
        .await;
    app.login("carl", "new-password-1").await;
    let h = app.get(&format!("/api/v1/users/{id}/history"), &app.admin_token).await;
    let actions: Vec<_> =
        h.body["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_string()).collect();
    assert_eq!(actions, vec!["create", "update", "update"]);
    assert_eq!(h.body["data"][2]["changes"]["password"], "changed");
    assert!(!h.body.to_string().contains("new-password-1"));
    // An admin cannot lock themself out.
    app.patch("/api/v1/users/1", &app.admin_token, json!({"active": false})).await.problem(422, "self_lockout");
    let list = app.get("/api/v1/users?limit=1", &app.admin_token).await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
    assert!(list.body["next_cursor"].is_string());
}

async fn refresh_tokens_rotate_and_logout_revokes(app: TestApp) {
    let form = |fields: Vec<(&'static str, String)>| {
        let app = &app;
        async move {
            let r = app.client.post(format!("{}/api/v1/auth/token", app.base)).form(&fields).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<serde_json::Value>().await.unwrap())
        }
    };
    let login = || {
        form(vec![("grant_type", "password".into()), ("username", "root".into()), ("password", "root-password".into())])
    };
    let refresh = |t: String| form(vec![("grant_type", "refresh_token".into()), ("refresh_token", t)]);
    let (status, first) = login().await;
    assert_eq!(status, 200);
    assert_eq!(first["refresh_expires_in"], 3600);
    let r1 = first["refresh_token"].as_str().unwrap().to_string();
    // A refresh gives a working access token and a new refresh token.
    let (status, second) = refresh(r1.clone()).await;
    assert_eq!(status, 200, "{second}");
    let r2 = second["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(r1, r2);
    assert_eq!(app.get("/api/v1/me", second["access_token"].as_str().unwrap()).await.status, 200);
    // Using the retired one again: 401, and the login's newer token dies with it.
    let (status, reused) = refresh(r1).await;
    assert_eq!((status, reused["code"].as_str()), (401, Some("unauthorized")));
    assert_eq!(refresh(r2).await.0, 401, "the whole family is revoked");
    // Logout ends one login (by its refresh token) or all of them.
    let (_, a) = login().await;
    let (_, b) = login().await;
    let access = a["access_token"].as_str().unwrap().to_string();
    let out = app
        .call(Method::POST, "/api/v1/auth/logout", &access, Some(json!({"refresh_token": a["refresh_token"]})), &[])
        .await;
    assert_eq!(out.status, 204, "{}", out.body);
    assert_eq!(refresh(a["refresh_token"].as_str().unwrap().to_string()).await.0, 401);
    let (status, b2) = refresh(b["refresh_token"].as_str().unwrap().to_string()).await;
    assert_eq!(status, 200, "another login goes on");
    assert_eq!(app.call(Method::POST, "/api/v1/auth/logout", &access, Some(json!({})), &[]).await.status, 204);
    assert_eq!(refresh(b2["refresh_token"].as_str().unwrap().to_string()).await.0, 401, "all logins ended");
    // Concurrent refreshes of one token: one wins, and the replay ends the login.
    let (_, c) = login().await;
    let token = c["refresh_token"].as_str().unwrap().to_string();
    let results = futures_util::future::join_all((0..10).map(|_| refresh(token.clone()))).await;
    assert_eq!(results.iter().filter(|r| r.0 == 200).count(), 1);
    // A deactivated user's refresh tokens are revoked.
    let (uid, _) = app.user("temp", &["viewer"]).await;
    let (_, t) =
        form(vec![("grant_type", "password".into()), ("username", "temp".into()), ("password", "password-123".into())])
            .await;
    let p = app.patch(&format!("/api/v1/users/{uid}"), &app.admin_token, json!({"active": false})).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(refresh(t["refresh_token"].as_str().unwrap().to_string()).await.0, 401);
}
