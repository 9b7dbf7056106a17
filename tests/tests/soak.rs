//! Soak, the short version that CI runs (issue 17): two minutes at 500 scans a second from
//! simulated bridges, the server SIGKILLed every 30 s (mid-request) and started again on the
//! same database two seconds later. Then nothing may be lost, nothing doubled, every folder must
//! be where its last scan put it, the audit chain must verify and the server's memory must stay
//! flat (`casenote_bench::soak` says how each is checked). The long version is
//! `casenote-bench soak` (30 minutes, SIGKILL every 5 minutes; docs/benchmarks.md).
//!
//! The server is this crate's `casenote-e2e-node server` (the library entry points of
//! `tracker-server serve`), a debug build.

use casenote_bench::soak;
use std::process::Command;
use std::time::Duration;

const NODE: &str = env!("CARGO_BIN_EXE_casenote-e2e-node");

#[test]
fn two_minutes_at_500_scans_a_second_with_the_server_sigkilled_every_30_s() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = soak::Options::new(
        dir.path().join("soak.db"),
        Box::new(|db, listen| {
            let mut c = Command::new(NODE);
            c.arg("server")
                .env("CASENOTE_DATABASE", db)
                .env("CASENOTE_LISTEN", listen.to_string())
                .env("CASENOTE_LOG", "warn")
                .env_remove("CASENOTE_CONFIG");
            Ok(c)
        }),
    );
    o.duration = Duration::from_secs(120);
    o.rate = 500;
    o.kill_every = Duration::from_secs(30);
    o.command = "cargo test -p casenote-e2e --test soak".into();
    let report = soak::run(&o).unwrap();
    println!("{}", report.markdown());
    assert!(
        report.passed(),
        "the soak failed:\n- {}\n\n{}",
        report.failures.join("\n- "),
        report.markdown()
    );
    // it really ran: the rate, three kills and four server lives
    assert!(report.events >= 500 * 118, "{} scans", report.events);
    assert_eq!(report.lives.len(), 4);
}
