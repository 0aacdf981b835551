//! ordo-pricing: exchange rates, tax rates, price lists and item prices, customer
//! special prices, discounts, and the price engine that explains every number.

pub mod engine;
pub mod fx;
pub mod model;
pub mod repo;
pub mod rules;
pub mod service;
pub mod suppliers;
