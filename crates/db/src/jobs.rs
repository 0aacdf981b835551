//! The one leased job mechanism every background task runs through. Each job is a
//! row; any Ordo process may take a due one by leasing it (`locked_until`): on
//! PostgreSQL with `FOR UPDATE SKIP LOCKED`, so processes never wait on each other, on
//! SQLite through the single writer. A process that dies mid-run leaves a lease that
//! expires, and the next process takes the job over. What a job does must be
//! idempotent on its own (a unique key per period or event), so a run repeated after
//! a crash changes nothing twice.

use crate::schema::{job_runs, jobs};
use crate::DbConnection;
use diesel::prelude::*;
use diesel::sql_types::{Text, Timestamp};
use ordo_core::{Page, PageRequest, Result};
use serde::Serialize;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = jobs)]
pub struct JobRow {
    pub name: String,
    pub interval_seconds: i32,
    pub next_run_at: PrimitiveDateTime,
    pub locked_until: Option<PrimitiveDateTime>,
    pub locked_by: Option<String>,
    pub runs: i64,
    pub failures: i64,
    pub last_started_at: Option<PrimitiveDateTime>,
    pub last_finished_at: Option<PrimitiveDateTime>,
    pub last_status: Option<String>,
    pub last_result: Option<String>,
    pub last_error: Option<String>,
}

/// A background job and how its runs went.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Job {
    /// `quotation_expiry`, `recurring_invoices`, `webhook_delivery`, `email_delivery`, `sla_timers`.
    pub name: String,
    pub interval_seconds: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub next_run_at: OffsetDateTime,
    /// Set while a process runs it (a lease that expires if that process dies).
    #[serde(serialize_with = "ordo_core::serde_util::rfc3339_opt::serialize")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub locked_until: Option<OffsetDateTime>,
    pub locked_by: Option<String>,
    pub runs: i64,
    pub failures: i64,
    #[serde(serialize_with = "ordo_core::serde_util::rfc3339_opt::serialize")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_finished_at: Option<OffsetDateTime>,
    /// `ok` or `failed`.
    pub last_status: Option<String>,
    pub last_result: Option<String>,
    pub last_error: Option<String>,
}

impl JobRow {
    pub fn to_model(&self) -> Job {
        Job {
            name: self.name.clone(),
            interval_seconds: self.interval_seconds,
            next_run_at: self.next_run_at.assume_utc(),
            locked_until: self.locked_until.map(|t| t.assume_utc()),
            locked_by: self.locked_by.clone(),
            runs: self.runs,
            failures: self.failures,
            last_finished_at: self.last_finished_at.map(|t| t.assume_utc()),
            last_status: self.last_status.clone(),
            last_result: self.last_result.clone(),
            last_error: self.last_error.clone(),
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = job_runs)]
struct JobRunRow {
    id: i64,
    job_name: String,
    worker: String,
    started_at: PrimitiveDateTime,
    finished_at: PrimitiveDateTime,
    status: String,
    result: Option<String>,
    error: Option<String>,
}

/// One run of a job.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobRun {
    pub id: i64,
    pub job_name: String,
    /// The process that ran it (host and pid).
    pub worker: String,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub finished_at: OffsetDateTime,
    /// `ok` or `failed`.
    pub status: String,
    pub result: Option<String>,
    pub error: Option<String>,
}

/// Leases one due job for `lease`, or the named one when `force` names it (due or
/// not, as long as nobody holds it). None when nothing is due or another process holds
/// it.
pub fn claim(conn: &mut DbConnection, worker: &str, lease: Duration, force: Option<&str>) -> Result<Option<JobRow>> {
    let now = ordo_core::time_util::now();
    let until = now + lease;
    // `$4` empty: any due job; else that job, due or not.
    let due = "(($4 = '' AND next_run_at <= $3) OR name = $4)";
    let rows: Vec<JobRow> = match conn {
        DbConnection::Pg(c) => diesel::sql_query(format!(
            "UPDATE jobs SET locked_until = $1, locked_by = $2, last_started_at = $3 WHERE name = (\
             SELECT name FROM jobs WHERE {due} AND (locked_until IS NULL OR locked_until < $3) \
             ORDER BY next_run_at LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING *"
        ))
        .bind::<Timestamp, _>(until)
        .bind::<Text, _>(worker)
        .bind::<Timestamp, _>(now)
        .bind::<Text, _>(force.unwrap_or(""))
        .load(c)?,
        // One writer: the subquery and the update cannot interleave with another's.
        DbConnection::Sqlite(c) => diesel::sql_query(format!(
            "UPDATE jobs SET locked_until = ?1, locked_by = ?2, last_started_at = ?3 WHERE name = (\
             SELECT name FROM jobs WHERE {} AND (locked_until IS NULL OR locked_until < ?3) \
             ORDER BY next_run_at LIMIT 1) RETURNING *",
            due.replace('$', "?")
        ))
        .bind::<Timestamp, _>(until)
        .bind::<Text, _>(worker)
        .bind::<Timestamp, _>(now)
        .bind::<Text, _>(force.unwrap_or(""))
        .load(c)?,
    };
    Ok(rows.into_iter().next())
}

/// Ends a run: releases the lease, schedules the next run (after the interval, or a
/// minute after a failure), and logs the run.
pub fn finish(
    conn: &mut DbConnection,
    job: &JobRow,
    worker: &str,
    outcome: std::result::Result<String, String>,
) -> Result<()> {
    let now = ordo_core::time_util::now();
    let started = job.last_started_at.unwrap_or(now);
    let (status, result, error, next) = match &outcome {
        Ok(r) => ("ok", Some(r.clone()), None, now + Duration::seconds(i64::from(job.interval_seconds))),
        Err(e) => ("failed", None, Some(e.clone()), now + Duration::seconds(60.min(i64::from(job.interval_seconds)))),
    };
    diesel::update(jobs::table.find(&job.name).filter(jobs::locked_by.eq(worker)))
        .set((
            jobs::locked_until.eq(None::<PrimitiveDateTime>),
            jobs::locked_by.eq(None::<String>),
            jobs::next_run_at.eq(next),
            jobs::runs.eq(jobs::runs + 1),
            jobs::failures.eq(jobs::failures + i64::from(outcome.is_err())),
            jobs::last_finished_at.eq(now),
            jobs::last_status.eq(status),
            jobs::last_result.eq(&result),
            jobs::last_error.eq(&error),
        ))
        .execute(conn)?;
    diesel::insert_into(job_runs::table)
        .values((
            job_runs::job_name.eq(&job.name),
            job_runs::worker.eq(worker),
            job_runs::started_at.eq(started),
            job_runs::finished_at.eq(now),
            job_runs::status.eq(status),
            job_runs::result.eq(result),
            job_runs::error.eq(error),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn list(conn: &mut DbConnection) -> Result<Vec<Job>> {
    let rows: Vec<JobRow> = jobs::table.order(jobs::name.asc()).select(JobRow::as_select()).load(conn)?;
    Ok(rows.iter().map(JobRow::to_model).collect())
}

/// A job's runs, newest first.
pub fn runs(conn: &mut DbConnection, name: &str, page: &PageRequest) -> Result<Page<JobRun>> {
    let q = job_runs::table.filter(job_runs::job_name.eq(name.to_string())).select(JobRunRow::as_select()).into_boxed();
    let rows = crate::keyset_page!(conn, q, page, job_runs::id => |r: &JobRunRow| r.id);
    Ok(Page {
        data: rows
            .data
            .into_iter()
            .map(|r| JobRun {
                id: r.id,
                job_name: r.job_name,
                worker: r.worker,
                started_at: r.started_at.assume_utc(),
                finished_at: r.finished_at.assume_utc(),
                status: r.status,
                result: r.result,
                error: r.error,
            })
            .collect(),
        next_cursor: rows.next_cursor,
        total: rows.total,
    })
}

pub fn exists(conn: &mut DbConnection, name: &str) -> Result<bool> {
    Ok(jobs::table.find(name).count().get_result::<i64>(conn)? > 0)
}
