//! The demo binary in its bounded mode: real server, simulated devices, movements arrive.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn demo_runs_for_a_few_seconds_and_movements_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_casenote-demo"))
        .args([
            "--seconds",
            "5",
            "--listen",
            "127.0.0.1:0",
            "--patients",
            "120",
        ])
        .args(["--pace", "0.3", "--hl7-listen", "127.0.0.1:0", "--database"])
        .arg(&db)
        .env_remove("CASENOTE_LISTEN")
        .env_remove("CASENOTE_HL7_LISTEN")
        .env_remove("CASENOTE_CONFIG")
        .env_remove("CASENOTE_GS1_COMPANY_PREFIX")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the demo did not stop by itself");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("listening on http://127.0.0.1:"),
        "{stdout}"
    );
    assert!(stdout.contains("password \"demo-password\""), "{stdout}");
    assert!(stdout.contains("[line scanner]"), "{stdout}");
    assert!(stdout.contains("server stored:"), "{stdout}");

    let c = rusqlite::Connection::open(&db).unwrap();
    let count = |device: &str| -> i64 {
        c.query_row(
            "SELECT count(*) FROM movements WHERE device_id = ?1 AND folder_id IS NOT NULL",
            [device],
            |r| r.get(0),
        )
        .unwrap()
    };
    let (line, ssi, portal) = (
        count("ward5-porter-scanner"),
        count("library-ssi"),
        count("ward5-portal"),
    );
    eprintln!("movements from the simulator: line {line}, SSI {ssi}, portal {portal}");
    assert!(line > 0 && ssi > 0 && portal > 0, "{stdout}\n{stderr}");
    // Every simulated scan names a registered location and folder: nothing was refused.
    let q = rusqlite::Connection::open(dir.path().join("demo-bridge-queue.sqlite3")).unwrap();
    let (depth, dead): (i64, i64) = q
        .query_row(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM dead_letter)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((depth, dead), (0, 0), "{stderr}");
    let printed = stdout.matches("server stored:").count() as i64;
    assert_eq!(printed, line + ssi + portal, "one line per stored movement");

    // The simulated PAS: every message printed was acknowledged AA, and the admissions and
    // bookings it sent are in the database.
    let pas: Vec<&str> = stdout.lines().filter(|l| l.contains("[PAS]")).collect();
    assert!(pas.len() >= 3, "{stdout}");
    for l in &pas {
        assert!(l.contains(" -> AA "), "{l}");
    }
    let stored: i64 = c
        .query_row("SELECT count(*) FROM hl7_messages", [], |r| r.get(0))
        .unwrap();
    assert!(stored >= pas.len() as i64, "{stdout}");
    let adt: i64 = c
        .query_row(
            "SELECT count(*) FROM requests WHERE source IN ('adt', 'adt_discharge')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(adt > 0, "no notes requests from the PAS: {stdout}");
}
