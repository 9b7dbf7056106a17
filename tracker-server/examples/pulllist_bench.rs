//! Pull-list time for a 2,000-patient clinic day: 2,000 patients with a folder each, booked
//! into 20 sessions on one day, a tenth of the folders out on a ward. Times building the list
//! (shelf order), the CSV and the PDF. Target: <= 200 ms for the list.
//!
//! Run: `cargo run --release -p tracker-server --example pulllist_bench -- [patients]`

use std::time::Instant;
use tracker_server::{
    auth::Principal, ledger::folders, ledger::locations, ledger::patients, storage::Db,
    workflow::appointments, workflow::pulllists,
};

#[path = "hl7_bench.rs"]
#[allow(dead_code)]
mod hl7_bench;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("bench.db"), 4).unwrap();
    let scheme = casenote_core::identifiers::scan::ScanConfig::default().folder;
    let people = hl7_bench::chis(n);
    let t0 = Instant::now();
    db.write_blocking(move |c| {
        let who = Principal::system();
        for (code, kind) in [("LLIB", "library"), ("LWARD5", "ward"), ("LCLINA", "clinic")] {
            locations::create(
                c,
                &locations::NewLocation {
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
        let mut sessions = Vec::new();
        for s in 0..20 {
            let ses = appointments::create_session(
                c,
                &who,
                &appointments::NewSession {
                    clinic: "LCLINA".into(),
                    name: Some(format!("session {s}")),
                    date: "2030-01-07".into(),
                    start: "08:00".into(),
                    end: "18:00".into(),
                },
            )?;
            sessions.push(ses.id);
        }
        let ward: i64 = c.query_row("SELECT id FROM locations WHERE code='LWARD5'", [], |r| r.get(0))?;
        for (i, (chi, dob)) in people.iter().enumerate() {
            let p = patients::insert(
                c,
                &patients::NewPatient {
                    chi: Some(chi.clone()),
                    nhs_number: None,
                    family_name: format!("Bench{i}"),
                    given_name: "Pat".into(),
                    dob: format!("{}-{}-{}", &dob[..4], &dob[4..6], &dob[6..8]),
                    sex: "male".into(),
                },
            )?;
            // Scattered filing numbers so the sort has work to do.
            let filing = format!("{:06}", (i as u64 * 7_919 + 13) % 1_000_000);
            let f = folders::create(
                c,
                &scheme,
                p.id,
                &folders::NewFolder {
                    patient: chi.clone(),
                    folder_type: "main".into(),
                    home_location: "LLIB".into(),
                    filing_number: Some(filing),
                },
            )?;
            if i % 10 == 0 {
                c.execute(
                    "UPDATE folders SET cur_location_id=?1, cur_since=0, cur_read_at=0, cur_action='receive' WHERE id=?2",
                    [ward, f.id],
                )?;
            }
            let session = sessions[i % sessions.len()];
            let start = 1_893_920_400_000 + (i as i64 % 40) * 15 * 60_000; // 2030-01-07 08:00Z +
            appointments::insert(c, &who, p.id, session, start, 15, None)?;
        }
        Ok(())
    })
    .unwrap();
    eprintln!("seeded {n} patients in {:.1} s", t0.elapsed().as_secs_f64());
    let date = chrono::NaiveDate::from_ymd_opt(2030, 1, 7).unwrap();
    let mut best = f64::MAX;
    let mut total = 0.0;
    let runs = 10;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let list = db
            .read_blocking(|c| pulllists::build(c, date, None))
            .unwrap();
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        best = best.min(ms);
        total += ms;
        last = Some(list);
    }
    let list = last.unwrap();
    let t = Instant::now();
    let csv = pulllists::to_csv(&list).unwrap();
    let csv_ms = t.elapsed().as_secs_f64() * 1000.0;
    let t = Instant::now();
    let pdf = pulllists::to_pdf(&list);
    let pdf_ms = t.elapsed().as_secs_f64() * 1000.0;
    println!(
        "pulllist_bench: {} folders ({} not in library) for {} appointments: build mean {:.1} ms, best {:.1} ms over {runs} runs (target <= 200 ms); CSV {:.1} ms ({} KiB); PDF {:.1} ms ({} KiB, {} pages)",
        list.folders,
        list.not_in_library,
        list.appointments,
        total / runs as f64,
        best,
        csv_ms,
        csv.len() / 1024,
        pdf_ms,
        pdf.len() / 1024,
        list.folders.div_ceil(40)
    );
}
