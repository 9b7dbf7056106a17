//! Retention: rules as configuration (trigger, duration, action), the list of folders due for
//! review or destruction, legal holds, and two-person destruction with a certificate and a
//! tombstone. Nothing is ever destroyed automatically and no row is deleted: a destroyed
//! folder keeps its row with status `destroyed`, and the tombstone says what, when, who, why.
//!
//! The shipped default follows the Scottish Government Records Management Code of Practice for
//! Health and Social Care (2024) as commonly applied; rules marked `confirmed = false` must be
//! checked by the board's records manager before use.

use crate::{
    audit,
    auth::Principal,
    ledger::folders,
    ledger::patients,
    util::{ms_to_rfc3339, now_ms},
    Error, Result,
};
use casenote_core::identifiers::FolderIdScheme;
use chrono::{Datelike, NaiveDate};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

crate::vocabulary! {
    /// What starts a retention period.
    pub enum Trigger {
        /// Years after the last entry in the notes.
        LastEntry = "last_entry",
        /// Years after the patient's death.
        Death = "death",
        /// Until the patient's `years`th birthday.
        Birthday = "birthday",
    }
}

crate::vocabulary! {
    /// What happens when a folder's retention falls due.
    pub enum RetentionAction {
        Review = "review",
        Destroy = "destroy",
        /// Appraise for permanent archive.
        Appraise = "appraise",
    }
}

crate::vocabulary! {
    /// Which patients a rule covers.
    pub enum AppliesTo {
        Any = "any",
        /// 18 or over at the last entry.
        Adult = "adult",
        /// Under 18 at the last entry.
        Child = "child",
        Deceased = "deceased",
    }
}

crate::vocabulary! {
    /// Where a destruction request stands (two people: one requests, another decides).
    pub enum DestructionStatus {
        Pending = "pending",
        Approved = "approved",
        Rejected = "rejected",
    }
}

impl RetentionAction {
    /// The action in words, for people.
    pub fn label(self) -> &'static str {
        match self {
            Self::Review => "Review",
            Self::Destroy => "Destroy",
            Self::Appraise => "Appraise for archive",
        }
    }
}

pub const TRIGGERS: &[&str] = Trigger::WORDS;
pub const ACTIONS: &[&str] = RetentionAction::WORDS;
pub const APPLIES: &[&str] = AppliesTo::WORDS;

/// One retention rule. The first rule (in file order) that matches a folder applies.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub name: String,
    /// Folder types the rule covers; empty = every type.
    #[serde(default)]
    pub folder_types: Vec<String>,
    /// any, adult (18+ at the last entry), child (under 18 at the last entry), deceased.
    #[serde(default = "any")]
    pub applies_to: AppliesTo,
    /// last_entry (years after the last entry), death (years after the date of death) or
    /// birthday (until the patient's `years`th birthday).
    pub trigger: Trigger,
    pub years: u32,
    /// birthday only: the birthday to use instead when the patient was 17 at the conclusion of
    /// treatment (the last entry).
    #[serde(default)]
    pub years_if_17_at_end: Option<u32>,
    /// review, destroy or appraise (for permanent archive).
    pub action: RetentionAction,
    /// False until the board's records manager has confirmed the rule for Scotland.
    #[serde(default)]
    pub confirmed: bool,
}

fn any() -> AppliesTo {
    AppliesTo::Any
}

/// `[retention]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    pub rules: Vec<Rule>,
    /// Minutes between countings of the retention figures on the statistics page (folders due,
    /// on legal hold). Counting evaluates every folder's rules: over a minute at five million
    /// folders, so the server does it in the background and the page shows when it was counted.
    /// The retention page's own due list is always live. Env:
    /// CASENOTE_RETENTION_FIGURES_EVERY_MINUTES.
    pub figures_every_minutes: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        let r = |name: &str,
                 types: &[&str],
                 applies: AppliesTo,
                 trigger: Trigger,
                 years: u32,
                 if17: Option<u32>,
                 action: RetentionAction,
                 confirmed: bool| Rule {
            name: name.into(),
            folder_types: types.iter().map(|s| s.to_string()).collect(),
            applies_to: applies,
            trigger,
            years,
            years_if_17_at_end: if17,
            action,
            confirmed,
        };
        Self {
            rules: vec![
                r(
                    "maternity",
                    &["maternity"],
                    AppliesTo::Any,
                    Trigger::LastEntry,
                    25,
                    None,
                    RetentionAction::Review,
                    false,
                ),
                r(
                    "mental_health",
                    &["mental_health"],
                    AppliesTo::Any,
                    Trigger::LastEntry,
                    20,
                    None,
                    RetentionAction::Review,
                    false,
                ),
                r(
                    "deceased",
                    &[],
                    AppliesTo::Deceased,
                    Trigger::Death,
                    3,
                    None,
                    RetentionAction::Review,
                    false,
                ),
                r(
                    "children",
                    &[],
                    AppliesTo::Child,
                    Trigger::Birthday,
                    25,
                    Some(26),
                    RetentionAction::Review,
                    false,
                ),
                r(
                    "adult",
                    &[],
                    AppliesTo::Any,
                    Trigger::LastEntry,
                    6,
                    None,
                    RetentionAction::Review,
                    false,
                ),
            ],
            figures_every_minutes: 60,
        }
    }
}

impl RetentionConfig {
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.rules.is_empty() {
            return Err("at least one rule is required".into());
        }
        for (i, r) in self.rules.iter().enumerate() {
            let at = format!("rules[{i}] ({})", r.name);
            if r.trigger == Trigger::Death && r.applies_to != AppliesTo::Deceased {
                return Err(format!(
                    "{at}: a death trigger needs applies_to = \"deceased\""
                ));
            }
            if r.years == 0 || r.years > 200 {
                return Err(format!("{at}: years must be 1-200"));
            }
            for t in &r.folder_types {
                if !folders::TYPES.contains(&t.as_str()) {
                    return Err(format!(
                        "{at}: folder type {t:?} is not one of {}",
                        folders::TYPES.join(", ")
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `d` plus `years` years. 29 February in a year without one becomes 1 March: the anniversary
/// has not passed until 28 February is over, so the record is kept the extra day.
pub fn add_years(d: NaiveDate, years: u32) -> NaiveDate {
    let y = d.year() + years as i32;
    NaiveDate::from_ymd_opt(y, d.month(), d.day())
        .or_else(|| NaiveDate::from_ymd_opt(y, 3, 1))
        .unwrap_or(d)
}

/// Whole years of age on `on`.
pub fn age_on(dob: NaiveDate, on: NaiveDate) -> i32 {
    let mut a = on.year() - dob.year();
    if add_years(dob, a.max(0) as u32) > on {
        a -= 1;
    }
    a
}

/// The facts a rule needs about one folder.
#[derive(Debug, Clone)]
pub struct Facts {
    pub folder_type: String,
    pub dob: NaiveDate,
    pub last_entry: NaiveDate,
    pub date_of_death: Option<NaiveDate>,
}

/// Which rule applies and when the folder falls due.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Due {
    pub rule: String,
    pub action: RetentionAction,
    pub due_on: NaiveDate,
    pub confirmed: bool,
}

/// Apply the first matching rule.
pub fn evaluate(rules: &[Rule], f: &Facts) -> Option<Due> {
    let age_at_end = age_on(f.dob, f.last_entry);
    for r in rules {
        if !r.folder_types.is_empty() && !r.folder_types.contains(&f.folder_type) {
            continue;
        }
        let applies = match r.applies_to {
            AppliesTo::Adult => age_at_end >= 18,
            AppliesTo::Child => age_at_end < 18,
            AppliesTo::Deceased => f.date_of_death.is_some(),
            AppliesTo::Any => true,
        };
        if !applies {
            continue;
        }
        let due_on = match r.trigger {
            Trigger::Death => add_years(f.date_of_death?, r.years),
            Trigger::Birthday => {
                let age = match r.years_if_17_at_end {
                    Some(y) if age_at_end == 17 => y,
                    _ => r.years,
                };
                add_years(f.dob, age)
            }
            Trigger::LastEntry => add_years(f.last_entry, r.years),
        };
        return Some(Due {
            rule: r.name.clone(),
            action: r.action,
            due_on,
            confirmed: r.confirmed,
        });
    }
    None
}

/// The site's local date of a time in UTC milliseconds.
fn ms_date(ms: i64) -> NaiveDate {
    crate::util::local_date_of_ms(ms)
}

fn parse_day(field: &str, s: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| Error::invalid(field, "must be a real date written YYYY-MM-DD"))
}

/// Facts for a folder from the database. The last entry is the latest of: the folder's
/// creation, a discharge of an episode of the patient, an attended or booked appointment.
pub fn facts(c: &Connection, folder_id: i64) -> Result<Facts> {
    let row = c
        .prepare_cached(&format!("{FACTS_SELECT} WHERE f.id = ?1"))?
        .query_row([folder_id], FactsRow::read)
        .optional()?
        .ok_or_else(|| Error::not_found(format!("folder {folder_id}")))?;
    row.facts()
}

/// What a folder's retention is worked out from, in one row: the folder, its patient's dates,
/// and the patient's last discharge or appointment.
const FACTS_SELECT: &str = "SELECT f.id, f.barcode, f.patient_id, f.folder_type, f.created_at,
       p.dob, p.date_of_death,
       (SELECT max(x) FROM (
          SELECT max(discharged_at) AS x FROM episodes WHERE patient_id = f.patient_id
          UNION ALL SELECT max(a.slot_start) FROM appointments a
           WHERE a.patient_id = f.patient_id AND a.status IN ('booked','attended')))
  FROM folders f JOIN patients p ON p.id = f.patient_id";

struct FactsRow {
    id: i64,
    barcode: String,
    patient_id: i64,
    folder_type: String,
    created_at: String,
    dob: String,
    date_of_death: Option<String>,
    last_ms: Option<i64>,
}

impl FactsRow {
    fn read(r: &rusqlite::Row) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            barcode: r.get(1)?,
            patient_id: r.get(2)?,
            folder_type: r.get(3)?,
            created_at: r.get(4)?,
            dob: r.get(5)?,
            date_of_death: r.get(6)?,
            last_ms: r.get(7)?,
        })
    }

    fn facts(&self) -> Result<Facts> {
        let created = chrono::DateTime::parse_from_rfc3339(&self.created_at)
            .map(|t| t.date_naive())
            .unwrap_or_default();
        let last_entry = self
            .last_ms
            .map(ms_date)
            .map_or(created, |d| d.max(created));
        Ok(Facts {
            folder_type: self.folder_type.clone(),
            dob: parse_day("dob", &self.dob)?,
            last_entry,
            date_of_death: self
                .date_of_death
                .as_deref()
                .map(|d| parse_day("date_of_death", d))
                .transpose()?,
        })
    }
}

/// Record (or correct) a patient's date of death.
pub fn record_death(c: &Connection, who: &Principal, patient: &str, date: &str) -> Result<()> {
    let p = patients::find_by_identifier(c, "patient", patient)?;
    let d = parse_day("date_of_death", date)?;
    if d > crate::util::site_today() {
        return Err(Error::invalid("date_of_death", "is in the future"));
    }
    if d < parse_day("dob", &p.dob)? {
        return Err(Error::invalid(
            "date_of_death",
            "is before the date of birth",
        ));
    }
    c.execute(
        "UPDATE patients SET date_of_death=?2, updated_at=?3 WHERE id=?1",
        params![p.id, d.to_string(), crate::util::now_rfc3339()],
    )?;
    audit::record(
        c,
        who,
        "patient.death",
        Some(p.id),
        None,
        &format!("date of death {d}"),
    )?;
    Ok(())
}

pub fn date_of_death(c: &Connection, patient_id: i64) -> Result<Option<String>> {
    Ok(c.query_row(
        "SELECT date_of_death FROM patients WHERE id=?1",
        [patient_id],
        |r| r.get(0),
    )?)
}

#[derive(Debug, Serialize)]
pub struct DueFolder {
    pub barcode: String,
    pub folder_id: i64,
    pub patient_id: i64,
    pub folder_type: String,
    pub last_entry: String,
    pub rule: String,
    pub action: RetentionAction,
    pub due_on: String,
    pub rule_confirmed: bool,
    pub legal_hold: bool,
    pub pending_destruction: Option<i64>,
}

/// Each folder (not destroyed) whose retention falls due on or before `as_of`, in folder order,
/// handed to `each` as it is found (counting them keeps nothing in memory: at five million
/// folders the list of those due alone took a gigabyte).
pub fn for_each_due(
    c: &Connection,
    rules: &[Rule],
    as_of: NaiveDate,
    each: &mut dyn FnMut(DueFolder),
) -> Result<()> {
    // One pass over the folders, row by row: at five million folders, a query per folder
    // and a list of every folder took over a minute and hundreds of megabytes.
    let mut st = c.prepare_cached(&format!(
        "{FACTS_SELECT} WHERE f.status NOT IN ('destroyed', 'merged') ORDER BY f.id"
    ))?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let row = FactsRow::read(r)?;
        let f = row.facts()?;
        let Some(d) = evaluate(rules, &f) else {
            continue;
        };
        if d.due_on > as_of {
            continue;
        }
        let id = row.id;
        each(DueFolder {
            barcode: row.barcode,
            folder_id: id,
            patient_id: row.patient_id,
            folder_type: f.folder_type,
            last_entry: f.last_entry.to_string(),
            rule: d.rule,
            action: d.action,
            due_on: d.due_on.to_string(),
            rule_confirmed: d.confirmed,
            legal_hold: on_hold(c, id)?,
            pending_destruction: c
                .prepare_cached(
                    "SELECT id FROM destructions WHERE folder_id=?1 AND status='pending'",
                )?
                .query_row([id], |r| r.get(0))
                .optional()?,
        });
    }
    Ok(())
}

/// Folders (not destroyed) whose retention falls due on or before `as_of`, earliest first.
pub fn due(
    c: &Connection,
    rules: &[Rule],
    as_of: NaiveDate,
    limit: usize,
) -> Result<Vec<DueFolder>> {
    let mut out = Vec::new();
    for_each_due(c, rules, as_of, &mut |d| out.push(d))?;
    out.sort_by(|a, b| a.due_on.cmp(&b.due_on).then(a.folder_id.cmp(&b.folder_id)));
    out.truncate(limit);
    Ok(out)
}

pub fn on_hold(c: &Connection, folder_id: i64) -> Result<bool> {
    Ok(c.prepare_cached(
        "SELECT EXISTS(SELECT 1 FROM legal_holds WHERE folder_id=?1 AND released_at IS NULL)",
    )?
    .query_row([folder_id], |r| r.get(0))?)
}

#[derive(Debug, Serialize)]
pub struct Hold {
    pub id: i64,
    pub barcode: String,
    pub reason: String,
    pub placed_by: String,
    pub placed_at: String,
    pub released_by: Option<String>,
    pub released_at: Option<String>,
}

pub fn place_hold(c: &Connection, who: &Principal, folder_id: i64, reason: &str) -> Result<Hold> {
    if reason.trim().is_empty() {
        return Err(Error::invalid(
            "reason",
            "say why the notes must be kept (e.g. the claim or inquiry)",
        ));
    }
    let f = folders::get(c, folder_id)?;
    if f.status == folders::FolderStatus::Destroyed {
        return Err(Error::conflict(
            "folder",
            "the folder has already been destroyed",
        ));
    }
    if on_hold(c, folder_id)? {
        return Err(Error::conflict(
            "folder",
            "the folder is already under a legal hold",
        ));
    }
    c.execute(
        "INSERT INTO legal_holds(folder_id, reason, placed_by, placed_at) VALUES (?1,?2,?3,?4)",
        params![folder_id, reason.trim(), who.actor, now_ms()],
    )?;
    let id = c.last_insert_rowid();
    audit::record(
        c,
        who,
        "retention.hold",
        Some(f.patient_id),
        Some(f.id),
        &format!("legal hold {id}: {}", reason.trim()),
    )?;
    get_hold(c, id)
}

pub fn release_hold(c: &Connection, who: &Principal, folder_id: i64, note: &str) -> Result<Hold> {
    if note.trim().is_empty() {
        return Err(Error::invalid("note", "say why the hold is released"));
    }
    let f = folders::get(c, folder_id)?;
    let id: i64 = c
        .query_row(
            "SELECT id FROM legal_holds WHERE folder_id=?1 AND released_at IS NULL",
            [folder_id],
            |r| r.get(0),
        )
        .optional()?
        .ok_or_else(|| Error::conflict("folder", "the folder is not under a legal hold"))?;
    c.execute(
        "UPDATE legal_holds SET released_by=?2, released_at=?3, release_note=?4 WHERE id=?1",
        params![id, who.actor, now_ms(), note.trim()],
    )?;
    audit::record(
        c,
        who,
        "retention.hold.release",
        Some(f.patient_id),
        Some(f.id),
        &format!("legal hold {id} released: {}", note.trim()),
    )?;
    get_hold(c, id)
}

/// Legal holds in force, earliest placed first.
pub fn current_holds(c: &Connection) -> Result<Vec<Hold>> {
    let ids: Vec<i64> = c
        .prepare_cached(
            "SELECT id FROM legal_holds WHERE released_at IS NULL ORDER BY placed_at, id",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    ids.into_iter().map(|id| get_hold(c, id)).collect()
}

fn get_hold(c: &Connection, id: i64) -> Result<Hold> {
    Ok(c.query_row(
        "SELECT h.id, f.barcode, h.reason, h.placed_by, h.placed_at, h.released_by, h.released_at
         FROM legal_holds h JOIN folders f ON f.id = h.folder_id WHERE h.id=?1",
        [id],
        |r| {
            Ok(Hold {
                id: r.get(0)?,
                barcode: r.get(1)?,
                reason: r.get(2)?,
                placed_by: r.get(3)?,
                placed_at: ms_to_rfc3339(r.get(4)?),
                released_by: r.get(5)?,
                released_at: r.get::<_, Option<i64>>(6)?.map(ms_to_rfc3339),
            })
        },
    )?)
}

#[derive(Debug, Serialize)]
pub struct Destruction {
    pub id: i64,
    pub folder_id: i64,
    pub barcode: String,
    pub rule: String,
    pub due_on: Option<String>,
    pub reason: String,
    pub status: DestructionStatus,
    pub requested_by: String,
    pub requested_at: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub decision_note: Option<String>,
    pub certificate_sha256: Option<String>,
}

pub fn get_destruction(c: &Connection, id: i64) -> Result<Destruction> {
    c.query_row(
        "SELECT d.id, d.folder_id, f.barcode, d.rule, d.due_on, d.reason, d.status, d.requested_by, d.requested_at,
                d.decided_by, d.decided_at, d.decision_note, d.certificate_sha256
         FROM destructions d JOIN folders f ON f.id = d.folder_id WHERE d.id=?1",
        [id],
        |r| {
            Ok(Destruction {
                id: r.get(0)?,
                folder_id: r.get(1)?,
                barcode: r.get(2)?,
                rule: r.get(3)?,
                due_on: r.get(4)?,
                reason: r.get(5)?,
                status: r.get(6)?,
                requested_by: r.get(7)?,
                requested_at: ms_to_rfc3339(r.get(8)?),
                decided_by: r.get(9)?,
                decided_at: r.get::<_, Option<i64>>(10)?.map(ms_to_rfc3339),
                decision_note: r.get(11)?,
                certificate_sha256: r.get(12)?,
            })
        },
    )
    .optional()?
    .ok_or_else(|| Error::not_found(format!("destruction {id}")))
}

pub fn list_destructions(c: &Connection, status: Option<&str>) -> Result<Vec<Destruction>> {
    let ids: Vec<i64> = c
        .prepare("SELECT id FROM destructions WHERE (?1 IS NULL OR status=?1) ORDER BY id")?
        .query_map([status], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    ids.into_iter().map(|id| get_destruction(c, id)).collect()
}

/// Ask for a folder to be destroyed. It must be due under its rule (or `override_not_due` with
/// the reason saying why, e.g. the paper of a scanned and QA-passed folder), not on legal hold,
/// and not already pending.
pub fn request_destruction(
    c: &Connection,
    who: &Principal,
    rules: &[Rule],
    folder_id: i64,
    reason: &str,
    rule_override: Option<&str>,
    today: NaiveDate,
) -> Result<Destruction> {
    if reason.trim().is_empty() {
        return Err(Error::invalid(
            "reason",
            "say why the folder is to be destroyed",
        ));
    }
    let f = folders::get(c, folder_id)?;
    if f.status == folders::FolderStatus::Destroyed {
        return Err(Error::conflict(
            "folder",
            "the folder has already been destroyed",
        ));
    }
    if on_hold(c, folder_id)? {
        return Err(Error::conflict(
            "folder",
            "the folder is under a legal hold and cannot be destroyed",
        ));
    }
    let (rule, due_on) = match rule_override {
        Some(r) => (r.to_string(), None),
        None => {
            let d = evaluate(rules, &facts(c, folder_id)?).ok_or_else(|| {
                Error::invalid("folder", "no retention rule applies to this folder")
            })?;
            if d.due_on > today {
                return Err(Error::invalid(
                    "folder",
                    format!(
                        "is not due for destruction until {} (rule {})",
                        d.due_on, d.rule
                    ),
                ));
            }
            (d.rule, Some(d.due_on.to_string()))
        }
    };
    let dup: Option<i64> = c
        .query_row(
            "SELECT id FROM destructions WHERE folder_id=?1 AND status='pending'",
            [folder_id],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(d) = dup {
        return Err(Error::conflict(
            "folder",
            format!("destruction {d} is already waiting for approval"),
        ));
    }
    c.execute(
        "INSERT INTO destructions(folder_id, rule, due_on, reason, status, requested_by, requested_at) VALUES (?1,?2,?3,?4,'pending',?5,?6)",
        params![folder_id, rule, due_on, reason.trim(), who.actor, now_ms()],
    )?;
    let id = c.last_insert_rowid();
    audit::record(
        c,
        who,
        "retention.destruction.request",
        Some(f.patient_id),
        Some(f.id),
        &format!("destruction {id} requested ({rule}): {}", reason.trim()),
    )?;
    get_destruction(c, id)
}

/// Ask for the folder with `barcode` to be destroyed under its retention rule (the API's and the
/// web page's use case): a barcode that cannot be read is refused naming the `folder` field.
pub fn request_destruction_of(
    c: &Connection,
    who: &Principal,
    rules: &[Rule],
    scheme: &FolderIdScheme,
    barcode: &str,
    reason: &str,
    today: NaiveDate,
) -> Result<Destruction> {
    let f = folders::by_barcode(c, scheme, barcode).map_err(|e| match e {
        Error::Invalid { message, .. } => Error::invalid("folder", message),
        e => e,
    })?;
    request_destruction(c, who, rules, f.id, reason, None, today)
}

/// Approve (a different person from the requester) or reject a pending destruction. Approval
/// re-checks the legal hold, marks the folder destroyed, writes the certificate and the
/// tombstone, and audits it.
pub fn decide_destruction(
    c: &Connection,
    who: &Principal,
    id: i64,
    approve: bool,
    note: &str,
) -> Result<Destruction> {
    let d = get_destruction(c, id)?;
    if d.status != DestructionStatus::Pending {
        return Err(Error::conflict(
            "status",
            format!("destruction {id} is already {}", d.status),
        ));
    }
    if d.requested_by == who.actor {
        return Err(Error::Forbidden {
            role: who.role.as_str().into(),
            action: "approve or reject a destruction you requested; a second person must decide"
                .into(),
        });
    }
    let f = folders::get(c, d.folder_id)?;
    let now = now_ms();
    if !approve {
        if note.trim().is_empty() {
            return Err(Error::invalid(
                "note",
                "say why the destruction is rejected",
            ));
        }
        c.execute(
            "UPDATE destructions SET status='rejected', decided_by=?2, decided_at=?3, decision_note=?4 WHERE id=?1",
            params![id, who.actor, now, note.trim()],
        )?;
        audit::record(
            c,
            who,
            "retention.destruction.reject",
            Some(f.patient_id),
            Some(f.id),
            &format!("destruction {id} rejected: {}", note.trim()),
        )?;
        return get_destruction(c, id);
    }
    if on_hold(c, f.id)? {
        return Err(Error::conflict(
            "folder",
            "the folder is under a legal hold and cannot be destroyed",
        ));
    }
    let p = patients::get(c, f.patient_id)?;
    let ident = p
        .chi
        .as_ref()
        .map(|c| format!("CHI {c}"))
        .or_else(|| p.nhs_number.as_ref().map(|n| format!("NHS {n}")))
        .unwrap_or_default();
    let cert = format!(
        "CERTIFICATE OF DESTRUCTION\n\
         Casenote Tracker destruction {id}\n\
         Folder: {} ({} volume {} of {})\n\
         Patient: {ident}\n\
         Retention rule: {}\n\
         Due on: {}\n\
         Reason: {}\n\
         Requested by: {} at {}\n\
         Approved by: {} at {}\n\
         Approval note: {}\n\
         The paper folder above is to be destroyed confidentially. The tracker keeps this\n\
         certificate and a tombstone; the folder's row remains with status destroyed.\n",
        f.barcode,
        f.folder_type,
        f.volume,
        f.volume_count,
        d.rule,
        d.due_on.as_deref().unwrap_or("-"),
        d.reason,
        d.requested_by,
        d.requested_at,
        who.actor,
        ms_to_rfc3339(now),
        note.trim(),
    );
    let sha = hex::encode(Sha256::digest(cert.as_bytes()));
    c.execute(
        "UPDATE destructions SET status='approved', decided_by=?2, decided_at=?3, decision_note=?4, certificate=?5, certificate_sha256=?6 WHERE id=?1",
        params![id, who.actor, now, note.trim(), cert, sha],
    )?;
    c.execute("UPDATE folders SET status='destroyed' WHERE id=?1", [f.id])?;
    c.execute(
        "INSERT INTO tombstones(folder_id, destruction_id, barcode, folder_type, volume, patient_identifier, rule, reason, requested_by, approved_by, destroyed_at, certificate_sha256)
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)",
        params![f.id, id, f.barcode, f.folder_type, f.volume, ident, d.rule, d.reason, d.requested_by, who.actor, now, sha],
    )?;
    audit::record(
        c,
        who,
        "retention.destruction.approve",
        Some(f.patient_id),
        Some(f.id),
        &format!("destruction {id} approved; certificate sha256 {sha}"),
    )?;
    get_destruction(c, id)
}

/// The certificate text (with its SHA-256 as the last line).
pub fn certificate(c: &Connection, id: i64) -> Result<(String, String)> {
    let (cert, sha): (Option<String>, Option<String>) = c
        .query_row(
            "SELECT certificate, certificate_sha256 FROM destructions WHERE id=?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .ok_or_else(|| Error::not_found(format!("destruction {id}")))?;
    match (cert, sha) {
        (Some(c), Some(s)) => Ok((c, s)),
        _ => Err(Error::conflict(
            "status",
            format!("destruction {id} has not been approved; there is no certificate"),
        )),
    }
}

#[derive(Debug, Serialize)]
pub struct Tombstone {
    pub barcode: String,
    pub folder_type: String,
    pub volume: i64,
    pub patient_identifier: String,
    pub rule: String,
    pub reason: String,
    pub requested_by: String,
    pub approved_by: String,
    pub destroyed_at: String,
    pub destruction_id: i64,
    pub certificate_sha256: String,
}

pub fn tombstone(c: &Connection, folder_id: i64) -> Result<Option<Tombstone>> {
    Ok(c.query_row(
        "SELECT barcode, folder_type, volume, patient_identifier, rule, reason, requested_by, approved_by, destroyed_at, destruction_id, certificate_sha256
         FROM tombstones WHERE folder_id=?1",
        [folder_id],
        |r| {
            Ok(Tombstone {
                barcode: r.get(0)?,
                folder_type: r.get(1)?,
                volume: r.get(2)?,
                patient_identifier: r.get(3)?,
                rule: r.get(4)?,
                reason: r.get(5)?,
                requested_by: r.get(6)?,
                approved_by: r.get(7)?,
                destroyed_at: ms_to_rfc3339(r.get(8)?),
                destruction_id: r.get(9)?,
                certificate_sha256: r.get(10)?,
            })
        },
    )
    .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn leap_day_anniversaries_fall_on_1_march() {
        assert_eq!(add_years(d("2008-02-29"), 25), d("2033-03-01"));
        assert_eq!(add_years(d("2008-02-29"), 24), d("2032-02-29"));
        assert_eq!(age_on(d("2008-02-29"), d("2026-02-28")), 17);
        assert_eq!(age_on(d("2008-02-29"), d("2026-03-01")), 18);
    }

    #[test]
    fn default_rules_validate() {
        RetentionConfig::default().validate().unwrap();
    }
}
