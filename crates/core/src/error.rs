//! Domain errors. Each variant maps to exactly one HTTP status in the API crate;
//! domain code never speaks HTTP.

use serde::Serialize;
use std::fmt;

/// One failing input field: `field` is a JSON path like `billing_address.country`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub code: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), code: code.into(), message: message.into() }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum DomainError {
    /// Missing, or not visible to the caller (the two are indistinguishable on purpose).
    NotFound { entity: &'static str, detail: String, errors: Vec<FieldError> },
    /// Input that fails validation; lists every failing field.
    Validation(Vec<FieldError>),
    /// A business rule refuses the request (422 with a specific code).
    Rule { code: &'static str, detail: String, errors: Vec<FieldError> },
    /// The resource's state or a uniqueness constraint conflicts with the request (409).
    Conflict { code: &'static str, detail: String },
    /// `If-Match` did not match the current version (412).
    PreconditionFailed { detail: String },
    /// The caller's role lacks the permission (403); `errors` names the request fields
    /// that need it when only some fields of a body do.
    Forbidden { detail: String, errors: Vec<FieldError> },
    /// A bug or an unavailable dependency; the detail goes to the log, never to the client.
    Internal(String),
}

pub type Result<T, E = DomainError> = std::result::Result<T, E>;

impl DomainError {
    pub fn not_found(entity: &'static str, id: impl fmt::Display) -> Self {
        DomainError::NotFound { entity, detail: format!("{entity} {id} not found"), errors: vec![] }
    }
    /// A reference inside a request body that does not exist or is not visible.
    pub fn reference_not_found(entity: &'static str, field: &str, id: impl fmt::Display) -> Self {
        DomainError::NotFound {
            entity,
            detail: format!("{entity} {id} referenced by `{field}` not found"),
            errors: vec![FieldError::new(field, "not_found", format!("{entity} {id} not found"))],
        }
    }
    pub fn field(field: &str, code: &str, message: impl Into<String>) -> Self {
        DomainError::Validation(vec![FieldError::new(field, code, message)])
    }
    /// The error as field errors (a bulk import reports them per row): the fields it
    /// names, or one entry without a field carrying its code and detail.
    pub fn field_errors(&self) -> Vec<FieldError> {
        let whole = |code: &str, detail: &str| vec![FieldError::new("", code, detail)];
        match self {
            DomainError::Validation(e) => e.clone(),
            DomainError::NotFound { errors, detail, .. } if errors.is_empty() => whole("not_found", detail),
            DomainError::NotFound { errors, .. } => errors.clone(),
            DomainError::Rule { code, detail, errors } if errors.is_empty() => whole(code, detail),
            DomainError::Rule { errors, .. } => errors.clone(),
            DomainError::Conflict { code, detail } => whole(code, detail),
            DomainError::PreconditionFailed { detail } => whole("precondition_failed", detail),
            DomainError::Forbidden { detail, .. } => whole("forbidden", detail),
            DomainError::Internal(_) => whole("internal", "an internal error; see the server log"),
        }
    }
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        DomainError::Conflict { code, detail: detail.into() }
    }
    pub fn rule(code: &'static str, detail: impl Into<String>) -> Self {
        DomainError::Rule { code, detail: detail.into(), errors: vec![] }
    }
    pub fn forbidden(detail: impl Into<String>) -> Self {
        DomainError::Forbidden { detail: detail.into(), errors: vec![] }
    }
    pub fn stale_version(current: i64) -> Self {
        DomainError::PreconditionFailed {
            detail: format!("the resource has changed (current version {current}); re-read it and retry"),
        }
    }
}

impl fmt::Display for DomainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DomainError::NotFound { detail, .. } => write!(f, "not found: {detail}"),
            DomainError::Validation(errs) => {
                write!(f, "validation failed on {} field(s)", errs.len())
            }
            DomainError::Rule { code, detail, .. } => write!(f, "{code}: {detail}"),
            DomainError::Conflict { code, detail } => write!(f, "{code}: {detail}"),
            DomainError::PreconditionFailed { detail } => {
                write!(f, "precondition failed: {detail}")
            }
            DomainError::Forbidden { detail, .. } => write!(f, "forbidden: {detail}"),
            DomainError::Internal(d) => write!(f, "internal error: {d}"),
        }
    }
}

impl std::error::Error for DomainError {}

/// 422 `amount_out_of_range`: a computed amount does not fit (an absurd quantity or
/// price), naming the request field it comes from.
pub fn amount_out_of_range(field: &str, detail: impl Into<String>) -> DomainError {
    let detail = detail.into();
    DomainError::Rule {
        code: "amount_out_of_range",
        errors: vec![FieldError::new(field, "amount_out_of_range", detail.clone())],
        detail,
    }
}

/// Collects field errors so a request reports every failing field at once.
#[derive(Debug, Default)]
pub struct Checks(Vec<FieldError>);

impl Checks {
    pub fn new() -> Self {
        Checks(Vec::new())
    }
    pub fn check(&mut self, ok: bool, field: &str, code: &str, message: impl Into<String>) -> &mut Self {
        if !ok {
            self.0.push(FieldError::new(field, code, message));
        }
        self
    }
    pub fn push(&mut self, e: FieldError) {
        self.0.push(e);
    }
    pub fn finish(self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Validation(self.0))
        }
    }
}

impl From<diesel::result::Error> for DomainError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => DomainError::NotFound { entity: "resource", detail: "not found".into(), errors: vec![] },
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => DomainError::conflict(
                "duplicate",
                format!("a record with the same unique value exists ({})", info.message()),
            ),
            // Two transactions waited on each other (PostgreSQL broke the tie by
            // aborting this one): nothing was written, and the same request succeeds
            // when sent again.
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => concurrent_update(),
            Error::DatabaseError(_, info) if info.message().contains("deadlock detected") => concurrent_update(),
            // A safety net: use cases check references first and answer precisely.
            Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                DomainError::conflict("in_use", "other records still refer to this one")
            }
            other => DomainError::Internal(format!("database: {other}")),
        }
    }
}

fn concurrent_update() -> DomainError {
    DomainError::conflict(
        "concurrent_update",
        "a concurrent request changed the same records; nothing was written: send the request again",
    )
}

/// Maps a unique-constraint violation to a 409 with this code (other errors as usual),
/// for `.map_err(unique_as("duplicate_sku", "..."))` right at the insert or update.
pub fn unique_as(code: &'static str, detail: &'static str) -> impl Fn(diesel::result::Error) -> DomainError {
    move |e| match e {
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => {
            DomainError::conflict(code, detail)
        }
        other => other.into(),
    }
}
