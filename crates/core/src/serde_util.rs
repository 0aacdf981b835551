//! Serde helpers shared by request and response types.

use serde::{Deserialize, Deserializer, Serializer};
use time::OffsetDateTime;

/// For JSON merge-patch fields: absent → `None`, `null` → `Some(None)`, value → `Some(Some(v))`.
/// Use with `#[serde(default, deserialize_with = "ordo_core::serde_util::patch")]`.
pub fn patch<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// RFC 3339 UTC timestamps, optional.
pub mod rfc3339_opt {
    use super::*;
    pub fn serialize<S: Serializer>(t: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => time::serde::rfc3339::serialize(t, s),
            None => s.serialize_none(),
        }
    }
}

/// Converts `validator` errors into field errors with JSON paths (`billing_address.country`).
pub fn validation_errors(errs: &validator::ValidationErrors) -> Vec<crate::FieldError> {
    let mut out = Vec::new();
    collect(errs, "", &mut out);
    out.sort_by(|a, b| a.field.cmp(&b.field));
    out
}

fn collect(errs: &validator::ValidationErrors, prefix: &str, out: &mut Vec<crate::FieldError>) {
    use validator::ValidationErrorsKind;
    for (field, kind) in errs.errors() {
        let path = if prefix.is_empty() { field.to_string() } else { format!("{prefix}.{field}") };
        match kind {
            ValidationErrorsKind::Field(list) => {
                for e in list {
                    let message = e.message.as_ref().map(|m| m.to_string()).unwrap_or_else(|| describe(e));
                    out.push(crate::FieldError::new(path.clone(), e.code.to_string(), message));
                }
            }
            ValidationErrorsKind::Struct(inner) => collect(inner, &path, out),
            ValidationErrorsKind::List(items) => {
                for (i, inner) in items {
                    collect(inner, &format!("{path}[{i}]"), out);
                }
            }
        }
    }
}

fn describe(e: &validator::ValidationError) -> String {
    let p = |k: &str| e.params.get(k).map(|v| v.to_string());
    match e.code.as_ref() {
        "length" => match (p("min"), p("max")) {
            (Some(min), Some(max)) => format!("length must be between {min} and {max}"),
            (Some(min), None) => format!("length must be at least {min}"),
            (None, Some(max)) => format!("length must be at most {max}"),
            _ => "invalid length".into(),
        },
        "range" => match (p("min"), p("max")) {
            (Some(min), Some(max)) => format!("must be between {min} and {max}"),
            (Some(min), None) => format!("must be at least {min}"),
            (None, Some(max)) => format!("must be at most {max}"),
            _ => "out of range".into(),
        },
        "email" => "must be an email address".into(),
        "regex" => "has an invalid format".into(),
        other => format!("failed check `{other}`"),
    }
}

// `YYYY-MM-DD` dates (`time`'s own serde format is a tuple).
time::serde::format_description!(pub date, Date, "[year]-[month]-[day]");
