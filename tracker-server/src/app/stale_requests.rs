//! The stale-request sweep as a use case: the server's timer and the `requests sweep` command
//! both call it (see [`crate::workflow::stale_requests`]). It acts as the system, and every
//! change it makes is audited and published to the live desk through the request history.

use crate::{
    auth::Principal,
    config::Config,
    storage::Db,
    util::now_ms,
    workflow::stale_requests::{self, Swept},
    Result,
};

/// Sweep once, now.
pub async fn sweep(db: &Db, cfg: &Config) -> Result<Swept> {
    let rq = cfg.requests.clone();
    db.write(move |c| stale_requests::sweep(c, &Principal::system(), &rq, now_ms()))
        .await
}

/// Sweep once, now, from a thread outside the async runtime (the command line).
pub fn sweep_blocking(db: &Db, cfg: &Config) -> Result<Swept> {
    let rq = cfg.requests.clone();
    db.write_blocking(move |c| stale_requests::sweep(c, &Principal::system(), &rq, now_ms()))
}
