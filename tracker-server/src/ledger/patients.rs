//! Patients: CHI (or NHS number), names, date of birth, sex; merges of duplicate registrations.

use crate::{audit, auth::Principal, util::now_rfc3339, Error, Result};
use casenote_core::identifiers::{validate_chi, validate_nhs_number};
use chrono::NaiveDate;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPatient {
    #[serde(default)]
    pub chi: Option<String>,
    #[serde(default)]
    pub nhs_number: Option<String>,
    pub family_name: String,
    pub given_name: String,
    /// `YYYY-MM-DD`.
    pub dob: String,
    /// male, female, other or unknown.
    pub sex: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Patient {
    pub id: i64,
    pub chi: Option<String>,
    pub nhs_number: Option<String>,
    pub family_name: String,
    pub given_name: String,
    pub dob: String,
    pub sex: Sex,
    /// Set when this registration was merged into another.
    pub merged_into: Option<i64>,
}

crate::vocabulary! {
    /// A patient's sex as the patient administration system records it.
    pub enum Sex {
        Male = "male",
        Female = "female",
        Other = "other",
        Unknown = "unknown",
    }
}

pub const SEXES: &[&str] = Sex::WORDS;

/// Validate and normalise a new patient; every refusal names the field.
pub fn validate(n: &NewPatient) -> Result<NewPatient> {
    let chi = match n.chi.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(c) => Some(validate_chi(c).map_err(|e| Error::invalid("chi", e.to_string()))?),
        None => None,
    };
    let nhs = match n
        .nhs_number
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(s) => {
            Some(validate_nhs_number(s).map_err(|e| Error::invalid("nhs_number", e.to_string()))?)
        }
        None => None,
    };
    if chi.is_none() && nhs.is_none() {
        return Err(Error::invalid(
            "chi",
            "a CHI number or an NHS number is required",
        ));
    }
    let name_ok = |s: &str| {
        !s.trim().is_empty() && s.chars().count() <= 100 && !s.chars().any(char::is_control)
    };
    if !name_ok(&n.family_name) {
        return Err(Error::invalid(
            "family_name",
            "must be 1-100 characters without control characters",
        ));
    }
    if !name_ok(&n.given_name) {
        return Err(Error::invalid(
            "given_name",
            "must be 1-100 characters without control characters",
        ));
    }
    let dob = NaiveDate::parse_from_str(n.dob.trim(), "%Y-%m-%d")
        .map_err(|_| Error::invalid("dob", "must be a real date written YYYY-MM-DD"))?;
    if dob > crate::util::site_today() {
        return Err(Error::invalid("dob", "is in the future"));
    }
    if let Some(c) = &chi {
        use chrono::Datelike;
        if (dob.day(), dob.month(), dob.year() as u32 % 100) != (c.day, c.month, c.yy) {
            return Err(Error::invalid(
                "dob",
                "does not match the date in the CHI number",
            ));
        }
    }
    let sex: Sex = n
        .sex
        .trim()
        .to_ascii_lowercase()
        .parse()
        .map_err(|_| Error::invalid("sex", "must be male, female, other or unknown"))?;
    Ok(NewPatient {
        chi: chi.map(|c| c.number),
        nhs_number: nhs,
        family_name: n.family_name.trim().to_string(),
        given_name: n.given_name.trim().to_string(),
        dob: dob.format("%Y-%m-%d").to_string(),
        sex: sex.as_str().to_string(),
    })
}

pub fn insert(c: &Connection, n: &NewPatient) -> Result<Patient> {
    let n = validate(n)?;
    if let Some(chi) = &n.chi {
        if find_by_chi(c, chi)?.is_some() {
            return Err(Error::conflict(
                "chi",
                "a patient with this CHI number already exists",
            ));
        }
    }
    if let Some(nhs) = &n.nhs_number {
        let dup: Option<i64> = c
            .query_row("SELECT id FROM patients WHERE nhs_number=?1", [nhs], |r| {
                r.get(0)
            })
            .optional()?;
        if dup.is_some() {
            return Err(Error::conflict(
                "nhs_number",
                "a patient with this NHS number already exists",
            ));
        }
    }
    // One person, one record: a 10-digit number already registered as the other kind of
    // identifier (a CHI given as an NHS number, or the reverse) is the same person.
    for (field, number) in [("chi", &n.chi), ("nhs_number", &n.nhs_number)] {
        let Some(number) = number else { continue };
        let other: Option<i64> = c
            // (two lookups, each on its own unique index: written as one `chi=?1 OR
            // nhs_number=?1`, SQLite scanned all patients once ANALYZE had seen that nearly
            // every NHS number is empty, and each HL7 admission of a new patient took seconds
            // at four million patients)
            .prepare_cached(
                "SELECT id FROM patients WHERE chi=?1
                 UNION ALL SELECT id FROM patients WHERE nhs_number=?1 LIMIT 1",
            )?
            .query_row([number], |r| r.get(0))
            .optional()?;
        if let Some(id) = other {
            return Err(Error::conflict(
                field,
                format!("{number} is already registered for patient {id}; use that record"),
            ));
        }
    }
    let now = now_rfc3339();
    c.prepare_cached(
        "INSERT INTO patients(chi, nhs_number, family_name, given_name, family_key, dob, sex, created_at, updated_at)
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?8)",
    )?
    .execute(params![n.chi, n.nhs_number, n.family_name, n.given_name, n.family_name.to_uppercase(), n.dob, n.sex, now])?;
    get(c, c.last_insert_rowid())
}

const SELECT: &str =
    "SELECT id, chi, nhs_number, family_name, given_name, dob, sex, merged_into FROM patients";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<Patient> {
    Ok(Patient {
        id: r.get(0)?,
        chi: r.get(1)?,
        nhs_number: r.get(2)?,
        family_name: r.get(3)?,
        given_name: r.get(4)?,
        dob: r.get(5)?,
        sex: r.get(6)?,
        merged_into: r.get(7)?,
    })
}

pub fn get(c: &Connection, id: i64) -> Result<Patient> {
    c.prepare_cached(&format!("{SELECT} WHERE id=?1"))?
        .query_row([id], from_row)
        .optional()?
        .ok_or_else(|| Error::not_found(format!("patient {id}")))
}

pub fn find_by_chi(c: &Connection, chi: &str) -> Result<Option<Patient>> {
    Ok(c.prepare_cached(&format!("{SELECT} WHERE chi=?1"))?
        .query_row([chi], from_row)
        .optional()?)
}

pub fn find_by_nhs_number(c: &Connection, nhs: &str) -> Result<Option<Patient>> {
    Ok(c.prepare_cached(&format!("{SELECT} WHERE nhs_number=?1"))?
        .query_row([nhs], from_row)
        .optional()?)
}

/// Find by CHI or NHS number (validated first, so a typo gets a clear error).
pub fn find_by_identifier(c: &Connection, field: &str, id: &str) -> Result<Patient> {
    let id = id.trim();
    if let Ok(chi) = validate_chi(id) {
        if let Some(p) = find_by_chi(c, &chi.number)? {
            return Ok(p);
        }
    }
    if let Ok(nhs) = validate_nhs_number(id) {
        if let Some(p) = find_by_nhs_number(c, &nhs)? {
            return Ok(p);
        }
    }
    if validate_chi(id).is_err() && validate_nhs_number(id).is_err() {
        let why = validate_chi(id)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        return Err(Error::invalid(
            field,
            format!("not a valid CHI or NHS number ({why})"),
        ));
    }
    Err(Error::not_found("patient with that CHI or NHS number"))
}

/// Search by family name (prefix, case-insensitive) and optionally date of birth.
pub fn search(
    c: &Connection,
    family_name: &str,
    dob: Option<&str>,
    limit: i64,
) -> Result<Vec<Patient>> {
    let key = family_name.trim().to_uppercase();
    if key.chars().count() < 2 {
        return Err(Error::invalid(
            "name",
            "give at least 2 letters of the family name",
        ));
    }
    if let Some(d) = dob {
        NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|_| Error::invalid("dob", "must be a real date written YYYY-MM-DD"))?;
    }
    // Prefix range on the index: [key, key + U+10FFFF)
    let hi = format!("{key}\u{10FFFF}");
    let mut st = c.prepare_cached(&format!(
        "{SELECT} WHERE family_key >= ?1 AND family_key < ?2 AND (?3 IS NULL OR dob = ?3) ORDER BY family_key, given_name LIMIT ?4"
    ))?;
    let v = st
        .query_map(params![key, hi, dob, limit], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(v)
}

/// Result of a merge.
#[derive(Debug, Serialize)]
pub struct MergeOutcome {
    pub survivor: Patient,
    pub retired: Patient,
    pub folders_moved: Vec<i64>,
}

/// Merge a duplicate registration (`retired`) into `survivor` in the ledger: folders follow,
/// history is kept, the retired record stays with `merged_into` set. Requests and appointments
/// follow in [`crate::workflow::requests::merge_patients`], which every caller uses.
pub fn merge(
    c: &Connection,
    who: &Principal,
    retired: &str,
    survivor: &str,
    reason: &str,
) -> Result<MergeOutcome> {
    let r = find_by_identifier(c, "retired", retired)?;
    let s = find_by_identifier(c, "survivor", survivor)?;
    if r.id == s.id {
        return Err(Error::invalid("survivor", "is the same patient as retired"));
    }
    if r.merged_into.is_some() {
        return Err(Error::conflict(
            "retired",
            "the retired patient was already merged",
        ));
    }
    if s.merged_into.is_some() {
        return Err(Error::invalid(
            "survivor",
            "was itself merged into another patient; use that one",
        ));
    }
    if reason.trim().is_empty() {
        return Err(Error::invalid(
            "reason",
            "say why the records are being merged",
        ));
    }
    let folders: Vec<i64> = c
        .prepare("SELECT id FROM folders WHERE patient_id=?1 ORDER BY id")?
        .query_map([r.id], |x| x.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    c.prepare_cached("UPDATE folders SET patient_id=?1 WHERE patient_id=?2")?
        .execute(params![s.id, r.id])?;
    c.prepare_cached("UPDATE patients SET merged_into=?1, updated_at=?2 WHERE id=?3")?
        .execute(params![s.id, now_rfc3339(), r.id])?;
    c.prepare_cached("INSERT INTO patient_merges(retired_id, survivor_id, folder_ids, reason, merged_by, merged_at) VALUES (?1,?2,?3,?4,?5,?6)")?.execute(
        params![r.id, s.id, serde_json::to_string(&folders).unwrap_or_default(), reason.trim(), who.actor, now_rfc3339()],
    )?;
    let detail = format!(
        "merged patient {} into {}; {} folder(s) moved",
        r.id,
        s.id,
        folders.len()
    );
    audit::record(c, who, "patient.merge", Some(s.id), None, &detail)?;
    audit::record(c, who, "patient.merge", Some(r.id), None, &detail)?;
    Ok(MergeOutcome {
        survivor: get(c, s.id)?,
        retired: get(c, r.id)?,
        folders_moved: folders,
    })
}

/// Patient details, only for callers allowed to read them.
#[derive(Debug, Serialize)]
pub struct PatientBrief {
    pub id: i64,
    pub chi: Option<String>,
    pub nhs_number: Option<String>,
    pub family_name: String,
    pub given_name: String,
    pub dob: String,
}

impl From<&Patient> for PatientBrief {
    fn from(p: &Patient) -> Self {
        Self {
            id: p.id,
            chi: p.chi.clone(),
            nhs_number: p.nhs_number.clone(),
            family_name: p.family_name.clone(),
            given_name: p.given_name.clone(),
            dob: p.dob.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn np(chi: &str, dob: &str) -> NewPatient {
        NewPatient {
            chi: Some(chi.into()),
            nhs_number: None,
            family_name: "Smith".into(),
            given_name: "Ann".into(),
            dob: dob.into(),
            sex: "female".into(),
        }
    }

    #[test]
    fn one_number_is_one_patient_whatever_it_was_given_as() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::storage::migrations::migrate(&mut c).unwrap();
        let first = insert(&c, &np("1904851231", "1985-04-19")).unwrap();
        // the same ten digits again, this time as an NHS number
        let mut again = np("", "1985-04-19");
        again.chi = None;
        again.nhs_number = Some("1904851231".into());
        let e = insert(&c, &again).unwrap_err();
        assert_eq!(e.field(), Some("nhs_number"));
        assert!(
            e.to_string().contains(&format!("patient {}", first.id)),
            "{e}"
        );
    }

    #[test]
    fn validation_names_the_field() {
        let e = validate(&np("1904851232", "1985-04-19"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("chi:"), "{e}");
        let e = validate(&np("1904851231", "1985-04-20"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("dob:"), "{e}");
        let mut p = np("1904851231", "1985-04-19");
        p.sex = "x".into();
        assert!(validate(&p).unwrap_err().to_string().starts_with("sex:"));
        p = np("", "1985-04-19");
        p.nhs_number = Some("943 476 5919".into());
        assert_eq!(
            validate(&p).unwrap().nhs_number.as_deref(),
            Some("9434765919")
        );
    }
}
