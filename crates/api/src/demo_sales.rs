//! The sales part of the demo data: the sales team, a pipeline with leads,
//! opportunities and activities, quotations in every state, orders on an approval
//! route and a blanket order with a delivery schedule. Documents are priced with EUR
//! as the base currency, like the demo price lists.

use ordo_core::{Caller, Currency, DomainError, Money, Quantity, Rate};
use ordo_crm::activities::{ActivityCreate, ActivityKind};
use ordo_crm::pipeline::{
    LeadConvert, LeadCreate, LeadCustomer, LeadStatus, OpportunityCreate, OpportunityItem, OpportunityStatus,
    PipelineStageCreate,
};
use ordo_crm::team::*;
use ordo_db::DbConnection;
use ordo_sales_docs::blanket::{BlanketKind, BlanketOrderCreate, CallOffLine, CallOffRequest, Period, ScheduleRequest};
use ordo_sales_docs::lines::LineInput;
use ordo_sales_docs::orders::{ApprovalDecision, SalesOrderCreate, Tick};
use ordo_sales_docs::quotations::QuotationCreate;
use ordo_sales_docs::setup::{
    ApprovalRouteCreate, ApprovalStage, ChecklistPoint, ChecklistTemplateCreate, StageCondition,
};
use time::Duration;

type R<T> = Result<T, DomainError>;

fn rate(s: &str) -> Rate {
    Rate::parse(s).expect("demo rate")
}

fn qty(n: i64) -> Quantity {
    Quantity::from_scaled(n * 10_000)
}

/// What customers are assigned to.
pub struct Team {
    pub dach: i64,
    pub poland: i64,
    pub europe: i64,
    pub uk: i64,
    pub retail: i64,
    pub key_accounts: i64,
    /// Sales persons of the manager, alice and bob.
    pub persons: [i64; 3],
    pub partner: i64,
    pub campaign: i64,
}

impl Team {
    pub fn territory(&self, country: &str) -> i64 {
        match country {
            "DE" => self.dach,
            "PL" => self.poland,
            "GB" => self.uk,
            _ => self.europe,
        }
    }
}

/// Territories, groups, sales persons (for the demo users), a partner and a campaign.
pub fn team(c: &mut DbConnection, admin: &Caller, users: &[i64]) -> R<Team> {
    let territory = |c: &mut DbConnection, name: &str, parent: Option<i64>| {
        territory_service::create(c, admin, TerritoryCreate { name: name.into(), parent_id: parent }).map(|t| t.id)
    };
    let europe = territory(c, "Europe", None)?;
    let dach = territory(c, "DACH", Some(europe))?;
    let poland = territory(c, "Poland", Some(europe))?;
    let uk = territory(c, "United Kingdom", Some(europe))?;
    let group = |c: &mut DbConnection, name: &str| {
        customer_group_service::create(c, admin, CustomerGroupCreate { name: name.into(), description: None })
            .map(|g| g.id)
    };
    let retail = group(c, "Retail")?;
    let key_accounts = group(c, "Key accounts")?;
    let person = |c: &mut DbConnection, name: &str, user: i64, manager: Option<i64>, t: Option<i64>| {
        sales_person_service::create(
            c,
            admin,
            SalesPersonCreate {
                name: name.into(),
                user_id: Some(user),
                manager_id: manager,
                territory_id: t,
                active: true,
            },
        )
        .map(|p| p.id)
    };
    let boss = person(c, "Manager", users[1], None, Some(europe))?;
    let alice = person(c, "Alice", users[2], Some(boss), Some(dach))?;
    let bob = person(c, "Bob", users[3], Some(boss), Some(poland))?;
    let partner = sales_partner_service::create(
        c,
        admin,
        SalesPartnerCreate {
            name: "Reseller Partners GmbH".into(),
            email: Some("partners@example.com".into()),
            commission_rate: rate("7.5"),
            territory_id: Some(dach),
            active: true,
        },
    )?
    .id;
    let campaign = campaign_service::create(
        c,
        admin,
        CampaignCreate {
            name: "Spring trade fair 2026".into(),
            code: "SPRING26".into(),
            start_date: Some(time::macros::date!(2026 - 03 - 01)),
            end_date: Some(time::macros::date!(2026 - 06 - 30)),
            budget: Some(Money::from_scaled(150_000_000)),
            currency: Currency::from_code("EUR"),
            active: true,
        },
    )?
    .id;
    Ok(Team { dach, poland, europe, uk, retail, key_accounts, persons: [boss, alice, bob], partner, campaign })
}

fn line(item: i64, n: i64) -> LineInput {
    LineInput {
        item_id: item,
        description: None,
        quantity: qty(n),
        unit: None,
        options: Default::default(),
        components: vec![],
        requested_date: None,
        manual_price: None,
        manual_discount_percent: None,
        override_reason: None,
        blanket_line_id: None,
        warehouse_id: None,
    }
}

fn quotation(customer: i64, lines: Vec<LineInput>) -> QuotationCreate {
    QuotationCreate {
        customer_id: customer,
        contact_id: None,
        currency: None,
        date: None,
        valid_until: None,
        price_list_id: None,
        sales_person_id: None,
        sales_partner_id: None,
        campaign_id: None,
        territory_id: None,
        opportunity_id: None,
        payment_terms_days: None,
        delivery_terms: None,
        notes: None,
        coupon_code: None,
        shipping_country: None,
        lines,
    }
}

fn order(customer: i64, lines: Vec<LineInput>) -> SalesOrderCreate {
    SalesOrderCreate {
        customer_id: customer,
        order_type: "standard".into(),
        contact_id: None,
        customer_po: None,
        currency: None,
        date: None,
        requested_date: None,
        ship_to: None,
        payment_terms_days: None,
        delivery_terms: None,
        contract_number: None,
        price_list_id: None,
        sales_person_id: None,
        sales_partner_id: None,
        campaign_id: None,
        territory_id: None,
        notes: None,
        coupon_code: None,
        shipping_country: None,
        warehouse_id: None,
        lines,
    }
}

/// Submits an order, ticks its required checklist points, has the manager approve it
/// where its route asks, and confirms it (reserving stock).
fn confirm(c: &mut DbConnection, admin: &Caller, manager: &Caller, id: i64) -> R<()> {
    use ordo_sales_docs::orders;
    orders::submit(c, admin, id, None)?;
    for p in orders::checklist(c, admin, id)? {
        if p.required {
            orders::tick(c, admin, id, p.id, Tick { ticked: true, comment: Some("agreed by phone".into()) })?;
        }
    }
    if orders::get(c, admin, id)?.status == orders::OrderStatus::PendingApproval {
        orders::approve(c, manager, id, None, ApprovalDecision::default())?;
    }
    ordo_fulfillment::reservations::confirm(c, admin, id, None)?;
    Ok(())
}

/// A year of orders for the sales report and target attainment: five to eight a month
/// over the last twelve months, growing, across the customers, items and groups,
/// confirmed on their dates and closed (fulfilled before the demo company used Ordo,
/// so they hold no stock). Loaded last: the walkthrough's documents follow them.
pub fn history(c: &mut DbConnection, admin: &Caller, manager: &Caller, customers: &[i64], items: &[i64]) -> R<()> {
    use ordo_sales_docs::orders;
    let eur = Currency::from_code("EUR").expect("EUR");
    let today = ordo_core::time_util::now().date();
    let mut n = 0usize;
    for month in (1..=12i64).rev() {
        for k in 0..(5 + (12 - month) / 4) {
            n += 1;
            // Spread over the month, never later than yesterday.
            let date = today - Duration::days(month * 30 - k * 5).max(Duration::days(1));
            let cust = customers[(n * 7) % customers.len()];
            // Items 4 and 5 (index 3, 4) are the demo's back-ordered ones: left alone.
            let pick = |j: usize| items[5 + (n * 3 + j * 11) % (items.len() - 5)];
            let lines = vec![line(pick(0), 1 + (n as i64 % 4)), line(pick(1), 2 + (n as i64 % 3)), line(pick(2), 1)];
            let mut o = order(cust, lines);
            o.date = Some(date);
            o.customer_po = Some(format!("PO-H{n:03}"));
            o.contract_number = Some(format!("K-H{n:03}"));
            let o = orders::create(c, admin, o, eur)?;
            confirm(c, admin, manager, o.id)?;
            ordo_fulfillment::reservations::close(c, admin, o.id, None, "fulfilled before the switch to Ordo".into())?;
        }
    }
    Ok(())
}

/// The pipeline and the documents. `customers[i]` is demo customer i + 1; `users` are
/// admin, manager, alice, bob.
pub fn sales(
    c: &mut DbConnection,
    admin: &Caller,
    manager: &Caller,
    users: &[i64],
    customers: &[i64],
    items: &[i64],
    team: &Team,
) -> R<(i64, i64, i64)> {
    use ordo_crm::pipeline::{lead_service, opportunity_service, pipeline_stage_service};
    use ordo_sales_docs::{blanket, orders, quotations, setup};
    let eur = Currency::from_code("EUR").expect("EUR");
    let today = ordo_core::time_util::now().date();

    // Pipeline stages.
    let mut stages = vec![];
    for (n, (name, p)) in [("Qualification", "10"), ("Needs analysis", "25"), ("Proposal", "50"), ("Negotiation", "75")]
        .iter()
        .enumerate()
    {
        stages.push(
            pipeline_stage_service::create(
                c,
                admin,
                PipelineStageCreate {
                    name: (*name).into(),
                    position: n as i32 + 1,
                    probability: rate(p),
                    active: true,
                },
            )?
            .id,
        );
    }
    // Leads in every status; one converted into a customer with an opportunity.
    let lead = |c: &mut DbConnection, company: &str, person: &str, owner: i64| {
        lead_service::create(
            c,
            admin,
            LeadCreate {
                person_name: Some(person.into()),
                company_name: Some(company.into()),
                email: Some(format!("{}@example.com", person.to_lowercase().replace(' ', "."))),
                phone: None,
                source: Some("trade fair".into()),
                campaign_id: Some(team.campaign),
                territory_id: Some(team.dach),
                owner_id: Some(owner),
                notes: None,
            },
        )
        .map(|l| l.id)
    };
    lead(c, "Nordwind Logistik", "Jana Berg", users[2])?;
    let contacted = lead(c, "Vistula Foods", "Piotr Nowak", users[3])?;
    lead_service::transition(c, admin, contacted, None, LeadStatus::Contacted, None)?;
    let qualified = lead(c, "Alpen Bau", "Lukas Huber", users[2])?;
    lead_service::transition(c, admin, qualified, None, LeadStatus::Qualified, None)?;
    let dq = lead(c, "Tiny Shop", "Sam Small", users[3])?;
    lead_service::transition(c, admin, dq, None, LeadStatus::Disqualified, Some("no budget this year".into()))?;
    let converted = lead(c, "Rhein Maschinen", "Eva Schulz", users[2])?;
    lead_service::convert(
        c,
        admin,
        converted,
        None,
        LeadConvert {
            customer_id: None,
            customer: Some(LeadCustomer { name: None, currency: eur, payment_terms_days: Some(30) }),
            opportunity: Some(OpportunityCreate {
                title: "Rhein Maschinen: workshop fit-out".into(),
                customer_id: None,
                lead_id: None,
                owner_id: None,
                stage_id: Some(stages[1]),
                amount: Money::from_scaled(240_000_000),
                currency: eur,
                expected_close: Some(today + Duration::days(45)),
                probability: None,
                territory_id: None,
                campaign_id: None,
                items: vec![OpportunityItem { item_id: items[0], quantity: qty(40), estimated_price: None }],
            }),
        },
    )?;
    // Opportunities across the stages; one won, one lost.
    let mut opps = vec![];
    for (n, stage) in stages.iter().enumerate() {
        let cust = customers[n * 2 + 1];
        opps.push(
            opportunity_service::create(
                c,
                admin,
                OpportunityCreate {
                    title: format!("Demo deal {}", n + 1),
                    customer_id: Some(cust),
                    lead_id: None,
                    owner_id: Some(users[2 + n % 2]),
                    stage_id: Some(*stage),
                    amount: Money::from_scaled((n as i64 + 1) * 50_000_000),
                    currency: eur,
                    expected_close: Some(today + Duration::days(30 * (n as i64 + 1))),
                    probability: None,
                    territory_id: Some(team.dach),
                    campaign_id: Some(team.campaign),
                    items: vec![
                        OpportunityItem {
                            item_id: items[n],
                            quantity: qty(10 * (n as i64 + 1)),
                            estimated_price: None,
                        },
                        OpportunityItem { item_id: items[10 + n], quantity: qty(5), estimated_price: None },
                    ],
                },
            )?
            .id,
        );
    }
    opportunity_service::close(c, admin, opps[3], None, OpportunityStatus::Won, None)?;
    opportunity_service::close(
        c,
        admin,
        opps[0],
        None,
        OpportunityStatus::Lost,
        Some(ordo_crm::pipeline::LoseOpportunity {
            reason: "price too high".into(),
            competitor: Some("Acme Corp".into()),
        }),
    )?;
    // Activities: done and open, some overdue.
    let now = ordo_core::time_util::now().assume_utc();
    for (n, (kind, subject, offset, done)) in [
        (ActivityKind::Call, "Introduce the spring range", -20i64, true),
        (ActivityKind::Meeting, "Site visit", -3, true),
        (ActivityKind::Email, "Send the price list", -1, false),
        (ActivityKind::Task, "Prepare the proposal", 2, false),
        (ActivityKind::Meeting, "Negotiation meeting", 5, false),
    ]
    .into_iter()
    .enumerate()
    {
        let at = now + Duration::days(offset);
        ordo_crm::activities::create(
            c,
            admin,
            ActivityCreate {
                kind,
                subject: subject.into(),
                body: None,
                due_at: Some(at),
                start_at: (kind == ActivityKind::Meeting).then_some(at),
                end_at: (kind == ActivityKind::Meeting).then_some(at + Duration::hours(1)),
                assignee_id: Some(users[2 + n % 2]),
                customer_id: Some(customers[n * 2 + 1]),
                contact_id: None,
                lead_id: None,
                opportunity_id: Some(opps[n % opps.len()]),
                quotation_id: None,
                sales_order_id: None,
                done,
                outcome: done.then(|| "interested".into()),
            },
        )?;
    }

    // The approval route and checklist of standard orders.
    setup::approval_route_service::create(
        c,
        admin,
        ApprovalRouteCreate {
            name: "Standard orders".into(),
            order_type: "standard".into(),
            active: true,
            stages: vec![
                ApprovalStage {
                    name: "Sales manager".into(),
                    role: ordo_core::Role::SalesManager,
                    condition: Some(StageCondition::TotalAtLeast { amount: Money::from_scaled(5_000_000) }),
                },
                ApprovalStage {
                    name: "Management".into(),
                    role: ordo_core::Role::Admin,
                    condition: Some(StageCondition::DiscountAbove { percent: rate("20") }),
                },
            ],
        },
    )?;
    setup::checklist_template_service::create(
        c,
        admin,
        ChecklistTemplateCreate {
            name: "Standard order checklist".into(),
            order_type: "standard".into(),
            points: vec![
                ChecklistPoint { text: "Delivery packaging agreed".into(), required: true },
                ChecklistPoint { text: "Incoterms confirmed".into(), required: true },
                ChecklistPoint { text: "Photos of the installation site received".into(), required: false },
            ],
        },
    )?;

    // Quotations in every state.
    let q = |c: &mut DbConnection, cust: usize, lines: Vec<LineInput>| {
        quotations::create(c, admin, quotation(customers[cust], lines), eur)
    };
    q(c, 1, vec![line(items[0], 2), line(items[5], 4)])?; // draft
    let sent = q(c, 3, vec![line(items[1], 3)])?;
    quotations::send(c, admin, sent.id, None)?;
    let accepted = q(c, 5, vec![line(items[2], 12), line(items[7], 1)])?;
    quotations::send(c, admin, accepted.id, None)?;
    quotations::accept(c, admin, accepted.id, None)?;
    let rejected = q(c, 7, vec![line(items[3], 1)])?;
    quotations::send(c, admin, rejected.id, None)?;
    quotations::reject(c, admin, rejected.id, None, "found a cheaper supplier".into())?;
    let cancelled = q(c, 9, vec![line(items[4], 1)])?;
    quotations::cancel(c, admin, cancelled.id, None, "project postponed".into())?;
    let revised = q(c, 11, vec![line(items[6], 5)])?;
    quotations::send(c, admin, revised.id, None)?;
    quotations::revise(c, admin, revised.id, None, eur)?; // the first revision is superseded
    let mut old = quotation(customers[15], vec![line(items[8], 2)]);
    old.date = Some(today - Duration::days(60));
    old.valid_until = Some(today - Duration::days(30));
    let expired = quotations::create(c, admin, old, eur)?;
    quotations::send(c, admin, expired.id, None)?;
    quotations::expire_due(c, admin, today)?;
    let from_accepted = orders::from_quotation(c, admin, accepted.id, None, eur)?;

    // Two warehouses and some stock (item 4 runs short: its order is partly back-ordered).
    use ordo_fulfillment::stock::{self, ReceiptRequest, WarehouseCreate};
    let main = stock::warehouse_service::create(
        c,
        admin,
        WarehouseCreate {
            code: "MAIN".into(),
            name: "Main warehouse".into(),
            is_default: true,
            quarantine: false,
            active: true,
        },
    )?
    .id;
    let quarantine = stock::warehouse_service::create(
        c,
        admin,
        WarehouseCreate {
            code: "QUAR".into(),
            name: "Quarantine".into(),
            is_default: false,
            quarantine: true,
            active: true,
        },
    )?
    .id;
    for (n, item) in items.iter().enumerate().filter(|(n, _)| n % 5 != 2) {
        let on_hand = if n == 3 { 3 } else { 50 + (n as i64 % 7) * 10 };
        stock::receive(
            c,
            admin,
            ReceiptRequest {
                item_id: *item,
                warehouse_id: main,
                quantity: qty(on_hand),
                unit_cost: Money::from_scaled((n as i64 + 1) * 12_500),
                reference: Some("opening stock".into()),
            },
        )?;
    }

    // Orders along the approval route.
    let o = |c: &mut DbConnection, cust: usize, lines: Vec<LineInput>| {
        orders::create(c, admin, order(customers[cust], lines), eur)
    };
    o(c, 3, vec![line(items[9], 2)])?; // draft
    let pending = o(c, 5, vec![line(items[40], 10), line(items[1], 10)])?;
    orders::submit(c, admin, pending.id, None)?;
    let approved = o(c, 7, vec![line(items[45], 10)])?;
    orders::submit(c, admin, approved.id, None)?;
    orders::approve(c, manager, approved.id, None, ApprovalDecision::default())?;
    let mut executing = order(customers[1], vec![line(items[3], 5), line(items[4], 5)]);
    executing.contract_number = Some("K-2026-0042".into());
    let executing = orders::create(c, admin, executing, eur)?;
    confirm(c, admin, manager, executing.id)?;
    // Part of it ships now (what is reserved), the rest is back-ordered; one unit comes back.
    use ordo_fulfillment::availability::{
        expected_receipt_service, ExpectedReceiptCreate, ExpectedStatus, ReceiptSource,
    };
    use ordo_fulfillment::deliveries::{
        self, DeliveryCreate, ReturnCondition, ReturnCreate, ReturnLineInput, ReturnReceive, ShipRequest,
    };
    use ordo_fulfillment::promising::{replenishment_service, ReplenishmentCreate, ReplenishmentMethod};
    let delivery = deliveries::create(c, admin, executing.id, DeliveryCreate { warehouse_id: None, lines: vec![] })?;
    deliveries::pick(c, admin, delivery.id, None)?;
    let shipped = deliveries::ship(
        c,
        admin,
        delivery.id,
        None,
        ShipRequest {
            carrier: Some("DHL".into()),
            tracking_number: Some("JD014600006281".into()),
            packages: Some(2),
            weight: Some(qty(18)),
        },
    )?;
    let mut return_id = None;
    if let Some(first) = shipped.lines.first() {
        let rma = deliveries::create_return(
            c,
            admin,
            ReturnCreate {
                delivery_id: shipped.id,
                reason: "damaged in transit".into(),
                condition: ReturnCondition::Damaged,
                lines: vec![ReturnLineInput { delivery_line_id: first.id, quantity: qty(1) }],
            },
        )?;
        deliveries::receive_return(c, admin, rma.id, None, ReturnReceive { warehouse_id: quarantine })?;
        return_id = Some(rma.id);
    }
    billing(c, admin, customers, items, shipped.id, return_id, eur)?;
    let shipped_delivery = (shipped.id, shipped.sales_order_id, shipped.customer_id);
    for (item, q, days, source, reference) in [
        (items[3], 20, 14, ReceiptSource::SupplierOrder, "PO-2026-0815"),
        (items[0], 30, 7, ReceiptSource::ProductionOrder, "MO-2026-0042"),
    ] {
        expected_receipt_service::create(
            c,
            admin,
            ExpectedReceiptCreate {
                item_id: item,
                warehouse_id: main,
                quantity: qty(q),
                expected_date: today + Duration::days(days),
                source,
                reference: Some(reference.into()),
                status: ExpectedStatus::Open,
            },
        )?;
    }
    for (item, method, lead, cap) in [
        (items[3], ReplenishmentMethod::Purchase, 10, None),
        (items[0], ReplenishmentMethod::Produce, 3, Some(qty(20))),
    ] {
        replenishment_service::create(
            c,
            admin,
            ReplenishmentCreate {
                item_id: item,
                warehouse_id: None,
                method,
                lead_time_days: lead,
                safety_stock: qty(2),
                daily_capacity: cap,
            },
        )?;
    }
    let rejected_order = o(c, 9, vec![line(items[48], 10)])?;
    orders::submit(c, admin, rejected_order.id, None)?;
    orders::reject(
        c,
        manager,
        rejected_order.id,
        None,
        ordo_sales_docs::orders::Rejection { reason: "margin too thin".into(), stage: None },
    )?;
    orders::submit(c, admin, from_accepted.id, None)?;

    // A blanket order with a monthly schedule and one call-off.
    let b = blanket::create(
        c,
        admin,
        BlanketOrderCreate {
            customer_id: customers[1],
            kind: BlanketKind::Quantity,
            currency: None,
            valid_from: today,
            valid_to: today + Duration::days(365),
            value_ceiling: None,
            contract_number: Some("FW-2026-007".into()),
            sales_person_id: None,
            notes: Some("Framework agreement for the year".into()),
            lines: vec![line(items[3], 120), line(items[4], 60)],
        },
        eur,
    )?;
    let first_line = b.lines.as_ref().and_then(|ls| ls.first()).map(|l| l.line.id).unwrap_or_default();
    blanket::generate_schedule(
        c,
        admin,
        b.id,
        ScheduleRequest {
            line_id: first_line,
            period: Period::Monthly,
            quantity: qty(10),
            from: today,
            to: today + Duration::days(330),
        },
    )?;
    blanket::activate(c, admin, b.id, None)?;
    blanket::call_off(
        c,
        admin,
        b.id,
        CallOffRequest {
            lines: vec![CallOffLine {
                line_id: first_line,
                quantity: qty(10),
                requested_date: Some(today + Duration::days(7)),
            }],
            customer_po: Some("PO-CALL-1".into()),
            requested_date: None,
            allow_exceeding: false,
        },
        eur,
    )?;
    Ok(shipped_delivery)
}

/// Billing in the demo: the shipped delivery invoiced 45 days ago (overdue by now) and
/// partly paid, its return credited, a direct invoice paid by a post-dated cheque that
/// is not due yet, a standard sales code and a monthly maintenance invoice.
fn billing(
    c: &mut DbConnection,
    admin: &Caller,
    customers: &[i64],
    items: &[i64],
    delivery_id: i64,
    return_id: Option<i64>,
    eur: Currency,
) -> R<()> {
    use ordo_billing::invoices::{self, InvoiceCreate, PostRequest};
    use ordo_billing::payments::{self, PaymentCreate, PaymentMethod};
    use ordo_billing::{credit_notes, recurring};
    use ordo_sales_docs::standard_codes::{self, StandardCodeCreate, StandardLine};
    let today = ordo_core::time_util::now().date();
    let post = |c: &mut DbConnection, id: i64, days_ago: i64| {
        invoices::post(c, admin, id, None, PostRequest { date: Some(today - Duration::days(days_ago)) }, eur)
    };
    let inv = invoices::from_delivery(c, admin, delivery_id, eur)?;
    let inv = post(c, inv.id, 45)?;
    if let Some(r) = return_id {
        let cn = credit_notes::from_return(c, admin, r, eur)?;
        post(c, cn.id, 40)?;
    }
    let half = Money::from_scaled(inv.totals.gross.to_scaled() / 2 / 100 * 100);
    payments::create(
        c,
        admin,
        PaymentCreate {
            customer_id: inv.customer_id,
            date: Some(today - Duration::days(20)),
            amount: half,
            currency: inv.currency,
            method: PaymentMethod::BankTransfer,
            reference: Some("SEPA transfer, part payment".into()),
            cheque_due_date: None,
            notes: None,
            allocate_oldest_first: true,
        },
        eur,
    )?;
    let direct = invoices::create(
        c,
        admin,
        InvoiceCreate {
            customer_id: customers[2],
            contact_id: None,
            currency: None,
            payment_terms_days: None,
            price_list_id: None,
            customer_po: Some("PO-7781".into()),
            notes: None,
            lines: vec![line(items[5], 3), line(items[6], 2)],
        },
        eur,
    )?;
    let direct = post(c, direct.id, 10)?;
    payments::create(
        c,
        admin,
        PaymentCreate {
            customer_id: direct.customer_id,
            date: Some(today - Duration::days(5)),
            amount: direct.totals.gross,
            currency: direct.currency,
            method: PaymentMethod::Cheque,
            reference: Some("cheque 004711".into()),
            cheque_due_date: Some(today + Duration::days(60)),
            notes: None,
            allocate_oldest_first: true,
        },
        eur,
    )?;
    standard_codes::service::create(
        c,
        admin,
        StandardCodeCreate {
            code: "STARTER".into(),
            name: "Starter set".into(),
            lines: vec![
                StandardLine { item_id: items[0], quantity: qty(2), unit: None, price: None, description: None },
                StandardLine { item_id: items[1], quantity: qty(1), unit: None, price: None, description: None },
            ],
        },
    )?;
    let next_month = {
        let first = today.replace_day(1).expect("day 1");
        first + Duration::days(32)
    };
    recurring::service::create(
        c,
        admin,
        recurring::RecurringInvoiceCreate {
            name: "Monthly maintenance".into(),
            customer_id: customers[4],
            currency: None,
            period: recurring::Period::Monthly,
            day_of_period: 1,
            start_date: next_month.replace_day(1).expect("day 1"),
            end_date: None,
            auto_post: true,
            auto_send: false,
            payment_terms_days: None,
            notes: Some("Maintenance contract MC-2026-12".into()),
            lines: vec![line(items[7], 1)],
            active: true,
        },
    )?;
    Ok(())
}
