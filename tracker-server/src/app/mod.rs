//! The application layer: the state of a running server and the use cases that the JSON API
//! ([`crate::http`]), the web pages ([`crate::web`]), the CLI and the HL7 listener
//! ([`crate::hl7::listener`]) all call. Each use case checks the caller's role, does the work
//! in the domain modules and writes the audit row, so no face composes those steps itself.

pub mod containers;
pub mod labels;
pub mod live;
pub mod privacy;
pub mod pull_lists;
pub mod reports;
pub mod search;
pub mod session;
pub mod stale_requests;
pub mod users;

use crate::{auth::LoginLimiter, config::Config, storage::Db};
use std::sync::Arc;

/// Shared state of the running server.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub cfg: Arc<Config>,
    pub limiter: Arc<LoginLimiter>,
    /// One print job at a time per printer.
    pub printer_locks: Arc<crate::printing::PrinterLocks>,
    /// New and overdue requests, published to the live desk views (see [`live`]).
    pub desk: live::Desk,
    /// Where the HL7 MLLP listener is bound, once [`crate::serve`] has started it.
    pub hl7_addr: Arc<std::sync::OnceLock<std::net::SocketAddr>>,
    /// The retention figures of the statistics page, counted in the background (see
    /// [`crate::reports::statistics::retention_figures`]).
    pub retention_figures:
        Arc<std::sync::RwLock<Option<crate::reports::statistics::RetentionFigures>>>,
}

impl AppState {
    pub fn new(db: Db, cfg: Config) -> Self {
        crate::util::set_site_timezone(&cfg.server.timezone);
        let limiter = LoginLimiter::new(
            cfg.auth.login_max_failures,
            cfg.auth.login_max_failures_per_address,
            cfg.auth.login_max_delay_secs,
            cfg.auth.login_window_secs,
        );
        Self {
            db,
            cfg: Arc::new(cfg),
            limiter: Arc::new(limiter),
            printer_locks: Arc::default(),
            desk: live::Desk::new(),
            hl7_addr: Arc::new(std::sync::OnceLock::new()),
            retention_figures: Arc::default(),
        }
    }
}
