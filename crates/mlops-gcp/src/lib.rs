//! Every Google Cloud call of the template: Cloud Storage, BigQuery, Vertex AI (pipeline jobs,
//! schedules, model registry, endpoints) and Cloud Monitoring (JSON REST: metric descriptors,
//! time series, alert policies, notification channels).
//!
//! Google's official Rust clients compile each service's RPCs into the crate that constructs
//! the client (~25–35 s per client on two cores), so they are built **only here**, and the rest
//! of the workspace calls the plain, non-generic, blocking methods of [`Gcp`]: editing the CLI
//! or a component never recompiles a client.
//!
//! Conventions every method follows:
//! - **Endpoints and credentials** come from [`GcpConfig`]; tests pass loopback endpoints and
//!   [`Auth::Anonymous`], so nothing leaves the machine.
//! - **Dry run** ([`GcpConfig::dry_run`]): each request is printed as one JSON line
//!   (`method`, `resource`, `body`) on stdout and nothing is sent ([`DryRun`]).
//! - **Retries**: 429, 503 and timeouts are retried with exponential back-off up to
//!   [`GcpConfig::max_attempts`]; other errors are final at once. Errors keep Google's reason
//!   and message, and a 403 names the role that grants the missing permission.

pub mod bigquery;
mod client;
pub mod config;
pub mod dry_run;
pub mod error;
pub mod monitoring;
mod rest;
pub mod storage;
pub mod vertex;

pub use client::Gcp;
pub use config::{Auth, GcpConfig};
pub use dry_run::DryRun;
pub use error::{GcpError, Result};
