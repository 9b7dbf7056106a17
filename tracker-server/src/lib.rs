//! Casenote Tracker server: knows where every paper case-note folder is.
//!
//! Modules, one per concept: [`storage`] (SQLite, migrations, group commit), [`auth`] (roles,
//! users, tokens), [`audit`], [`patients`], [`folders`], [`locations`], [`movements`] (the
//! ledger and ingest), [`whereis`], [`devices`], [`printing`] (label printers, print jobs), [`import`], [`demo`], [`requests`] (requests
//! for notes, driven by scans), [`appointments`], [`pulllists`], [`missing`], [`hl7`] (pure HL7
//! v2 parsing, MLLP framing, ACKs, the MLLP listener), [`adt`] (applying ADT and SIU messages),
//! the records lifecycle ([`coding`], [`digitisation`], [`retention`], [`external_requests`],
//! [`statistics`]), and [`http`] (thin handlers over all of these).
#![forbid(unsafe_code)]
// (the OpenAPI schemas are one large `json!` literal)
#![recursion_limit = "256"]

pub mod app;
pub mod audit;
pub mod audit_key;
pub mod auth;
pub mod config;
pub mod csv_export;
pub mod demo;
pub mod error;
pub mod hl7;
pub mod http;
pub mod ledger;
pub mod lifecycle;
pub mod pdf;
pub mod printing;
pub mod reports;
pub mod storage;
pub mod tls;
pub mod util;
pub mod vocab;
pub mod web;
pub mod workflow;

pub use error::{Error, Result};

/// Start serving on an already-bound listener until the future `shutdown` completes: HTTPS when
/// `[server] tls_cert` and `tls_key` are set (see [`tls`]), plain HTTP otherwise. Also starts the
/// HL7 MLLP listener (when `[hl7] listen` is set) and the overdue-request watcher.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: app::AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Load the certificate before anything starts, so a bad path stops the server at once.
    let tls = tls_acceptor(&state.cfg.server)?;
    if hl7::charset::Charset::from_name(&state.cfg.hl7.default_charset).is_none() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "hl7.default_charset {:?} is not one of UNICODE UTF-8, 8859/1, 8859/15, ASCII",
                state.cfg.hl7.default_charset
            ),
        ));
    }
    let mut background = Vec::new();
    if let Some(addr) = state.cfg.hl7.listen.clone() {
        let l = tokio::net::TcpListener::bind(&addr).await.map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot listen for HL7 on {addr}: {e}"))
        })?;
        let bound = l.local_addr()?;
        let _ = state.hl7_addr.set(bound);
        tracing::info!(%bound, "HL7 MLLP listener started");
        background.push(tokio::spawn(hl7::listener::listen(l, state.clone())));
    }
    background.push(tokio::spawn(watch_overdue(state.clone())));
    background.push(tokio::spawn(sweep_stale_requests(state.clone())));
    background.push(tokio::spawn(count_retention_figures(state.clone())));
    background.push(tokio::spawn(watch_request_changes(state.clone())));
    background.push(tokio::spawn(anchor_audit(state.clone())));
    background.push(tokio::spawn(watch_shelf_audits(state.clone())));
    let last_anchor = state.clone();
    // (with each connection's peer address, for sign-in throttling)
    let app = router(state).into_make_service_with_connect_info::<app::session::PeerAddr>();
    let r = match tls {
        Some(acceptor) => {
            axum::serve(tls::TlsListener::new(listener, acceptor)?, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
    };
    for t in background {
        t.abort();
    }
    // A last anchor at shutdown, so the chain head of a stopped server is on record.
    anchor_once(&last_anchor, None).await;
    r
}

/// Write the audit chain head to the anchor file every `[audit] anchor_interval_secs`.
async fn anchor_audit(state: app::AppState) {
    let every = std::time::Duration::from_secs(state.cfg.audit.anchor_interval_secs.max(1));
    let mut last = None;
    loop {
        last = anchor_once(&state, last).await;
        tokio::time::sleep(every).await;
    }
}

async fn anchor_once(state: &app::AppState, last: Option<i64>) -> Option<i64> {
    let file = state.cfg.audit_anchor_path();
    match state.db.read(move |c| audit::anchor(c, &file, last)).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "could not anchor the audit chain; will retry");
            last
        }
    }
}

/// Every route the server answers, the JSON API and the web pages, with body limits, request
/// tracing and error logging.
pub fn router(state: app::AppState) -> axum::Router {
    let limit = state.cfg.server.max_body_bytes;
    http::routes()
        .merge(web::routes())
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            http::headers::security_headers,
        ))
        .layer(axum::middleware::from_fn(error::log_errors))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// The TLS acceptor when `[server] tls_cert` and `tls_key` are both set; `None` for plain HTTP.
pub fn tls_acceptor(
    server: &config::ServerConfig,
) -> std::io::Result<Option<tokio_rustls::TlsAcceptor>> {
    match (&server.tls_cert, &server.tls_key) {
        (Some(cert), Some(key)) => tls::acceptor(cert, key).map(Some),
        (None, None) => Ok(None),
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "set both server.tls_cert and server.tls_key (or neither)",
        )),
    }
}

/// Publish every change of a request's state to the open desk views, whatever made it (the
/// desk, the API, a scan of the folder, the HL7 feed): the request history is the one record
/// of changes, so it is followed rather than each code path remembering to publish.
async fn watch_request_changes(state: app::AppState) {
    let mut last = match state.db.read(workflow::requests::last_change).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "cannot follow request changes");
            return;
        }
    };
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        match state
            .db
            .read(move |c| workflow::requests::changed_since(c, last))
            .await
        {
            Ok((events, l)) => {
                last = l;
                state.desk.publish(events);
            }
            Err(e) => tracing::warn!(error = %e, "request change check failed"),
        }
    }
}

/// Sweep for stale requests every `[requests] stale_check_secs` (escalations, clinics that have
/// passed); the changes reach the desk through the request history.
async fn sweep_stale_requests(state: app::AppState) {
    let every = std::time::Duration::from_secs(state.cfg.requests.stale_check_secs.max(1));
    loop {
        if let Err(e) = app::stale_requests::sweep(&state.db, &state.cfg).await {
            tracing::warn!(error = %e, "stale request sweep failed; will retry");
        }
        tokio::time::sleep(every).await;
    }
}

/// Count the statistics page's retention figures now and every `[retention]
/// figures_every_minutes` (0: never in the background; the page then counts them each time).
async fn count_retention_figures(state: app::AppState) {
    let minutes = state.cfg.retention.figures_every_minutes;
    if minutes == 0 {
        return;
    }
    loop {
        if let Err(e) = app::reports::count_retention_figures(&state).await {
            tracing::warn!(error = %e, "counting the retention figures failed; will retry");
        }
        tokio::time::sleep(std::time::Duration::from_secs(minutes * 60)).await;
    }
}

/// Follow up the folders shelf audits did not find: seen since, or reported missing when due
/// (`[shelf_audit]`).
async fn watch_shelf_audits(state: app::AppState) {
    let every = std::time::Duration::from_secs(state.cfg.shelf_audit.check_secs.max(1));
    loop {
        tokio::time::sleep(every).await;
        let cfg = state.cfg.clone();
        if let Err(e) = state
            .db
            .write(move |c| {
                workflow::shelf_audit::follow_up(
                    c,
                    &cfg.identifiers.folder,
                    &cfg.shelf_audit,
                    &cfg.requests.local_holidays,
                    util::now_ms(),
                )
            })
            .await
        {
            tracing::warn!(error = %e, "shelf audit follow-up failed");
        }
    }
}

/// Publish requests as they become overdue.
async fn watch_overdue(state: app::AppState) {
    let every = std::time::Duration::from_secs(state.cfg.requests.overdue_check_secs.max(1));
    loop {
        tokio::time::sleep(every).await;
        match state
            .db
            .write(|c| workflow::requests::newly_overdue(c, util::now_ms()))
            .await
        {
            Ok(events) => state.desk.publish(events),
            Err(e) => tracing::warn!(error = %e, "overdue check failed"),
        }
    }
}
