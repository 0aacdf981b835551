//! Document numbers. A gap-free series bumps its counter row in the caller's
//! transaction: no duplicates under concurrency, no gaps on success, but the row stays
//! locked until commit, so writers of the series queue. On PostgreSQL the other series
//! take numbers from a sequence of their own (`number_series_<code>`, kept by a trigger
//! of migration 000036): unique and increasing, never waiting, with a gap where a
//! document was rolled back. SQLite has one writer at a time: a gap-free series bumps
//! its counter there at no cost.
//!
//! A series that need not be gap-free is taken in blocks ([`BLOCK`] numbers, from the
//! sequence or the counter in one statement) that the process hands out one by one
//! (issue 16: no statement per document): numbers stay unique and increase within a
//! process; across processes blocks interleave, and the rest of a block is skipped when
//! the process stops or the series changes (a change sets a new reference generation,
//! see `refcache::bump`).

use crate::schema::number_series;
use crate::DbConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};
use ordo_core::{DomainError, Result};

fn missing(code: &str) -> DomainError {
    DomainError::Internal(format!("number series {code:?} missing"))
}

/// How many numbers a process takes at once for a series that need not be gap-free.
pub const BLOCK: i64 = 20;

pub fn next_number(conn: &mut DbConnection, code: &str) -> Result<String> {
    let year = ordo_core::time_util::now().year();
    // A number this process holds: no statement at all.
    if let Some((pattern, value)) = crate::refcache::take_number(code) {
        return Ok(format_number(&pattern, value, year));
    }
    // A block is worth taking only where it can be used: in a use case that observed
    // the reference generation (changing a series sets a new one, dropping blocks).
    let seen = crate::refcache::seen();
    let block = if seen.is_some() { BLOCK } else { 1 };
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
        // One statement: the pattern and, unless the series is gap-free, a block of
        // numbers from its sequence.
        let taken: Vec<Taken> = diesel::sql_query(
            "SELECT pattern, gap_free, \
             CASE WHEN gap_free THEN 0 ELSE nextval(('number_series_' || code)::regclass) END AS value \
             FROM number_series CROSS JOIN generate_series(1, CASE WHEN gap_free THEN 1 ELSE $2 END) \
             WHERE code = $1 ORDER BY value",
        )
        .bind::<Text, _>(code)
        .bind::<BigInt, _>(block)
        .load(pg)?;
        let first = taken.first().ok_or_else(|| missing(code))?;
        if !first.gap_free {
            let (pattern, value) = (first.pattern.clone(), first.value);
            if let (Some(generation), true) = (seen, taken.len() > 1) {
                let values = taken.iter().skip(1).map(|t| t.value).collect();
                crate::refcache::hold_numbers(code, generation, &pattern, values, true);
            }
            return Ok(format_number(&pattern, value, year));
        }
    }
    // The counter: by one for a gap-free series, else by a block that this process
    // holds once the transaction commits (a rollback gives the block back).
    let (pattern, gap_free, end): (String, bool, i64) = diesel::update(number_series::table.find(code))
        .set(number_series::next_value.eq(number_series::next_value
            + diesel::dsl::case_when::<_, _, BigInt>(number_series::gap_free, 1i64).otherwise(block)))
        .returning((number_series::pattern, number_series::gap_free, number_series::next_value))
        .get_result(conn)
        .map_err(|e| match e {
            diesel::result::Error::NotFound => missing(code),
            other => other.into(),
        })?;
    let first = if gap_free { end - 1 } else { end - block };
    if let (Some(generation), false, true) = (seen, gap_free, block > 1) {
        crate::refcache::hold_numbers(code, generation, &pattern, (first + 1..end).collect(), false);
    }
    Ok(format_number(&pattern, first, year))
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
