//! `/customers` and `/customers/{id}/contacts`.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpResponse};
use ordo_core::Page;
use ordo_crm::model::*;
use ordo_crm::service;
use serde::Deserialize;

use crate::common::{history_page, removal_response, timestamp_param, HistoryEntry, PageQuery};
use crate::extract::{json_response, Auth, IfMatch, ReplyMeta, StrictQuery, ValidJson};
use crate::problem::Problem;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CustomerQuery {
    /// Case-insensitive search in name, number and tax id.
    pub q: Option<String>,
    pub owner_id: Option<i64>,
    pub status: Option<CustomerStatus>,
    pub parent_id: Option<i64>,
    /// Only customers changed at or after this RFC 3339 timestamp.
    pub updated_since: Option<String>,
    /// Include archived customers (default false).
    pub include_archived: Option<bool>,
    pub territory_id: Option<i64>,
    pub customer_group_id: Option<i64>,
    pub sales_person_id: Option<i64>,
    /// The order of the list (default `id`, oldest first); `-` before a key for
    /// descending. Ties go by id. Keep it while paging: a cursor belongs to its sort.
    pub sort: Option<crate::crud::CustomerSort>,
    /// `owner`: embed the owner's display name (`expanded.owner`).
    #[serde(default, deserialize_with = "ordo_core::expand::comma_list")]
    #[param(value_type = Option<Vec<ordo_core::expand::CustomerExpand>>, style = Form, explode = false)]
    pub expand: Vec<ordo_core::expand::CustomerExpand>,
    /// Also answer `total`, the count of every matching row (costs a count query:
    /// ask on the first page only).
    pub include_total: Option<bool>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CustomerExpandQuery {
    /// `owner`: embed the owner's display name (`expanded.owner`).
    #[serde(default, deserialize_with = "ordo_core::expand::comma_list")]
    #[param(value_type = Option<Vec<ordo_core::expand::CustomerExpand>>, style = Form, explode = false)]
    pub expand: Vec<ordo_core::expand::CustomerExpand>,
}

/// Create a customer.
#[utoipa::path(
    tag = "customers",
    operation_id = "createCustomer",
    request_body = CustomerCreate,
    responses(
        (status = 201, description = "Created", body = Customer,
         headers(("ETag" = String, description = "Version"), ("Location" = String))),
    )
)]
#[post("/customers")]
pub async fn create_customer(auth: Auth, body: ValidJson<CustomerCreate>) -> Result<HttpResponse, Problem> {
    let input = body.0;
    auth.post(
        StatusCode::CREATED,
        move |c, caller| service::create_customer(c, caller, input),
        |v| ReplyMeta { location: Some(format!("/api/v1/customers/{}", v.id)), version: Some(v.version) },
    )
    .await
}

/// List customers (cursor-paginated, newest last).
#[utoipa::path(
    tag = "customers",
    operation_id = "listCustomers",
    params(CustomerQuery),
    responses((status = 200, description = "A page of customers", body = Page<Customer>))
)]
#[get("/customers")]
pub async fn list_customers(auth: Auth, q: StrictQuery<CustomerQuery>) -> Result<HttpResponse, Problem> {
    let q = q.0;
    let mut page = crate::common::sorted_page(
        q.limit,
        q.cursor.as_deref(),
        q.sort.unwrap_or(crate::crud::CustomerSort::Id).sort(),
    )?;
    page.include_total = q.include_total.unwrap_or(false);
    let filter = CustomerFilter {
        q: q.q,
        owner_id: q.owner_id,
        status: q.status,
        parent_id: q.parent_id,
        updated_since: timestamp_param("updated_since", q.updated_since.as_deref())?,
        include_archived: q.include_archived.unwrap_or(false),
        territory_id: q.territory_id,
        customer_group_id: q.customer_group_id,
        sales_person_id: q.sales_person_id,
    };
    let expand: Vec<ordo_core::expand::Expand> = q.expand.into_iter().map(Into::into).collect();
    auth.list(page, move |c, caller, page| {
        let mut p = service::list_customers(c, caller, &filter, page)?;
        ordo_sales_docs::expand::apply(c, &mut p.data, &expand)?;
        Ok(p)
    })
    .await
}

/// Get a customer.
#[utoipa::path(
    tag = "customers",
    operation_id = "getCustomer",
    params(("id" = i64, Path, description = "Customer id"), CustomerExpandQuery),
    responses((status = 200, description = "The customer", body = Customer, headers(("ETag" = String))))
)]
#[get("/customers/{id}")]
pub async fn get_customer(
    auth: Auth,
    id: web::Path<i64>,
    q: StrictQuery<CustomerExpandQuery>,
) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    let expand: Vec<ordo_core::expand::Expand> = q.0.expand.into_iter().map(Into::into).collect();
    let c = auth
        .read(move |conn, caller| {
            let mut c = service::get_customer(conn, caller, id)?;
            ordo_sales_docs::expand::apply(conn, std::slice::from_mut(&mut c), &expand)?;
            Ok(c)
        })
        .await?;
    Ok(json_response(StatusCode::OK, &c, Some(c.version)))
}

/// Update a customer (JSON merge-patch: absent fields stay, `null` clears).
#[utoipa::path(
    tag = "customers",
    operation_id = "updateCustomer",
    params(("id" = i64, Path, description = "Customer id")),
    request_body(content = CustomerPatch, content_type = "application/merge-patch+json"),
    responses((status = 200, description = "Updated", body = Customer, headers(("ETag" = String))))
)]
#[patch("/customers/{id}")]
pub async fn update_customer(
    auth: Auth,
    id: web::Path<i64>,
    if_match: IfMatch,
    body: ValidJson<CustomerPatch>,
) -> Result<HttpResponse, Problem> {
    let (id, patch) = (id.into_inner(), body.0);
    let c = auth
        .write(move |conn, caller| {
            let c = service::update_customer(conn, caller, id, if_match.0, patch)?;
            // The customer's group weighs in its open tickets' scores.
            ordo_service::tickets::rescore(conn, None, ordo_service::tickets::Rescore::Customer(id))?;
            Ok(c)
        })
        .await?;
    Ok(json_response(StatusCode::OK, &c, Some(c.version)))
}

/// Delete a customer. If anything still references it (child customers, documents)
/// it is archived instead and returned with `archived_at` set.
#[utoipa::path(
    tag = "customers",
    operation_id = "deleteCustomer",
    params(("id" = i64, Path, description = "Customer id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 200, description = "Still referenced, so archived", body = Customer),
    )
)]
#[delete("/customers/{id}")]
pub async fn delete_customer(auth: Auth, id: web::Path<i64>, if_match: IfMatch) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    let r =
        crate::attachments::delete_with_files(auth, crate::attachments::Owner::Customer, id, move |conn, caller| {
            service::delete_customer(conn, caller, id, if_match.0)
        })
        .await?;
    Ok(removal_response(r, |c| c.version))
}

/// The change history of a customer.
#[utoipa::path(
    tag = "customers",
    operation_id = "getCustomerHistory",
    params(("id" = i64, Path, description = "Customer id"), PageQuery),
    responses((status = 200, description = "History, oldest first", body = Page<HistoryEntry>))
)]
#[get("/customers/{id}/history")]
pub async fn customer_history(
    auth: Auth,
    id: web::Path<i64>,
    q: StrictQuery<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let (id, page) = (id.into_inner(), q.0.page()?);
    auth.list(page, move |conn, caller, page| service::customer_history(conn, caller, id, page).map(history_page)).await
}

/// List a customer's contacts.
#[utoipa::path(
    tag = "customers",
    operation_id = "listContacts",
    params(("id" = i64, Path, description = "Customer id"), PageQuery),
    responses((status = 200, description = "A page of contacts", body = Page<Contact>))
)]
#[get("/customers/{id}/contacts")]
pub async fn list_contacts(auth: Auth, id: web::Path<i64>, q: StrictQuery<PageQuery>) -> Result<HttpResponse, Problem> {
    let (id, page) = (id.into_inner(), q.0.page()?);
    auth.list(page, move |conn, caller, page| service::list_contacts(conn, caller, id, page)).await
}

/// Add a contact to a customer. `is_primary: true` takes the flag from any other contact.
#[utoipa::path(
    tag = "customers",
    operation_id = "createContact",
    params(("id" = i64, Path, description = "Customer id")),
    request_body = ContactCreate,
    responses((status = 201, description = "Created", body = Contact, headers(("ETag" = String), ("Location" = String))))
)]
#[post("/customers/{id}/contacts")]
pub async fn create_contact(
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<ContactCreate>,
) -> Result<HttpResponse, Problem> {
    let (id, input) = (id.into_inner(), body.0);
    auth.post(
        StatusCode::CREATED,
        move |c, caller| service::create_contact(c, caller, id, input),
        move |v| ReplyMeta {
            location: Some(format!("/api/v1/customers/{}/contacts/{}", v.customer_id, v.id)),
            version: Some(v.version),
        },
    )
    .await
}

/// Get one contact.
#[utoipa::path(
    tag = "customers",
    operation_id = "getContact",
    params(("id" = i64, Path, description = "Customer id"), ("contact_id" = i64, Path, description = "Contact id")),
    responses((status = 200, description = "The contact", body = Contact, headers(("ETag" = String))))
)]
#[get("/customers/{id}/contacts/{contact_id}")]
pub async fn get_contact(auth: Auth, path: web::Path<(i64, i64)>) -> Result<HttpResponse, Problem> {
    let (id, contact_id) = path.into_inner();
    let c = auth.read(move |conn, caller| service::get_contact(conn, caller, id, contact_id)).await?;
    Ok(json_response(StatusCode::OK, &c, Some(c.version)))
}

/// Update a contact (merge-patch).
#[utoipa::path(
    tag = "customers",
    operation_id = "updateContact",
    params(("id" = i64, Path, description = "Customer id"), ("contact_id" = i64, Path, description = "Contact id")),
    request_body(content = ContactPatch, content_type = "application/merge-patch+json"),
    responses((status = 200, description = "Updated", body = Contact, headers(("ETag" = String))))
)]
#[patch("/customers/{id}/contacts/{contact_id}")]
pub async fn update_contact(
    auth: Auth,
    path: web::Path<(i64, i64)>,
    if_match: IfMatch,
    body: ValidJson<ContactPatch>,
) -> Result<HttpResponse, Problem> {
    let ((id, contact_id), patch) = (path.into_inner(), body.0);
    let c = auth
        .write(move |conn, caller| service::update_contact(conn, caller, id, contact_id, if_match.0, patch))
        .await?;
    Ok(json_response(StatusCode::OK, &c, Some(c.version)))
}

/// Delete a contact.
#[utoipa::path(
    tag = "customers",
    operation_id = "deleteContact",
    params(("id" = i64, Path, description = "Customer id"), ("contact_id" = i64, Path, description = "Contact id")),
    responses((status = 204, description = "Deleted"))
)]
#[delete("/customers/{id}/contacts/{contact_id}")]
pub async fn delete_contact(
    auth: Auth,
    path: web::Path<(i64, i64)>,
    if_match: IfMatch,
) -> Result<HttpResponse, Problem> {
    let (id, contact_id) = path.into_inner();
    auth.write(move |conn, caller| service::delete_contact(conn, caller, id, contact_id, if_match.0)).await?;
    Ok(HttpResponse::NoContent().finish())
}
