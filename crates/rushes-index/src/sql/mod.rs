//! The SQLite and PostgreSQL engines, and one module of queries per role for both.

pub(crate) mod classes;
pub(crate) mod deletion;
pub(crate) mod events;
pub(crate) mod flows;
pub(crate) mod listing;
pub(crate) mod objects;
pub(crate) mod outbox;
pub(crate) mod profiles;
pub(crate) mod segments;
pub(crate) mod service;
pub(crate) mod sources;
pub(crate) mod webhooks;

mod engine;
pub(crate) mod postgres;

pub use engine::{Index, Tx, MAX_BATCH};
