//! Clinical coding: episodes (admission to discharge) coded from the notes after discharge with
//! ICD-10 diagnoses and OPCS-4 procedures.
//!
//! Episodes come from the ADT data already stored (every discharge request, `source =
//! 'adt_discharge'`, is one episode; its admission is the latest ADT admission request of the
//! patient before it) or are recorded by staff. A discharge already sends the notes to the
//! coding location; the queue shows where they are, and the request brings them back to the
//! library by scans as usual. Codes are checked for format and, once a code list has been
//! loaded, against that list.

use crate::{
    audit,
    auth::Principal,
    ledger::patients,
    util::{ms_to_rfc3339, now_ms, now_rfc3339, parse_rfc3339_ms},
    Error, Result,
};
use chrono::{Datelike, NaiveDate};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

/// `[coding]`: backlog bands.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CodingConfig {
    /// Backlog bands in whole weeks after the end of the month of discharge.
    pub backlog_weeks: Vec<i64>,
}

impl Default for CodingConfig {
    fn default() -> Self {
        Self {
            backlog_weeks: vec![4, 6, 13],
        }
    }
}

crate::vocabulary! {
    /// A clinical code scheme: ICD-10 for diagnoses, OPCS-4 for procedures.
    pub enum Scheme {
        Icd10 = "icd10",
        Opcs4 = "opcs4",
    }
}

impl Scheme {
    /// The scheme's name as people write it.
    pub fn title(self) -> &'static str {
        match self {
            Self::Icd10 => "ICD-10",
            Self::Opcs4 => "OPCS-4",
        }
    }
}

pub const SCHEMES: &[&str] = Scheme::WORDS;

/// One diagnosis: an ICD-10 code, with its asterisk code when it is a dagger code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asterisk: Option<String>,
}

fn icd_core(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let ok = match b.len() {
        3 => true,
        5 => b[3] == b'.' && (b[4].is_ascii_digit() || b[4] == b'X'),
        _ => false,
    };
    (ok && b[0].is_ascii_uppercase() && b[1].is_ascii_digit() && b[2].is_ascii_digit())
        .then(|| s.to_string())
}

/// Parse an ICD-10 diagnosis: `A01`, `A01.1`, or a dagger/asterisk pair written
/// `A17.0† G01*` (`+` may stand for the dagger). Letters are upper-cased.
pub fn parse_icd10(field: &str, raw: &str) -> Result<Diagnosis> {
    let s: String = raw.trim().to_ascii_uppercase();
    let bad = |why: &str| {
        Error::invalid(
            field,
            format!("{raw:?} is not an ICD-10 code: {why} (a letter and 2 digits, optional .x, e.g. J18.9; a dagger/asterisk pair as A17.0† G01*)"),
        )
    };
    if let Some((dagger, rest)) = s.split_once(['†', '+']) {
        let dagger = icd_core(dagger.trim()).ok_or_else(|| bad("the dagger code is malformed"))?;
        let ast = rest.trim().strip_suffix('*').ok_or_else(|| {
            bad("a dagger code must be followed by its asterisk code, ending in *")
        })?;
        let ast = icd_core(ast.trim()).ok_or_else(|| bad("the asterisk code is malformed"))?;
        return Ok(Diagnosis {
            code: dagger,
            asterisk: Some(ast),
        });
    }
    if s.ends_with('*') {
        return Err(bad(
            "an asterisk code cannot stand alone; give its dagger code first",
        ));
    }
    icd_core(&s)
        .map(|code| Diagnosis {
            code,
            asterisk: None,
        })
        .ok_or_else(|| bad("wrong shape"))
}

/// Parse an OPCS-4 procedure: a letter and 3 digits, written `W37.1` (or `W371`).
pub fn parse_opcs4(field: &str, raw: &str) -> Result<String> {
    let s: String = raw
        .trim()
        .to_ascii_uppercase()
        .chars()
        .filter(|c| *c != '.')
        .collect();
    let b = s.as_bytes();
    let ok = b.len() == 4 && b[0].is_ascii_uppercase() && b[1..].iter().all(u8::is_ascii_digit);
    if !ok || raw.trim().matches('.').count() > 1 {
        return Err(Error::invalid(
            field,
            format!("{raw:?} is not an OPCS-4 code (a letter and 3 digits, e.g. W37.1)"),
        ));
    }
    Ok(format!("{}.{}", &s[..3], &s[3..]))
}

/// The key a code is stored and compared under in a code list: upper case, no dot, no marks.
fn list_key(code: &str) -> String {
    code.trim()
        .to_ascii_uppercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect()
}

fn scheme(s: &str) -> Result<Scheme> {
    s.parse()
        .map_err(|_| Error::invalid("scheme", "must be icd10 or opcs4"))
}

#[derive(Debug, Serialize)]
pub struct CodeListLoaded {
    pub scheme: String,
    pub entries: usize,
    pub skipped_header: bool,
}

/// Replace a code list from CSV or TSV text: `code,description` per line (a header line whose
/// first cell is not a code is skipped). Every code must have the scheme's shape.
pub fn load_code_list(
    c: &Connection,
    who: &Principal,
    scheme_name: &str,
    text: &str,
) -> Result<CodeListLoaded> {
    let sch = scheme(scheme_name)?;
    let delim = if text.lines().next().unwrap_or("").contains('\t') {
        b'\t'
    } else {
        b','
    };
    let mut rd = csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(delim)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut skipped_header = false;
    for (i, rec) in rd.records().enumerate() {
        let rec = rec.map_err(|e| Error::invalid(format!("line {}", i + 1), e.to_string()))?;
        let code = rec.get(0).unwrap_or("").trim();
        if code.is_empty() {
            continue;
        }
        let field = format!("line {}", i + 1);
        let parsed = match sch {
            Scheme::Icd10 => {
                // Lists often write A000 for A00.0 and may carry a dagger or asterisk mark.
                let bare = code.trim_end_matches(['*', '†', '+', 'D', 'A']);
                let dotted = if bare.len() == 4 && !bare.contains('.') {
                    format!("{}.{}", &bare[..3], &bare[3..])
                } else {
                    bare.to_string()
                };
                parse_icd10(&field, &dotted).map(|d| d.code)
            }
            Scheme::Opcs4 => parse_opcs4(&field, code),
        };
        match parsed {
            Ok(p) => rows.push((list_key(&p), rec.get(1).unwrap_or("").trim().to_string())),
            Err(e) if i == 0 => {
                let _ = e;
                skipped_header = true;
            }
            Err(e) => return Err(e),
        }
    }
    if rows.is_empty() {
        return Err(Error::invalid("body", "the list has no codes"));
    }
    c.execute("DELETE FROM code_list_entries WHERE scheme=?1", [sch])?;
    let mut ins = c.prepare_cached(
        "INSERT OR REPLACE INTO code_list_entries(scheme, code, description) VALUES (?1,?2,?3)",
    )?;
    for (code, d) in &rows {
        ins.execute(params![sch, code, d])?;
    }
    let n: i64 = c.query_row(
        "SELECT count(*) FROM code_list_entries WHERE scheme=?1",
        [sch],
        |r| r.get(0),
    )?;
    c.execute(
        "INSERT OR REPLACE INTO code_lists(scheme, entries, loaded_by, loaded_at) VALUES (?1,?2,?3,?4)",
        params![sch, n, who.actor, now_rfc3339()],
    )?;
    audit::record(
        c,
        who,
        "coding.code_list.load",
        None,
        None,
        &format!("{sch}: {n} codes"),
    )?;
    Ok(CodeListLoaded {
        scheme: sch.as_str().into(),
        entries: n as usize,
        skipped_header,
    })
}

fn list_loaded(c: &Connection, sch: Scheme) -> Result<bool> {
    Ok(c.query_row(
        "SELECT EXISTS(SELECT 1 FROM code_lists WHERE scheme=?1 AND entries > 0)",
        [sch],
        |r| r.get(0),
    )?)
}

fn check_listed(c: &Connection, sch: Scheme, field: &str, code: &str) -> Result<()> {
    let found: bool = c
        .prepare_cached(
            "SELECT EXISTS(SELECT 1 FROM code_list_entries WHERE scheme=?1 AND code=?2)",
        )?
        .query_row(params![sch, list_key(code)], |r| r.get(0))?;
    if found {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("{code} is not in the loaded {} code list", sch.title()),
        ))
    }
}

/// Create episodes for discharges recorded from ADT that have none yet. Idempotent.
pub fn sync_from_adt(c: &Connection) -> Result<usize> {
    let rows: Vec<(i64, i64, Option<String>, i64)> = c
        .prepare_cached(
            "SELECT r.id, r.patient_id, r.encounter, r.created_at FROM requests r
             WHERE r.source='adt_discharge' AND r.state != 'cancelled'
               AND NOT EXISTS (SELECT 1 FROM episodes e WHERE e.discharge_request_id = r.id)
             ORDER BY r.id",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (rid, pid, enc, at) in &rows {
        let admitted: Option<i64> = c
            .prepare_cached(
                "SELECT created_at FROM requests WHERE patient_id=?1 AND source='adt'
                   AND created_at <= ?2 AND state != 'cancelled'
                   AND created_at > COALESCE((SELECT max(created_at) FROM requests
                        WHERE patient_id=?1 AND source='adt_discharge' AND created_at < ?2 AND id != ?3), 0)
                 ORDER BY created_at ASC, id ASC LIMIT 1",
            )?
            .query_row(params![pid, at, rid], |r| r.get(0))
            .optional()?;
        c.execute(
            "INSERT INTO episodes(patient_id, encounter, admitted_at, discharged_at, source, discharge_request_id, status, created_by, created_at)
             VALUES (?1,?2,?3,?4,'adt',?5,'awaiting_coding','system:adt',?6)",
            params![pid, enc, admitted, at, rid, now_ms()],
        )?;
    }
    Ok(rows.len())
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEpisode {
    /// CHI or NHS number.
    pub patient: String,
    /// RFC 3339.
    #[serde(default)]
    pub admitted_at: Option<String>,
    /// RFC 3339.
    pub discharged_at: String,
    #[serde(default)]
    pub encounter: Option<String>,
}

/// Record an episode by hand (e.g. a discharge the ADT feed missed).
pub fn create_episode(c: &Connection, who: &Principal, n: &NewEpisode) -> Result<i64> {
    let p = patients::find_by_identifier(c, "patient", &n.patient)?;
    let dis = parse_rfc3339_ms(&n.discharged_at)
        .ok_or_else(|| Error::invalid("discharged_at", "must be an RFC 3339 time"))?;
    let adm = match &n.admitted_at {
        Some(a) => Some(
            parse_rfc3339_ms(a)
                .ok_or_else(|| Error::invalid("admitted_at", "must be an RFC 3339 time"))?,
        ),
        None => None,
    };
    if adm.is_some_and(|a| a > dis) {
        return Err(Error::invalid(
            "admitted_at",
            "is after the discharge; check the dates",
        ));
    }
    if dis > now_ms() + 600_000 {
        return Err(Error::invalid("discharged_at", "is in the future"));
    }
    c.execute(
        "INSERT INTO episodes(patient_id, encounter, admitted_at, discharged_at, source, status, created_by, created_at)
         VALUES (?1,?2,?3,?4,'manual','awaiting_coding',?5,?6)",
        params![p.id, n.encounter.as_deref().map(str::trim).filter(|s| !s.is_empty()), adm, dis, who.actor, now_ms()],
    )?;
    let id = c.last_insert_rowid();
    audit::record(
        c,
        who,
        "episode.create",
        Some(p.id),
        None,
        &format!("episode {id}"),
    )?;
    Ok(id)
}

/// The backlog band of an uncoded episode: whole weeks since the end of the month of discharge.
pub fn weeks_after_month_end(discharged: NaiveDate, today: NaiveDate) -> i64 {
    let (y, m) = (discharged.year(), discharged.month());
    let first_next = if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)
    }
    .expect("valid month");
    let month_end = first_next.pred_opt().expect("valid date");
    let days = (today - month_end).num_days();
    if days <= 0 {
        0
    } else {
        days / 7
    }
}

/// Band label for `weeks` against the configured bands (e.g. 4, 6, 13).
pub fn band(weeks: i64, bands: &[i64]) -> String {
    let mut label = format!("under {} weeks", bands.first().copied().unwrap_or(4));
    for b in bands {
        if weeks >= *b {
            label = format!("{b}+ weeks");
        }
    }
    label
}

#[derive(Debug, Serialize)]
pub struct Episode {
    pub id: i64,
    pub patient_id: i64,
    pub encounter: Option<String>,
    pub admitted_at: Option<String>,
    pub discharged_at: String,
    pub source: String,
    pub status: String,
    pub discharge_request_id: Option<i64>,
    /// State of the discharge request: where the notes are on their way to coding and back.
    pub notes_request_state: Option<String>,
    /// True while (any volume of) the notes is at the coding location.
    pub notes_at_coding: bool,
    pub weeks_after_month_end: i64,
    pub backlog_band: String,
    pub diagnoses: Vec<Diagnosis>,
    pub procedures: Vec<String>,
    pub coded_at: Option<String>,
    pub coded_by: Option<String>,
}

const EP_SELECT: &str =
    "SELECT e.id, e.patient_id, e.encounter, e.admitted_at, e.discharged_at, e.source, e.status,
   e.discharge_request_id, r.state, e.coded_at, e.coded_by,
   EXISTS (SELECT 1 FROM folders f JOIN locations l ON l.id = f.cur_location_id
           WHERE f.patient_id = e.patient_id AND l.code = ?1)
 FROM episodes e LEFT JOIN requests r ON r.id = e.discharge_request_id";

/// The site's local date of a time in UTC milliseconds.
fn ms_date(ms: i64) -> NaiveDate {
    crate::util::local_date_of_ms(ms)
}

fn load_episodes(
    c: &Connection,
    coding_location: &str,
    bands: &[i64],
    today: NaiveDate,
    where_sql: &str,
    arg: i64,
) -> Result<Vec<Episode>> {
    let mut st = c.prepare(&format!("{EP_SELECT} {where_sql}"))?;
    let mut v: Vec<Episode> = st
        .query_map(params![coding_location, arg], |r| {
            let dis: i64 = r.get(4)?;
            let weeks = weeks_after_month_end(ms_date(dis), today);
            Ok(Episode {
                id: r.get(0)?,
                patient_id: r.get(1)?,
                encounter: r.get(2)?,
                admitted_at: r.get::<_, Option<i64>>(3)?.map(ms_to_rfc3339),
                discharged_at: ms_to_rfc3339(dis),
                source: r.get(5)?,
                status: r.get(6)?,
                discharge_request_id: r.get(7)?,
                notes_request_state: r.get(8)?,
                coded_at: r.get::<_, Option<i64>>(9)?.map(ms_to_rfc3339),
                coded_by: r.get(10)?,
                notes_at_coding: r.get(11)?,
                weeks_after_month_end: weeks,
                backlog_band: band(weeks, bands),
                diagnoses: Vec::new(),
                procedures: Vec::new(),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut codes = c.prepare_cached(
        "SELECT scheme, code, asterisk FROM episode_codes WHERE episode_id=?1 ORDER BY scheme, position",
    )?;
    for e in &mut v {
        let rows: Vec<(Scheme, String, Option<String>)> = codes
            .query_map([e.id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (sch, code, asterisk) in rows {
            match sch {
                Scheme::Icd10 => e.diagnoses.push(Diagnosis { code, asterisk }),
                Scheme::Opcs4 => e.procedures.push(code),
            }
        }
    }
    Ok(v)
}

pub fn get(c: &Connection, coding_location: &str, bands: &[i64], id: i64) -> Result<Episode> {
    load_episodes(
        c,
        coding_location,
        bands,
        crate::util::site_today(),
        "WHERE e.id = ?2",
        id,
    )?
    .pop()
    .ok_or_else(|| Error::not_found(format!("episode {id}")))
}

/// The coding queue: episodes awaiting coding, oldest discharge first.
pub fn queue(
    c: &Connection,
    coding_location: &str,
    bands: &[i64],
    today: NaiveDate,
    limit: i64,
) -> Result<Vec<Episode>> {
    load_episodes(
        c,
        coding_location,
        bands,
        today,
        "WHERE e.status = 'awaiting_coding' ORDER BY e.discharged_at, e.id LIMIT ?2",
        limit,
    )
}

/// The coding queue as the API and the web page show it: new episodes from the ADT feed first,
/// then the queue (oldest discharge first), with one `coding.queue` audit row per patient shown.
/// Returns how many episodes were new from the ADT feed, and the queue.
pub fn queue_audited(
    c: &Connection,
    who: &Principal,
    coding_location: &str,
    bands: &[i64],
    as_of: NaiveDate,
    limit: i64,
) -> Result<(usize, Vec<Episode>)> {
    let created = sync_from_adt(c)?;
    let list = queue(c, coding_location, bands, as_of, limit)?;
    let mut seen = std::collections::HashSet::new();
    for e in &list {
        if seen.insert(e.patient_id) {
            audit::record(
                c,
                who,
                "coding.queue",
                Some(e.patient_id),
                None,
                "coding queue",
            )?;
        }
    }
    Ok((created, list))
}

/// Where one volume of a patient's notes is now (the movement ledger's current place).
#[derive(Debug, Serialize)]
pub struct NotesPlace {
    pub barcode: String,
    pub volume: i64,
    pub volume_count: i64,
    /// "Ward 5 (LWARD5)"; None when the folder has never been scanned.
    pub place: Option<String>,
    /// The location code of `place`.
    pub code: Option<String>,
    /// Dispatched from `place` and not yet received.
    pub in_transit: bool,
    /// When the folder arrived at `place` (RFC 3339).
    pub since: Option<String>,
    /// "Records Library (LLIB)": where an unscanned folder is expected.
    pub home: String,
}

/// Where each volume (not destroyed or merged) of a patient's notes is now, volume order.
pub fn notes_whereabouts(c: &Connection, patient_id: i64) -> Result<Vec<NotesPlace>> {
    let v = c
        .prepare_cached(
            "SELECT f.barcode, f.volume, f.volume_count, l.name, l.code, f.cur_action, f.cur_since, h.name, h.code
             FROM folders f JOIN locations h ON h.id = f.home_location_id
             LEFT JOIN locations l ON l.id = f.cur_location_id
             WHERE f.patient_id = ?1 AND f.status NOT IN ('destroyed', 'merged')
             ORDER BY f.folder_type, f.volume",
        )?
        .query_map([patient_id], |r| {
            let name: Option<String> = r.get(3)?;
            let code: Option<String> = r.get(4)?;
            let action: Option<String> = r.get(5)?;
            let home: (String, String) = (r.get(7)?, r.get(8)?);
            Ok(NotesPlace {
                barcode: r.get(0)?,
                volume: r.get(1)?,
                volume_count: r.get(2)?,
                place: name.zip(code.clone()).map(|(n, c)| format!("{n} ({c})")),
                code,
                in_transit: action.as_deref() == Some("dispatch"),
                since: r.get::<_, Option<i64>>(6)?.map(ms_to_rfc3339),
                home: format!("{} ({})", home.0, home.1),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

#[derive(Debug, Serialize)]
pub struct Backlog {
    pub as_of: String,
    pub awaiting: i64,
    /// (band label, count), in band order.
    pub bands: Vec<(String, i64)>,
}

/// Uncoded episodes by weeks after the month of discharge.
pub fn backlog(c: &Connection, bands: &[i64], today: NaiveDate) -> Result<Backlog> {
    let dates: Vec<i64> = c
        .prepare_cached("SELECT discharged_at FROM episodes WHERE status='awaiting_coding'")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut labels = vec![band(0, bands)];
    labels.extend(bands.iter().map(|b| format!("{b}+ weeks")));
    let mut out: Vec<(String, i64)> = labels.into_iter().map(|l| (l, 0)).collect();
    for d in &dates {
        let l = band(weeks_after_month_end(ms_date(*d), today), bands);
        if let Some(slot) = out.iter_mut().find(|(k, _)| *k == l) {
            slot.1 += 1;
        }
    }
    Ok(Backlog {
        as_of: today.to_string(),
        awaiting: dates.len() as i64,
        bands: out,
    })
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Coding {
    /// ICD-10 codes, primary first: `J18.9`, or `A17.0† G01*` for a dagger/asterisk pair.
    pub diagnoses: Vec<String>,
    /// OPCS-4 codes, main procedure first: `W37.1`.
    #[serde(default)]
    pub procedures: Vec<String>,
}

/// Record the codes of an episode (replacing any earlier coding); it leaves the queue.
pub fn code_episode(c: &Connection, who: &Principal, id: i64, k: &Coding) -> Result<()> {
    let (pid,): (i64,) = c
        .query_row("SELECT patient_id FROM episodes WHERE id=?1", [id], |r| {
            Ok((r.get(0)?,))
        })
        .optional()?
        .ok_or_else(|| Error::not_found(format!("episode {id}")))?;
    if k.diagnoses.is_empty() {
        return Err(Error::invalid(
            "diagnoses",
            "at least the primary diagnosis is required",
        ));
    }
    if k.diagnoses.len() > 50 || k.procedures.len() > 50 {
        return Err(Error::invalid("diagnoses", "at most 50 codes of each kind"));
    }
    let icd_list = list_loaded(c, Scheme::Icd10)?;
    let opcs_list = list_loaded(c, Scheme::Opcs4)?;
    let mut diags = Vec::new();
    for (i, raw) in k.diagnoses.iter().enumerate() {
        let field = format!("diagnoses[{i}]");
        let d = parse_icd10(&field, raw)?;
        if icd_list {
            check_listed(c, Scheme::Icd10, &field, &d.code)?;
            if let Some(a) = &d.asterisk {
                check_listed(c, Scheme::Icd10, &field, a)?;
            }
        }
        diags.push(d);
    }
    let mut procs = Vec::new();
    for (i, raw) in k.procedures.iter().enumerate() {
        let field = format!("procedures[{i}]");
        let p = parse_opcs4(&field, raw)?;
        if opcs_list {
            check_listed(c, Scheme::Opcs4, &field, &p)?;
        }
        procs.push(p);
    }
    c.execute("DELETE FROM episode_codes WHERE episode_id=?1", [id])?;
    let mut ins = c.prepare_cached(
        "INSERT INTO episode_codes(episode_id, scheme, position, code, asterisk) VALUES (?1,?2,?3,?4,?5)",
    )?;
    for (i, d) in diags.iter().enumerate() {
        ins.execute(params![id, "icd10", i as i64, d.code, d.asterisk])?;
    }
    for (i, p) in procs.iter().enumerate() {
        ins.execute(params![id, "opcs4", i as i64, p, Option::<String>::None])?;
    }
    c.execute(
        "UPDATE episodes SET status='coded', coded_at=?2, coded_by=?3 WHERE id=?1",
        params![id, now_ms(), who.actor],
    )?;
    audit::record(
        c,
        who,
        "episode.code",
        Some(pid),
        None,
        &format!(
            "episode {id}: {} diagnosis code(s), {} procedure code(s)",
            diags.len(),
            procs.len()
        ),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icd10_shapes() {
        assert_eq!(parse_icd10("d", "j18.9").unwrap().code, "J18.9");
        assert_eq!(parse_icd10("d", "I21").unwrap().code, "I21");
        assert_eq!(parse_icd10("d", "M80.X").unwrap().code, "M80.X");
        let p = parse_icd10("d", "A17.0† G01*").unwrap();
        assert_eq!(
            (p.code.as_str(), p.asterisk.as_deref()),
            ("A17.0", Some("G01"))
        );
        assert_eq!(
            parse_icd10("d", "A17.0+G01*").unwrap().asterisk.as_deref(),
            Some("G01")
        );
        for bad in [
            "",
            "J1",
            "J189",
            "18.9",
            "J18.",
            "J18.99",
            "G01*",
            "A17.0† G01",
            "JJ8",
        ] {
            assert!(parse_icd10("d", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn opcs4_shapes() {
        assert_eq!(parse_opcs4("p", "W37.1").unwrap(), "W37.1");
        assert_eq!(parse_opcs4("p", "w371").unwrap(), "W37.1");
        for bad in ["W37", "W37.12", "537.1", "W3.71.", "WW7.1"] {
            assert!(parse_opcs4("p", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn backlog_weeks_count_from_the_end_of_the_month() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        // Discharged 3 Oct 2026; month ends 31 Oct.
        assert_eq!(weeks_after_month_end(d("2026-10-03"), d("2026-10-20")), 0);
        assert_eq!(weeks_after_month_end(d("2026-10-03"), d("2026-11-27")), 3);
        assert_eq!(weeks_after_month_end(d("2026-10-03"), d("2026-11-28")), 4);
        assert_eq!(weeks_after_month_end(d("2026-10-03"), d("2027-01-30")), 13);
        assert_eq!(band(3, &[4, 6, 13]), "under 4 weeks");
        assert_eq!(band(5, &[4, 6, 13]), "4+ weeks");
        assert_eq!(band(6, &[4, 6, 13]), "6+ weeks");
        assert_eq!(band(20, &[4, 6, 13]), "13+ weeks");
    }
}
