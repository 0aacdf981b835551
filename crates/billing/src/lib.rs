//! Billing and receivables: invoices and credit notes (documents like quotations and
//! orders, with lines in `document_lines`), gap-free legal numbering on posting,
//! payments and their allocations, customer statements and aging.
//!
//! Above fulfillment in the dependency order: an invoice bills order lines and
//! delivery lines, a credit note credits what a return brought back.

pub mod allocations;
pub mod collection;
pub mod commissions;
pub mod credit_notes;
pub mod invoices;
pub mod numbering;
pub mod payments;
pub mod receivables;
pub mod recurring;

use ordo_core::{Caller, Permission, Result};

pub(crate) fn read(caller: &Caller) -> Result<()> {
    caller.require(Permission::BillingRead)
}
pub(crate) fn write(caller: &Caller) -> Result<()> {
    caller.require(Permission::BillingWrite)
}
