//! ordo-fulfillment: warehouses, the stock ledger and balances, reservations (it owns
//! confirming an order, which reserves stock in the same transaction), and next
//! availability, promising, deliveries and returns.

pub mod availability;
pub mod deliveries;
pub mod holdings;
pub mod promising;
pub mod readiness;
pub mod reservations;
pub mod stock;
