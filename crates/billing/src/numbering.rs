//! Gap-free legal numbers for posted invoices and credit notes: one counter row per
//! series and year, bumped by an upsert that the posting transaction runs as its last
//! steps, so the row is locked only from there to the commit. A rolled-back posting
//! rolls the counter back with it: no number is skipped, none is used twice.
//!
//! The counter also remembers the latest posting date of the year, and refuses a date
//! before it: numbers and dates of a series run in the same order, as tax law wants.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date as SqlDate, Integer, Text};
use ordo_core::{DomainError, FieldError, Result};
use ordo_db::schema::number_series;
use ordo_db::DbConnection;
use time::Date;

#[derive(QueryableByName)]
struct Value {
    #[diesel(sql_type = BigInt)]
    value: i64,
}

/// The number pattern of a legal series (`invoice`, `credit_note`), editable through
/// `/number-series` like any other; its counter there is not used.
pub fn pattern(conn: &mut DbConnection, series: &str) -> Result<String> {
    number_series::table
        .find(series)
        .select(number_series::pattern)
        .first(conn)
        .optional()?
        .ok_or_else(|| DomainError::Internal(format!("number series {series:?} missing")))
}

/// Takes the next number of `series` in `date`'s year. 422 `date_before_last_posted`
/// when a document of the series was already posted with a later date that year.
pub fn take(conn: &mut DbConnection, series: &str, date: Date) -> Result<i64> {
    const PG: &str = "INSERT INTO legal_counters (series, fiscal_year, next_value, last_date) VALUES ($1, $2, 2, $3) \
        ON CONFLICT (series, fiscal_year) DO UPDATE SET next_value = legal_counters.next_value + 1, \
        last_date = excluded.last_date WHERE legal_counters.last_date <= excluded.last_date \
        RETURNING next_value - 1 AS value";
    let year = date.year();
    let rows: Vec<Value> = match conn {
        DbConnection::Pg(c) => {
            diesel::sql_query(PG).bind::<Text, _>(series).bind::<Integer, _>(year).bind::<SqlDate, _>(date).load(c)?
        }
        // SQLite numbers `$n` parameters in order of appearance: the same text works.
        DbConnection::Sqlite(c) => {
            diesel::sql_query(PG).bind::<Text, _>(series).bind::<Integer, _>(year).bind::<SqlDate, _>(date).load(c)?
        }
    };
    match rows.first() {
        Some(v) => Ok(v.value),
        None => Err(DomainError::Rule {
            code: "date_before_last_posted",
            detail: format!("a {series} of {year} was already posted with a date after {date}"),
            errors: vec![FieldError::new(
                "date",
                "before_last_posted",
                "dates of a series follow its numbers: post with this date or a later one",
            )],
        }),
    }
}

/// The earliest date a document of `series` can be posted with now, wanting `date`:
/// `date` itself, or the latest posting date of its year when that is later (a
/// catch-up of a past period is dated when it is made, after what was posted since).
pub fn earliest(conn: &mut DbConnection, series: &str, date: Date) -> Result<Date> {
    use ordo_db::schema::legal_counters;
    let last: Option<Date> =
        legal_counters::table.find((series, date.year())).select(legal_counters::last_date).first(conn).optional()?;
    Ok(last.filter(|l| *l > date).unwrap_or(date))
}
