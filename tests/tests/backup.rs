//! A backup taken while the server ingests scans without pause is a consistent copy: it
//! restores, passes SQLite's integrity check and the audit chain check, and holds a prefix of
//! the live ledger (every movement in it is in the live database).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use casenote_core::identifiers::FolderIdScheme;
use tracker_server::{app::AppState, audit, auth, config::Config, demo, storage};

const TOKEN: &str = "ct_backup-test-device-token";

#[test]
fn backup_while_ingesting_restores_to_a_consistent_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.db");
    let copy = dir.path().join("backup.db");
    let restored = dir.path().join("restored.db");
    let mut cfg = Config::default();
    cfg.database.path = live.clone();
    let db = storage::Db::open(&live, 4).unwrap();
    // Big enough that the online backup needs several steps.
    demo::seed(&db, &cfg.identifiers, 8000, 3).unwrap();
    db.write_blocking(|c| auth::insert_api_token(c, "backup-test", auth::Role::Device, TOKEN))
        .unwrap();
    let n_folders: i64 = db
        .read_blocking(|c| Ok(c.query_row("SELECT max(id) FROM folders", [], |r| r.get(0))?))
        .unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (stored_during, pages, backup_ms) = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api/v1/events", listener.local_addr().unwrap());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(tracker_server::serve(
            listener,
            AppState::new(db.clone(), cfg.clone()),
            async move {
                let _ = stop_rx.await;
            },
        ));
        let stop = Arc::new(AtomicBool::new(false));
        let stored = Arc::new(AtomicU64::new(0));
        let ingest = {
            let (stop, stored) = (stop.clone(), stored.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let scheme = FolderIdScheme::default();
                let mut k: i64 = 0;
                while !stop.load(Ordering::Relaxed) {
                    let events: Vec<serde_json::Value> = (0..20)
                        .map(|_| {
                            k += 1;
                            serde_json::json!({
                                "event_id": uuid::Uuid::new_v4().to_string(),
                                "device_id": "backup-test-scanner",
                                "read_at": chrono::Utc::now()
                                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                                "raw": format!("]C0{}", scheme.format((k % n_folders + 1) as u64).text),
                                "method": "barcode",
                                "location": if k % 2 == 0 { "LWARD1" } else { "LCLINA" },
                                "action": "receive",
                            })
                        })
                        .collect();
                    let r: serde_json::Value = client
                        .post(&url)
                        .bearer_auth(TOKEN)
                        .json(&serde_json::json!({ "events": events }))
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    stored.fetch_add(r["stored"].as_u64().unwrap(), Ordering::Relaxed);
                }
            })
        };
        // Ingest is running before the backup starts, and goes on during it.
        while stored.load(Ordering::Relaxed) < 200 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let before = stored.load(Ordering::Relaxed);
        let t0 = Instant::now();
        let (src, dst) = (live.clone(), copy.clone());
        let pages = tokio::time::timeout(
            Duration::from_secs(90),
            tokio::task::spawn_blocking(move || {
                let mut pages = 0;
                storage::backup(&src, &dst, |_, total| pages = total).map(|()| pages)
            }),
        )
        .await
        .expect("the backup finishes while ingest goes on")
        .unwrap()
        .unwrap();
        let backup_ms = t0.elapsed().as_millis();
        let during = stored.load(Ordering::Relaxed) - before;
        tokio::time::sleep(Duration::from_millis(200)).await;
        stop.store(true, Ordering::Relaxed);
        ingest.await.unwrap();
        let _ = stop_tx.send(());
        server.await.unwrap().unwrap();
        (during, pages, backup_ms)
    });
    eprintln!(
        "backup of {pages} pages took {backup_ms} ms; {stored_during} events stored meanwhile"
    );

    assert!(
        pages > 1024,
        "the backup took several steps (1024 pages each)"
    );
    assert!(stored_during > 0, "events were stored while the backup ran");

    // Restore: a new file, opened by the server code (migrations run), then checked.
    std::fs::copy(&copy, &restored).unwrap();
    // (a restored database is checked with the live server's audit key, kept apart from it)
    let key = audit::AuditKey::load(&storage::default_audit_key_path(&live)).unwrap();
    let rdb = storage::Db::open_with_key(&restored, 1, key.clone()).unwrap();
    let ok: String = rdb
        .read_blocking(|c| Ok(c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(ok, "ok");
    let audit_rows = rdb
        .read_blocking(move |c| audit::verify(c, &[key]))
        .unwrap();
    assert!(
        audit_rows.rows > 0 && audit_rows.unkeyed == 0,
        "{audit_rows:?}"
    );

    let c = rusqlite::Connection::open(&restored).unwrap();
    c.execute("ATTACH DATABASE ?1 AS live", [live.to_str().unwrap()])
        .unwrap();
    let q = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
    let (in_backup, in_live) = (
        q("SELECT count(*) FROM main.movements"),
        q("SELECT count(*) FROM live.movements"),
    );
    let missing = q("SELECT count(*) FROM main.movements m
                     WHERE NOT EXISTS (SELECT 1 FROM live.movements l
                                        WHERE l.event_id = m.event_id AND l.id = m.id
                                          AND l.raw = m.raw AND l.read_at = m.read_at)");
    let audit_diff = q("SELECT count(*) FROM main.audit_log a
                        WHERE NOT EXISTS (SELECT 1 FROM live.audit_log l
                                           WHERE l.id = a.id AND l.hash = a.hash)");
    let max_backup = q("SELECT coalesce(max(id), 0) FROM main.movements");
    let live_upto = q(&format!(
        "SELECT count(*) FROM live.movements WHERE id <= {max_backup}"
    ));
    eprintln!(
        "movements: backup {in_backup}, live {in_live}; audit rows verified {}",
        audit_rows.rows
    );
    assert_eq!(
        missing, 0,
        "every movement in the backup is in the live database"
    );
    assert_eq!(
        audit_diff, 0,
        "the backup's audit log is a prefix of the live one"
    );
    assert_eq!(
        live_upto, in_backup,
        "a prefix: no gaps up to the last backed-up movement"
    );
    assert!(in_backup < in_live, "ingest went on after the backup");
    let folder_state = q("SELECT count(*) FROM main.folders f
                          WHERE f.cur_movement_id IS NOT NULL
                            AND NOT EXISTS (SELECT 1 FROM main.movements m WHERE m.id = f.cur_movement_id)");
    assert_eq!(
        folder_state, 0,
        "folder positions point at movements in the backup"
    );
}
