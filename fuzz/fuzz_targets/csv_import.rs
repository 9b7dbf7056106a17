//! CSV case-note index import: the full validate-then-import path over a temporary database.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use tracker_server::{
    auth::Principal,
    ledger::import::{import, ImportOutcome},
    ledger::locations::{self, NewLocation},
    storage::Db,
};

struct Fixture {
    db: Db,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("fuzz.db"), 1).unwrap();
        db.write_blocking(|c| {
            for (code, kind) in [("LLIB", "library"), ("LWARD5", "ward")] {
                locations::create(
                    c,
                    &NewLocation {
                        code: code.into(),
                        name: code.into(),
                        kind: kind.into(),
                        gln: None,
                        parent: None,
                        preparation_area: None,
                        filing_range: None,
                    },
                    "L",
                )?;
            }
            Ok(())
        })
        .unwrap();
        Fixture { db, _dir: dir }
    })
}

const HEADER: &str =
    "chi,nhs_number,family_name,given_name,dob,sex,folder_type,home_location,filing_number\n";

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let scheme = Default::default();
    // As given (any header), and behind the real header (so rows reach validation).
    for input in [data.to_vec(), [HEADER.as_bytes(), data].concat()] {
        match import(&f.db, &Principal::system(), &scheme, &input[..], |_| {}) {
            Ok(ImportOutcome::Refused(errors)) => assert!(!errors.is_empty()),
            Ok(ImportOutcome::Done(_)) => {}
            Err(e) => {
                // Only domain errors (e.g. a conflict) are acceptable; never a storage failure.
                assert!(
                    e.kind() != tracker_server::error::ErrorKind::Internal,
                    "storage error on import: {e}"
                );
            }
        }
    }
});
