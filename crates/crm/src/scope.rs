//! Row-level scope, in one place. A sales agent sees only customers they own; every
//! query over customers, or over rows that hang off a customer, starts here, so a
//! forgotten check cannot happen in a handler.

use diesel::prelude::*;
use ordo_core::{DomainError, Result, Scope};
use ordo_db::schema::customers;
use ordo_db::{DbBackend, DbConnection};

use crate::repo::CustomerRow;

/// Customers the scope may see (archived ones included: they stay readable by id).
pub fn visible_customers<'a>(scope: Scope) -> customers::BoxedQuery<'a, DbBackend> {
    let q = customers::table.into_boxed();
    match scope {
        Scope::All => q,
        Scope::OwnCustomers(user_id) => q.filter(customers::owner_id.eq(user_id)),
    }
}

/// The ids of the customers `owner` owns: what an agent's scope lets through, as a
/// subquery for `customer_id.eq_any(...)` on the rows that hang off a customer.
pub type OwnCustomerIds = diesel::dsl::Select<
    diesel::dsl::Filter<customers::table, diesel::dsl::Eq<customers::owner_id, i64>>,
    customers::id,
>;

pub fn own_customer_ids(owner: i64) -> OwnCustomerIds {
    customers::table.filter(customers::owner_id.eq(owner)).select(customers::id)
}

/// One customer if the scope may see it; otherwise 404, exactly like a missing id.
pub fn customer(conn: &mut DbConnection, scope: Scope, id: i64) -> Result<CustomerRow> {
    // Read once per transaction (`ordo_db::refcache::remember`), checked against the
    // scope every time. Safe because `repo::update_customer` and `delete_customer`, the
    // only code that writes customers, forget the row first.
    if let Some(row) = ordo_db::refcache::remembered::<CustomerRow>(id) {
        return match scope {
            Scope::OwnCustomers(me) if row.owner_id != Some(me) => Err(DomainError::not_found("customer", id)),
            _ => Ok(row),
        };
    }
    // The reference data's generation rides along (`ordo_db::refcache`): an order's
    // use cases start here.
    let (row, generation) = visible_customers(scope)
        .filter(customers::id.eq(id))
        .select((CustomerRow::as_select(), ordo_db::refcache::generation()))
        .first::<(CustomerRow, i64)>(conn)
        .optional()?
        .ok_or_else(|| DomainError::not_found("customer", id))?;
    ordo_db::refcache::observe(generation);
    ordo_db::refcache::remember(id, &row);
    Ok(row)
}

/// A customer referenced from a request body (`field`), checked against the scope.
pub fn referenced_customer(conn: &mut DbConnection, scope: Scope, field: &str, id: i64) -> Result<CustomerRow> {
    customer(conn, scope, id).map_err(|e| match e {
        DomainError::NotFound { .. } => DomainError::reference_not_found("customer", field, id),
        other => other,
    })
}
