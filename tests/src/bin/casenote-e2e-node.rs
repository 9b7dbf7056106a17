//! Test helper: runs the tracking server or a firmware bridge as its own process, so the
//! end-to-end tests can kill it with SIGKILL and start it again.
//!
//! - `casenote-e2e-node server`: what `tracker-server serve` does (the same library code:
//!   `Db::open` with migrations, `AppState`, `tracker_server::serve`), configured by the
//!   `CASENOTE_*` environment variables. Prints `listening on http://ADDR` when ready.
//! - `casenote-e2e-node bridge --config FILE`: what `firmware-bridge run` does.
//!
//! (An integration test can only locate binaries of its own package, so the e2e crate wraps
//! the two daemons' library entry points instead of building the other crates' binaries.)
//! Logs go to standard error without colours, one line per event, for the tests to read.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the tracking server API (configured by CASENOTE_* variables).
    Server,
    /// Run a firmware bridge.
    Bridge {
        #[arg(long)]
        config: PathBuf,
    },
}

fn main() -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CASENOTE_LOG")
        .unwrap_or_else(|_| "info,tower_http=warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().cmd {
        Cmd::Server => {
            let cfg = tracker_server::config::Config::load(None)?;
            let db = tracker_server::storage::Db::open(&cfg.database.path, cfg.database.readers)
                .with_context(|| format!("opening {}", cfg.database.path.display()))?;
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(&cfg.server.listen)
                    .await
                    .with_context(|| format!("cannot listen on {}", cfg.server.listen))?;
                println!("listening on http://{}", listener.local_addr()?);
                std::io::stdout().flush()?;
                let state = tracker_server::app::AppState::new(db, cfg);
                tracker_server::serve(listener, state, async {
                    if let Ok(mut s) =
                        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    {
                        s.recv().await;
                    }
                })
                .await?;
                Ok(())
            })
        }
        Cmd::Bridge { config } => {
            let cfg = firmware_bridge::config::Config::load(&config)?;
            let bridge = firmware_bridge::bridge::Bridge::start(cfg)?;
            bridge.wait();
            Ok(())
        }
    }
}
