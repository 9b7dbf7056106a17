//! The `tracker-server` command line: migrate, users, tokens, import, backup, audit-verify.

use std::path::Path;
use std::process::{Command, Output};

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tracker-server"))
        .args(args)
        .env("CASENOTE_DATABASE", dir.join("c.db"))
        .env("CASENOTE_LOG", "warn")
        .env("NEW_PW", "a-good-password")
        .current_dir(dir)
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn count(dir: &Path, db: &str, table: &str) -> i64 {
    let c = rusqlite::Connection::open(dir.join(db)).unwrap();
    c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn migrate_users_tokens() {
    let d = tempfile::tempdir().unwrap();
    let out = ok(&run(d.path(), &["migrate"]));
    let want = format!(
        "schema version {}",
        tracker_server::storage::migrations::CURRENT
    );
    assert!(out.contains(&want), "{out}");
    ok(&run(
        d.path(),
        &[
            "user",
            "add",
            "--username",
            "morag",
            "--display-name",
            "Morag",
            "--role",
            "records_manager",
            "--password-env",
            "NEW_PW",
        ],
    ));
    let dup = run(
        d.path(),
        &[
            "user",
            "add",
            "--username",
            "morag",
            "--display-name",
            "Morag",
            "--role",
            "library",
            "--password-env",
            "NEW_PW",
        ],
    );
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));
    let bad_role = run(
        d.path(),
        &[
            "user",
            "add",
            "--username",
            "x",
            "--display-name",
            "X",
            "--role",
            "boss",
            "--password-env",
            "NEW_PW",
        ],
    );
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("not a role"));
    let tok = ok(&run(
        d.path(),
        &["token", "create", "--name", "bridge-ward5"],
    ));
    assert!(
        tok.trim().starts_with("ct_") && tok.trim().len() == 67,
        "{tok}"
    );
    let c = rusqlite::Connection::open(d.path().join("c.db")).unwrap();
    let stored: String = c
        .query_row("SELECT token_hash FROM api_tokens", [], |r| r.get(0))
        .unwrap();
    assert!(!stored.contains(tok.trim()), "only a hash is stored");
    let hash: String = c
        .query_row("SELECT password_hash FROM users", [], |r| r.get(0))
        .unwrap();
    assert!(hash.starts_with("$argon2id$"));
    let out = ok(&run(d.path(), &["audit-verify"]));
    assert!(out.contains("intact: 2 row"), "{out}");

    // Revoking and changing accounts from the command line (issue 15): each is audited.
    let user = |args: &[&str]| ok(&run(d.path(), &[&["user"][..], args].concat()));
    user(&[
        "disable",
        "--username",
        "morag",
        "--reason",
        "left the trust",
    ]);
    assert!(user(&["list"]).contains("disabled"));
    user(&["enable", "--username", "morag"]);
    user(&["set-role", "--username", "morag", "--role", "library"]);
    user(&[
        "reset-password",
        "--username",
        "morag",
        "--password-env",
        "NEW_PW",
    ]);
    let listed = user(&["list"]);
    assert!(
        listed.contains("library") && listed.contains("active"),
        "{listed}"
    );
    let nobody = run(
        d.path(),
        &["user", "disable", "--username", "nobody", "--reason", "x"],
    );
    assert!(!nobody.status.success());
    ok(&run(
        d.path(),
        &[
            "token",
            "revoke",
            "--name",
            "bridge-ward5",
            "--reason",
            "PC replaced",
        ],
    ));
    assert!(ok(&run(d.path(), &["token", "list"])).contains("REVOKED"));
    let again = run(
        d.path(),
        &[
            "token",
            "revoke",
            "--name",
            "bridge-ward5",
            "--reason",
            "again",
        ],
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("already revoked"));
    let c = rusqlite::Connection::open(d.path().join("c.db")).unwrap();
    let actions: Vec<String> = c
        .prepare("SELECT action FROM audit_log ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for a in [
        "user.disable",
        "user.enable",
        "user.role",
        "user.password_reset",
        "token.revoke",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} not audited: {actions:?}"
        );
    }
    let out = ok(&run(d.path(), &["audit-verify"]));
    assert!(out.contains("intact: 7 row"), "{out}");
}

#[test]
fn newer_database_is_refused_with_a_clear_message() {
    let d = tempfile::tempdir().unwrap();
    {
        let c = rusqlite::Connection::open(d.path().join("c.db")).unwrap();
        c.pragma_update(None, "user_version", 42).unwrap();
    }
    let o = run(d.path(), &["migrate"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("schema version 42") && err.contains("newer release"),
        "{err}"
    );
}

const GOOD: &str =
    "chi,nhs_number,family_name,given_name,dob,sex,folder_type,home_location,filing_number
1904851231,,Kleinsample,Barry,1985-04-19,male,main,LLIB,34-63-71
1904851231,,Kleinsample,Barry,1985-04-19,male,main,LLIB,
,9434765919,Jones,Mary,1950-03-04,female,main,LLIB,
0101011237,,MacAoidh,Seònaid,2001-01-01,female,maternity,LLIB,
";

const BAD: &str =
    "chi,nhs_number,family_name,given_name,dob,sex,folder_type,home_location,filing_number
1904851231,,Kleinsample,Barry,1985-04-19,male,main,LLIB,
1904851232,,Typo,Tina,1985-04-19,female,main,LLIB,
0101011237,,Ok,Olga,2001-01-01,female,main,LMOON,
0101011237,,Ok,Olga,2001-01-01,female,box,LLIB,
";

#[test]
fn import_is_all_or_nothing_with_a_row_report() {
    let d = tempfile::tempdir().unwrap();
    ok(&run(d.path(), &["demo", "--no-serve", "--patients", "10"]));
    // the demo command writes to its own file unless CASENOTE_DATABASE is set: here it is c.db
    let folders_before = count(d.path(), "c.db", "folders");
    std::fs::write(d.path().join("bad.csv"), BAD).unwrap();
    let o = run(d.path(), &["import", "bad.csv", "--report", "errors.csv"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("3 row(s) refused; nothing was imported"));
    let report = std::fs::read_to_string(d.path().join("errors.csv")).unwrap();
    assert!(report.contains("3,chi,"), "{report}");
    assert!(report.contains("4,home_location,"), "{report}");
    assert!(report.contains("5,folder_type,"), "{report}");
    assert_eq!(
        count(d.path(), "c.db", "folders"),
        folders_before,
        "nothing half-imported"
    );
    std::fs::write(d.path().join("good.csv"), GOOD).unwrap();
    let out = ok(&run(d.path(), &["import", "good.csv"]));
    assert!(
        out.contains("imported 4 folder row(s); 3 new patient(s)"),
        "{out}"
    );
    assert_eq!(count(d.path(), "c.db", "folders"), folders_before + 4);
    let c = rusqlite::Connection::open(d.path().join("c.db")).unwrap();
    let vols: i64 = c
        .query_row("SELECT max(f.volume_count) FROM folders f JOIN patients p ON p.id=f.patient_id WHERE p.chi='1904851231'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(vols, 2);
    let filing: String = c.query_row("SELECT filing_number FROM folders f JOIN patients p ON p.id=f.patient_id WHERE p.chi='1904851231' AND volume=1", [], |r| r.get(0)).unwrap();
    assert_eq!(filing, "34-63-71");
}

#[test]
fn backup_copies_a_consistent_database() {
    let d = tempfile::tempdir().unwrap();
    ok(&run(d.path(), &["demo", "--no-serve", "--patients", "200"]));
    let out = ok(&run(d.path(), &["backup", "copy.db"]));
    assert!(out.contains("backed up"), "{out}");
    for t in ["patients", "folders", "movements", "audit_log"] {
        assert_eq!(
            count(d.path(), "c.db", t),
            count(d.path(), "copy.db", t),
            "{t}"
        );
    }
    assert!(count(d.path(), "copy.db", "movements") > 100);
    let again = run(d.path(), &["backup", "copy.db"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}
