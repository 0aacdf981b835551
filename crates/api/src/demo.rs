//! Demo data for `ordo serve --demo` / `ordo demo-data`: loaded once, only into an
//! empty database, through the same use cases the API calls.

use ordo_catalog::model::{ItemCreate, ItemGroupCreate, ItemKind};
use ordo_core::{Caller, Currency, DomainError, Money, Principal, PrincipalKind, Quantity, Role};
use ordo_crm::model::{Address, ContactCreate, CustomerCreate, CustomerStatus};
use ordo_db::{accounts, Db, Stats};

use crate::auth::hash_password;

pub const LOGINS: &[(&str, &str, Role)] = &[
    ("admin", "admin-demo", Role::Admin),
    ("manager", "manager-demo", Role::SalesManager),
    ("alice", "alice-demo", Role::SalesAgent),
    ("bob", "bob-demo", Role::SalesAgent),
];

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
        let admin = Caller {
            principal: Principal {
                kind: PrincipalKind::User,
                id: ids[0],
                name: "admin".into(),
                roles: vec![Role::Admin],
            },
            request_id: Some("demo-data".into()),
        };
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
        for n in 1..=50i64 {
            let gi = (n as usize - 1) % groups.len();
            let kind = if gi == 2 { ItemKind::Service } else { ItemKind::Stock };
            ordo_catalog::service::create_item(
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
                    tax_rate_id: None,
                },
            )?;
        }
        let cities = [("Berlin", "DE", "EUR"), ("Warsaw", "PL", "PLN"), ("Lyon", "FR", "EUR"), ("Leeds", "GB", "GBP")];
        for n in 1..=20i64 {
            let (city, country, cur) = cities[(n as usize) % cities.len()];
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
                    currency: Currency::from_code(cur).expect("known currency"),
                    payment_terms_days: Some(if n % 3 == 0 { 14 } else { 30 }),
                    credit_limit: Some(Money::from_scaled(n * 50_000_000)),
                    parent_id: None,
                    owner_id: Some(owner),
                    status: Some(if n == 13 { CustomerStatus::Blocked } else { CustomerStatus::Active }),
                    tags: Some(vec![if n % 4 == 0 { "key-account".into() } else { "retail".into() }]),
                    attributes: None,
                    price_list_id: None,
                    tax_treatment: None,
                    discount_percent: None,
                },
            )?;
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
        Ok(true)
    })
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
    db.write(&stats, |c| accounts::bootstrap_user(c, username, "Administrator", &[Role::Admin], &hash))?;
    Ok(true)
}
