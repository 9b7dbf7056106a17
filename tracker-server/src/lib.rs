//! Casenote Tracker server: knows where every paper case-note folder is.
//!
//! Modules, one per concept: [`storage`] (SQLite, migrations, group commit), [`auth`] (roles,
//! users, tokens), [`audit`], [`patients`], [`folders`], [`locations`], [`movements`] (the
//! ledger and ingest), [`whereis`], [`devices`], [`printing`] (label printers, print jobs, batches), [`import`],
//! [`demo`], and [`http`] (thin
//! handlers over all of these).
#![forbid(unsafe_code)]

pub mod audit;
pub mod auth;
pub mod config;
pub mod demo;
pub mod devices;
pub mod error;
pub mod folders;
pub mod http;
pub mod import;
pub mod locations;
pub mod movements;
pub mod patients;
pub mod printing;
pub mod storage;
pub mod util;
pub mod web;
pub mod whereis;

pub use error::{Error, Result};

/// Start serving on an already-bound listener until the future `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: http::AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, http::router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
