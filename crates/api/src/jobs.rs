//! Background work every Ordo process runs by itself, so no cron has to be set up:
//! hourly, the daily jobs (each idempotent, so any number of processes may run them).

use actix_web::web;
use ordo_core::{Caller, Principal, PrincipalKind, Role};
use ordo_db::{Db, Stats};

use crate::AppState;

/// The principal background jobs act as in audit records.
pub fn system_caller() -> Caller {
    Caller {
        principal: Principal {
            kind: PrincipalKind::ApiClient,
            id: 0,
            name: "ordo (scheduled job)".into(),
            roles: vec![Role::Admin],
        },
        request_id: None,
    }
}

/// Runs the daily jobs once: expires sent quotations past their validity.
pub fn run_daily(db: &Db) -> ordo_core::Result<usize> {
    let today = ordo_core::time_util::now().date();
    db.write(&Stats::default(), |c| ordo_sales_docs::quotations::expire_due(c, &system_caller(), today))
}

/// Starts the hourly loop on the current actix runtime.
pub fn spawn(state: web::Data<AppState>) {
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let st = state.clone();
            match web::block(move || run_daily(&st.db)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::info!(expired = n, "daily job: quotations expired"),
                Ok(Err(e)) => tracing::error!(error = %e, "daily job failed"),
                Err(e) => tracing::error!(error = %e, "daily job could not run"),
            }
        }
    });
}
