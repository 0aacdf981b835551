//! The one integration test binary: every test runs against the real HTTP app on
//! SQLite and on PostgreSQL (`ORDO_TEST_BACKENDS`, default both).

mod support;

mod analytics;
mod attachments;
mod auth;
mod billing;
mod browser;
mod conventions;
mod crm_reports;
mod customers;
mod demo;
mod documents;
mod einvoice;
mod generated_scope;
mod imports;
mod integrity;
mod items;
mod lists;
mod mail;
mod openapi;
mod prices;
mod pricing;
mod process;
mod sales;
mod scope;
mod search;
mod service;
mod soak;
mod stock;
mod throughput;
mod webhooks;
