//! Document numbers. A gap-free series bumps its counter row in the caller's
//! transaction: no duplicates under concurrency, no gaps on success, but the row stays
//! locked until commit, so writers of the series queue. On PostgreSQL the other series
//! take numbers from a sequence of their own (`number_series_<code>`, kept by a trigger
//! of migration 000036): unique and increasing, never waiting, with a gap where a
//! document was rolled back. SQLite has one writer at a time: every series uses its
//! counter there (gap-free at no cost).

use crate::schema::number_series;
use crate::DbConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};
use ordo_core::{DomainError, Result};

fn missing(code: &str) -> DomainError {
    DomainError::Internal(format!("number series {code:?} missing"))
}

pub fn next_number(conn: &mut DbConnection, code: &str) -> Result<String> {
    let year = ordo_core::time_util::now().year();
    if let DbConnection::Pg(pg) = conn {
        #[derive(QueryableByName)]
        struct Taken {
            #[diesel(sql_type = Text)]
            pattern: String,
            #[diesel(sql_type = Bool)]
            gap_free: bool,
            #[diesel(sql_type = BigInt)]
            value: i64,
        }
        // One statement: the pattern and, unless the series is gap-free, its number.
        let t: Taken = diesel::sql_query(
            "SELECT pattern, gap_free, \
             CASE WHEN gap_free THEN 0 ELSE nextval(('number_series_' || code)::regclass) END AS value \
             FROM number_series WHERE code = $1",
        )
        .bind::<Text, _>(code)
        .get_result(pg)
        .optional()?
        .ok_or_else(|| missing(code))?;
        if !t.gap_free {
            return Ok(format_number(&t.pattern, t.value, year));
        }
    }
    let (pattern, value): (String, i64) = diesel::update(number_series::table.find(code))
        .set(number_series::next_value.eq(number_series::next_value + 1))
        .returning((number_series::pattern, number_series::next_value - 1))
        .get_result(conn)
        .map_err(|e| match e {
            diesel::result::Error::NotFound => missing(code),
            other => other.into(),
        })?;
    Ok(format_number(&pattern, value, year))
}

/// Whether numbers of the series come from its sequence (PostgreSQL, not gap-free).
pub fn uses_sequence(conn: &DbConnection, gap_free: bool) -> bool {
    matches!(conn, DbConnection::Pg(_)) && !gap_free
}

/// The sequence's next value (PostgreSQL).
pub fn sequence_next(conn: &mut DbConnection, code: &str) -> Result<i64> {
    #[derive(QueryableByName)]
    struct Next {
        #[diesel(sql_type = BigInt)]
        next: i64,
    }
    let DbConnection::Pg(pg) = conn else { return Err(DomainError::Internal("no sequences on SQLite".into())) };
    Ok(diesel::sql_query(format!(
        "SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END AS next FROM {}",
        sequence_name(code)?
    ))
    .get_result::<Next>(pg)?
    .next)
}

/// Moves the sequence so `next` is the next number it gives (PostgreSQL).
pub fn set_sequence_next(conn: &mut DbConnection, code: &str, next: i64) -> Result<()> {
    let DbConnection::Pg(pg) = conn else { return Err(DomainError::Internal("no sequences on SQLite".into())) };
    diesel::sql_query("SELECT setval(($1)::regclass, $2, false)")
        .bind::<Text, _>(sequence_name(code)?)
        .bind::<BigInt, _>(next)
        .execute(pg)?;
    Ok(())
}

/// `number_series_<code>`; codes are lower-case words (they are written by migrations,
/// but checked anyway: the name goes into SQL text).
fn sequence_name(code: &str) -> Result<String> {
    if code.is_empty() || !code.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
        return Err(DomainError::Internal(format!("number series code {code:?}")));
    }
    Ok(format!("number_series_{code}"))
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
