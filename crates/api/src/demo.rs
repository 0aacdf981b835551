//! Demo data for `ordo serve --demo` / `ordo demo-data`: loaded once, only into an
//! empty database, through the same use cases the API calls.

use ordo_catalog::model::{ItemCreate, ItemGroupCreate, ItemKind};
use ordo_core::{Caller, Currency, DomainError, Money, Principal, PrincipalKind, Quantity, Role};
use ordo_crm::model::{Address, ContactCreate, CustomerCreate, CustomerStatus};
use ordo_db::{accounts, Db, Stats};

use crate::auth::hash_password;
use ordo_core::Rate;
use ordo_pricing::model::{
    CustomerPriceCreate, ExchangeRateCreate, GroupDiscountCreate, ItemPriceCreate, PriceListCreate, TaxRateCreate,
};
use ordo_pricing::rules::{
    CouponCreate, PricingRuleCreate, RuleAction, ShippingBasis, ShippingChargeKind, ShippingRuleCreate,
};

fn rate(s: &str) -> Rate {
    Rate::parse(s).expect("demo rate")
}

fn cur(c: &str) -> Currency {
    Currency::from_code(c).expect("demo currency")
}

pub const LOGINS: &[(&str, &str, Role)] = &[
    ("admin", "admin-demo", Role::Admin),
    ("manager", "manager-demo", Role::SalesManager),
    ("alice", "alice-demo", Role::SalesAgent),
    ("bob", "bob-demo", Role::SalesAgent),
    ("wendy", "wendy-demo", Role::Warehouse),
    ("carla", "carla-demo", Role::Accountant),
    ("sam", "sam-demo", Role::ServiceAgent),
];

/// Demo Customer 13 is blocked: no orders are confirmed for it.
const BLOCKED: i64 = 13;

/// Returns false when the database already has users (nothing is loaded then).
pub fn load(db: &Db) -> Result<bool, DomainError> {
    let stats = Stats::default();
    if db.read(&stats, accounts::count_users)? > 0 {
        return Ok(false);
    }
    let hashes = LOGINS.iter().map(|(_, pw, _)| hash_password(pw)).collect::<Result<Vec<_>, _>>()?;
    db.write(&stats, |c| {
        let mut ids = vec![];
        for ((name, _, role), hash) in LOGINS.iter().zip(&hashes) {
            ids.push(accounts::bootstrap_user(c, name, &capitalize(name), &[*role], hash)?);
        }
        // Addresses for the mail the demo queues (SLA escalations to the assignee).
        for (id, (name, _, _)) in ids.iter().zip(LOGINS) {
            use diesel::prelude::*;
            use ordo_db::schema::users;
            diesel::update(users::table.find(id))
                .set(users::email.eq(format!("{name}@demo.example.com")))
                .execute(c)?;
        }
        let admin = Caller {
            principal: Principal {
                kind: PrincipalKind::User,
                id: ids[0],
                name: "admin".into(),
                roles: vec![Role::Admin],
            },
            request_id: Some("demo-data".into()),
        };
        let team = crate::demo_sales::team(c, &admin, &ids)?;
        let groups = ["Hardware", "Software", "Services", "Accessories", "Spare parts"];
        let mut group_ids = vec![];
        for g in groups {
            let gid = ordo_catalog::service::create_group(
                c,
                &admin,
                ItemGroupCreate {
                    name: g.into(),
                    description: Some(format!("{g} sold by the demo company")),
                    parent_id: None,
                },
            )?
            .id;
            group_ids.push(gid);
        }
        // Taxes and exchange rates.
        let tax = |c: &mut ordo_db::DbConnection, code: &str, pct: &str| {
            ordo_pricing::service::tax_rates::create(
                c,
                &admin,
                TaxRateCreate { code: code.into(), name: format!("VAT {pct}%"), percent: rate(pct), active: None },
            )
            .map(|t| t.id)
        };
        let (vat23, vat8) = (tax(c, "VAT23", "23")?, tax(c, "VAT8", "8")?);
        tax(c, "VAT5", "5")?;
        tax(c, "VAT0", "0")?;
        for (to, r) in [("PLN", "4.2650"), ("GBP", "0.8530"), ("USD", "1.0815")] {
            ordo_pricing::service::exchange_rates::create(
                c,
                &admin,
                ExchangeRateCreate {
                    from_currency: cur("EUR"),
                    to_currency: cur(to),
                    rate: rate(r),
                    valid_from: time::macros::date!(2025 - 01 - 01),
                },
            )?;
        }
        let retail = ordo_pricing::service::price_lists::create(
            c,
            &admin,
            PriceListCreate {
                name: "Retail EUR".into(),
                currency: cur("EUR"),
                prices_include_tax: false,
                valid_from: None,
                valid_to: None,
                base_price_list_id: None,
                base_supplier_id: None,
                markup_percent: None,
                active: None,
                is_default: true,
            },
        )?
        .id;
        let wholesale = ordo_pricing::service::price_lists::create(
            c,
            &admin,
            PriceListCreate {
                name: "Wholesale EUR".into(),
                currency: cur("EUR"),
                prices_include_tax: false,
                valid_from: None,
                valid_to: None,
                base_price_list_id: Some(retail),
                base_supplier_id: None,
                markup_percent: Some(rate("-12")),
                active: None,
                is_default: false,
            },
        )?
        .id;
        let mut item_ids = vec![];
        for n in 1..=50i64 {
            let gi = (n as usize - 1) % groups.len();
            let kind = if gi == 2 { ItemKind::Service } else { ItemKind::Stock };
            let item = ordo_catalog::service::create_item(
                c,
                &admin,
                ItemCreate {
                    sku: format!("{}-{n:03}", &groups[gi][..3].to_uppercase()),
                    name: format!("{} item {n}", groups[gi]),
                    description: None,
                    item_group_id: Some(group_ids[gi]),
                    base_unit: if kind == ItemKind::Service { "H".into() } else { "PCS".into() },
                    kind,
                    standard_cost: Some(Money::from_scaled(n * 12_500)),
                    weight: (kind == ItemKind::Stock).then(|| Quantity::from_scaled(n * 1_000)),
                    active: Some(true),
                    barcode: Some(format!("5901234{n:06}")),
                    attributes: None,
                    tax_rate_id: Some(if gi == 1 { vat8 } else { vat23 }),
                    bundle_pricing: None,
                    allow_negative_stock: None,
                    // Spare parts ship by weight from bulk bins: up to 10% more is fine.
                    over_delivery_tolerance: (groups[gi] == "Spare parts").then(|| rate("10")),
                },
            )?;
            item_ids.push(item.id);
            // List price: cost × 1.6; from 10 units 5% less.
            let list_price = Money::from_scaled(n * 12_500 * 16 / 10);
            for (price, min) in [(list_price, 0), (Money::from_scaled(list_price.to_scaled() * 95 / 100), 10)] {
                ordo_pricing::service::item_prices::create(
                    c,
                    &admin,
                    retail,
                    ItemPriceCreate {
                        item_id: item.id,
                        unit: None,
                        price,
                        min_quantity: Some(Quantity::from_scaled(min * 10_000)),
                        valid_from: None,
                        valid_to: None,
                    },
                )?;
            }
        }
        let cities = [("Berlin", "DE", "EUR"), ("Warsaw", "PL", "PLN"), ("Lyon", "FR", "EUR"), ("Leeds", "GB", "GBP")];
        let mut customer_ids = vec![];
        for n in 1..=20i64 {
            let (city, country, currency_code) = cities[(n as usize) % cities.len()];
            let owner = if n % 2 == 0 { ids[2] } else { ids[3] };
            let cust = ordo_crm::service::create_customer(
                c,
                &admin,
                CustomerCreate {
                    name: format!("Demo Customer {n:02}"),
                    legal_name: Some(format!("Demo Customer {n:02} Ltd.")),
                    tax_id: Some(format!("{country}{:09}", 100_000 + n)),
                    email: Some(format!("orders{n}@example.com")),
                    phone: Some(format!("+49 30 5550{n:03}")),
                    billing_address: Some(Address {
                        line1: format!("{n} Market Street"),
                        line2: None,
                        city: city.into(),
                        postal_code: Some(format!("{:05}", 10_000 + n)),
                        region: None,
                        country: country.into(),
                    }),
                    shipping_address: None,
                    currency: cur(currency_code),
                    payment_terms_days: Some(if n % 3 == 0 { 14 } else { 30 }),
                    credit_limit: Some(Money::from_scaled(n * 50_000_000)),
                    parent_id: None,
                    owner_id: Some(owner),
                    status: Some(if n == BLOCKED { CustomerStatus::Blocked } else { CustomerStatus::Active }),
                    tags: Some(vec![if n % 4 == 0 { "key-account".into() } else { "retail".into() }]),
                    attributes: None,
                    price_list_id: (n % 4 == 0).then_some(wholesale),
                    tax_treatment: (country == "GB").then_some(ordo_crm::model::TaxTreatment::ReverseCharge),
                    discount_percent: (n % 5 == 0).then(|| rate("3")),
                    territory_id: Some(team.territory(country)),
                    customer_group_id: Some(if n % 4 == 0 { team.key_accounts } else { team.retail }),
                    sales_person_id: Some(team.persons[if owner == ids[2] { 1 } else { 2 }]),
                    sales_partner_id: (n % 6 == 0).then_some(team.partner),
                    campaign_id: (n % 5 == 0).then_some(team.campaign),
                    contact_frequency_days: (n % 4 == 0).then_some(14),
                    default_warehouse_id: None,
                    invoicing_policy: None,
                    obligo_limit: None,
                    endpoint_id: None,
                    endpoint_scheme: None,
                    invoice_delivery: None,
                    e_invoice: None,
                },
            )?;
            customer_ids.push(cust.id);
            ordo_crm::service::create_contact(
                c,
                &admin,
                cust.id,
                ContactCreate {
                    name: format!("Buyer {n}"),
                    role: Some("purchasing".into()),
                    email: Some(format!("buyer{n}@example.com")),
                    phone: None,
                    is_primary: true,
                },
            )?;
        }
        // Special prices, discounts, rules, a coupon and a shipping rule.
        let first_customer = customer_ids[1];
        ordo_pricing::service::customer_prices::create(
            c,
            &admin,
            first_customer,
            CustomerPriceCreate {
                item_id: item_ids[0],
                unit: None,
                currency: None,
                price: Money::from_scaled(170_000),
                min_quantity: None,
                valid_from: None,
                valid_to: None,
            },
        )?;
        ordo_pricing::service::group_discounts::create(
            c,
            &admin,
            GroupDiscountCreate {
                customer_id: None,
                item_group_id: group_ids[3],
                percent: rate("5"),
                valid_from: None,
                valid_to: None,
            },
        )?;
        ordo_pricing::service::group_discounts::create(
            c,
            &admin,
            GroupDiscountCreate {
                customer_id: Some(first_customer),
                item_group_id: group_ids[0],
                percent: rate("7.5"),
                valid_from: None,
                valid_to: None,
            },
        )?;
        let rule = |name: &str, action: RuleAction| PricingRuleCreate {
            name: name.into(),
            priority: 100,
            exclusive: false,
            active: true,
            valid_from: None,
            valid_to: None,
            currency: None,
            item_id: None,
            item_group_id: None,
            customer_id: None,
            customer_tag: None,
            campaign_code: None,
            territory: None,
            min_quantity: None,
            max_quantity: None,
            min_line_amount: None,
            max_line_amount: None,
            min_order_amount: None,
            max_order_amount: None,
            coupon_only: false,
            action,
            percent: None,
            amount: None,
            free_item_id: None,
            buy_quantity: None,
            free_quantity: None,
        };
        ordo_pricing::rules::pricing_rule_service::create(
            c,
            &admin,
            PricingRuleCreate {
                item_group_id: Some(group_ids[1]),
                customer_tag: Some("key-account".into()),
                percent: Some(rate("10")),
                ..rule("Key accounts: 10% on software", RuleAction::DiscountPercent)
            },
        )?;
        ordo_pricing::rules::pricing_rule_service::create(
            c,
            &admin,
            PricingRuleCreate {
                item_id: Some(item_ids[3]),
                free_item_id: Some(item_ids[4]),
                buy_quantity: Some(Quantity::from_scaled(50_000)),
                free_quantity: Some(Quantity::from_scaled(10_000)),
                ..rule("Buy 5 accessories, get a spare part", RuleAction::FreeItem)
            },
        )?;
        let welcome = ordo_pricing::rules::pricing_rule_service::create(
            c,
            &admin,
            PricingRuleCreate {
                coupon_only: true,
                percent: Some(rate("15")),
                ..rule("Welcome coupon: 15% off", RuleAction::DiscountPercent)
            },
        )?;
        ordo_pricing::rules::coupon_service::create(
            c,
            &admin,
            CouponCreate {
                code: "WELCOME15".into(),
                pricing_rule_id: welcome.id,
                customer_id: None,
                valid_from: None,
                valid_to: None,
                max_uses: Some(1000),
                max_uses_per_customer: Some(1),
                active: true,
            },
        )?;
        ordo_pricing::rules::shipping_rule_service::create(
            c,
            &admin,
            ShippingRuleCreate {
                name: "EU parcel".into(),
                priority: 100,
                active: true,
                countries: ["DE", "FR", "PL", "AT", "NL"].iter().map(|s| s.to_string()).collect(),
                basis: ShippingBasis::NetAmount,
                range_min: None,
                range_max: None,
                charge: ShippingChargeKind::Fixed,
                amount: Some(Money::from_scaled(149_000)),
                percent: None,
                currency: cur("EUR"),
                free_above: Some(Money::from_scaled(5_000_000)),
                tax_rate_id: Some(vat23),
            },
        )?;
        let manager = Caller {
            principal: Principal {
                kind: PrincipalKind::User,
                id: ids[1],
                name: "manager".into(),
                roles: vec![Role::SalesManager],
            },
            request_id: Some("demo-data".into()),
        };
        let delivery = crate::demo_sales::sales(c, &admin, &manager, &ids, &customer_ids, &item_ids, &team)?;
        let sam = ids[LOGINS.len() - 1];
        let desk = Caller {
            principal: Principal {
                kind: PrincipalKind::User,
                id: sam,
                name: "sam".into(),
                roles: vec![Role::ServiceAgent],
            },
            request_id: Some("demo-data".into()),
        };
        crate::demo_service::service(
            c,
            &admin,
            &desk,
            &crate::demo_service::Links {
                customers: customer_ids.clone(),
                items: item_ids.clone(),
                key_accounts: team.key_accounts,
                delivery,
                service_user: sam,
                persons: team.persons,
            },
        )?;
        let buying: Vec<i64> =
            customer_ids.iter().enumerate().filter(|(i, _)| *i as i64 + 1 != BLOCKED).map(|(_, id)| *id).collect();
        crate::demo_sales::history(c, &admin, &manager, &buying, &item_ids)?;
        Ok(true)
    })
    .or_else(already_there)
}

/// A process starting at the same time created the first user before us: its
/// transaction won, ours rolled back whole, and there is nothing left to do.
fn already_there(e: DomainError) -> Result<bool, DomainError> {
    match e {
        DomainError::Conflict { code: "duplicate_username", .. } => Ok(false),
        e => Err(e),
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

/// Creates the configured admin when the user table is empty (`ORDO_ADMIN_USER`).
pub fn ensure_admin(db: &Db, username: &str, password: &str) -> Result<bool, DomainError> {
    let stats = Stats::default();
    if db.read(&stats, accounts::count_users)? > 0 {
        return Ok(false);
    }
    let hash = hash_password(password)?;
    // Another process starting at the same time may create it first: that is success.
    db.write(&stats, |c| accounts::bootstrap_user(c, username, "Administrator", &[Role::Admin], &hash))
        .map(|_| true)
        .or_else(already_there)
}
