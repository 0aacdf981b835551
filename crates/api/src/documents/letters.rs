//! A customer's payment reminder: what one confirmed collection run recorded for them
//! (`POST /collection/run {"confirm": true}`), as JSON or printed from its template.

use actix_web::{get, web, HttpRequest, HttpResponse};
use diesel::dsl::max;
use diesel::prelude::*;
use ordo_core::{Caller, DomainError, Money, Permission, Result as DResult};
use ordo_db::schema::{dunning_notices, invoices};
use ordo_db::DbConnection;
use serde::{Deserialize, Serialize};
use time::Date;

use super::{json_or_printed, DocumentKind};
use crate::extract::{Auth, StrictQuery};
use crate::problem::Problem;

/// An overdue invoice on a reminder.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReminderInvoice {
    pub invoice_id: i64,
    pub number: String,
    #[serde(serialize_with = "ordo_core::serde_util::date::option::serialize")]
    #[schema(value_type = Option<String>, format = Date)]
    pub due_date: Option<Date>,
    pub days_overdue: i64,
    pub currency: String,
    pub open_amount: Money,
    /// The dunning level the invoice reached.
    pub level: i32,
}

/// A customer's reminder from one collection run.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DunningLetter {
    pub customer_id: i64,
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub as_of: Date,
    /// The highest level among the invoices.
    pub level: i32,
    /// The level's letter text, filled in when the run was recorded.
    pub letter: String,
    pub invoices: Vec<ReminderInvoice>,
    /// Σ the notices' fees (base currency).
    pub fees: Money,
}

type NoticeRow = (i64, String, Option<Date>, String, i32, i64, i64, Option<i64>, String);

fn load(conn: &mut DbConnection, caller: &Caller, customer_id: i64, as_of: Option<Date>) -> DResult<DunningLetter> {
    caller.require(Permission::BillingRead)?;
    ordo_crm::scope::customer(conn, caller.scope(), customer_id)?;
    let none = || DomainError::not_found("dunning letter of customer", customer_id);
    let as_of = match as_of {
        Some(d) => d,
        None => dunning_notices::table
            .filter(dunning_notices::customer_id.eq(customer_id))
            .select(max(dunning_notices::as_of))
            .first::<Option<Date>>(conn)?
            .ok_or_else(none)?,
    };
    let rows: Vec<NoticeRow> = dunning_notices::table
        .inner_join(invoices::table.on(invoices::id.eq(dunning_notices::invoice_id)))
        .filter(dunning_notices::customer_id.eq(customer_id))
        .filter(dunning_notices::as_of.eq(as_of))
        .order(dunning_notices::id.asc())
        .select((
            dunning_notices::invoice_id,
            invoices::number,
            invoices::due_date,
            invoices::currency,
            dunning_notices::level,
            dunning_notices::days_overdue,
            dunning_notices::open_amount,
            dunning_notices::fee,
            dunning_notices::letter,
        ))
        .load(conn)?;
    let letter = rows.first().map(|r| r.8.clone()).ok_or_else(none)?;
    Ok(DunningLetter {
        customer_id,
        as_of,
        level: rows.iter().map(|r| r.4).max().unwrap_or(0),
        letter,
        fees: Money::from_scaled(rows.iter().filter_map(|r| r.7).sum()),
        invoices: rows
            .into_iter()
            .map(|r| ReminderInvoice {
                invoice_id: r.0,
                number: r.1,
                due_date: r.2,
                currency: r.3,
                level: r.4,
                days_overdue: r.5,
                open_amount: Money::from_scaled(r.6),
            })
            .collect(),
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LetterQuery {
    /// The run's date (default: the customer's latest).
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[param(value_type = Option<String>, format = Date)]
    pub as_of: Option<Date>,
    /// Printed letters: ISO 639-1 language of the template, labels and number format.
    pub language: Option<String>,
}

/// The payment reminder a confirmed collection run recorded for the customer (the
/// latest, or the run of `as_of`): its letter text, the overdue invoices and the fees.
/// By content negotiation: JSON (the default), or the printed letter from its
/// template as `text/html` or `application/pdf`. 404 when no run recorded one; an
/// agent sees their customers' only.
#[utoipa::path(tag = "receivables", operation_id = "getDunningLetter",
    params(("id" = i64, Path, description = "Customer id"), LetterQuery),
    responses((status = 200, description = "The reminder", content(
        (DunningLetter = "application/json"), (String = "text/html"), (Vec<u8> = "application/pdf")))))]
#[get("/customers/{id}/dunning-letter")]
pub async fn dunning_letter(
    auth: Auth,
    req: HttpRequest,
    id: web::Path<i64>,
    q: StrictQuery<LetterQuery>,
) -> Result<HttpResponse, Problem> {
    let (id, q) = (id.into_inner(), q.0);
    let as_of = q.as_of;
    json_or_printed(auth, &req, q.language, DocumentKind::DunningLetter, id, move |c, caller| {
        load(c, caller, id, as_of)
    })
    .await
}
