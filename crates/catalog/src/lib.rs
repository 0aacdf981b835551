//! ordo-catalog: items (what is sold) and the item-group tree.

pub mod model;
pub mod repo;
pub mod service;
pub mod structures;
pub mod units;
