//! RFC 9457 problem details: every error this API returns, in one shape.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use ordo_core::{DomainError, FieldError};
use serde::Serialize;
use std::fmt;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// An error response (`application/problem+json`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI reference naming the problem type, `/problems/<code>`.
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// A stable, machine-readable code (`validation_failed`, `insufficient_stock`, ...).
    pub code: String,
    /// Every failing field, for validation errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    #[serde(skip)]
    pub allow: Option<String>,
    /// Seconds, sent as `Retry-After` (429, 503).
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Problem {
        Problem {
            type_: format!("/problems/{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_string(),
            errors: vec![],
            allow: None,
            retry_after: None,
        }
    }
    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Problem {
        self.errors = errors;
        self
    }
    pub fn bad_request(code: &str, detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, code, detail)
    }
    pub fn unauthorized(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }
    pub fn validation(mut errors: Vec<FieldError>) -> Problem {
        // A stable order (by field) so clients and tests can rely on it.
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        let n = errors.len();
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            format!("{n} field(s) failed validation; see `errors`"),
        )
        .with_errors(errors)
    }
    pub fn internal() -> Problem {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "an unexpected error occurred; the server log has the details under this request id",
        )
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.detail)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
    fn error_response(&self) -> HttpResponse {
        let mut b = HttpResponse::build(self.status_code());
        b.insert_header((header::CONTENT_TYPE, CONTENT_TYPE));
        if self.status == 401 {
            b.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"ordo\""));
        }
        if let Some(allow) = &self.allow {
            b.insert_header((header::ALLOW, allow.clone()));
        }
        if let Some(s) = self.retry_after {
            b.insert_header((header::RETRY_AFTER, s.to_string()));
        }
        b.body(serde_json::to_string(self).unwrap_or_default())
    }
}

impl From<DomainError> for Problem {
    fn from(e: DomainError) -> Problem {
        match e {
            DomainError::NotFound { detail, errors, .. } => {
                Problem::new(StatusCode::NOT_FOUND, "not_found", detail).with_errors(errors)
            }
            DomainError::Validation(errors) => Problem::validation(errors),
            DomainError::Rule { code, detail, errors } => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail).with_errors(errors)
            }
            DomainError::Conflict { code, detail } => Problem::new(StatusCode::CONFLICT, code, detail),
            DomainError::PreconditionFailed { detail } => {
                Problem::new(StatusCode::PRECONDITION_FAILED, "precondition_failed", detail)
            }
            DomainError::Forbidden { detail, errors } => {
                Problem::new(StatusCode::FORBIDDEN, "forbidden", detail).with_errors(errors)
            }
            DomainError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                Problem::internal()
            }
        }
    }
}

impl From<actix_web::error::BlockingError> for Problem {
    fn from(e: actix_web::error::BlockingError) -> Problem {
        tracing::error!(cause = %e, "blocking task failed");
        Problem::internal()
    }
}
