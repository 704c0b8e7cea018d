//! The integration-test binary `api`: the real `rushes serve` driven over HTTP on loopback.
//! Shared support lives in `harness` (the server) and `schema` (spec validation).
#![allow(clippy::unwrap_used)]

mod auth;
mod auth_classes;
mod bad_input;
mod coverage;
mod deletion;
mod events;
mod flows;
mod gc;
mod harness;
mod objects;
mod profiles;
mod roundtrip;
mod schema;
mod segments;
mod service;
mod smoke;
mod sources;
mod sse;
mod storage;
mod storage_backends;
mod webhooks;
