//! Import an existing case-note index from CSV. Every row is checked first; if any row is wrong,
//! nothing is imported and the caller gets a per-row error report. Otherwise everything goes in
//! in one transaction.
//!
//! Columns (header row required, order free): `chi`, `nhs_number`, `family_name`, `given_name`,
//! `dob` (YYYY-MM-DD), `sex`, `folder_type`, `home_location`, `filing_number` (optional).
//! One row per folder volume; rows of the same patient repeat the patient columns.

use crate::{
    audit, auth::Principal, ledger::folders, ledger::locations, ledger::patients, storage::Db,
    Error, Result,
};
use casenote_core::identifiers::{FilingNumber, FolderIdScheme};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, Deserialize)]
struct Row {
    #[serde(default)]
    chi: Option<String>,
    #[serde(default)]
    nhs_number: Option<String>,
    family_name: String,
    given_name: String,
    dob: String,
    sex: String,
    folder_type: String,
    home_location: String,
    #[serde(default)]
    filing_number: Option<String>,
}

/// One refused row: the CSV line, the column and why.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RowError {
    pub line: u64,
    pub field: String,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct ImportReport {
    pub rows: usize,
    pub patients_created: usize,
    pub folders_created: usize,
}

/// Outcome of [`import`]: either done, or refused with every problem found.
#[derive(Debug)]
pub enum ImportOutcome {
    Done(ImportReport),
    Refused(Vec<RowError>),
}

/// Validate then import. `progress(rows_checked)` is called as rows are read.
pub fn import(
    db: &Db,
    who: &Principal,
    scheme: &FolderIdScheme,
    reader: impl std::io::Read,
    mut progress: impl FnMut(u64),
) -> Result<ImportOutcome> {
    let codes: HashSet<String> =
        db.read_blocking(|c| Ok(locations::list(c)?.into_iter().map(|l| l.code).collect()))?;
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(reader);
    let mut errors = Vec::new();
    let mut good: Vec<(patients::NewPatient, folders::NewFolder)> = Vec::new();
    let mut seen: HashMap<String, (String, String, String)> = HashMap::new();
    for (i, rec) in rdr.deserialize::<Row>().enumerate() {
        let line = i as u64 + 2;
        progress(i as u64 + 1);
        let row = match rec {
            Ok(r) => r,
            Err(e) => {
                let field = match e.kind() {
                    csv::ErrorKind::Deserialize { err, .. } => err
                        .field()
                        .map(|f| format!("column {}", f + 1))
                        .unwrap_or_else(|| "row".into()),
                    _ => "row".into(),
                };
                errors.push(RowError {
                    line,
                    field,
                    message: e.to_string(),
                });
                continue;
            }
        };
        let np = patients::NewPatient {
            chi: row.chi.clone(),
            nhs_number: row.nhs_number.clone(),
            family_name: row.family_name.clone(),
            given_name: row.given_name.clone(),
            dob: row.dob.clone(),
            sex: row.sex.clone(),
        };
        let np = match patients::validate(&np) {
            Ok(p) => p,
            Err(Error::Invalid { field, message }) => {
                errors.push(RowError {
                    line,
                    field,
                    message,
                });
                continue;
            }
            Err(e) => return Err(e),
        };
        if !folders::TYPES.contains(&row.folder_type.as_str()) {
            errors.push(RowError {
                line,
                field: "folder_type".into(),
                message: format!("must be one of {}", folders::TYPES.join(", ")),
            });
            continue;
        }
        if !codes.contains(&row.home_location.to_ascii_uppercase()) {
            errors.push(RowError {
                line,
                field: "home_location".into(),
                message: format!("no location with code {:?}", row.home_location),
            });
            continue;
        }
        if let Some(f) = row.filing_number.as_deref().filter(|s| !s.is_empty()) {
            if let Err(e) = FilingNumber::parse(f) {
                errors.push(RowError {
                    line,
                    field: "filing_number".into(),
                    message: e.to_string(),
                });
                continue;
            }
        }
        let key = np.chi.clone().or(np.nhs_number.clone()).unwrap_or_default();
        let demo = (
            np.family_name.to_uppercase(),
            np.given_name.to_uppercase(),
            np.dob.clone(),
        );
        if let Some(prev) = seen.get(&key) {
            if *prev != demo {
                errors.push(RowError { line, field: "chi".into(), message: "the same CHI/NHS number appears earlier with a different name or date of birth".into() });
                continue;
            }
        } else {
            seen.insert(key.clone(), demo);
        }
        let nf = folders::NewFolder {
            patient: key,
            folder_type: row.folder_type,
            home_location: row.home_location,
            filing_number: row.filing_number.filter(|s| !s.is_empty()),
        };
        good.push((np, nf));
    }
    if !errors.is_empty() {
        return Ok(ImportOutcome::Refused(errors));
    }
    let rows = good.len();
    let who = who.clone();
    let scheme = scheme.clone();
    let report = db.write_solo_blocking(move |c| {
        let mut patients_created = 0;
        for (np, nf) in &good {
            let key = &nf.patient;
            let existing = patients::find_by_identifier(c, "patient", key).ok();
            let pid = match existing {
                Some(p) => p.id,
                None => {
                    patients_created += 1;
                    patients::insert(c, np)?.id
                }
            };
            folders::create(c, &scheme, pid, nf)?;
        }
        audit::record(
            c,
            &who,
            "import.csv",
            None,
            None,
            &format!("{rows} folder row(s), {patients_created} new patient(s)"),
        )?;
        Ok(ImportReport {
            rows,
            patients_created,
            folders_created: rows,
        })
    })?;
    Ok(ImportOutcome::Done(report))
}
