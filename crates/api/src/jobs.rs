//! Background work every Ordo process runs by itself, so no cron has to be set up:
//! every 5 seconds a process takes whatever job is due through the leased `jobs`
//! table (one process per job run, whatever the number of processes), runs it and
//! logs the run. The jobs are idempotent on their own: quotation expiry by state,
//! recurring invoices by a unique key per template and period.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use ordo_core::{Caller, Page, Permission};
use ordo_db::jobs::{self, Job, JobRow, JobRun};
use ordo_db::{Db, Stats};
use time::Duration;

use crate::common::PageQuery;
use crate::extract::{json_response, Auth, StrictQuery};
use crate::problem::Problem;
use crate::AppState;

/// How long a run may hold its job before another process may take it over.
const LEASE: Duration = Duration::minutes(10);

/// This process, as job runs name it.
fn worker() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "ordo".into());
    format!("{host}:{}", std::process::id())
}

/// Runs the daily jobs once: expires sent quotations past their validity.
pub fn run_daily(db: &Db) -> ordo_core::Result<usize> {
    let today = ordo_core::time_util::now().date();
    db.write(&Stats::default(), |c| ordo_sales_docs::quotations::expire_due(c, &Caller::system(), today))
}

/// What one job does; its result as a short text for the run log.
fn execute(state: &AppState, name: &str) -> Result<String, String> {
    let today = ordo_core::time_util::now().date();
    match name {
        "quotation_expiry" => run_daily(&state.db).map(|n| format!("{n} quotation(s) expired")),
        "recurring_invoices" => {
            ordo_billing::recurring::generate_due(&state.db, state.config.base_currency, today, &crate::mail::on_posted)
                .map(|n| format!("{n} invoice(s) made"))
        }
        "sla_timers" => state
            .db
            .write(&Stats::default(), |c| {
                ordo_service::sla::run_due(c, ordo_core::time_util::now(), &crate::mail::on_escalation)
            })
            .map(|o| format!("{} target(s) at risk, {} breached", o.at_risk, o.breached)),
        other => return Err(format!("unknown job {other:?}")),
    }
    .map_err(|e| e.to_string())
}

/// A delivery's attempt log with one more attempt, as stored JSON: the last 20 kept.
pub(crate) fn log_with<T: serde::Serialize + serde::de::DeserializeOwned>(stored: &str, attempt: T) -> String {
    let mut log: Vec<T> = serde_json::from_str(stored).unwrap_or_default();
    log.push(attempt);
    if log.len() > 20 {
        log.drain(..log.len() - 20);
    }
    ordo_core::util::json_text(&log)
}

/// Records the outcomes of a delivery run (webhooks, mail) in one write transaction:
/// how many were accepted and how many not.
pub async fn record_outcomes<T: Send + 'static>(
    state: &web::Data<AppState>,
    outcomes: Vec<T>,
    record: impl Fn(&mut ordo_db::DbConnection, &T) -> ordo_core::Result<bool> + Send + 'static,
) -> Result<(usize, usize), String> {
    let st = state.clone();
    web::block(move || {
        st.db.write(&Stats::default(), |c| {
            let mut n = (0, 0);
            for o in &outcomes {
                if record(c, o)? {
                    n.0 += 1;
                } else {
                    n.1 += 1;
                }
            }
            Ok(n)
        })
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())
}

/// Takes one due job (or the named one), runs it and records the run. None when
/// nothing was due or another process holds it. Webhook delivery runs on the async
/// runtime (it waits on receivers); the other jobs on the blocking pool.
pub async fn run_one(state: &web::Data<AppState>, force: Option<String>) -> ordo_core::Result<Option<JobRow>> {
    let me = worker();
    let st = state.clone();
    let who = me.clone();
    let claimed = web::block(move || st.db.write(&Stats::default(), |c| jobs::claim(c, &who, LEASE, force.as_deref())))
        .await
        .map_err(|e| ordo_core::DomainError::Internal(e.to_string()))??;
    let Some(job) = claimed else { return Ok(None) };
    let outcome = if job.name == "webhook_delivery" {
        crate::webhooks::deliver_due(state).await
    } else if job.name == "email_delivery" {
        crate::mail::deliver_due(state).await
    } else {
        let st = state.clone();
        let name = job.name.clone();
        web::block(move || execute(&st, &name)).await.unwrap_or_else(|e| Err(e.to_string()))
    };
    if let Err(e) = &outcome {
        tracing::error!(job = %job.name, error = %e, "job failed");
    }
    let st = state.clone();
    let j = job.clone();
    web::block(move || st.db.write(&Stats::default(), |c| jobs::finish(c, &j, &me, outcome)))
        .await
        .map_err(|e| ordo_core::DomainError::Internal(e.to_string()))??;
    Ok(Some(job))
}

/// The running job loop ([`spawn`]).
pub struct JobLoop {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    done: actix_web::rt::task::JoinHandle<()>,
}

impl JobLoop {
    /// Takes no new job; waits (up to `timeout`) for the running one to finish and
    /// record its run, which gives its lease back. Past the timeout the lease simply
    /// expires and another process takes the job over.
    pub async fn stop(self, timeout: std::time::Duration) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if actix_web::rt::time::timeout(timeout, self.done).await.is_err() {
            tracing::warn!("a job was still running at shutdown; its lease will expire");
        }
    }
}

/// Starts the job loop on the current actix runtime: every 5 s, every due job (each
/// job's own interval decides when it is due).
pub fn spawn(state: web::Data<AppState>) -> JobLoop {
    use std::sync::atomic::Ordering;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopping = stop.clone();
    let done = actix_web::rt::spawn(async move {
        let period = std::time::Duration::from_secs(5);
        let mut next = std::time::Instant::now();
        while !stopping.load(Ordering::SeqCst) {
            if std::time::Instant::now() >= next {
                next += period;
                for _ in 0..10 {
                    if stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    match run_one(&state, None).await {
                        Ok(Some(_)) => continue,
                        Ok(None) => break,
                        Err(e) => {
                            tracing::error!(error = %e, "job loop failed");
                            break;
                        }
                    }
                }
            }
            // Short naps, so a shutdown does not wait for the next tick.
            actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    });
    JobLoop { stop, done }
}

/// The background jobs: schedule, lease, and how the last run went (admin).
#[utoipa::path(tag = "jobs", operation_id = "listJobs",
    responses((status = 200, description = "Every job (one page)", body = Page<Job>)))]
#[get("/jobs")]
pub async fn list_jobs(auth: Auth) -> Result<HttpResponse, Problem> {
    auth.list_one(|c, caller| {
        caller.require(Permission::UsersManage)?;
        jobs::list(c)
    })
    .await
}

/// A job's runs (`sort=-id`: newest first), failures with their error (admin).
#[utoipa::path(tag = "jobs", operation_id = "listJobRuns",
    params(("name" = String, Path, description = "Job name, e.g. `recurring_invoices`"), PageQuery),
    responses((status = 200, description = "A page", body = Page<JobRun>)))]
#[get("/jobs/{name}/runs")]
pub async fn job_runs(auth: Auth, name: web::Path<String>, q: StrictQuery<PageQuery>) -> Result<HttpResponse, Problem> {
    let (name, page) = (name.into_inner(), q.0.page()?);
    auth.list(page, move |c, caller, page| {
        caller.require(Permission::UsersManage)?;
        if !jobs::exists(c, &name)? {
            return Err(ordo_core::DomainError::not_found("job", &name));
        }
        jobs::runs(c, &name, page)
    })
    .await
}

/// Run a job now, due or not (admin). 409 `job_running` while another run holds it.
#[utoipa::path(tag = "jobs", operation_id = "runJob",
    params(("name" = String, Path, description = "Job name, e.g. `recurring_invoices`")),
    responses((status = 200, description = "The job after the run", body = Job)))]
#[post("/jobs/{name}/run")]
pub async fn run_job(auth: Auth, name: web::Path<String>) -> Result<HttpResponse, Problem> {
    let name = name.into_inner();
    let state = auth.state_data();
    let n = name.clone();
    auth.read(move |c, caller| {
        caller.require(Permission::UsersManage)?;
        if !jobs::exists(c, &n)? {
            return Err(ordo_core::DomainError::not_found("job", &n));
        }
        Ok(())
    })
    .await?;
    let ran = run_one(&state, Some(name.clone())).await.map_err(Problem::from)?;
    if ran.is_none() {
        return Err(ordo_core::DomainError::conflict(
            "job_running",
            format!("job {name} is running in another process"),
        )
        .into());
    }
    let job = auth
        .read(move |c, _| {
            jobs::list(c)?
                .into_iter()
                .find(|j| j.name == name)
                .ok_or_else(|| ordo_core::DomainError::not_found("job", &name))
        })
        .await?;
    Ok(json_response(StatusCode::OK, &job, None))
}

pub fn routes(cfg: &mut crate::routing::Routes) {
    cfg.service(list_jobs).service(job_runs).service(run_job);
}
