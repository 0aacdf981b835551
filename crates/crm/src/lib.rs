//! ordo-crm: customers and their contacts. Everything that hangs off a customer
//! is visible through [`scope::visible_customers`], the one place where a sales
//! agent's restriction to their own customers is applied.

pub mod activities;
pub mod model;
pub mod pipeline;
pub mod repo;
pub mod scope;
pub mod service;
pub mod team;
