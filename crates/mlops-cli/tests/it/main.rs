//! The `mlops` binaries end to end: one integration-test binary (one build of the shared
//! helpers in `common`), each file a module.
//!
//! Test tiers: plain `cargo test` runs everything that needs only this workspace; the
//! `python-tests` feature adds the tests that run Python from `.venv` (`xgboost`, `kfp`), and
//! `container-tests` the Docker image test, `cloud-tests` the Google Cloud sources against the
//! BigQuery and Cloud Storage emulators (from `.venv` too). `cargo xtask ci` turns them all on.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] functions

mod common;
#[cfg(feature = "cloud-tests")]
mod gcp;

mod bad_input;
mod cli;
#[cfg(feature = "cloud-tests")]
mod cloud_data;
#[cfg(feature = "cloud-tests")]
mod cloud_experiment;
#[cfg(feature = "cloud-tests")]
mod cloud_faults;
mod cloud_ir;
#[cfg(feature = "cloud-tests")]
mod cloud_monitoring;
#[cfg(feature = "cloud-tests")]
mod cloud_pipeline;
#[cfg(feature = "cloud-tests")]
mod cloud_storage_root;
#[cfg(feature = "cloud-tests")]
mod cloud_vertex;
#[cfg(feature = "container-tests")]
mod container;
mod experiment;
#[cfg(feature = "python-tests")]
mod interop;
mod ir_kfp;
mod monitor_cli;
mod monitoring_cli;
mod monitoring_data;
#[cfg(feature = "python-tests")]
mod monitoring_parity;
#[cfg(feature = "python-tests")]
mod notebook;
mod pipelines;
mod serve;
#[cfg(feature = "cloud-tests")]
mod terraform;
mod tooling;
mod workflows;
