//! The integration-test binary `api`: the real `rushes serve` driven over HTTP on loopback.
//! Shared support lives in `harness` (the server) and `schema` (spec validation).
#![allow(clippy::unwrap_used)]

mod harness;
mod schema;
mod smoke;
mod gc;
mod objects;
mod roundtrip;
mod segments;
mod storage;
