//! ordo-sales-docs: quotations, sales orders and blanket orders, their shared lines
//! priced by the price engine, approval routes, quality checklists, the document
//! journal and number series.

pub mod analytics;
pub mod blanket;
pub mod core;
pub mod credit;
pub mod docs;
pub mod expand;
pub mod facts;
pub mod lines;
pub mod orders;
pub mod quotations;
pub mod reports;
pub mod setup;
pub mod standard_codes;
pub mod targets;
