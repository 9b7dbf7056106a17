//! Realistic demonstration data: a hospital with a records library, wards, clinics, coding,
//! a scanning bureau; a few thousand patients and folders; a week of movements.
//! Everything is made through the same domain functions the API uses.

use crate::{
    auth::{self, Principal, Role},
    ledger::folders,
    ledger::locations,
    ledger::movements,
    ledger::patients,
    storage::Db,
    util::now_ms,
    Result,
};
use casenote_core::identifiers::{scan::ScanConfig, FolderIdScheme, Symbology};
use casenote_core::wire::{Action, Method};
use rand::{rngs::StdRng, Rng, SeedableRng};

/// Demo sign-ins, printed by `tracker-server demo`.
pub const DEMO_USERS: &[(&str, &str, Role)] = &[
    ("admin", "Ailsa Admin", Role::Admin),
    ("manager", "Morag Manager", Role::RecordsManager),
    ("library", "Lachlan Library", Role::Library),
    ("porter", "Peter Porter", Role::Porter),
    ("clinician", "Dr Catriona Clinician", Role::Clinician),
];
pub const DEMO_PASSWORD: &str = "demo-password";

/// (code, name, kind, parent code)
pub const DEMO_LOCATIONS: &[(&str, &str, &str, Option<&str>)] = &[
    ("LRIE", "Royal Infirmary (demo)", "site", None),
    ("LMAIN", "Main Building", "building", Some("LRIE")),
    ("LOPD", "Outpatients Building", "building", Some("LRIE")),
    ("LLIB", "Health Records Library", "library", Some("LMAIN")),
    ("LLIBDESK", "Library Issue Desk", "library", Some("LLIB")),
    ("LSTORE2", "Offsite Store 2", "store", Some("LRIE")),
    ("LWARD1", "Ward 1 (Acute Medicine)", "ward", Some("LMAIN")),
    ("LWARD2", "Ward 2 (Surgery)", "ward", Some("LMAIN")),
    (
        "LWARD5",
        "Ward 5 (Care of the Elderly)",
        "ward",
        Some("LMAIN"),
    ),
    (
        "LCORRIDOR",
        "Main Building Corridor (outside Ward 5)",
        "department",
        Some("LMAIN"),
    ),
    ("LWARD7", "Ward 7 (Orthopaedics)", "ward", Some("LMAIN")),
    ("LWARD9", "Ward 9 (Maternity)", "ward", Some("LMAIN")),
    ("LCLINA", "Clinic A (Cardiology)", "clinic", Some("LOPD")),
    ("LCLINB", "Clinic B (Diabetes)", "clinic", Some("LOPD")),
    ("LCLINC", "Clinic C (Orthopaedics)", "clinic", Some("LOPD")),
    ("LCLIND", "Clinic D (Respiratory)", "clinic", Some("LOPD")),
    ("LCODING", "Clinical Coding", "coding", Some("LMAIN")),
    ("LSCAN", "Scanning Bureau", "scanning_bureau", Some("LRIE")),
    (
        "LSECMED",
        "Medical Secretaries",
        "secretary_office",
        Some("LMAIN"),
    ),
];

const FAMILY: &[&str] = &[
    "Smith",
    "Brown",
    "Wilson",
    "Campbell",
    "Stewart",
    "Thomson",
    "Robertson",
    "Anderson",
    "MacDonald",
    "Scott",
    "Reid",
    "Murray",
    "Taylor",
    "Clark",
    "Ross",
    "Watson",
    "Morrison",
    "Paterson",
    "Young",
    "Mitchell",
    "Walker",
    "Fraser",
    "Miller",
    "McDonald",
    "Gray",
    "Henderson",
    "Hamilton",
    "Johnston",
    "Duncan",
    "Graham",
    "Ferguson",
    "Kerr",
    "Davidson",
    "Bell",
    "Cameron",
    "Kelly",
    "Martin",
    "Hunter",
    "Allan",
    "Mackenzie",
    "Grant",
    "Simpson",
    "MacLeod",
    "Black",
    "Russell",
    "Marshall",
    "Wallace",
    "Gibson",
    "Ó Dochartaigh",
    "MacAoidh",
];
const GIVEN_F: &[&str] = &[
    "Isla",
    "Olivia",
    "Emily",
    "Freya",
    "Ava",
    "Sophie",
    "Morag",
    "Fiona",
    "Margaret",
    "Catherine",
    "Eilidh",
    "Mhairi",
    "Kirsty",
    "Agnes",
    "Jean",
];
const GIVEN_M: &[&str] = &[
    "Jack",
    "Noah",
    "Lewis",
    "James",
    "Callum",
    "Angus",
    "Hamish",
    "Euan",
    "Ruaridh",
    "Robert",
    "William",
    "Alexander",
    "David",
    "Iain",
    "Duncan",
];

/// A CHI number for a date and sex with a valid Mod-11 check digit.
pub fn make_chi(rng: &mut impl Rng, y: i32, m: u32, d: u32, male: bool) -> String {
    loop {
        let mid: u32 = rng.gen_range(0..100);
        let sexd: u32 = rng.gen_range(0..5) * 2 + u32::from(male);
        let body = format!("{d:02}{m:02}{:02}{mid:02}{sexd}", y % 100);
        let digits: Vec<u32> = body.chars().map(|c| c.to_digit(10).unwrap_or(0)).collect();
        let sum: u32 = digits.iter().zip((2..=10).rev()).map(|(a, w)| a * w).sum();
        let c = match 11 - sum % 11 {
            11 => 0,
            10 => continue,
            c => c,
        };
        return format!("{body}{c}");
    }
}

/// Porters of the demo hospital and their badges (the simulator's handheld uses S00042).
pub const DEMO_STAFF: [(&str, &str); 5] = [
    ("S00017", "Iain Porter"),
    ("S00023", "Morag Porter"),
    ("S00042", "Angus Porter"),
    ("S00051", "Kirsty Porter"),
    ("S00077", "Euan Porter"),
];

/// Figures of what was made.
#[derive(Debug, Default)]
pub struct DemoSummary {
    pub patients: usize,
    pub folders: usize,
    pub movements: usize,
}

/// Fill an empty database with the demo hospital. Deterministic for a given seed.
pub fn seed(db: &Db, cfg: &ScanConfig, n_patients: usize, seed: u64) -> Result<DemoSummary> {
    let who = Principal::system();
    let hash = auth::hash_password(DEMO_PASSWORD)?;
    let prefix = cfg.location_prefix.clone();
    db.write_blocking(move |c| {
        for (code, name, kind, parent) in DEMO_LOCATIONS {
            locations::create(
                c,
                &locations::NewLocation {
                    code: (*code).into(),
                    name: (*name).into(),
                    kind: (*kind).into(),
                    gln: None,
                    parent: parent.map(String::from),
                    preparation_area: None,
                    filing_range: None,
                },
                &prefix,
            )?;
        }
        for (u, name, role) in DEMO_USERS {
            auth::insert_user(c, u, name, *role, &hash)?;
        }
        // for the privacy report: the clinician works on Ward 5 and is a Wilson, like some of
        // the demo patients
        crate::ledger::staff::set_profile(c, "clinician", Some("Wilson"), &["LWARD5".into()])?;
        for (badge, name) in DEMO_STAFF {
            crate::ledger::staff::register(c, badge, name)?;
        }
        Ok(())
    })?;
    let mut rng = StdRng::seed_from_u64(seed);
    let scheme: FolderIdScheme = cfg.folder.clone();
    let mut people = Vec::with_capacity(n_patients);
    for _ in 0..n_patients {
        let male = rng.gen_bool(0.5);
        let y = rng.gen_range(1930..2024);
        let m = rng.gen_range(1..=12);
        let d = rng.gen_range(1..=28);
        let chi = make_chi(&mut rng, y, m, d, male);
        let given = if male {
            GIVEN_M[rng.gen_range(0..GIVEN_M.len())]
        } else {
            GIVEN_F[rng.gen_range(0..GIVEN_F.len())]
        };
        let family = FAMILY[rng.gen_range(0..FAMILY.len())];
        let volumes = if rng.gen_bool(0.2) {
            rng.gen_range(2..=3)
        } else {
            1
        };
        let maternity = !male && (1975..2005).contains(&y) && rng.gen_bool(0.15);
        people.push((
            patients::NewPatient {
                chi: Some(chi),
                nhs_number: None,
                family_name: family.into(),
                given_name: given.into(),
                dob: format!("{y:04}-{m:02}-{d:02}"),
                sex: if male { "male" } else { "female" }.into(),
            },
            volumes,
            maternity,
        ));
    }
    let folder_ids = db.write_blocking(move |c| {
        let mut ids = Vec::new();
        for (p, volumes, maternity) in &people {
            let Ok(pat) = patients::insert(c, p) else {
                continue;
            };
            let chi = pat.chi.clone().unwrap_or_default();
            for _ in 0..*volumes {
                let nf = folders::NewFolder {
                    patient: chi.clone(),
                    folder_type: "main".into(),
                    home_location: "LLIB".into(),
                    filing_number: None,
                };
                ids.push(folders::create(c, &scheme, pat.id, &nf)?.id);
            }
            if *maternity {
                let nf = folders::NewFolder {
                    patient: chi.clone(),
                    folder_type: "maternity".into(),
                    home_location: "LLIB".into(),
                    filing_number: None,
                };
                ids.push(folders::create(c, &scheme, pat.id, &nf)?.id);
            }
        }
        Ok(ids)
    })?;
    let n_folders = folder_ids.len();
    let events = week_of_movements(&mut rng, cfg, &folder_ids, now_ms());
    let n_events = events.len();
    for chunk in events.chunks(2000) {
        let valid: Vec<(usize, movements::ValidEvent)> = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                movements::validate(e, cfg, now_ms(), movements::DEFAULT_MAX_CLOCK_SKEW_MS)
                    .ok()
                    .map(|v| (i, v))
            })
            .collect();
        let len = chunk.len();
        let who = who.clone();
        db.write_blocking(move |c| {
            let mut results = vec![None; len];
            crate::workflow::scans::store_and_follow(c, &who, valid, &mut results)
        })?;
    }
    Ok(DemoSummary {
        patients: n_patients,
        folders: n_folders,
        movements: n_events,
    })
}

/// Plausible traffic: each day some folders leave the library for clinics and wards (dispatched
/// at the issue desk, received at the door), some go on to coding or secretaries, most come back.
pub fn week_of_movements(
    rng: &mut impl Rng,
    cfg: &ScanConfig,
    folders: &[i64],
    now: i64,
) -> Vec<movements::ScanEvent> {
    let scheme = &cfg.folder;
    let dests = [
        "LWARD1", "LWARD2", "LWARD5", "LWARD7", "LWARD9", "LCLINA", "LCLINB", "LCLINC", "LCLIND",
    ];
    let staff = DEMO_STAFF.map(|(b, _)| b);
    let day = 86_400_000i64;
    let start = now - 7 * day;
    let mut out = Vec::new();
    let mut ev = |t: i64,
                  serial: i64,
                  loc: &str,
                  action: Action,
                  dest: Option<&str>,
                  device: &str,
                  method: Method,
                  rng: &mut dyn rand::RngCore| {
        let raw = format!("]C0{}", scheme.format(serial as u64).text);
        out.push(movements::ScanEvent {
            event_id: uuid::Uuid::from_u128(rng.gen()),
            device_id: device.into(),
            staff_id: Some(staff[(rng.next_u32() as usize) % staff.len()].into()),
            read_at: chrono::DateTime::from_timestamp_millis(t).unwrap_or_default(),
            raw,
            symbology: Some(Symbology::Code128),
            method,
            location: loc.into(),
            action,
            destination: dest.map(String::from),
            clock: None,
            container: None,
        });
    };
    for &f in folders {
        if !rng.gen_bool(0.45) {
            continue;
        }
        let mut t = start + rng.gen_range(0..6 * day);
        let dest = dests[rng.gen_range(0..dests.len())];
        ev(
            t,
            f,
            "LLIBDESK",
            Action::Dispatch,
            Some(dest),
            "library-desk-1",
            Method::Barcode,
            rng,
        );
        t += rng.gen_range(10..90) * 60_000;
        ev(
            t,
            f,
            dest,
            Action::Receive,
            None,
            &format!("door-{}", dest.to_lowercase()),
            Method::Barcode,
            rng,
        );
        let r: f64 = rng.gen();
        if r < 0.15 {
            t += rng.gen_range(1..48) * 3_600_000;
            ev(
                t,
                f,
                "LCODING",
                Action::Seen,
                None,
                "coding-desk",
                Method::Barcode,
                rng,
            );
        } else if r < 0.25 {
            t += rng.gen_range(1..24) * 3_600_000;
            ev(
                t,
                f,
                "LSECMED",
                Action::Seen,
                None,
                "secretaries-handheld",
                Method::Barcode,
                rng,
            );
        }
        if rng.gen_bool(0.7) {
            t += rng.gen_range(2..72) * 3_600_000;
            if t < now - 60_000 {
                ev(
                    t,
                    f,
                    "LLIB",
                    Action::Receive,
                    None,
                    "library-returns",
                    Method::Barcode,
                    rng,
                );
            }
        }
    }
    out.retain(|e| e.read_at.timestamp_millis() < now);
    out
}
