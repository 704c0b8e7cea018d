//! The integration-test binary `api`: the real `rushes serve` driven over HTTP on loopback.
//! Shared support lives in `harness` (the server) and `schema` (spec validation).
#![allow(clippy::unwrap_used)]

mod harness;
mod schema;
mod smoke;
mod flows;
mod profiles;
mod service;
mod sources;
mod webhooks;
mod gc;
mod objects;
mod roundtrip;
mod segments;
mod storage;
mod deletion;
