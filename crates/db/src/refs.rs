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
    let all = warehouses(conn)?;
    let mut errs = vec![];
    for (field, id) in named {
        let Some(w) = all.iter().find(|w| w.id == *id) else {
            return Err(DomainError::reference_not_found("warehouse", field, id));
        };
        let code = &w.code;
        if !w.active {
            errs.push(ordo_core::FieldError::new(field, "inactive", format!("warehouse {code} is deactivated")))
        } else if w.quarantine {
            errs.push(ordo_core::FieldError::new(
                field,
                "quarantine",
                format!("warehouse {code} holds quarantined goods, which are not sold"),
            ))
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(DomainError::Validation(errs))
    }
}

/// What orders need to know of a warehouse.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = warehouses)]
pub struct WarehouseBrief {
    pub id: i64,
    pub code: String,
    pub is_default: bool,
    pub quarantine: bool,
    pub active: bool,
}

/// All warehouses, cached per process while none changes ([`crate::refcache`]): every
/// confirmed order checks the warehouses it reserves from.
pub fn warehouses(conn: &mut DbConnection) -> Result<std::sync::Arc<Vec<WarehouseBrief>>> {
    crate::refcache::get(conn, |conn| {
        Ok(warehouses::table.order(warehouses::id).select(WarehouseBrief::as_select()).load(conn)?)
    })
}
