//! Document numbers from a per-series counter row, bumped in the caller's
//! transaction: no duplicates under concurrency, no gaps on success.

use crate::schema::number_series;
use crate::DbConnection;
use diesel::prelude::*;
use ordo_core::{DomainError, Result};

pub fn next_number(conn: &mut DbConnection, code: &str) -> Result<String> {
    let (pattern, value): (String, i64) = diesel::update(number_series::table.find(code))
        .set(number_series::next_value.eq(number_series::next_value + 1))
        .returning((number_series::pattern, number_series::next_value - 1))
        .get_result(conn)
        .map_err(|e| match e {
            diesel::result::Error::NotFound => DomainError::Internal(format!("number series {code:?} missing")),
            other => other.into(),
        })?;
    Ok(format_number(&pattern, value, ordo_core::time_util::now().year()))
}

/// Expands `{YYYY}` and a run of `#` inside braces (`{######}`: zero-padded to six).
pub fn format_number(pattern: &str, value: i64, year: i32) -> String {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        let token = &rest[start + 1..start + end];
        if token == "YYYY" {
            out.push_str(&format!("{year:04}"));
        } else if !token.is_empty() && token.chars().all(|c| c == '#') {
            out.push_str(&format!("{value:0width$}", width = token.len()));
        } else {
            out.push_str(&rest[start..=start + end]);
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::format_number;

    #[test]
    fn patterns() {
        assert_eq!(format_number("C-{######}", 123, 2026), "C-000123");
        assert_eq!(format_number("SO-{YYYY}-{######}", 7, 2026), "SO-2026-000007");
        assert_eq!(format_number("X{#}", 1234, 2026), "X1234");
        assert_eq!(format_number("{other}-{##}", 5, 2026), "{other}-05");
    }
}
