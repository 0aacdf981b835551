//! Customer and contact use cases. Each runs inside the caller's transaction
//! (`Db::write`), so its change and its audit record commit together.

use diesel::prelude::*;
use ordo_core::time_util::now;
use ordo_core::util::{check_version, json_text, to_json, Removal};
use ordo_core::{Caller, DomainError, Page, PageRequest, Permission, Result, Scope};
use ordo_db::audit::{self, Entry};
use ordo_db::schema::{price_lists, users};
use ordo_db::{series, DbConnection};

use crate::model::*;
use crate::repo::{self, CustomerRow, NewContact, NewCustomer};
use crate::scope;

pub const CUSTOMER: &str = "customer";
pub const CONTACT: &str = "contact";
/// Days until invoices fall due when a customer is created without payment terms.
pub const DEFAULT_PAYMENT_TERMS: i32 = 30;

/// Who may own the customer: agents keep their own; assigning to someone else
/// needs `CustomersAssign`; the owner must be an active user.
fn resolve_owner(conn: &mut DbConnection, caller: &Caller, requested: Option<i64>) -> Result<Option<i64>> {
    let self_id = caller.principal.user_id();
    match (caller.scope(), requested) {
        (Scope::OwnCustomers(me), None) => return Ok(Some(me)),
        (Scope::OwnCustomers(me), Some(o)) if o == me => return Ok(Some(me)),
        (_, None) => return Ok(None),
        (_, Some(o)) if Some(o) == self_id => {}
        (_, Some(_)) => caller.require(Permission::CustomersAssign)?,
    }
    let owner = requested.expect("matched Some above");
    let active: Option<bool> = users::table.find(owner).select(users::active).first(conn).optional()?;
    match active {
        Some(true) => Ok(Some(owner)),
        Some(false) => Err(DomainError::field("owner_id", "inactive", format!("user {owner} is deactivated"))),
        None => Err(DomainError::reference_not_found("user", "owner_id", owner)),
    }
}

/// A parent must be visible to the caller and must not be the customer itself or
/// one of its descendants.
fn check_parent(conn: &mut DbConnection, caller: &Caller, customer_id: Option<i64>, parent: i64) -> Result<()> {
    scope::referenced_customer(conn, caller.scope(), "parent_id", parent)?;
    if let Some(id) = customer_id {
        if repo::ancestors(conn, parent)?.contains(&id) {
            return Err(DomainError::field(
                "parent_id",
                "cycle",
                format!("customer {parent} is this customer or one of its descendants"),
            ));
        }
    }
    Ok(())
}

fn check_price_list(conn: &mut DbConnection, id: i64) -> Result<()> {
    let n: i64 = price_lists::table.find(id).count().get_result(conn)?;
    if n == 0 {
        return Err(DomainError::reference_not_found("price list", "price_list_id", id));
    }
    Ok(())
}

/// Sales-team references a customer or document carries.
#[derive(Debug, Clone, Default)]
pub struct TeamRefs {
    pub territory_id: Option<i64>,
    pub customer_group_id: Option<i64>,
    pub sales_person_id: Option<i64>,
    pub sales_partner_id: Option<i64>,
    pub campaign_id: Option<i64>,
}

/// Each given reference must exist: 404 naming the field otherwise.
pub fn check_team(conn: &mut DbConnection, r: &TeamRefs) -> Result<()> {
    use ordo_db::schema::{campaigns, customer_groups, sales_partners, sales_persons, territories};
    ordo_db::require_opt_ref!(conn, territories, r.territory_id, "territory", "territory_id");
    ordo_db::require_opt_ref!(conn, customer_groups, r.customer_group_id, "customer group", "customer_group_id");
    ordo_db::require_opt_ref!(conn, sales_persons, r.sales_person_id, "sales person", "sales_person_id");
    ordo_db::require_opt_ref!(conn, sales_partners, r.sales_partner_id, "sales partner", "sales_partner_id");
    ordo_db::require_opt_ref!(conn, campaigns, r.campaign_id, "campaign", "campaign_id");
    Ok(())
}

/// Fields of a customer that feed the price engine or the credit decision: setting or
/// changing them needs more than `CustomersWrite`, exactly like a hand-set line price
/// needs `PriceOverride`.
fn guarded(changed: &[(&'static str, bool)]) -> Vec<(&'static str, Permission)> {
    changed
        .iter()
        .filter(|(_, c)| *c)
        .map(|(f, _)| {
            let p = match *f {
                "price_list_id" | "discount_percent" => Permission::PricingWrite,
                _ => Permission::CreditManage,
            };
            (*f, p)
        })
        .collect()
}

pub fn create_customer(conn: &mut DbConnection, caller: &Caller, input: CustomerCreate) -> Result<Customer> {
    caller.require(Permission::CustomersWrite)?;
    caller.require_fields(&guarded(&[
        ("price_list_id", input.price_list_id.is_some()),
        ("discount_percent", input.discount_percent.is_some()),
        ("tax_treatment", input.tax_treatment.is_some_and(|t| t != TaxTreatment::Standard)),
        ("credit_limit", input.credit_limit.is_some()),
        ("obligo_limit", input.obligo_limit.is_some()),
        ("invoicing_policy", input.invoicing_policy.is_some()),
        ("payment_terms_days", input.payment_terms_days.is_some_and(|d| d != DEFAULT_PAYMENT_TERMS)),
        ("parent_id", input.parent_id.is_some()),
    ]))?;
    if let Some(w) = input.default_warehouse_id {
        ordo_db::refs::sellable_warehouses(conn, &[("default_warehouse_id".into(), w)])?;
    }
    let owner_id = resolve_owner(conn, caller, input.owner_id)?;
    if let Some(parent) = input.parent_id {
        check_parent(conn, caller, None, parent)?;
    }
    if let Some(pl) = input.price_list_id {
        check_price_list(conn, pl)?;
    }
    check_team(
        conn,
        &TeamRefs {
            territory_id: input.territory_id,
            customer_group_id: input.customer_group_id,
            sales_person_id: input.sales_person_id,
            sales_partner_id: input.sales_partner_id,
            campaign_id: input.campaign_id,
        },
    )?;
    check_endpoint(&input.endpoint_id, &input.endpoint_scheme)?;
    let number = series::next_number(conn, CUSTOMER)?;
    let ts = now();
    let row = repo::insert_customer(
        conn,
        &NewCustomer {
            number,
            name: input.name.trim().to_string(),
            legal_name: input.legal_name,
            tax_id: input.tax_id,
            email: input.email,
            phone: input.phone,
            billing_address: input.billing_address.as_ref().map(json_text),
            shipping_address: input.shipping_address.as_ref().map(json_text),
            currency: input.currency.code().to_string(),
            payment_terms_days: input.payment_terms_days.unwrap_or(DEFAULT_PAYMENT_TERMS),
            credit_limit: input.credit_limit.map(|m| m.to_scaled()),
            parent_id: input.parent_id,
            owner_id,
            status: input.status.unwrap_or(CustomerStatus::Active).as_str().to_string(),
            tags: json_text(&input.tags.unwrap_or_default()),
            attributes: json_text(&input.attributes.unwrap_or_default()),
            version: 1,
            created_at: ts,
            updated_at: ts,
            price_list_id: input.price_list_id,
            tax_treatment: input.tax_treatment.unwrap_or(TaxTreatment::Standard).as_str().to_string(),
            discount_percent: input.discount_percent.map(|r| r.to_scaled()),
            territory_id: input.territory_id,
            customer_group_id: input.customer_group_id,
            sales_person_id: input.sales_person_id,
            sales_partner_id: input.sales_partner_id,
            campaign_id: input.campaign_id,
            contact_frequency_days: input.contact_frequency_days,
            default_warehouse_id: input.default_warehouse_id,
            invoicing_policy: input.invoicing_policy.unwrap_or(InvoicingPolicy::OnDelivery).as_str().to_string(),
            obligo_limit: input.obligo_limit.map(|m| m.to_scaled()),
            endpoint_id: input.endpoint_id,
            endpoint_scheme: input.endpoint_scheme,
            invoice_delivery: input.invoice_delivery.unwrap_or(InvoiceDelivery::Manual).as_str().to_string(),
            e_invoice: input.e_invoice.unwrap_or(false),
        },
    )?;
    let customer = row.to_model()?;
    audit::record(conn, caller, CUSTOMER, customer.id, "create", &to_json(&customer))?;
    ordo_db::events::emit(conn, caller, "customer.created", ("customer", customer.id), Some(customer.id), &customer)?;
    Ok(customer)
}

pub fn get_customer(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<Customer> {
    caller.require(Permission::CustomersRead)?;
    scope::customer(conn, caller.scope(), id)?.to_model()
}

pub fn list_customers(
    conn: &mut DbConnection,
    caller: &Caller,
    filter: &CustomerFilter,
    page: &PageRequest,
) -> Result<Page<Customer>> {
    caller.require(Permission::CustomersRead)?;
    let rows = repo::list_customers(conn, caller.scope(), filter, page)?;
    let data = rows.data.iter().map(CustomerRow::to_model).collect::<Result<Vec<_>>>()?;
    Ok(Page { data, next_cursor: rows.next_cursor, total: rows.total })
}

fn writable(row: &CustomerRow) -> Result<()> {
    if row.archived_at.is_some() {
        return Err(DomainError::conflict("archived", format!("customer {} is archived and read-only", row.id)));
    }
    Ok(())
}

pub fn update_customer(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    patch: CustomerPatch,
) -> Result<Customer> {
    let current = scope::customer(conn, caller.scope(), id)?;
    caller.require(Permission::CustomersWrite)?;
    check_version(if_match, current.version)?;
    writable(&current)?;
    caller.require_fields(&guarded(&[
        ("price_list_id", patch.price_list_id.is_some_and(|v| v != current.price_list_id)),
        (
            "discount_percent",
            patch.discount_percent.is_some_and(|v| v.map(|r| r.to_scaled()) != current.discount_percent),
        ),
        ("tax_treatment", patch.tax_treatment.is_some_and(|v| v.as_str() != current.tax_treatment)),
        ("credit_limit", patch.credit_limit.is_some_and(|v| v.map(|m| m.to_scaled()) != current.credit_limit)),
        ("obligo_limit", patch.obligo_limit.is_some_and(|v| v.map(|m| m.to_scaled()) != current.obligo_limit)),
        ("invoicing_policy", patch.invoicing_policy.is_some_and(|v| v.as_str() != current.invoicing_policy)),
        ("payment_terms_days", patch.payment_terms_days.is_some_and(|v| v != current.payment_terms_days)),
        ("parent_id", patch.parent_id.is_some_and(|v| v != current.parent_id)),
    ]))?;
    let before = current.to_model()?;
    let mut row = current.clone();
    if let Some(v) = patch.default_warehouse_id {
        if let Some(w) = v.filter(|w| Some(*w) != current.default_warehouse_id) {
            ordo_db::refs::sellable_warehouses(conn, &[("default_warehouse_id".into(), w)])?;
        }
        row.default_warehouse_id = v;
    }
    if let Some(owner) = patch.owner_id {
        if owner != row.owner_id {
            row.owner_id = match owner {
                Some(o) => resolve_owner(conn, caller, Some(o))?,
                None => {
                    if matches!(caller.scope(), Scope::OwnCustomers(_)) {
                        return Err(DomainError::forbidden("sales agents cannot unassign their customers"));
                    }
                    caller.require(Permission::CustomersAssign)?;
                    None
                }
            };
        }
    }
    if let Some(parent) = patch.parent_id {
        if let Some(p) = parent {
            if Some(p) != row.parent_id {
                check_parent(conn, caller, Some(id), p)?;
            }
        }
        row.parent_id = parent;
    }
    if let Some(v) = patch.name {
        row.name = v.trim().to_string();
    }
    if let Some(v) = patch.legal_name {
        row.legal_name = v;
    }
    if let Some(v) = patch.tax_id {
        row.tax_id = v;
    }
    if let Some(v) = patch.email {
        row.email = v;
    }
    if let Some(v) = patch.phone {
        row.phone = v;
    }
    if let Some(v) = patch.billing_address {
        row.billing_address = v.as_ref().map(json_text);
    }
    if let Some(v) = patch.shipping_address {
        row.shipping_address = v.as_ref().map(json_text);
    }
    if let Some(v) = patch.currency {
        row.currency = v.code().to_string();
    }
    if let Some(v) = patch.invoicing_policy {
        row.invoicing_policy = v.as_str().to_string();
    }
    if let Some(v) = patch.obligo_limit {
        row.obligo_limit = v.map(|m| m.to_scaled());
    }
    if let Some(v) = patch.endpoint_id {
        row.endpoint_id = v;
    }
    if let Some(v) = patch.endpoint_scheme {
        row.endpoint_scheme = v;
    }
    if let Some(v) = patch.invoice_delivery {
        row.invoice_delivery = v.as_str().to_string();
    }
    if let Some(v) = patch.e_invoice {
        row.e_invoice = v;
    }
    check_endpoint(&row.endpoint_id, &row.endpoint_scheme)?;
    if let Some(v) = patch.payment_terms_days {
        row.payment_terms_days = v;
    }
    if let Some(v) = patch.credit_limit {
        row.credit_limit = v.map(|m| m.to_scaled());
    }
    if let Some(v) = patch.status {
        row.status = v.as_str().to_string();
    }
    if let Some(v) = patch.tags {
        row.tags = json_text(&v);
    }
    if let Some(v) = patch.attributes {
        row.attributes = json_text(&v);
    }
    if let Some(v) = patch.price_list_id {
        if let Some(pl) = v {
            check_price_list(conn, pl)?;
        }
        row.price_list_id = v;
    }
    if let Some(v) = patch.tax_treatment {
        row.tax_treatment = v.as_str().to_string();
    }
    if let Some(v) = patch.discount_percent {
        row.discount_percent = v.map(|r| r.to_scaled());
    }
    if let Some(v) = patch.territory_id {
        row.territory_id = v;
    }
    if let Some(v) = patch.customer_group_id {
        row.customer_group_id = v;
    }
    if let Some(v) = patch.sales_person_id {
        row.sales_person_id = v;
    }
    if let Some(v) = patch.sales_partner_id {
        row.sales_partner_id = v;
    }
    if let Some(v) = patch.campaign_id {
        row.campaign_id = v;
    }
    if let Some(v) = patch.contact_frequency_days {
        row.contact_frequency_days = v;
    }
    check_team(
        conn,
        &TeamRefs {
            territory_id: row.territory_id.filter(|v| Some(*v) != current.territory_id),
            customer_group_id: row.customer_group_id.filter(|v| Some(*v) != current.customer_group_id),
            sales_person_id: row.sales_person_id.filter(|v| Some(*v) != current.sales_person_id),
            sales_partner_id: row.sales_partner_id.filter(|v| Some(*v) != current.sales_partner_id),
            campaign_id: row.campaign_id.filter(|v| Some(*v) != current.campaign_id),
        },
    )?;
    row.version = current.version + 1;
    row.updated_at = now();
    let saved = repo::update_customer(conn, &row, current.version)?.to_model()?;
    audit::record(conn, caller, CUSTOMER, id, "update", &audit::diff(&to_json(&before), &to_json(&saved)))?;
    Ok(saved)
}

pub fn delete_customer(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
) -> Result<Removal<Customer>> {
    // Visibility first: a customer the caller cannot see is 404, never 403.
    let current = scope::customer(conn, caller.scope(), id)?;
    caller.require(Permission::CustomersDelete)?;
    check_version(if_match, current.version)?;
    if repo::customer_is_referenced(conn, id)? {
        if current.archived_at.is_some() {
            return Ok(Removal::Archived(current.to_model()?));
        }
        let mut row = current.clone();
        row.archived_at = Some(now());
        row.updated_at = now();
        row.version += 1;
        let saved = repo::update_customer(conn, &row, current.version)?.to_model()?;
        audit::record(
            conn,
            caller,
            CUSTOMER,
            id,
            "archive",
            &serde_json::json!({"archived_at": saved.archived_at.map(|t| t.to_string())}),
        )?;
        return Ok(Removal::Archived(saved));
    }
    repo::delete_customer(conn, id)?;
    audit::record(conn, caller, CUSTOMER, id, "delete", &to_json(&current.to_model()?))?;
    Ok(Removal::Deleted)
}

pub fn customer_history(conn: &mut DbConnection, caller: &Caller, id: i64, page: &PageRequest) -> Result<Page<Entry>> {
    caller.require(Permission::CustomersRead)?;
    scope::customer(conn, caller.scope(), id)?;
    audit::history(conn, CUSTOMER, id, page)
}

// ---- contacts: a sub-resource, visible exactly when its customer is -------------

pub fn list_contacts(
    conn: &mut DbConnection,
    caller: &Caller,
    customer_id: i64,
    page: &PageRequest,
) -> Result<Page<Contact>> {
    caller.require(Permission::CustomersRead)?;
    scope::customer(conn, caller.scope(), customer_id)?;
    Ok(repo::list_contacts(conn, customer_id, page)?.map(|r| r.to_model()))
}

pub fn get_contact(conn: &mut DbConnection, caller: &Caller, customer_id: i64, id: i64) -> Result<Contact> {
    caller.require(Permission::CustomersRead)?;
    scope::customer(conn, caller.scope(), customer_id)?;
    Ok(repo::find_contact(conn, customer_id, id)?.to_model())
}

fn unset_primary(conn: &mut DbConnection, caller: &Caller, customer_id: i64, except: Option<i64>) -> Result<()> {
    let change = serde_json::json!({"is_primary": {"from": true, "to": false}});
    for id in repo::clear_primary(conn, customer_id, except)? {
        audit::record(conn, caller, CONTACT, id, "update", &change)?;
    }
    Ok(())
}

pub fn create_contact(
    conn: &mut DbConnection,
    caller: &Caller,
    customer_id: i64,
    input: ContactCreate,
) -> Result<Contact> {
    caller.require(Permission::CustomersWrite)?;
    writable(&scope::customer(conn, caller.scope(), customer_id)?)?;
    if input.is_primary {
        unset_primary(conn, caller, customer_id, None)?;
    }
    let ts = now();
    let row = repo::insert_contact(
        conn,
        &NewContact {
            customer_id,
            name: input.name.trim().to_string(),
            role: input.role,
            email: input.email,
            phone: input.phone,
            is_primary: input.is_primary,
            version: 1,
            created_at: ts,
            updated_at: ts,
        },
    )?;
    let contact = row.to_model();
    audit::record(conn, caller, CONTACT, contact.id, "create", &to_json(&contact))?;
    Ok(contact)
}

pub fn update_contact(
    conn: &mut DbConnection,
    caller: &Caller,
    customer_id: i64,
    id: i64,
    if_match: Option<i64>,
    patch: ContactPatch,
) -> Result<Contact> {
    caller.require(Permission::CustomersWrite)?;
    writable(&scope::customer(conn, caller.scope(), customer_id)?)?;
    let current = repo::find_contact(conn, customer_id, id)?;
    check_version(if_match, current.version)?;
    let mut row = current.clone();
    if let Some(v) = patch.name {
        row.name = v.trim().to_string();
    }
    if let Some(v) = patch.role {
        row.role = v;
    }
    if let Some(v) = patch.email {
        row.email = v;
    }
    if let Some(v) = patch.phone {
        row.phone = v;
    }
    if let Some(v) = patch.is_primary {
        if v && !current.is_primary {
            unset_primary(conn, caller, customer_id, Some(id))?;
        }
        row.is_primary = v;
    }
    row.version += 1;
    row.updated_at = now();
    let saved = repo::update_contact(conn, &row, current.version)?.to_model();
    audit::record(conn, caller, CONTACT, id, "update", &audit::diff(&to_json(&current.to_model()), &to_json(&saved)))?;
    Ok(saved)
}

pub fn delete_contact(
    conn: &mut DbConnection,
    caller: &Caller,
    customer_id: i64,
    id: i64,
    if_match: Option<i64>,
) -> Result<()> {
    caller.require(Permission::CustomersWrite)?;
    writable(&scope::customer(conn, caller.scope(), customer_id)?)?;
    let current = repo::find_contact(conn, customer_id, id)?;
    check_version(if_match, current.version)?;
    repo::delete_contact(conn, id)?;
    audit::record(conn, caller, CONTACT, id, "delete", &to_json(&current.to_model()))?;
    Ok(())
}

/// An electronic address needs its scheme, and back.
fn check_endpoint(id: &Option<String>, scheme: &Option<String>) -> Result<()> {
    if id.is_some() == scheme.is_some() {
        return Ok(());
    }
    let missing = if id.is_some() { "endpoint_scheme" } else { "endpoint_id" };
    Err(DomainError::field(missing, "required", "an electronic address (endpoint_id) needs its scheme, and back"))
}
