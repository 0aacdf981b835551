//! Diesel rows and queries for customers and contacts.

use diesel::prelude::*;
use ordo_core::{Currency, DomainError, Money, Page, PageRequest, Rate, Result, Scope};
use ordo_db::schema::{contacts, customers};
use ordo_db::sql::{like_pattern, lower};
use ordo_db::DbConnection;
use time::PrimitiveDateTime;

use crate::model::{Contact, Customer, CustomerFilter, CustomerStatus, InvoiceDelivery, InvoicingPolicy, TaxTreatment};
use crate::scope::visible_customers;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = customers, treat_none_as_null = true)]
pub struct CustomerRow {
    pub id: i64,
    pub number: String,
    pub name: String,
    pub legal_name: Option<String>,
    pub tax_id: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub billing_address: Option<String>,
    pub shipping_address: Option<String>,
    pub currency: String,
    pub payment_terms_days: i32,
    pub credit_limit: Option<i64>,
    pub parent_id: Option<i64>,
    pub owner_id: Option<i64>,
    pub status: String,
    pub tags: String,
    pub attributes: String,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
    pub archived_at: Option<PrimitiveDateTime>,
    pub price_list_id: Option<i64>,
    pub tax_treatment: String,
    pub discount_percent: Option<i64>,
    pub territory_id: Option<i64>,
    pub customer_group_id: Option<i64>,
    pub sales_person_id: Option<i64>,
    pub sales_partner_id: Option<i64>,
    pub campaign_id: Option<i64>,
    pub contact_frequency_days: Option<i32>,
    pub default_warehouse_id: Option<i64>,
    pub invoicing_policy: String,
    pub obligo_limit: Option<i64>,
    pub endpoint_id: Option<String>,
    pub endpoint_scheme: Option<String>,
    pub invoice_delivery: String,
    pub e_invoice: bool,
}

/// The insertable part of a customer (the database assigns the id).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = customers)]
pub struct NewCustomer {
    pub number: String,
    pub name: String,
    pub legal_name: Option<String>,
    pub tax_id: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub billing_address: Option<String>,
    pub shipping_address: Option<String>,
    pub currency: String,
    pub payment_terms_days: i32,
    pub credit_limit: Option<i64>,
    pub parent_id: Option<i64>,
    pub owner_id: Option<i64>,
    pub status: String,
    pub tags: String,
    pub attributes: String,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
    pub price_list_id: Option<i64>,
    pub tax_treatment: String,
    pub discount_percent: Option<i64>,
    pub territory_id: Option<i64>,
    pub customer_group_id: Option<i64>,
    pub sales_person_id: Option<i64>,
    pub sales_partner_id: Option<i64>,
    pub campaign_id: Option<i64>,
    pub contact_frequency_days: Option<i32>,
    pub default_warehouse_id: Option<i64>,
    pub invoicing_policy: String,
    pub obligo_limit: Option<i64>,
    pub endpoint_id: Option<String>,
    pub endpoint_scheme: Option<String>,
    pub invoice_delivery: String,
    pub e_invoice: bool,
}

fn corrupt(what: &str, id: i64) -> DomainError {
    DomainError::Internal(format!("customer {id}: stored {what} is unreadable"))
}

impl CustomerRow {
    pub fn to_model(&self) -> Result<Customer> {
        let json = |s: &Option<String>, what| -> Result<_> {
            s.as_deref().map(serde_json::from_str).transpose().map_err(|_| corrupt(what, self.id))
        };
        Ok(Customer {
            id: self.id,
            number: self.number.clone(),
            name: self.name.clone(),
            legal_name: self.legal_name.clone(),
            tax_id: self.tax_id.clone(),
            email: self.email.clone(),
            phone: self.phone.clone(),
            billing_address: json(&self.billing_address, "billing_address")?,
            shipping_address: json(&self.shipping_address, "shipping_address")?,
            currency: Currency::from_code(&self.currency).ok_or_else(|| corrupt("currency", self.id))?,
            payment_terms_days: self.payment_terms_days,
            credit_limit: self.credit_limit.map(Money::from_scaled),
            parent_id: self.parent_id,
            owner_id: self.owner_id,
            status: CustomerStatus::parse(&self.status).ok_or_else(|| corrupt("status", self.id))?,
            tags: serde_json::from_str(&self.tags).map_err(|_| corrupt("tags", self.id))?,
            attributes: serde_json::from_str(&self.attributes).map_err(|_| corrupt("attributes", self.id))?,
            version: self.version,
            created_at: self.created_at.assume_utc(),
            updated_at: self.updated_at.assume_utc(),
            archived_at: self.archived_at.map(|t| t.assume_utc()),
            price_list_id: self.price_list_id,
            tax_treatment: TaxTreatment::parse(&self.tax_treatment).ok_or_else(|| corrupt("tax_treatment", self.id))?,
            discount_percent: self.discount_percent.map(Rate::from_scaled),
            territory_id: self.territory_id,
            customer_group_id: self.customer_group_id,
            sales_person_id: self.sales_person_id,
            sales_partner_id: self.sales_partner_id,
            campaign_id: self.campaign_id,
            contact_frequency_days: self.contact_frequency_days,
            default_warehouse_id: self.default_warehouse_id,
            invoicing_policy: InvoicingPolicy::parse(&self.invoicing_policy)
                .ok_or_else(|| corrupt("invoicing_policy", self.id))?,
            obligo_limit: self.obligo_limit.map(Money::from_scaled),
            endpoint_id: self.endpoint_id.clone(),
            endpoint_scheme: self.endpoint_scheme.clone(),
            invoice_delivery: InvoiceDelivery::parse(&self.invoice_delivery)
                .ok_or_else(|| corrupt("invoice_delivery", self.id))?,
            e_invoice: self.e_invoice,
            expanded: None,
        })
    }
}

pub fn insert_customer(conn: &mut DbConnection, row: &NewCustomer) -> Result<CustomerRow> {
    Ok(diesel::insert_into(customers::table).values(row).returning(customers::all_columns).get_result(conn)?)
}

/// Writes the whole row if its version is still `expected_version`; bumps the version.
pub fn update_customer(conn: &mut DbConnection, row: &CustomerRow, expected_version: i64) -> Result<CustomerRow> {
    ordo_db::refcache::forget::<CustomerRow>(row.id);
    diesel::update(customers::table.filter(customers::id.eq(row.id)).filter(customers::version.eq(expected_version)))
        .set(row)
        .returning(customers::all_columns)
        .get_result(conn)
        .optional()?
        .ok_or_else(|| DomainError::stale_version(expected_version))
}

pub fn list_customers(
    conn: &mut DbConnection,
    scope: Scope,
    f: &CustomerFilter,
    page: &PageRequest,
) -> Result<Page<CustomerRow>> {
    let build = || {
        let mut q = visible_customers(scope).select(CustomerRow::as_select());
        if !f.include_archived {
            q = q.filter(customers::archived_at.is_null());
        }
        if let Some(text) = f.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            let pat = like_pattern(text);
            q = q.filter(
                lower(customers::name)
                    .like(pat.clone())
                    .escape('\\')
                    .or(lower(customers::number).like(pat.clone()).escape('\\'))
                    .or(lower(customers::tax_id.assume_not_null()).like(pat).escape('\\')),
            );
        }
        if let Some(owner) = f.owner_id {
            q = q.filter(customers::owner_id.eq(owner));
        }
        if let Some(status) = f.status {
            q = q.filter(customers::status.eq(status.as_str()));
        }
        if let Some(parent) = f.parent_id {
            q = q.filter(customers::parent_id.eq(parent));
        }
        if let Some(t) = f.territory_id {
            q = q.filter(customers::territory_id.eq(t));
        }
        if let Some(g) = f.customer_group_id {
            q = q.filter(customers::customer_group_id.eq(g));
        }
        if let Some(p) = f.sales_person_id {
            q = q.filter(customers::sales_person_id.eq(p));
        }
        if let Some(since) = f.updated_since {
            q = q.filter(customers::updated_at.ge(ordo_core::time_util::from_offset(since)));
        }
        q
    };
    let total = ordo_db::total!(conn, page, build());
    let mut rows = ordo_db::keyset_page!(conn, build(), page, customers::id => |r: &CustomerRow| r.id,
        "number" => customers::number: String = |r: &CustomerRow| r.number.clone(),
        "name" => customers::name: String = |r: &CustomerRow| r.name.clone(),
        "created_at" => customers::created_at: time::PrimitiveDateTime = |r: &CustomerRow| r.created_at,
        "updated_at" => customers::updated_at: time::PrimitiveDateTime = |r: &CustomerRow| r.updated_at,
    );
    rows.total = total;
    Ok(rows)
}

/// The parent chain of `start`, nearest first.
pub fn ancestors(conn: &mut DbConnection, start: i64) -> Result<Vec<i64>> {
    ordo_core::validate::ancestors(start, |id| {
        let parent: Option<Option<i64>> =
            customers::table.find(id).select(customers::parent_id).first(conn).optional()?;
        Ok(parent.flatten())
    })
}

/// Whether anything other than the customer's own contacts refers to it. Later
/// domains (documents, invoices) add their tables here.
pub fn customer_is_referenced(conn: &mut DbConnection, id: i64) -> Result<bool> {
    use ordo_db::schema::{
        activities, blanket_orders, coupon_redemptions, leads, opportunities, quotations, sales_orders,
    };
    let children: i64 = customers::table.filter(customers::parent_id.eq(id)).count().get_result(conn)?;
    let redeemed: i64 =
        coupon_redemptions::table.filter(coupon_redemptions::customer_id.eq(id)).count().get_result(conn)?;
    // Documents, the pipeline and activities keep their customer: archive rather than delete.
    let docs: i64 = quotations::table.filter(quotations::customer_id.eq(id)).count().get_result::<i64>(conn)?
        + sales_orders::table.filter(sales_orders::customer_id.eq(id)).count().get_result::<i64>(conn)?
        + blanket_orders::table.filter(blanket_orders::customer_id.eq(id)).count().get_result::<i64>(conn)?;
    let crm: i64 = opportunities::table.filter(opportunities::customer_id.eq(id)).count().get_result::<i64>(conn)?
        + leads::table.filter(leads::customer_id.eq(id)).count().get_result::<i64>(conn)?
        + activities::table.filter(activities::customer_id.eq(id)).count().get_result::<i64>(conn)?;
    Ok(children + redeemed + docs + crm > 0)
}

pub fn delete_customer(conn: &mut DbConnection, id: i64) -> Result<()> {
    ordo_db::refcache::forget::<CustomerRow>(id);
    diesel::delete(customers::table.find(id)).execute(conn)?;
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable, AsChangeset)]
#[diesel(table_name = contacts, treat_none_as_null = true)]
pub struct ContactRow {
    pub id: i64,
    pub customer_id: i64,
    pub name: String,
    pub role: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub is_primary: bool,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = contacts)]
pub struct NewContact {
    pub customer_id: i64,
    pub name: String,
    pub role: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub is_primary: bool,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

impl ContactRow {
    pub fn to_model(&self) -> Contact {
        Contact {
            id: self.id,
            customer_id: self.customer_id,
            name: self.name.clone(),
            role: self.role.clone(),
            email: self.email.clone(),
            phone: self.phone.clone(),
            is_primary: self.is_primary,
            version: self.version,
            created_at: self.created_at.assume_utc(),
            updated_at: self.updated_at.assume_utc(),
        }
    }
}

pub fn find_contact(conn: &mut DbConnection, customer_id: i64, id: i64) -> Result<ContactRow> {
    contacts::table
        .filter(contacts::id.eq(id))
        .filter(contacts::customer_id.eq(customer_id))
        .select(ContactRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| DomainError::not_found("contact", id))
}

pub fn list_contacts(conn: &mut DbConnection, customer_id: i64, page: &PageRequest) -> Result<Page<ContactRow>> {
    let q = contacts::table.filter(contacts::customer_id.eq(customer_id)).select(ContactRow::as_select()).into_boxed();
    Ok(Page::from_rows(ordo_db::keyset!(q, page, contacts::id).load(conn)?, page, |r| r.id))
}

pub fn insert_contact(conn: &mut DbConnection, row: &NewContact) -> Result<ContactRow> {
    Ok(diesel::insert_into(contacts::table).values(row).returning(contacts::all_columns).get_result(conn)?)
}

pub fn update_contact(conn: &mut DbConnection, row: &ContactRow, expected_version: i64) -> Result<ContactRow> {
    diesel::update(contacts::table.filter(contacts::id.eq(row.id)).filter(contacts::version.eq(expected_version)))
        .set(row)
        .returning(contacts::all_columns)
        .get_result(conn)
        .optional()?
        .ok_or_else(|| DomainError::stale_version(expected_version))
}

/// Clears the primary flag on the customer's other contacts (one primary at most);
/// returns the contacts it changed so the caller can audit them.
pub fn clear_primary(conn: &mut DbConnection, customer_id: i64, except: Option<i64>) -> Result<Vec<i64>> {
    let others: Vec<i64> = contacts::table
        .filter(contacts::customer_id.eq(customer_id))
        .filter(contacts::is_primary.eq(true))
        .filter(contacts::id.ne(except.unwrap_or(-1)))
        .select(contacts::id)
        .load(conn)?;
    if !others.is_empty() {
        // The flag is part of the other contact's representation: its version moves too.
        diesel::update(contacts::table.filter(contacts::id.eq_any(&others)))
            .set((
                contacts::is_primary.eq(false),
                contacts::version.eq(contacts::version + 1),
                contacts::updated_at.eq(ordo_core::time_util::now()),
            ))
            .execute(conn)?;
    }
    Ok(others)
}

pub fn delete_contact(conn: &mut DbConnection, id: i64) -> Result<()> {
    diesel::delete(contacts::table.find(id)).execute(conn)?;
    Ok(())
}
