//! The integration tests: one binary, so the SDK-heavy dependency graph links once. Each module
//! is one area of behaviour; the stack, clock and builders they share are in `notify_tests`
//! (`tests/src/lib.rs`).

mod api;
mod batch;
mod callbacks;
mod chat;
mod compat;
mod cost;
mod email;
mod guarantees;
mod iac;
mod in_app;
mod listing;
mod priority;
mod push;
mod receipts;
mod routing;
mod sms;
mod store;
mod templates;
mod tenants;
mod users;
mod webhook;
