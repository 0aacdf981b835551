//! Tokens: `POST /api/v1/auth/token` (OAuth2 password and client-credentials
//! grants) issues HS256 JWTs; every other endpoint verifies them.

use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ordo_core::{DomainError, Principal, PrincipalKind, Role};
use ordo_db::accounts::{self, User};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

use crate::extract::{meta, Auth};
use crate::problem::Problem;
use crate::AppState;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    kind: PrincipalKind,
    uid: i64,
    name: String,
    roles: Vec<Role>,
    iss: String,
    aud: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    /// The principal's token generation at issue ([`ordo_db::tokens`]); tokens from
    /// before revocation existed have none and count as 0.
    #[serde(default)]
    gen: i64,
}

const FEED_AUDIENCE_SUFFIX: &str = ":calendar-feed";
const FEED_TTL_SECONDS: i64 = 366 * 24 * 3600;

pub struct Jwt {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// Calendar feed tokens: same key, their own audience, so they open nothing else.
    feed_validation: Validation,
    issuer: String,
    audience: String,
    ttl_seconds: i64,
}

impl Jwt {
    pub fn new(secret: &[u8], issuer: &str, audience: &str, ttl_seconds: i64) -> Jwt {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.validate_nbf = true;
        validation.validate_exp = true;
        validation.leeway = 30;
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        let mut feed_validation = validation.clone();
        feed_validation.set_audience(&[format!("{audience}{FEED_AUDIENCE_SUFFIX}")]);
        Jwt {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            feed_validation,
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            ttl_seconds,
        }
    }

    pub fn issue(&self, p: &Principal, generation: i64) -> Result<String, Problem> {
        self.sign(p, generation, self.audience.clone(), self.ttl_seconds)
    }

    /// A long-lived token that opens only the caller's calendar feed (a calendar
    /// client cannot refresh an access token).
    pub fn issue_feed(&self, p: &Principal, generation: i64) -> Result<(String, i64), Problem> {
        let token = self.sign(p, generation, format!("{}{FEED_AUDIENCE_SUFFIX}", self.audience), FEED_TTL_SECONDS)?;
        Ok((token, time::OffsetDateTime::now_utc().unix_timestamp() + FEED_TTL_SECONDS))
    }

    fn sign(&self, p: &Principal, gen: i64, audience: String, ttl: i64) -> Result<String, Problem> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = Claims {
            sub: p.actor_key(),
            kind: p.kind,
            uid: p.id,
            name: p.name.clone(),
            roles: p.roles.clone(),
            iss: self.issuer.clone(),
            aud: audience,
            iat: now,
            nbf: now,
            exp: now + ttl,
            gen,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(|e| {
            tracing::error!(cause = %e, "cannot sign token");
            Problem::internal()
        })
    }

    /// The principal and the token generation a valid access token names (whether
    /// that generation is still current is [`current`]'s question).
    pub fn verify(&self, jwt: &str) -> Result<(Principal, i64), Problem> {
        self.check(jwt, &self.validation)
    }

    pub fn verify_feed(&self, jwt: &str) -> Result<(Principal, i64), Problem> {
        self.check(jwt, &self.feed_validation)
    }

    fn check(&self, jwt: &str, validation: &Validation) -> Result<(Principal, i64), Problem> {
        let data = jsonwebtoken::decode::<Claims>(jwt, &self.decoding, validation)
            .map_err(|e| Problem::unauthorized(why_invalid(&e)))?;
        let c = data.claims;
        Ok((Principal { kind: c.kind, id: c.uid, name: c.name, roles: c.roles }, c.gen))
    }

    pub fn ttl_seconds(&self) -> i64 {
        self.ttl_seconds
    }
}

/// Whether a token of `principal` with `generation` is still good: not revoked since
/// (logout, deactivation, new roles or password, a revoked client). Answered from the
/// process's copy when it has one young enough ([`ordo_db::tokens`]), else by one
/// read that refreshes the copy.
pub async fn current(
    state: &web::Data<AppState>,
    stats: &ordo_db::Stats,
    principal: &Principal,
    generation: i64,
) -> Result<(), Problem> {
    use ordo_db::tokens::{self, Lookup};
    let (kind, id) = (principal.kind, principal.id);
    let now = match state.db.tokens().lookup(kind, id, state.config.security.revocation_poll) {
        Lookup::Known(g) => g,
        Lookup::Unknown { epoch } => {
            let (db, stats) = (state.db.clone(), stats.clone());
            let read = web::block(move || db.read(&stats, |c| tokens::state(c, kind, id))).await??;
            state.db.tokens().store(epoch, kind, id, read);
            read.generation
        }
    };
    if now == Some(generation) {
        Ok(())
    } else {
        Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "token_revoked",
            "the token was revoked (logout, deactivation, or a change of roles or password): get a new one",
        ))
    }
}

/// Why a token failed verification, in words a client can act on.
pub fn why_invalid(e: &jsonwebtoken::errors::Error) -> &'static str {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::ExpiredSignature => "the token has expired",
        ErrorKind::ImmatureSignature => "the token is not valid yet",
        ErrorKind::InvalidAudience => "the token is for another audience",
        ErrorKind::InvalidIssuer => "the token is from another issuer",
        ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
        _ => "the token is invalid",
    }
}

pub fn hash_password(password: &str) -> Result<String, DomainError> {
    let salt = SaltString::encode_b64(uuid::Uuid::new_v4().as_bytes())
        .map_err(|e| DomainError::Internal(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| DomainError::Internal(format!("hash: {e}")))
}

/// Verifies in constant time relative to the stored hash; an unknown user is
/// checked against a dummy hash so timing does not reveal which usernames exist.
fn verify_password(password: &str, stored: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password("not-a-real-password").unwrap_or_default());
    let hash = stored.unwrap_or(dummy);
    let ok = PasswordHash::new(hash)
        .map(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
        .unwrap_or(false);
    ok && stored.is_some()
}

pub fn hash_secret(secret: &str) -> String {
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD_NO_PAD, Sha256::digest(secret.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Token request: form-encoded (RFC 6749) or JSON with the same fields.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct TokenRequest {
    /// Another value is a 400 `unsupported_grant_type`.
    #[schema(value_type = GrantType)]
    pub grant_type: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// For `grant_type=refresh_token`: the refresh token from the last answer.
    pub refresh_token: Option<String>,
    /// Accepted and ignored: permissions come from roles.
    pub scope: Option<String>,
}

/// The OAuth2 grant a token request uses.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    Password,
    ClientCredentials,
    RefreshToken,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: i64,
    /// Users only (password and refresh grants): exchange it for a new access token
    /// with `grant_type=refresh_token`. Each use returns a new one and retires this
    /// one; using a retired one again revokes the whole login (it was stolen).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Seconds until the refresh token expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_expires_in: Option<i64>,
}

fn basic_credentials(req: &HttpRequest) -> Option<(String, String)> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let raw = v.strip_prefix("Basic ")?;
    let decoded = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, raw.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

fn invalid_request(field: &str) -> Problem {
    Problem::bad_request("invalid_request", format!("`{field}` is required for this grant type"))
        .with_errors(vec![ordo_core::FieldError::new(field, "required", "required for this grant type")])
}

/// Get an access token.
///
/// The body is form-encoded as RFC 6749 defines it. Password grant:
/// `grant_type=password&username=...&password=...` (answers a refresh token too).
/// Refresh grant: `grant_type=refresh_token&refresh_token=...` (rotates it).
/// Client-credentials grant:
/// `grant_type=client_credentials` with `client_id` and `client_secret` in the body or
/// as HTTP Basic credentials. The same fields may also be sent as a JSON object with
/// `Content-Type: application/json` (not listed as a second body so that every SDK
/// generator produces one token function).
#[utoipa::path(
    tag = "auth",
    operation_id = "createToken",
    security(()),
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "A bearer token", body = TokenResponse),
        (status = 400, description = "Malformed request or unsupported grant type", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong credentials", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Unsupported content type", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/token")]
pub async fn issue_token(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    let mut input: TokenRequest = if ct.starts_with("application/x-www-form-urlencoded") {
        serde_urlencoded::from_bytes(&body)
            .map_err(|e| Problem::bad_request("invalid_request", format!("malformed form body: {e}")))?
    } else if ct.starts_with("application/json") {
        let de = &mut serde_json::Deserializer::from_slice(&body);
        serde_path_to_error::deserialize(&mut *de).map_err(|e| {
            let p = crate::extract::json_error(e);
            Problem {
                status: 400,
                title: "Bad Request".into(),
                code: "invalid_request".into(),
                type_: "/problems/invalid_request".into(),
                ..p
            }
        })?
    } else {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send application/x-www-form-urlencoded (RFC 6749) or application/json",
        ));
    };
    if input.client_id.is_none() {
        if let Some((id, secret)) = basic_credentials(&req) {
            input.client_id = Some(id);
            input.client_secret = Some(secret);
        }
    }
    let client_ip = state.limits.client_ip(&req);
    crate::limits::enforce(&req, state.limits.token_per_ip.as_ref(), &client_ip, "token requests from this address")?;
    let stats = meta(&req).stats;
    let db = state.db.clone();
    let refresh_ttl = state.config.refresh_token_ttl;
    let sec = &state.config.security;
    let policy = accounts::LockoutPolicy { max_failures: sec.login_max_failures, lockout: sec.login_lockout };
    // Users get a refresh token with their access token; API clients do not (they
    // keep their secret and ask again).
    let mut refresh: Option<String> = None;
    let (principal, generation) =
        match input.grant_type.as_str() {
            "password" => {
                let username = input.username.ok_or_else(|| invalid_request("username"))?;
                let password = input.password.ok_or_else(|| invalid_request("password"))?;
                let login = web::block(move || {
                    password_login(&db, &stats, &username, &password, policy, &client_ip, refresh_ttl)
                })
                .await??;
                match login {
                    Login::Ok { user, refresh_token } => {
                        refresh = Some(refresh_token);
                        (user_principal(&user), user.token_generation)
                    }
                    Login::Wrong => {
                        return Err(Problem::unauthorized("wrong username or password, or the user is deactivated"))
                    }
                    Login::Locked(until) => return Err(locked(until)),
                }
            }
            "refresh_token" => {
                let token = input.refresh_token.ok_or_else(|| invalid_request("refresh_token"))?;
                let outcome =
                    web::block(move || db.write(&stats, |c| accounts::use_refresh(c, &token, refresh_ttl))).await??;
                match outcome {
                    accounts::Refresh::Rotated { user, token } => {
                        refresh = Some(token);
                        (user_principal(&user), user.token_generation)
                    }
                    accounts::Refresh::Invalid => return Err(Problem::unauthorized(
                        "the refresh token is unknown, expired or revoked, or the user is deactivated: log in again",
                    )),
                    accounts::Refresh::Reused => return Err(Problem::unauthorized(
                        "the refresh token was already used: every token of this login is revoked now, log in again",
                    )),
                }
            }
            "client_credentials" => {
                let client_id = input.client_id.ok_or_else(|| invalid_request("client_id"))?;
                let secret = input.client_secret.ok_or_else(|| invalid_request("client_secret"))?;
                let row = web::block(move || db.read(&stats, |c| accounts::find_client(c, &client_id))).await??;
                let presented = hash_secret(&secret);
                let stored = row.as_ref().map(|r| r.secret_hash.clone()).unwrap_or_default();
                match row {
                    Some(r) if constant_time_eq(presented.as_bytes(), stored.as_bytes()) && r.active => (
                        Principal {
                            kind: PrincipalKind::ApiClient,
                            id: r.id,
                            name: r.name.clone(),
                            roles: accounts::parse_roles(&r.roles),
                        },
                        r.token_generation,
                    ),
                    _ => return Err(Problem::unauthorized("wrong client id or secret, or the client is revoked")),
                }
            }
            other => {
                return Err(Problem::bad_request(
                    "unsupported_grant_type",
                    format!("grant_type {other:?} is not supported; use password, client_credentials or refresh_token"),
                ))
            }
        };
    let access_token = state.jwt.issue(&principal, generation)?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in: state.jwt.ttl_seconds(),
        refresh_expires_in: refresh.as_ref().map(|_| refresh_ttl),
        refresh_token: refresh,
    }))
}

enum Login {
    Ok {
        user: Box<accounts::UserRow>,
        refresh_token: String,
    },
    Wrong,
    /// Locked until then (by this attempt or earlier ones).
    Locked(time::PrimitiveDateTime),
}

/// The password grant: a locked user is refused before the password is checked (no
/// guessing while locked, and no hashing work for the attacker to cause); a wrong
/// password is counted against the user.
fn password_login(
    db: &ordo_db::Db,
    stats: &ordo_db::Stats,
    username: &str,
    password: &str,
    policy: accounts::LockoutPolicy,
    client_ip: &str,
    refresh_ttl: i64,
) -> Result<Login, DomainError> {
    let row = db.read(stats, |c| accounts::find_user_by_name(c, username))?;
    let now = ordo_core::time_util::now();
    if let Some(until) = row.as_ref().and_then(|r| r.locked_until).filter(|u| *u > now) {
        return Ok(Login::Locked(until));
    }
    let ok = verify_password(password, row.as_ref().map(|r| r.password_hash.as_str()));
    match row {
        Some(user) if ok && user.active => {
            let refresh_token = db.write(stats, |c| {
                accounts::reset_failed_logins(c, &user)?;
                accounts::issue_refresh(c, user.id, None, refresh_ttl)
            })?;
            Ok(Login::Ok { user: Box::new(user), refresh_token })
        }
        Some(user) if !ok => match db.write(stats, |c| accounts::login_failed(c, &user, policy, client_ip))? {
            Some(until) => Ok(Login::Locked(until)),
            None => Ok(Login::Wrong),
        },
        _ => Ok(Login::Wrong),
    }
}

fn locked(until: time::PrimitiveDateTime) -> Problem {
    let wait = (until - ordo_core::time_util::now()).whole_seconds().max(1);
    let mut p = Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "login_locked",
        format!("too many wrong passwords: this user cannot log in for {wait} s (an administrator can unlock it by setting a password or `active: true`)"),
    );
    p.retry_after = Some(wait as u64);
    p
}

fn user_principal(r: &accounts::UserRow) -> Principal {
    Principal { kind: PrincipalKind::User, id: r.id, name: r.username.clone(), roles: accounts::parse_roles(&r.roles) }
}

/// `POST /auth/logout`
#[derive(Debug, Default, Deserialize, validator::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Logout {
    /// End only the login this refresh token belongs to; without it, every login of
    /// the caller ends.
    #[validate(length(min = 1, max = 200))]
    pub refresh_token: Option<String>,
}

/// End a login: its refresh tokens are revoked, so nothing can be refreshed any more,
/// and every access token of the caller stops working at once (the next request with
/// one is a 401 `token_revoked`; other processes follow within
/// `ORDO_REVOCATION_POLL_MS`). Another device's login keeps its refresh token (unless
/// none was named) and gets a new access token with it.
#[utoipa::path(tag = "auth", operation_id = "logout", request_body = Logout,
    responses((status = 204, description = "Logged out: refresh tokens and access tokens revoked")))]
#[post("/auth/logout")]
pub async fn logout(auth: Auth, body: crate::extract::ValidJson<Logout>) -> Result<HttpResponse, Problem> {
    let (kind, id) = (auth.caller.principal.kind, auth.caller.principal.id);
    let token = body.0.refresh_token;
    auth.write(move |c, _| {
        if kind == PrincipalKind::User {
            accounts::revoke_refresh(c, id, token.as_deref())?;
        }
        accounts::end_access_tokens(c, kind, id)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Who am I: the caller's identity and roles.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    pub kind: PrincipalKind,
    pub id: i64,
    pub name: String,
    pub roles: Vec<Role>,
    /// The full user record, for users (absent for API clients).
    pub user: Option<User>,
}

/// Who is calling: the principal behind the token, its roles and (for users) the user.
///
/// Front ends call it after login to decide what to show; an agent's `roles` say they
/// see only their own customers.
#[utoipa::path(tag = "auth", operation_id = "getMe", responses((status = 200, description = "The caller", body = Me)))]
#[get("/me")]
pub async fn me(auth: Auth) -> Result<HttpResponse, Problem> {
    let p = auth.caller.principal.clone();
    let user = match p.user_id() {
        Some(id) => Some(auth.read(move |c, caller| accounts::get_user(c, caller, id)).await?),
        None => None,
    };
    Ok(HttpResponse::Ok().json(Me { kind: p.kind, id: p.id, name: p.name, roles: p.roles, user }))
}
