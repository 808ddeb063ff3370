//! Lodestone's integration tests, one binary: every `tests/<name>.rs` is a module here (run one
//! file's tests with `cargo test --release --test integration -- <name>::`). They drive the real
//! binary, real servers on 127.0.0.1:0, real files, a real browser and a real PostgreSQL; the
//! shared helpers are in `support` (the binary and its servers), `common` (an in-process server
//! and a small world builder) and `witnessing` (a witnessed log network).
//!
//! New test files must be listed below (Cargo's `autotests` is off: see Cargo.toml).

mod common;
mod support;
mod witnessing;

mod backup;
mod browser;
mod bundle;
mod cli;
mod cli_errors;
mod compliance;
mod console;
mod controls_http;
mod crash;
mod damage;
mod demo;
mod elements;
mod entry_vectors;
mod epcis;
mod epcis_hash;
mod export_controls;
mod flows;
mod fuzz_corpus;
mod http_abuse;
mod http_concurrency;
mod http_read;
mod http_tiles;
mod http_write;
mod init;
mod ledger_http;
mod ledger_props;
mod ledger_records;
mod ledger_rules;
mod ledger_trust;
mod log_props;
mod log_vectors;
mod monitor;
mod openapi;
mod operations;
mod postgres_cli;
mod postgres_store;
mod provenance;
mod readme;
mod scenario;
mod schemas;
mod store_conformance;
mod store_faults;
mod synth;
mod telemetry;
mod witness;
mod witness_fork;
