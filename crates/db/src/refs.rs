//! References in request bodies that several domains check the same way.

use crate::schema::warehouses;
use crate::DbConnection;
use diesel::prelude::*;
use ordo_core::{DomainError, Result};

/// Warehouses named in a request body (`(field, id)`): each must exist (404 naming the
/// field), be active and not be a quarantine warehouse (422): goods are sold from there.
pub fn sellable_warehouses(conn: &mut DbConnection, named: &[(String, i64)]) -> Result<()> {
    if named.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = named.iter().map(|n| n.1).collect();
    let found: Vec<(i64, String, bool, bool)> = warehouses::table
        .filter(warehouses::id.eq_any(&ids))
        .select((warehouses::id, warehouses::code, warehouses::active, warehouses::quarantine))
        .load(conn)?;
    let mut errs = vec![];
    for (field, id) in named {
        match found.iter().find(|w| w.0 == *id) {
            None => return Err(DomainError::reference_not_found("warehouse", field, id)),
            Some((_, code, false, _)) => {
                errs.push(ordo_core::FieldError::new(field, "inactive", format!("warehouse {code} is deactivated")))
            }
            Some((_, code, _, true)) => errs.push(ordo_core::FieldError::new(
                field,
                "quarantine",
                format!("warehouse {code} holds quarantined goods, which are not sold"),
            )),
            _ => {}
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(DomainError::Validation(errs))
    }
}
