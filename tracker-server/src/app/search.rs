//! Where is a file? The lookups behind the API's `/api/v1/whereis/...` and the web where-is
//! page, each authorised by role and audited, and the search box's dispatch (a folder barcode,
//! a CHI or NHS number, or neither).

use super::AppState;
use crate::{
    audit,
    auth::{Permission, Principal},
    ledger::{
        folders,
        patients::{self, Patient},
    },
    workflow::whereis::{self, WhereIs},
    Error, Result,
};
use casenote_core::identifiers::{validate_chi, validate_nhs_number};

/// What a search box's text is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchTerm {
    /// A folder barcode (its check character is right).
    Folder(String),
    /// A valid CHI or NHS number.
    Patient(String),
    /// Neither: the sentence to show.
    NotUnderstood(String),
}

impl SearchTerm {
    pub fn classify(s: &AppState, term: &str) -> Self {
        if s.cfg.identifiers.folder.parse(term).is_ok() {
            Self::Folder(term.to_string())
        } else if validate_chi(term).is_ok() || validate_nhs_number(term).is_ok() {
            Self::Patient(term.to_string())
        } else {
            Self::NotUnderstood(format!(
                "{term:?} is not a folder barcode, CHI number or NHS number (check the last character)."
            ))
        }
    }
}

/// One folder by its barcode. The patient's details are included only for roles that may read
/// them. Audited as `whereis.folder`.
pub async fn folder(s: &AppState, who: &Principal, barcode: String) -> Result<WhereIs> {
    who.require(Permission::LocateFolders)?;
    let scheme = s.cfg.identifiers.folder.clone();
    let with_patient = who.can(Permission::ReadPatient);
    let w = s.db.read_quick(|c| {
        let f = folders::by_barcode(c, &scheme, &barcode)?;
        let p = if with_patient {
            Some(patients::get(c, f.patient_id)?)
        } else {
            None
        };
        whereis::for_folder(c, f, p.as_ref())
    })?;
    let row = vec![(Some(w.folder.patient_id), Some(w.folder.id))];
    audit::record_reads(&s.db, who, "whereis.folder", row, w.folder.barcode.clone()).await?;
    Ok(w)
}

/// Every volume of one patient's notes; `field` names the identifier in errors. Each answer
/// repeats the patient's details when `each_with_patient` (the web page shows them per folder).
/// Audited as `whereis.patient`.
pub async fn patient(
    s: &AppState,
    who: &Principal,
    field: &'static str,
    identifier: String,
    each_with_patient: bool,
) -> Result<(Patient, Vec<WhereIs>)> {
    who.require(Permission::ReadPatient)?;
    let (p, list) =
        s.db.read(move |c| {
            let p = patients::find_by_identifier(c, field, &identifier)?;
            let w = whereis::for_patient(c, &p, each_with_patient)?;
            Ok((p, w))
        })
        .await?;
    let detail = format!("{} folder(s)", list.len());
    audit::record_reads(
        &s.db,
        who,
        "whereis.patient",
        vec![(Some(p.id), None)],
        detail,
    )
    .await?;
    Ok((p, list))
}

/// Patients by family name (or its start) and date of birth, at most 20, with their folders.
/// Audited as `whereis.search`, one row per patient found.
pub async fn by_name(
    s: &AppState,
    who: &Principal,
    name: String,
    dob: String,
    each_with_patient: bool,
) -> Result<Vec<(Patient, Vec<WhereIs>)>> {
    who.require(Permission::ReadPatient)?;
    let found =
        s.db.read(move |c| {
            patients::search(c, &name, Some(&dob), 20)?
                .into_iter()
                .map(|p| {
                    let w = whereis::for_patient(c, &p, each_with_patient)?;
                    Ok((p, w))
                })
                .collect::<Result<Vec<_>>>()
        })
        .await?;
    let rows = found.iter().map(|(p, _)| (Some(p.id), None)).collect();
    let detail = "name and date of birth search".to_string();
    audit::record_reads(&s.db, who, "whereis.search", rows, detail).await?;
    Ok(found)
}

/// The search box: a folder barcode gives that folder, a CHI or NHS number every volume of that
/// patient's notes. Text that is neither is refused naming the field `q`.
pub async fn find(s: &AppState, who: &Principal, term: &str) -> Result<Vec<WhereIs>> {
    who.require(Permission::LocateFolders)?;
    match SearchTerm::classify(s, term) {
        SearchTerm::Folder(b) => Ok(vec![folder(s, who, b).await?]),
        SearchTerm::Patient(id) => Ok(patient(s, who, "q", id, true).await?.1),
        SearchTerm::NotUnderstood(why) => Err(Error::invalid("q", why)),
    }
}
