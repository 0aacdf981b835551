//! ordo-service: after-sales service. Tickets (complaints, service requests,
//! questions) with stages, comments, a scored work queue and SLA clocks in business
//! hours; SLA policies with escalation rules run by the leased `sla_timers` job; the
//! service report.

pub mod clock;
pub mod reports;
pub mod settings;
pub mod setup;
pub mod sla;
pub mod tickets;
