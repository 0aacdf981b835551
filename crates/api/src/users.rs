//! `/users` and `/api-clients` (admin only).

use actix_web::http::StatusCode;
use actix_web::{get, patch, post, web, HttpResponse};
use ordo_core::Page;
use ordo_db::accounts::{self, ApiClient, ApiClientCreate, User, UserCreate, UserPatch};
use serde::Serialize;

use crate::auth::{hash_password, hash_secret};
use crate::common::{history_page, HistoryEntry, PageQuery};
use crate::extract::{json_response, Auth, IfMatch, ReplyMeta, StrictQuery, ValidJson};
use crate::problem::Problem;

/// Create a user (admin).
#[utoipa::path(
    tag = "users",
    operation_id = "createUser",
    request_body = UserCreate,
    responses(
        (status = 201, description = "Created", body = User, headers(("ETag" = String), ("Location" = String))),
        (status = 409, description = "Duplicate username", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/users")]
pub async fn create_user(auth: Auth, body: ValidJson<UserCreate>) -> Result<HttpResponse, Problem> {
    auth.caller.require(ordo_core::Permission::UsersManage)?;
    let input = body.0;
    let pw = input.password.clone();
    let hash = web::block(move || hash_password(&pw)).await??;
    auth.post(
        StatusCode::CREATED,
        move |c, caller| accounts::create_user(c, caller, &input, &hash),
        |v| ReplyMeta { location: Some(format!("/api/v1/users/{}", v.id)), version: Some(v.version) },
    )
    .await
}

/// List users (admin).
#[utoipa::path(
    tag = "users",
    operation_id = "listUsers",
    params(PageQuery),
    responses((status = 200, description = "A page of users", body = Page<User>))
)]
#[get("/users")]
pub async fn list_users(auth: Auth, q: StrictQuery<PageQuery>) -> Result<HttpResponse, Problem> {
    let page = q.0.page()?;
    auth.list(page, accounts::list_users).await
}

/// Get a user (admin, or the user themself).
#[utoipa::path(
    tag = "users",
    operation_id = "getUser",
    params(("id" = i64, Path, description = "User id")),
    responses((status = 200, description = "The user", body = User, headers(("ETag" = String))))
)]
#[get("/users/{id}")]
pub async fn get_user(auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    let u = auth.read(move |c, caller| accounts::get_user(c, caller, id)).await?;
    Ok(json_response(StatusCode::OK, &u, Some(u.version)))
}

/// Update a user: roles, active flag, name, email, password. Users are never
/// deleted (the audit trail names them); deactivate instead.
#[utoipa::path(
    tag = "users",
    operation_id = "updateUser",
    params(("id" = i64, Path, description = "User id")),
    request_body(content = UserPatch, content_type = "application/merge-patch+json"),
    responses((status = 200, description = "Updated", body = User, headers(("ETag" = String))))
)]
#[patch("/users/{id}")]
pub async fn update_user(
    auth: Auth,
    id: web::Path<i64>,
    if_match: IfMatch,
    body: ValidJson<UserPatch>,
) -> Result<HttpResponse, Problem> {
    auth.caller.require(ordo_core::Permission::UsersManage)?;
    let (id, patch) = (id.into_inner(), body.0);
    let hash = match patch.password.clone() {
        Some(pw) => Some(web::block(move || hash_password(&pw)).await??),
        None => None,
    };
    let u = auth.write(move |c, caller| accounts::update_user(c, caller, id, if_match.0, &patch, hash)).await?;
    Ok(json_response(StatusCode::OK, &u, Some(u.version)))
}

/// The change history of a user (admin).
#[utoipa::path(
    tag = "users",
    operation_id = "getUserHistory",
    params(("id" = i64, Path, description = "User id"), PageQuery),
    responses((status = 200, description = "History, oldest first", body = Page<HistoryEntry>))
)]
#[get("/users/{id}/history")]
pub async fn user_history(auth: Auth, id: web::Path<i64>, q: StrictQuery<PageQuery>) -> Result<HttpResponse, Problem> {
    let (id, page) = (id.into_inner(), q.0.page()?);
    auth.list(page, move |c, caller, page| accounts::user_history(c, caller, id, page).map(history_page)).await
}

/// A new API client with its secret. The secret is shown only in this response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApiClientWithSecret {
    #[serde(flatten)]
    pub client: ApiClient,
    /// Store it now: only its hash is kept.
    pub client_secret: String,
}

fn random_token() -> String {
    let mut bytes = Vec::with_capacity(32);
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
}

/// Create an API client (admin) for the client-credentials grant.
#[utoipa::path(
    tag = "users",
    operation_id = "createApiClient",
    request_body = ApiClientCreate,
    responses((status = 201, description = "Created; the secret is shown once", body = ApiClientWithSecret, headers(("Location" = String))))
)]
#[post("/api-clients")]
pub async fn create_api_client(auth: Auth, body: ValidJson<ApiClientCreate>) -> Result<HttpResponse, Problem> {
    let input = body.0;
    let client_id = format!("oc_{}", uuid::Uuid::new_v4().simple());
    let secret = random_token();
    let secret_hash = hash_secret(&secret);
    auth.post(
        StatusCode::CREATED,
        move |c, caller| {
            let client = accounts::create_client(c, caller, &input, &client_id, &secret_hash)?;
            Ok(ApiClientWithSecret { client, client_secret: secret })
        },
        |v| ReplyMeta {
            location: Some(format!("/api/v1/api-clients/{}", v.client.id)),
            version: Some(v.client.version),
        },
    )
    .await
}

/// List API clients (admin).
#[utoipa::path(
    tag = "users",
    operation_id = "listApiClients",
    params(PageQuery),
    responses((status = 200, description = "A page of API clients", body = Page<ApiClient>))
)]
#[get("/api-clients")]
pub async fn list_api_clients(auth: Auth, q: StrictQuery<PageQuery>) -> Result<HttpResponse, Problem> {
    let page = q.0.page()?;
    auth.list(page, accounts::list_clients).await
}

/// Get an API client (admin).
#[utoipa::path(
    tag = "users",
    operation_id = "getApiClient",
    params(("id" = i64, Path, description = "API client id")),
    responses((status = 200, description = "The client", body = ApiClient, headers(("ETag" = String))))
)]
#[get("/api-clients/{id}")]
pub async fn get_api_client(auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    let c = auth.read(move |c, caller| accounts::get_client(c, caller, id)).await?;
    Ok(json_response(StatusCode::OK, &c, Some(c.version)))
}

/// Revoke an API client: it can get no new tokens (tokens already issued live
/// until they expire, at most `ORDO_ACCESS_TOKEN_TTL` seconds).
#[utoipa::path(
    tag = "users",
    operation_id = "revokeApiClient",
    params(("id" = i64, Path, description = "API client id")),
    responses(
        (status = 200, description = "Revoked", body = ApiClient, headers(("ETag" = String))),
        (status = 409, description = "Already revoked", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api-clients/{id}/revoke")]
pub async fn revoke_api_client(auth: Auth, id: web::Path<i64>, if_match: IfMatch) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    auth.post(
        StatusCode::OK,
        move |c, caller| accounts::revoke_client(c, caller, id, if_match.0),
        |v| ReplyMeta { location: None, version: Some(v.version) },
    )
    .await
}
