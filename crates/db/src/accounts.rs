//! Users and API clients: who can get a token. Password and secret hashing is the
//! API crate's job; this module only stores hashes.

use crate::audit;
use crate::schema::{api_clients, users};
use crate::DbConnection;
use diesel::prelude::*;
use ordo_core::time_util::now;
use ordo_core::util::{check_version, to_json};
use ordo_core::{Caller, DomainError, Page, PageRequest, Permission, Result, Role};
use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, PrimitiveDateTime};
use validator::{Validate, ValidationError};

pub const USER: &str = "user";
pub const API_CLIENT: &str = "api_client";

pub fn username_chars(u: &str) -> Result<(), ValidationError> {
    if u.len() >= 3
        && u.len() <= 64
        && u.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-@".contains(&b))
    {
        Ok(())
    } else {
        let mut e = ValidationError::new("username");
        e.message = Some("must be 3-64 characters: lower-case letters, digits, . _ - @".into());
        Err(e)
    }
}

pub fn some_roles(r: &[Role]) -> Result<(), ValidationError> {
    if r.is_empty() {
        let mut e = ValidationError::new("length");
        e.message = Some("at least one role is required".into());
        Err(e)
    } else {
        Ok(())
    }
}

fn roles_text(r: &[Role]) -> String {
    let mut v: Vec<&str> = r.iter().map(Role::as_str).collect();
    v.sort_unstable();
    v.dedup();
    v.join(",")
}

pub fn parse_roles(s: &str) -> Vec<Role> {
    s.split(',').filter_map(|r| r.parse().ok()).collect()
}

/// A person who signs in.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub roles: Vec<Role>,
    /// Inactive users cannot get new tokens.
    pub active: bool,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserCreate {
    #[validate(custom(function = "username_chars"))]
    #[schema(pattern = "^[a-z0-9._@-]{3,64}$")]
    pub username: String,
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub display_name: String,
    #[validate(email)]
    #[schema(format = Email)]
    pub email: Option<String>,
    /// At least 8 characters.
    #[validate(length(min = 8, max = 200))]
    #[schema(min_length = 8, max_length = 200)]
    pub password: String,
    #[validate(custom(function = "some_roles"))]
    #[schema(min_items = 1)]
    pub roles: Vec<Role>,
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[validate(email)]
    #[schema(format = Email)]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[validate(length(min = 8, max = 200))]
    #[schema(min_length = 8, max_length = 200)]
    pub password: Option<String>,
    #[validate(custom(function = "some_roles"))]
    #[schema(min_items = 1)]
    pub roles: Option<Vec<Role>>,
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Queryable, Selectable, AsChangeset)]
#[diesel(table_name = users, treat_none_as_null = true)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub password_hash: String,
    pub roles: String,
    pub active: bool,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
    /// Tokens issued with another generation are revoked ([`crate::tokens`]).
    /// These three change only by their own statements (increments, a reset), never
    /// by writing back a row read earlier: a concurrent logout or failed login would
    /// be lost.
    #[diesel(skip_update)]
    pub token_generation: i64,
    /// Wrong passwords since the last lockout or successful login.
    #[diesel(skip_update)]
    pub failed_logins: i32,
    #[diesel(skip_update)]
    pub locked_until: Option<PrimitiveDateTime>,
}

#[derive(Insertable)]
#[diesel(table_name = users)]
struct NewUser<'a> {
    username: &'a str,
    display_name: &'a str,
    email: Option<&'a str>,
    password_hash: &'a str,
    roles: String,
    active: bool,
    version: i64,
    created_at: PrimitiveDateTime,
    updated_at: PrimitiveDateTime,
}

impl UserRow {
    pub fn to_model(&self) -> User {
        User {
            id: self.id,
            username: self.username.clone(),
            display_name: self.display_name.clone(),
            email: self.email.clone(),
            roles: parse_roles(&self.roles),
            active: self.active,
            version: self.version,
            created_at: self.created_at.assume_utc(),
            updated_at: self.updated_at.assume_utc(),
        }
    }
}

pub fn count_users(conn: &mut DbConnection) -> Result<i64> {
    Ok(users::table.count().get_result(conn)?)
}

pub fn find_user_by_name(conn: &mut DbConnection, username: &str) -> Result<Option<UserRow>> {
    Ok(users::table.filter(users::username.eq(username)).select(UserRow::as_select()).first(conn).optional()?)
}

/// The user whose username is `who`, else whose e-mail address is (ignoring case):
/// how an external identity provider's subject or e-mail claim names an Ordo user.
pub fn find_user_by_name_or_email(conn: &mut DbConnection, who: &str) -> Result<Option<UserRow>> {
    if let Some(u) = find_user_by_name(conn, who)? {
        return Ok(Some(u));
    }
    use diesel::dsl::sql;
    use diesel::sql_types::{Bool, Text};
    Ok(users::table
        .filter(sql::<Bool>("lower(email) = lower(").bind::<Text, _>(who).sql(")"))
        .order(users::id)
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

fn find_user(conn: &mut DbConnection, id: i64) -> Result<UserRow> {
    users::table
        .find(id)
        .select(UserRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| DomainError::not_found("user", id))
}

/// Creates a user; `password_hash` is already an argon2id PHC string.
pub fn create_user(conn: &mut DbConnection, caller: &Caller, input: &UserCreate, password_hash: &str) -> Result<User> {
    caller.require(Permission::UsersManage)?;
    let ts = now();
    let row: UserRow = diesel::insert_into(users::table)
        .values(NewUser {
            username: &input.username,
            display_name: input.display_name.trim(),
            email: input.email.as_deref(),
            password_hash,
            roles: roles_text(&input.roles),
            active: input.active.unwrap_or(true),
            version: 1,
            created_at: ts,
            updated_at: ts,
        })
        .returning(users::all_columns)
        .get_result(conn)
        .map_err(ordo_core::error::unique_as("duplicate_username", "another user already has this username"))?;
    let user = row.to_model();
    audit::record(conn, caller, USER, user.id, "create", &to_json(&user))?;
    Ok(user)
}

pub fn get_user(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<User> {
    if caller.principal.user_id() != Some(id) {
        caller.require(Permission::UsersManage)?;
    }
    Ok(find_user(conn, id)?.to_model())
}

pub fn list_users(conn: &mut DbConnection, caller: &Caller, page: &PageRequest) -> Result<Page<User>> {
    caller.require(Permission::UsersManage)?;
    let q = users::table.select(UserRow::as_select()).into_boxed();
    Ok(Page::from_rows(crate::keyset!(q, page, users::id).load(conn)?, page, |r| r.id).map(|r| r.to_model()))
}

pub fn update_user(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    patch: &UserPatch,
    new_password_hash: Option<String>,
) -> Result<User> {
    caller.require(Permission::UsersManage)?;
    let current = find_user(conn, id)?;
    check_version(if_match, current.version)?;
    if caller.principal.user_id() == Some(id)
        && (patch.active == Some(false) || patch.roles.as_ref().is_some_and(|r| !r.contains(&Role::Admin)))
    {
        return Err(DomainError::rule("self_lockout", "you cannot deactivate yourself or remove your own admin role"));
    }
    let mut row = current.clone();
    if let Some(v) = &patch.display_name {
        row.display_name = v.trim().to_string();
    }
    if let Some(v) = &patch.email {
        row.email = v.clone();
    }
    if let Some(v) = &patch.roles {
        row.roles = roles_text(v);
    }
    if let Some(v) = patch.active {
        row.active = v;
    }
    if let Some(h) = new_password_hash {
        row.password_hash = h;
    }
    row.version += 1;
    row.updated_at = now();
    let saved: UserRow =
        diesel::update(users::table.filter(users::id.eq(id)).filter(users::version.eq(current.version)))
            .set(&row)
            .returning(users::all_columns)
            .get_result(conn)
            .optional()?
            .ok_or_else(|| DomainError::stale_version(current.version))?;
    // Access tokens carry the roles and stand for an active user with this password:
    // any change to those ends them (the next request with one is a 401).
    if saved.roles != current.roles || saved.active != current.active || patch.password.is_some() {
        end_access_tokens(conn, ordo_core::PrincipalKind::User, id)?;
    }
    // An administrator setting a password or activating the user lifts a lockout.
    if patch.password.is_some() || patch.active == Some(true) {
        reset_failed_logins(conn, &saved)?;
    }
    let mut changes = audit::diff(&to_json(&current.to_model()), &to_json(&saved.to_model()));
    if patch.password.is_some() {
        changes["password"] = serde_json::json!("changed");
    }
    // A new password or a deactivation ends every browser session of the user.
    if patch.password.is_some() || (current.active && !saved.active) {
        revoke_refresh(conn, id, None)?;
    }
    audit::record(conn, caller, USER, id, "update", &changes)?;
    Ok(saved.to_model())
}

pub fn user_history(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    page: &PageRequest,
) -> Result<Page<audit::Entry>> {
    caller.require(Permission::UsersManage)?;
    find_user(conn, id)?;
    audit::history(conn, USER, id, page)
}

/// Creates a user outside any request (first admin, demo data).
pub fn bootstrap_user(
    conn: &mut DbConnection,
    username: &str,
    display_name: &str,
    roles: &[Role],
    password_hash: &str,
) -> Result<i64> {
    let ts = now();
    diesel::insert_into(users::table)
        .values(NewUser {
            username,
            display_name,
            email: None,
            password_hash,
            roles: roles_text(roles),
            active: true,
            version: 1,
            created_at: ts,
            updated_at: ts,
        })
        .returning(users::id)
        .get_result(conn)
        .map_err(ordo_core::error::unique_as("duplicate_username", "another user already has this username"))
}

// ---- API clients: machine credentials for the client-credentials grant ----------

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = ApiClientCredentials)]
pub struct ApiClient {
    pub id: i64,
    /// The public identifier sent as `client_id`.
    pub client_id: String,
    pub name: String,
    pub roles: Vec<Role>,
    /// False once revoked.
    pub active: bool,
    pub created_by: Option<i64>,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(serialize_with = "ordo_core::serde_util::rfc3339_opt::serialize")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiClientCreate {
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[validate(custom(function = "some_roles"))]
    #[schema(min_items = 1)]
    pub roles: Vec<Role>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_clients)]
pub struct ApiClientRow {
    pub id: i64,
    pub client_id: String,
    pub name: String,
    pub secret_hash: String,
    pub roles: String,
    pub active: bool,
    pub created_by: Option<i64>,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
    pub revoked_at: Option<PrimitiveDateTime>,
    pub token_generation: i64,
}

impl ApiClientRow {
    pub fn to_model(&self) -> ApiClient {
        ApiClient {
            id: self.id,
            client_id: self.client_id.clone(),
            name: self.name.clone(),
            roles: parse_roles(&self.roles),
            active: self.active,
            created_by: self.created_by,
            version: self.version,
            created_at: self.created_at.assume_utc(),
            revoked_at: self.revoked_at.map(|t| t.assume_utc()),
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = api_clients)]
struct NewApiClient<'a> {
    client_id: &'a str,
    name: &'a str,
    secret_hash: &'a str,
    roles: String,
    active: bool,
    created_by: Option<i64>,
    version: i64,
    created_at: PrimitiveDateTime,
    updated_at: PrimitiveDateTime,
}

pub fn find_client(conn: &mut DbConnection, client_id: &str) -> Result<Option<ApiClientRow>> {
    Ok(api_clients::table
        .filter(api_clients::client_id.eq(client_id))
        .select(ApiClientRow::as_select())
        .first(conn)
        .optional()?)
}

fn find_client_by_id(conn: &mut DbConnection, id: i64) -> Result<ApiClientRow> {
    api_clients::table
        .find(id)
        .select(ApiClientRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| DomainError::not_found("api client", id))
}

pub fn create_client(
    conn: &mut DbConnection,
    caller: &Caller,
    input: &ApiClientCreate,
    client_id: &str,
    secret_hash: &str,
) -> Result<ApiClient> {
    caller.require(Permission::ApiClientsManage)?;
    let ts = now();
    let row: ApiClientRow = diesel::insert_into(api_clients::table)
        .values(NewApiClient {
            client_id,
            name: input.name.trim(),
            secret_hash,
            roles: roles_text(&input.roles),
            active: true,
            created_by: caller.principal.user_id(),
            version: 1,
            created_at: ts,
            updated_at: ts,
        })
        .returning(api_clients::all_columns)
        .get_result(conn)?;
    let client = row.to_model();
    audit::record(conn, caller, API_CLIENT, client.id, "create", &to_json(&client))?;
    Ok(client)
}

pub fn get_client(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<ApiClient> {
    caller.require(Permission::ApiClientsManage)?;
    Ok(find_client_by_id(conn, id)?.to_model())
}

pub fn list_clients(conn: &mut DbConnection, caller: &Caller, page: &PageRequest) -> Result<Page<ApiClient>> {
    caller.require(Permission::ApiClientsManage)?;
    let q = api_clients::table.select(ApiClientRow::as_select()).into_boxed();
    Ok(Page::from_rows(crate::keyset!(q, page, api_clients::id).load(conn)?, page, |r| r.id).map(|r| r.to_model()))
}

pub fn revoke_client(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<ApiClient> {
    caller.require(Permission::ApiClientsManage)?;
    let current = find_client_by_id(conn, id)?;
    check_version(if_match, current.version)?;
    if !current.active {
        return Err(DomainError::conflict("already_revoked", format!("api client {id} is already revoked")));
    }
    let ts = now();
    let row: ApiClientRow = diesel::update(
        api_clients::table.filter(api_clients::id.eq(id)).filter(api_clients::version.eq(current.version)),
    )
    .set((
        api_clients::active.eq(false),
        api_clients::revoked_at.eq(Some(ts)),
        api_clients::updated_at.eq(ts),
        api_clients::version.eq(current.version + 1),
        api_clients::token_generation.eq(current.token_generation + 1),
    ))
    .returning(api_clients::all_columns)
    .get_result(conn)
    .optional()?
    .ok_or_else(|| DomainError::stale_version(current.version))?;
    crate::tokens::revoked(conn)?;
    audit::record(conn, caller, API_CLIENT, id, "revoke", &serde_json::json!({"active": {"from": true, "to": false}}))?;
    Ok(row.to_model())
}

// ---- refresh tokens: a browser session without a stored password ------------------

use crate::schema::refresh_tokens as rt;

/// What a refresh token resolves to.
#[derive(Debug)]
pub enum Refresh {
    /// The user, and the rotated token (plain text, to hand out once).
    Rotated { user: Box<UserRow>, token: String },
    /// Unknown, expired, revoked, or the user is deactivated.
    Invalid,
    /// Already used once: someone replayed it, so its whole family is revoked now.
    Reused,
}

fn token_hash(token: &str) -> String {
    use sha2::Digest;
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, sha2::Sha256::digest(token.as_bytes()))
}

fn new_token() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// Issues a refresh token for the user, in `family` (a login's chain) or a new one.
pub fn issue_refresh(conn: &mut DbConnection, user_id: i64, family: Option<&str>, ttl_seconds: i64) -> Result<String> {
    let token = new_token();
    let ts = now();
    let family = family.map(str::to_string).unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    diesel::insert_into(rt::table)
        .values((
            rt::user_id.eq(user_id),
            rt::family.eq(&family),
            rt::token_hash.eq(token_hash(&token)),
            rt::expires_at.eq(ts + time::Duration::seconds(ttl_seconds)),
            rt::created_at.eq(ts),
        ))
        .execute(conn)?;
    Ok(token)
}

/// Uses a refresh token: valid and unused → marked used and replaced by a new one in
/// the same family (a conditional UPDATE, so two concurrent uses cannot both win).
pub fn use_refresh(conn: &mut DbConnection, token: &str, ttl_seconds: i64) -> Result<Refresh> {
    let ts = now();
    /// id, user, family, expires, used, revoked
    type Row = (i64, i64, String, PrimitiveDateTime, Option<PrimitiveDateTime>, Option<PrimitiveDateTime>);
    let row: Option<Row> = rt::table
        .filter(rt::token_hash.eq(token_hash(token)))
        .select((rt::id, rt::user_id, rt::family, rt::expires_at, rt::used_at, rt::revoked_at))
        .first(conn)
        .optional()?;
    let Some((id, user_id, family, expires_at, used_at, revoked_at)) = row else { return Ok(Refresh::Invalid) };
    if revoked_at.is_some() || expires_at <= ts {
        return Ok(Refresh::Invalid);
    }
    let taken = if used_at.is_none() {
        diesel::update(rt::table.find(id).filter(rt::used_at.is_null())).set(rt::used_at.eq(ts)).execute(conn)?
    } else {
        0
    };
    if taken == 0 {
        revoke_family(conn, &family)?;
        return Ok(Refresh::Reused);
    }
    let user = find_user(conn, user_id)?;
    if !user.active {
        return Ok(Refresh::Invalid);
    }
    let token = issue_refresh(conn, user_id, Some(&family), ttl_seconds)?;
    Ok(Refresh::Rotated { user: Box::new(user), token })
}

fn revoke_family(conn: &mut DbConnection, family: &str) -> Result<()> {
    diesel::update(rt::table.filter(rt::family.eq(family)).filter(rt::revoked_at.is_null()))
        .set(rt::revoked_at.eq(now()))
        .execute(conn)?;
    Ok(())
}

/// Logout: the family of `token` (when it is the user's), else every refresh token
/// of the user.
pub fn revoke_refresh(conn: &mut DbConnection, user_id: i64, token: Option<&str>) -> Result<()> {
    match token {
        Some(t) => {
            let family: Option<String> = rt::table
                .filter(rt::token_hash.eq(token_hash(t)))
                .filter(rt::user_id.eq(user_id))
                .select(rt::family)
                .first(conn)
                .optional()?;
            if let Some(f) = family {
                revoke_family(conn, &f)?;
            }
        }
        None => {
            diesel::update(rt::table.filter(rt::user_id.eq(user_id)).filter(rt::revoked_at.is_null()))
                .set(rt::revoked_at.eq(now()))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// Logout: every access token the principal holds stops working (its generation
/// moves on). An API client keeps its secret and asks for a new token.
pub fn end_access_tokens(conn: &mut DbConnection, kind: ordo_core::PrincipalKind, id: i64) -> Result<()> {
    match kind {
        ordo_core::PrincipalKind::User => diesel::update(users::table.find(id))
            .set(users::token_generation.eq(users::token_generation + 1))
            .execute(conn)?,
        ordo_core::PrincipalKind::ApiClient => diesel::update(api_clients::table.find(id))
            .set(api_clients::token_generation.eq(api_clients::token_generation + 1))
            .execute(conn)?,
    };
    crate::tokens::revoked(conn)
}

// ---- failed logins ----------------------------------------------------------------

/// How many wrong passwords in a row lock a user, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    pub max_failures: i32,
    pub lockout: time::Duration,
}

/// Counts a wrong password for the user; the one that reaches the limit locks the
/// user for the policy's window (and starts the count again). Both are audited, so
/// an administrator sees an attack in the user's history. The lock's end, when this
/// failure locked the user.
pub fn login_failed(
    conn: &mut DbConnection,
    user: &UserRow,
    policy: LockoutPolicy,
    client_ip: &str,
) -> Result<Option<PrimitiveDateTime>> {
    let failures: i32 = diesel::update(users::table.find(user.id))
        .set(users::failed_logins.eq(users::failed_logins + 1))
        .returning(users::failed_logins)
        .get_result(conn)?;
    let locked = if policy.max_failures > 0 && failures >= policy.max_failures {
        let until = now() + policy.lockout;
        diesel::update(users::table.find(user.id))
            .set((users::failed_logins.eq(0), users::locked_until.eq(Some(until))))
            .execute(conn)?;
        Some(until)
    } else {
        None
    };
    let mut changes = serde_json::json!({"failed_logins": failures, "client_ip": client_ip});
    if let Some(until) = locked {
        changes["locked_until"] = serde_json::json!(until
            .assume_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default());
    }
    let action = if locked.is_some() { "login_locked" } else { "login_failed" };
    audit::record(conn, &Caller::system(), USER, user.id, action, &changes)?;
    Ok(locked)
}

/// A successful login (or an administrator) starts the count of wrong passwords again
/// and lifts a lock.
pub fn reset_failed_logins(conn: &mut DbConnection, user: &UserRow) -> Result<()> {
    if user.failed_logins != 0 || user.locked_until.is_some() {
        diesel::update(users::table.find(user.id))
            .set((users::failed_logins.eq(0), users::locked_until.eq(None::<PrimitiveDateTime>)))
            .execute(conn)?;
    }
    Ok(())
}
