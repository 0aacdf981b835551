//! Small helpers every domain uses the same way.

use crate::{DomainError, Result};
use serde_json::Value;

/// Checks `If-Match` against the current version (412 on mismatch).
pub fn check_version(if_match: Option<i64>, current: i64) -> Result<()> {
    match if_match {
        Some(v) if v != current => Err(DomainError::stale_version(current)),
        _ => Ok(()),
    }
}

pub fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// JSON text for a `TEXT` column.
pub fn json_text<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// What a `DELETE` did.
#[derive(Debug)]
pub enum Removal<T> {
    Deleted,
    /// Still referenced: archived instead, and here is its new state.
    Archived(T),
}
