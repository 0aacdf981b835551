//! The service part of the demo data: teams, a category tree, SLA policies with
//! escalation rules, and tickets in every stage — some of them opened days ago and so
//! past their SLA, which the `sla_timers` job escalates on its first run.

use ordo_core::{Caller, DomainError};
use ordo_db::DbConnection;
use ordo_service::settings::Level;
use ordo_service::setup::*;
use ordo_service::tickets::{self, CommentCreate, TicketCreate, TicketKind, TicketMove};
use time::Duration;

type R<T> = Result<T, DomainError>;

pub struct Links {
    pub customers: Vec<i64>,
    pub items: Vec<i64>,
    pub key_accounts: i64,
    /// A shipped delivery, its order and its customer.
    pub delivery: (i64, i64, i64),
    pub service_user: i64,
    /// Sales persons of the manager, alice and bob.
    pub persons: [i64; 3],
}

pub fn service(c: &mut DbConnection, admin: &Caller, desk: &Caller, l: &Links) -> R<()> {
    let first_line = team_service::create(
        c,
        admin,
        ServiceTeamCreate { name: "First line".into(), description: Some("Phone and e-mail".into()) },
    )?
    .id;
    let field = team_service::create(
        c,
        admin,
        ServiceTeamCreate { name: "Field service".into(), description: Some("On-site repairs".into()) },
    )?
    .id;
    let category = |c: &mut DbConnection, name: &str, parent: Option<i64>| {
        category_service::create(c, admin, TicketCategoryCreate { name: name.into(), parent_id: parent, active: true })
            .map(|x| x.id)
    };
    let complaints = category(c, "Complaints", None)?;
    let damaged = category(c, "Damaged goods", Some(complaints))?;
    let wrong = category(c, "Wrong delivery", Some(complaints))?;
    let questions = category(c, "Questions", None)?;
    let invoice_q = category(c, "Invoice questions", Some(questions))?;
    let install = category(c, "Installation", None)?;
    let rule = |when, target, raise: bool, team: Option<i64>| EscalationRule {
        when,
        target,
        notify: true,
        reassign_to_user_id: None,
        reassign_to_team_id: team,
        raise_priority: raise,
        // A breach mails the assignee and the service lead (pending in `/outbox` until
        // SMTP is configured).
        email_assignee: when == EscalationLevel::Breached,
        email_to: if when == EscalationLevel::Breached { vec!["service-lead@example.com".into()] } else { vec![] },
    };
    sla_policy_service::create(
        c,
        admin,
        SlaPolicyCreate {
            name: "Standard".into(),
            customer_id: None,
            customer_group_id: None,
            priority: None,
            first_response_minutes: 240,
            resolution_minutes: 1440,
            at_risk_percent: 80,
            escalations: vec![
                rule(EscalationLevel::AtRisk, EscalationTarget::Any, false, None),
                rule(EscalationLevel::Breached, EscalationTarget::Resolution, true, None),
            ],
            active: true,
        },
    )?;
    sla_policy_service::create(
        c,
        admin,
        SlaPolicyCreate {
            name: "Key accounts".into(),
            customer_id: None,
            customer_group_id: Some(l.key_accounts),
            priority: None,
            first_response_minutes: 60,
            resolution_minutes: 480,
            at_risk_percent: 75,
            escalations: vec![
                rule(EscalationLevel::AtRisk, EscalationTarget::FirstResponse, false, None),
                rule(EscalationLevel::Breached, EscalationTarget::Any, true, Some(field)),
            ],
            active: true,
        },
    )?;
    let ticket = |c: &mut DbConnection, n: usize, kind, subject: &str, category: i64, impact, urgency| {
        tickets::create(
            c,
            admin,
            TicketCreate {
                customer_id: l.customers[n % l.customers.len()],
                contact_id: None,
                kind,
                subject: subject.into(),
                description: Some(format!("{subject} (demo)")),
                item_id: Some(l.items[n % l.items.len()]),
                sales_order_id: None,
                delivery_id: None,
                invoice_id: None,
                category_id: Some(category),
                impact,
                urgency,
                priority: None,
                assignee_id: Some(l.service_user),
                team_id: Some(first_line),
            },
        )
        .map(|t| t.id)
    };
    let mv = |c: &mut DbConnection, id: i64, stage: &str| {
        tickets::move_to(c, desk, id, None, TicketMove { stage: stage.into(), comment: None }).map(|_| ())
    };
    let answer = |c: &mut DbConnection, id: i64, body: &str| {
        tickets::comment(c, desk, id, CommentCreate { body: body.into(), internal: false }).map(|_| ())
    };
    // One ticket in every stage.
    ticket(c, 1, TicketKind::Question, "Is the X200 compatible with the old dock?", questions, Level::Low, Level::Low)?;
    let t =
        ticket(c, 2, TicketKind::ServiceRequest, "Install the new printers", install, Level::Medium, Level::Medium)?;
    mv(c, t, "triaged")?;
    let t = ticket(c, 3, TicketKind::Complaint, "Two cartons missing", wrong, Level::Medium, Level::High)?;
    answer(c, t, "We are checking with the carrier.")?;
    mv(c, t, "in_progress")?;
    let t =
        ticket(c, 4, TicketKind::Question, "Invoice shows the wrong PO number", invoice_q, Level::Low, Level::Medium)?;
    answer(c, t, "Could you send us the PO you expected?")?;
    mv(c, t, "waiting_for_customer")?;
    let t = ticket(c, 5, TicketKind::Complaint, "Scratched housing", damaged, Level::Medium, Level::Medium)?;
    answer(c, t, "A replacement is on its way.")?;
    mv(c, t, "resolved")?;
    let t = ticket(c, 6, TicketKind::ServiceRequest, "Firmware update", install, Level::Low, Level::Medium)?;
    mv(c, t, "resolved")?;
    mv(c, t, "closed")?;
    // A complaint about the demo's shipped delivery.
    let t = tickets::create(
        c,
        admin,
        TicketCreate {
            customer_id: l.delivery.2,
            contact_id: None,
            kind: TicketKind::Complaint,
            subject: "Delivered unit does not power on".into(),
            description: None,
            item_id: None,
            sales_order_id: Some(l.delivery.1),
            delivery_id: Some(l.delivery.0),
            invoice_id: None,
            category_id: Some(damaged),
            impact: Level::High,
            urgency: Level::High,
            priority: None,
            assignee_id: None,
            team_id: Some(first_line),
        },
    )?
    .id;
    mv(c, t, "triaged")?;
    // Opened days ago and never answered: past their SLA.
    let now = ordo_core::time_util::now();
    let late =
        ticket(c, 7, TicketKind::Complaint, "Machine stopped after one week", damaged, Level::High, Level::Medium)?;
    tickets::backdate(c, late, now - Duration::days(6))?;
    let late =
        ticket(c, 0, TicketKind::ServiceRequest, "Quarterly maintenance overdue", install, Level::Medium, Level::Low)?;
    tickets::backdate(c, late, now - Duration::days(9))?;
    targets(c, admin, l)
}

/// This month's and this quarter's targets of the sales team, on invoices and orders.
fn targets(c: &mut DbConnection, admin: &Caller, l: &Links) -> R<()> {
    use ordo_core::Quantity;
    use ordo_sales_docs::targets::{target_service, SalesTargetCreate, TargetBasis, TargetMeasure};
    let today = ordo_core::time_util::now().date();
    let month = format!("{}-{:02}", today.year(), u8::from(today.month()));
    let quarter = format!("{}-Q{}", today.year(), (u8::from(today.month()) - 1) / 3 + 1);
    let [manager, alice, bob] = l.persons;
    for (name, period, person, team, measure, basis, value) in [
        ("Team quarter", &quarter, manager, true, TargetMeasure::Amount, TargetBasis::Orders, 250_000_000),
        ("Alice month", &month, alice, false, TargetMeasure::Amount, TargetBasis::Invoices, 50_000_000),
        ("Bob month", &month, bob, false, TargetMeasure::Amount, TargetBasis::Invoices, 40_000_000),
        ("Alice units", &quarter, alice, false, TargetMeasure::Quantity, TargetBasis::Orders, 1_000_000),
    ] {
        target_service::create(
            c,
            admin,
            SalesTargetCreate {
                name: name.into(),
                period: period.clone(),
                sales_person_id: Some(person),
                include_team: team,
                item_group_id: None,
                territory_id: None,
                measure,
                basis,
                value: Quantity::from_scaled(value),
            },
        )?;
    }
    Ok(())
}
