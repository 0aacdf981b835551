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
    revoked_tokens_stop_at_once,
    failed_logins_lock_the_user,
);

// Tests that need their own limits or revocation settings.
crate::per_backend!(rate_limits_per_address_and_caller, revocation_checks_cost_no_statement, identity_provider_tokens);

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
    // The token it had is revoked with it, at once.
    app.get("/api/v1/me", &token).await.problem(401, "token_revoked");
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
    // Every access token of the caller ends at logout, this login's and the others'.
    app.get("/api/v1/me", &access).await.problem(401, "token_revoked");
    app.get("/api/v1/me", b["access_token"].as_str().unwrap()).await.problem(401, "token_revoked");
    let (status, b2) = refresh(b["refresh_token"].as_str().unwrap().to_string()).await;
    assert_eq!(status, 200, "another login goes on with its refresh token");
    let access_b = b2["access_token"].as_str().unwrap();
    assert_eq!(app.get("/api/v1/me", access_b).await.status, 200, "and a new access token");
    assert_eq!(app.call(Method::POST, "/api/v1/auth/logout", access_b, Some(json!({})), &[]).await.status, 204);
    assert_eq!(refresh(b2["refresh_token"].as_str().unwrap().to_string()).await.0, 401, "all logins ended");
    // Concurrent refreshes of one token: one wins, and the replay ends the login.
    let (_, c) = login().await;
    let token = c["refresh_token"].as_str().unwrap().to_string();
    let results = futures_util::future::join_all((0..10).map(|_| refresh(token.clone()))).await;
    assert_eq!(results.iter().filter(|r| r.0 == 200).count(), 1);
    // A deactivated user's refresh tokens are revoked.
    let admin = app.login("root", "root-password").await;
    let r = app
        .post(
            "/api/v1/users",
            &admin,
            json!({"username": "temp", "display_name": "temp", "password": "password-123", "roles": ["viewer"]}),
        )
        .await;
    let uid = r.body["id"].as_i64().unwrap();
    let (_, t) =
        form(vec![("grant_type", "password".into()), ("username", "temp".into()), ("password", "password-123".into())])
            .await;
    let p = app.patch(&format!("/api/v1/users/{uid}"), &admin, json!({"active": false})).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(refresh(t["refresh_token"].as_str().unwrap().to_string()).await.0, 401);
}

/// Deactivation, new roles, a new password and logout end the tokens already issued
/// on the very next request; other changes leave them alone.
async fn revoked_tokens_stop_at_once(app: TestApp) {
    // A token from before revocation existed (no `gen` claim) is generation 0.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let legacy = token_with(
        json!({"sub": "user:1", "kind": "user", "uid": 1, "name": "root", "roles": ["admin"],
            "iss": ISSUER, "aud": AUDIENCE, "iat": now, "nbf": now, "exp": now + 600}),
        SECRET,
    );
    assert_eq!(app.get("/api/v1/me", &legacy).await.status, 200);

    let (uid, t1) = app.user("revokee", &["viewer"]).await;
    assert_eq!(app.get("/api/v1/me", &t1).await.status, 200);
    let user = format!("/api/v1/users/{uid}");
    // A new display name changes nothing the token stands for.
    assert_eq!(app.patch(&user, &app.admin_token, json!({"display_name": "Re Vokee"})).await.status, 200);
    assert_eq!(app.get("/api/v1/me", &t1).await.status, 200);
    // New roles: the token carries the old ones, so it ends.
    assert_eq!(app.patch(&user, &app.admin_token, json!({"roles": ["accountant"]})).await.status, 200);
    app.get("/api/v1/me", &t1).await.problem(401, "token_revoked");
    let t2 = app.login("revokee", "password-123").await;
    assert_eq!(app.get("/api/v1/me", &t2).await.body["roles"], json!(["accountant"]));
    // A calendar feed token (valid a year) ends with the rest.
    let feed = app.get("/api/v1/activities/calendar-feed", &t2).await;
    let feed_url = feed.body["url"].as_str().map(str::to_string);
    // A new password.
    assert_eq!(app.patch(&user, &app.admin_token, json!({"password": "another-pass-9"})).await.status, 200);
    app.get("/api/v1/me", &t2).await.problem(401, "token_revoked");
    let t3 = app.login("revokee", "another-pass-9").await;
    // Logout.
    assert_eq!(app.call(Method::POST, "/api/v1/auth/logout", &t3, Some(json!({})), &[]).await.status, 204);
    app.get("/api/v1/me", &t3).await.problem(401, "token_revoked");
    // Deactivation.
    let t4 = app.login("revokee", "another-pass-9").await;
    assert_eq!(app.patch(&user, &app.admin_token, json!({"active": false})).await.status, 200);
    app.get("/api/v1/me", &t4).await.problem(401, "token_revoked");
    if let Some(url) = feed_url {
        app.get(&url, "").await.problem(401, "token_revoked");
    }
    // And the legacy token of root still works: other principals are untouched.
    assert_eq!(app.get("/api/v1/me", &legacy).await.status, 200);
    // The revoking writes are in the user's history.
    let history = app.get(&format!("{user}/history"), &app.admin_token).await;
    assert!(history.body["data"].as_array().unwrap().len() >= 4, "{}", history.body);
}

/// Wrong passwords are counted per user: the fifth in a row locks the user for the
/// lockout window, without looking at passwords meanwhile; each is audited; an
/// administrator lifts the lock.
async fn failed_logins_lock_the_user(app: TestApp) {
    let (uid, _) = app.user("guessed", &["viewer"]).await;
    let attempt = |password: &'static str| {
        let app = &app;
        async move {
            let r = app
                .client
                .post(format!("{}/api/v1/auth/token", app.base))
                .form(&[("grant_type", "password"), ("username", "guessed"), ("password", password)])
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().parse::<i64>().unwrap());
            (status, retry, r.json::<serde_json::Value>().await.unwrap())
        }
    };
    // A success starts the count again: 4 wrong, 1 right, 4 wrong never lock.
    for _ in 0..4 {
        assert_eq!(attempt("wrong-one").await.0, 401);
    }
    assert_eq!(attempt("password-123").await.0, 200);
    for _ in 0..4 {
        assert_eq!(attempt("wrong-two").await.0, 401);
    }
    let (status, retry, body) = attempt("wrong-three").await;
    assert_eq!((status, body["code"].as_str()), (429, Some("login_locked")), "{body}");
    let retry = retry.expect("Retry-After");
    assert!((890..=900).contains(&retry), "locked for the 15-minute window: {retry}");
    // Locked: even the right password is refused, without being checked.
    let (status, _, body) = attempt("password-123").await;
    assert_eq!((status, body["code"].as_str()), (429, Some("login_locked")));
    // Every failure and the lock are in the user's history, with the address.
    let history = app.get(&format!("/api/v1/users/{uid}/history?limit=100"), &app.admin_token).await;
    let entries = history.body["data"].as_array().unwrap();
    let count = |action: &str| entries.iter().filter(|e| e["action"] == action).count();
    assert_eq!((count("login_failed"), count("login_locked")), (8, 1), "{}", history.body);
    let locked = entries.iter().find(|e| e["action"] == "login_locked").unwrap();
    assert_eq!(locked["changes"]["client_ip"], "127.0.0.1", "{locked}");
    // Unknown usernames are never locked (nothing to lock; the per-address limit
    // slows guessing down).
    for _ in 0..7 {
        let r = app
            .client
            .post(format!("{}/api/v1/auth/token", app.base))
            .form(&[("grant_type", "password"), ("username", "nobody-here"), ("password", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    // The administrator unlocks by activating (the user is active: nothing else changes).
    let p = app.patch(&format!("/api/v1/users/{uid}"), &app.admin_token, json!({"active": true})).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(attempt("password-123").await.0, 200);
}

/// Limits per client address on the token endpoint and per caller on the API: the
/// burst passes with `RateLimit-*` headers counting down, the next request is a 429
/// with `Retry-After` and changes nothing; another caller has a budget of its own.
async fn rate_limits_per_address_and_caller(kind: crate::support::Kind) {
    let security =
        ordo_api::limits::SecurityConfig { token_per_ip: 4, api_per_principal: 5, ..crate::support::test_security() };
    let Some(app) = TestApp::start_with_security(kind, security).await else { return };
    // Token requests: the app's own admin login was the first.
    let (_, user) = app.user("limited", &["sales_manager"]).await;
    let token = |n: usize| {
        let app = &app;
        async move {
            let r = app
                .client
                .post(format!("{}/api/v1/auth/token", app.base))
                // Not trusted without ORDO_TRUSTED_PROXY_HOPS: the peer address counts.
                .header("X-Forwarded-For", format!("10.0.0.{n}"))
                .form(&[("grant_type", "password"), ("username", "limited"), ("password", "password-123")])
                .send()
                .await
                .unwrap();
            let h = |name: &str| r.headers().get(name).map(|v| v.to_str().unwrap().to_string());
            let (status, remaining, retry, limit) =
                (r.status().as_u16(), h("ratelimit-remaining"), h("retry-after"), h("ratelimit-limit"));
            (status, remaining, retry, limit, r.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (status, remaining, _, limit, _) = token(1).await;
    assert_eq!((status, remaining.as_deref(), limit.as_deref()), (200, Some("1"), Some("4")));
    let (status, remaining, _, _, _) = token(2).await;
    assert_eq!((status, remaining.as_deref()), (200, Some("0")));
    let (status, remaining, retry, _, body) = token(3).await;
    assert_eq!((status, body["code"].as_str(), remaining.as_deref()), (429, Some("rate_limited"), Some("0")), "{body}");
    let retry: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=15).contains(&retry), "one request every 15 s at 4 a minute: {retry}");

    // API requests: 5 by this caller pass, counting down (login's check took the first).
    for left in (0..4).rev() {
        let r = app.get("/api/v1/me", &user).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("ratelimit-remaining"), Some(left.to_string()));
        assert_eq!(r.header("ratelimit-policy").as_deref(), Some("5;w=60"));
    }
    let before = app.count("customers");
    let r = app.post("/api/v1/customers", &user, json!({"name": "Over the limit", "currency": "EUR"})).await;
    r.problem(429, "rate_limited");
    assert!(r.header("retry-after").is_some());
    assert_eq!(app.count("customers"), before, "a refused request writes nothing");
    // The administrator has a budget of their own.
    assert_eq!(app.get("/api/v1/me", &app.admin_token).await.status, 200);
}

/// A request whose principal the process knows costs no statement for the revocation
/// check; a revocation in this process is seen at once even with a long poll.
async fn revocation_checks_cost_no_statement(kind: crate::support::Kind) {
    let Some(app) = TestApp::start_with_security(kind, crate::support::test_security()).await else { return };
    let created = app
        .post(
            "/api/v1/users",
            &app.admin_token,
            json!({"username": "counted", "display_name": "Counted", "password": "password-123", "roles": ["viewer"]}),
        )
        .await;
    let uid = created.body["id"].as_i64().unwrap();
    // A principal this process has not seen a request of yet.
    let r = app
        .client
        .post(format!("{}/api/v1/auth/token", app.base))
        .form(&[("grant_type", "password"), ("username", "counted"), ("password", "password-123")])
        .send()
        .await
        .unwrap();
    let token = r.json::<serde_json::Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
    let first = app.get("/api/v1/me", &token).await;
    let second = app.get("/api/v1/me", &token).await;
    assert_eq!(second.status, 200);
    assert_eq!(first.statements(), second.statements() + 1, "one read the first time, none after");
    assert_eq!(
        app.patch(&format!("/api/v1/users/{uid}"), &app.admin_token, json!({"active": false})).await.status,
        200
    );
    app.get("/api/v1/me", &token).await.problem(401, "token_revoked");
}

/// Tokens of an external OpenID Connect provider: RS256 and ES256 verified against its
/// key set (a file here, keys made by `openssl` in the test), a rotated key picked up
/// on its first use, users matched by the e-mail claim, roles from a claim; a wrong
/// issuer, audience, key or algorithm, an expired token, an unknown or deactivated
/// user are all 401.
async fn identity_provider_tokens(kind: crate::support::Kind) {
    use jsonwebtoken::jwk::{Jwk, JwkSet};
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let dir = std::env::temp_dir().join("ordo-tests").join(format!("oidc-{}", crate::support::uuid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    let pem = |name: &str, args: &[&str]| {
        let path = dir.join(name);
        let out = std::process::Command::new("openssl")
            .args(["genpkey", "-out"])
            .arg(&path)
            .args(args)
            .output()
            .expect("openssl (Debian's openssl package) makes the test keys");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        std::fs::read(&path).unwrap()
    };
    let rsa =
        EncodingKey::from_rsa_pem(&pem("rsa.pem", &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])).unwrap();
    let ec =
        EncodingKey::from_ec_pem(&pem("ec.pem", &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])).unwrap();
    let jwk = |key: &EncodingKey, alg: Algorithm, kid: &str| {
        let mut j = Jwk::from_encoding_key(key, alg).unwrap();
        j.common.key_id = Some(kid.to_string());
        j
    };
    let jwks = dir.join("jwks.json");
    let publish = |keys: Vec<Jwk>| std::fs::write(&jwks, serde_json::to_string(&JwkSet { keys }).unwrap()).unwrap();
    publish(vec![jwk(&rsa, Algorithm::RS256, "k1")]);
    let config = ordo_api::oidc::OidcConfig {
        issuer: "https://idp.example.com/realms/sales".into(),
        audience: AUDIENCE.into(),
        jwks: ordo_api::oidc::JwksSource::File(jwks.clone()),
        user_claim: "email".into(),
        roles_claim: Some("realm_access.roles".into()),
        refresh_min_interval: std::time::Duration::ZERO,
    };
    let Some(app) = TestApp::start_with_oidc(kind, config).await else { return };
    let created = app
        .post(
            "/api/v1/users",
            &app.admin_token,
            json!({"username": "ext.user", "display_name": "External", "email": "Ext.User@Example.com",
                "password": "password-123", "roles": ["viewer"]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let uid = created.body["id"].as_i64().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = json!({"iss": "https://idp.example.com/realms/sales", "aud": AUDIENCE, "sub": "f81d4fae",
        "email": "ext.user@example.com", "iat": now, "exp": now + 300,
        "realm_access": {"roles": ["sales_manager", "offline_access"]}});
    let sign = |key: &EncodingKey, alg: Algorithm, kid: &str, claims: &serde_json::Value| {
        let mut h = Header::new(alg);
        h.kid = Some(kid.to_string());
        jsonwebtoken::encode(&h, claims, key).unwrap()
    };
    let with = |patch: serde_json::Value| {
        let mut c = claims.clone();
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };

    // RS256: the user by e-mail (case aside), the roles from the claim.
    let rs = sign(&rsa, Algorithm::RS256, "k1", &claims);
    let me = app.get("/api/v1/me", &rs).await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!((me.body["id"].as_i64(), &me.body["roles"]), (Some(uid), &json!(["sales_manager"])));
    assert_eq!(app.post("/api/v1/customers", &rs, json!({"name": "Via the IdP", "currency": "EUR"})).await.status, 201);
    // ES256 with a key the provider publishes only after rotating: unknown, then found.
    let es = sign(&ec, Algorithm::ES256, "k2", &claims);
    app.get("/api/v1/me", &es).await.problem(401, "unauthorized");
    publish(vec![jwk(&rsa, Algorithm::RS256, "k1"), jwk(&ec, Algorithm::ES256, "k2")]);
    assert_eq!(app.get("/api/v1/me", &es).await.status, 200, "the rotated key is loaded on first use");
    // The old key withdrawn: once the set is read again (a token naming an unknown key
    // makes that happen), tokens signed with it stop working.
    publish(vec![jwk(&ec, Algorithm::ES256, "k2")]);
    app.get("/api/v1/me", &sign(&ec, Algorithm::ES256, "k3", &claims)).await.problem(401, "unauthorized");
    app.get("/api/v1/me", &rs).await.problem(401, "unauthorized");
    // What must be refused.
    for (what, token) in [
        ("another issuer", sign(&ec, Algorithm::ES256, "k2", &with(json!({"iss": "https://evil.example.com"})))),
        ("another audience", sign(&ec, Algorithm::ES256, "k2", &with(json!({"aud": "someone-else"})))),
        ("expired", sign(&ec, Algorithm::ES256, "k2", &with(json!({"exp": now - 120})))),
        ("no such user", sign(&ec, Algorithm::ES256, "k2", &with(json!({"email": "nobody@example.com"})))),
        ("signed by another key", sign(&rsa, Algorithm::RS256, "k2", &claims)),
    ] {
        let r = app.get("/api/v1/me", &token).await;
        assert_eq!(r.status, 401, "{what}: {}", r.body);
    }
    // No Ordo role in the claim: signed in, allowed nothing.
    let none = sign(&ec, Algorithm::ES256, "k2", &with(json!({"realm_access": {"roles": ["offline_access"]}})));
    app.post("/api/v1/customers", &none, json!({"name": "No", "currency": "EUR"})).await.problem(403, "forbidden");
    // Deactivated in Ordo: the provider's token no longer opens anything.
    assert_eq!(app.get("/api/v1/me", &es).await.status, 200);
    assert_eq!(
        app.patch(&format!("/api/v1/users/{uid}"), &app.admin_token, json!({"active": false})).await.status,
        200
    );
    app.get("/api/v1/me", &es).await.problem(401, "unauthorized");
    let _ = std::fs::remove_dir_all(&dir);
}
