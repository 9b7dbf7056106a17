//! Privacy monitoring for the Caldicott guardian: which lookups of patients deserve a second
//! look. The report reads the audit log's lookup rows ([`LOOKUP_ACTIONS`]) in a window of local
//! days (by default the last full week, Monday to Sunday) and lists four concerns:
//!
//! 1. **No legitimate relationship**: a lookup by a user with recorded work locations (or by any
//!    clinician) of a patient who, within `relationship_window_days` before or after the lookup,
//!    had no request for notes by the user or to, from or through one of the user's locations,
//!    no appointment at one of them, and no admission or transfer to one of them (ADT admissions
//!    are requests from the `adt` source, so they count as requests).
//! 2. **Same family name**: the patient's family name matches the user's, after folding case
//!    and accents; `Mc` is read as `Mac`; apostrophes are ignored; a double-barrelled name
//!    matches on either part (`Smith-Jones` and `Jones`), ignoring particles such as `van` and
//!    `de`.
//! 3. **Flagged record**: the patient was flagged (staff, VIP) when looked up.
//! 4. **Unusual volume**: a user's lookups on one day exceed
//!    `max(min_daily_lookups, mean + norm_sd_factor * sd)`, where mean and sd are the user's
//!    lookups per day over the previous `norm_weeks` weeks (every day counted, quiet ones as 0).
//!
//! Lookups by porters (who find folders by barcode and are shown no patient details) count
//! towards their volume only.
//!
//! Each line keeps the ids of the audit rows behind it, so the drill-down shows exactly those.
//! The lines name patients: the report is for the roles allowed
//! [`crate::auth::Permission::ReviewPrivacy`], and every view of it is audited by the use case
//! (`app::privacy`).

pub use crate::config::PrivacyConfig;
use crate::{
    ledger::{patient_flags, patients, staff},
    util::{local_date_of_ms, local_midnight_ms, parse_rfc3339_ms},
    Error, Result,
};
use chrono::{Datelike, Duration, NaiveDate};
use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The audit actions that are lookups of a patient (each row names the patient).
pub const LOOKUP_ACTIONS: &[&str] = &[
    "whereis.folder",
    "whereis.patient",
    "whereis.search",
    "patient.read",
    "patient.search",
];

/// An audit action as people read it.
pub fn action_label(action: &str) -> String {
    match action {
        "whereis.folder" => "Where is: folder barcode".into(),
        "whereis.patient" => "Where is: CHI or NHS number".into(),
        "whereis.search" => "Where is: name and date of birth search".into(),
        "patient.read" => "Patient record opened".into(),
        "patient.search" => "Patient name search".into(),
        other => other.replace(['.', '_'], " "),
    }
}

crate::vocabulary! {
    /// Why a line is on the privacy report.
    pub enum Concern {
        NoRelationship = "no_relationship",
        SameFamilyName = "same_family_name",
        FlaggedRecord = "flagged_record",
        UnusualVolume = "unusual_volume",
    }
}

impl Concern {
    /// The concern as people read it.
    pub fn label(self) -> &'static str {
        match self {
            Self::NoRelationship => "No legitimate relationship",
            Self::SameFamilyName => "Same family name as the user",
            Self::FlaggedRecord => "Flagged record (staff or VIP)",
            Self::UnusualVolume => "Unusual volume of lookups",
        }
    }
}

/// A window of whole local days, `from` to `to` inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// The longest window one report covers.
pub const MAX_WINDOW_DAYS: i64 = 92;

impl Window {
    /// A window from `from` to `to`; refused (naming the field) when reversed or too long.
    pub fn new(from: NaiveDate, to: NaiveDate) -> Result<Self> {
        if to < from {
            return Err(Error::invalid("to", "must not be before from"));
        }
        if (to - from).num_days() >= MAX_WINDOW_DAYS {
            return Err(Error::invalid(
                "to",
                format!("a report covers at most {MAX_WINDOW_DAYS} days"),
            ));
        }
        Ok(Self { from, to })
    }

    /// The Monday-to-Sunday week that contains `day`.
    pub fn week_of(day: NaiveDate) -> Self {
        let from = day - Duration::days(day.weekday().num_days_from_monday() as i64);
        Self {
            from,
            to: from + Duration::days(6),
        }
    }

    /// The last full Monday-to-Sunday week before `today`.
    pub fn last_full_week(today: NaiveDate) -> Self {
        Self::week_of(today - Duration::days(7))
    }

    /// Parse `from`/`to` (`YYYY-MM-DD`, either may be absent: the default window is the last
    /// full week at the site).
    pub fn parse(from: Option<&str>, to: Option<&str>) -> Result<Self> {
        let date = |field: &str, s: &str| {
            NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                .map_err(|_| Error::invalid(field, "must be a date written YYYY-MM-DD"))
        };
        match (from, to) {
            (None, None) => Ok(Self::last_full_week(crate::util::site_today())),
            (Some(f), None) => {
                let f = date("from", f)?;
                Self::new(f, f + Duration::days(6))
            }
            (None, Some(t)) => {
                let t = date("to", t)?;
                Self::new(t - Duration::days(6), t)
            }
            (Some(f), Some(t)) => Self::new(date("from", f)?, date("to", t)?),
        }
    }

    /// UTC milliseconds of the window's start (local midnight of `from`) and end (local
    /// midnight after `to`).
    pub fn bounds_ms(&self) -> (i64, i64) {
        (
            local_midnight_ms(self.from),
            local_midnight_ms(self.to + Duration::days(1)),
        )
    }

    /// Every day of the window.
    pub fn days(&self) -> impl Iterator<Item = NaiveDate> {
        let from = self.from;
        (0..=(self.to - self.from).num_days()).map(move |i| from + Duration::days(i))
    }
}

/// One lookup row of the audit log.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Lookup {
    pub id: i64,
    pub at: String,
    #[serde(skip)]
    pub at_ms: i64,
    pub actor: String,
    pub role: String,
    pub action: String,
    pub patient_id: i64,
    pub folder_id: Option<i64>,
    pub detail: String,
}

fn actions_json() -> String {
    serde_json::to_string(LOOKUP_ACTIONS).expect("a list of words")
}

/// Lookup rows whose time is in `[from_ms, to_ms)`, oldest first.
pub fn lookups(c: &Connection, from_ms: i64, to_ms: i64) -> Result<Vec<Lookup>> {
    let from = crate::util::ms_to_rfc3339(from_ms);
    let to = crate::util::ms_to_rfc3339(to_ms);
    let mut st = c.prepare_cached(
        "SELECT id, at, actor, role, action, patient_id, folder_id, detail FROM audit_log
         WHERE at >= ?1 AND at < ?2 AND patient_id IS NOT NULL
           AND action IN (SELECT value FROM json_each(?3)) ORDER BY id",
    )?;
    let v = st
        .query_map(params![from, to, actions_json()], |r| {
            let at: String = r.get(1)?;
            Ok(Lookup {
                id: r.get(0)?,
                at_ms: parse_rfc3339_ms(&at).unwrap_or_default(),
                at,
                actor: r.get(2)?,
                role: r.get(3)?,
                action: r.get(4)?,
                patient_id: r.get(5)?,
                folder_id: r.get(6)?,
                detail: r.get(7)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    // (audit times are written in one format, so the text comparison above is a time one;
    // rows whose time does not parse are kept out rather than misplaced)
    Ok(v.into_iter().filter(|l| l.at_ms > 0).collect())
}

/// Whether `patient_id` had a request, appointment or admission touching `locations` (or a
/// request by `actor`) within `window_ms` of `at_ms`.
pub fn related(
    c: &Connection,
    patient_id: i64,
    actor: &str,
    locations: &[i64],
    at_ms: i64,
    window_ms: i64,
) -> Result<bool> {
    let locs = serde_json::to_string(locations).expect("a list of ids");
    Ok(c.prepare_cached(
        "SELECT EXISTS(
           SELECT 1 FROM requests r WHERE r.patient_id = ?1 AND r.created_at <= ?3
             AND coalesce(r.closed_at, ?3) >= ?2
             AND (r.requested_by = ?5
               OR r.destination_id IN (SELECT value FROM json_each(?4))
               OR r.holder_location_id IN (SELECT value FROM json_each(?4))
               OR EXISTS(SELECT 1 FROM request_history h WHERE h.request_id = r.id
                         AND h.location_id IN (SELECT value FROM json_each(?4))))
         ) OR EXISTS(
           SELECT 1 FROM appointments a JOIN clinic_sessions s ON s.id = a.session_id
           WHERE a.patient_id = ?1 AND a.slot_start BETWEEN ?2 AND ?3
             AND s.clinic_location_id IN (SELECT value FROM json_each(?4))
         )",
    )?
    .query_row(
        params![
            patient_id,
            at_ms - window_ms,
            at_ms + window_ms,
            locs,
            actor
        ],
        |r| r.get(0),
    )?)
}

// ---------- family names ----------

/// Fold one character: lower case, accents removed (Latin letters used in UK and European
/// names); anything that is not a letter becomes nothing.
fn fold_char(ch: char, out: &mut String) {
    for l in ch.to_lowercase() {
        let s: &str = match l {
            'a'..='z' => {
                out.push(l);
                continue;
            }
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
            'æ' => "ae",
            'ç' | 'ć' | 'č' | 'ĉ' | 'ċ' => "c",
            'ď' | 'đ' | 'ð' => "d",
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
            'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
            'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
            'ķ' => "k",
            'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
            'ñ' | 'ń' | 'ņ' | 'ň' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
            'œ' => "oe",
            'ŕ' | 'ŗ' | 'ř' => "r",
            'ś' | 'ŝ' | 'ş' | 'š' => "s",
            'ß' => "ss",
            'ţ' | 'ť' | 'ŧ' => "t",
            'þ' => "th",
            'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
            'ŵ' => "w",
            'ý' | 'ÿ' | 'ŷ' => "y",
            'ź' | 'ż' | 'ž' => "z",
            _ => "",
        };
        out.push_str(s);
    }
}

/// Words of a surname that do not identify a family on their own.
const PARTICLES: &[&str] = &[
    "de", "da", "das", "del", "della", "der", "den", "des", "di", "do", "dos", "du", "la", "le",
    "van", "von", "st", "saint", "y", "e",
];

/// The parts of a family name that identify a family: split at spaces and hyphens, folded,
/// `mc` read as `mac`, particles and single letters dropped (`O'Brien` is one part, `obrien`).
pub fn name_parts(name: &str) -> Vec<String> {
    let mut parts = Vec::new();
    for word in name.split(|c: char| c.is_whitespace() || c == '-' || c == '\u{2010}') {
        let mut f = String::new();
        for ch in word.chars() {
            fold_char(ch, &mut f);
        }
        if let Some(rest) = f.strip_prefix("mc") {
            f = format!("mac{rest}");
        }
        if f.chars().count() < 2 || PARTICLES.contains(&f.as_str()) {
            continue;
        }
        if !parts.contains(&f) {
            parts.push(f);
        }
    }
    parts
}

/// Whether two family names are the same family: equal when folded and joined, or sharing a
/// part (a double-barrelled name matches either of its halves).
pub fn same_family(a: &str, b: &str) -> bool {
    let (pa, pb) = (name_parts(a), name_parts(b));
    if pa.is_empty() || pb.is_empty() {
        return false;
    }
    pa.concat() == pb.concat() || pa.iter().any(|p| pb.contains(p))
}

// ---------- unusual volume ----------

/// The user's norm of lookups per day: mean and (population) standard deviation of `history`.
pub fn norm(history: &[i64]) -> (f64, f64) {
    if history.is_empty() {
        return (0.0, 0.0);
    }
    let n = history.len() as f64;
    let mean = history.iter().sum::<i64>() as f64 / n;
    let var = history
        .iter()
        .map(|&x| (x as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    (mean, var.sqrt())
}

/// The most lookups a day may have before it is unusual, for this history.
pub fn threshold(cfg: &PrivacyConfig, history: &[i64]) -> f64 {
    let (mean, sd) = norm(history);
    (mean + cfg.norm_sd_factor * sd).max(cfg.min_daily_lookups as f64)
}

// ---------- the report ----------

/// The patient a line is about, as the Caldicott guardian needs to see them.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PatientRef {
    pub id: i64,
    pub name: String,
    pub chi: Option<String>,
    pub nhs_number: Option<String>,
}

impl PatientRef {
    fn of(p: &patients::Patient) -> Self {
        Self {
            id: p.id,
            name: format!("{}, {}", p.family_name.to_uppercase(), p.given_name),
            chi: p.chi.clone(),
            nhs_number: p.nhs_number.clone(),
        }
    }

    /// "MACLEOD, Ann (CHI 1904851231)".
    pub fn text(&self) -> String {
        match (&self.chi, &self.nhs_number) {
            (Some(c), _) => format!("{} (CHI {c})", self.name),
            (None, Some(n)) => format!("{} (NHS number {n})", self.name),
            (None, None) => self.name.clone(),
        }
    }
}

/// What identifies a line, for its drill-down.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LineKey {
    pub concern: Concern,
    /// The audit log's actor (`user:<name>` or `token:<name>`).
    pub user: String,
    /// The patient (concerns 1-3).
    pub patient: Option<i64>,
    /// The local day (unusual volume).
    pub day: Option<NaiveDate>,
}

impl PartialOrd for Concern {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Concern {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let pos = |c: &Concern| Concern::ALL.iter().position(|x| x == c);
        pos(self).cmp(&pos(other))
    }
}

impl LineKey {
    /// A line's key from a drill-down's query parameters (`concern`, `user`, and `patient` or
    /// `day`); each refusal names the parameter.
    pub fn parse<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Self> {
        let concern = Concern::parse_field(
            "concern",
            get("concern").ok_or_else(|| Error::invalid("concern", "is required"))?,
        )?;
        let user = get("user")
            .ok_or_else(|| Error::invalid("user", "is required"))?
            .to_string();
        let (patient, day) = if concern == Concern::UnusualVolume {
            let d = get("day").ok_or_else(|| Error::invalid("day", "is required"))?;
            let d = NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| Error::invalid("day", "must be a date written YYYY-MM-DD"))?;
            (None, Some(d))
        } else {
            let p = get("patient").ok_or_else(|| Error::invalid("patient", "is required"))?;
            let p = p
                .parse::<i64>()
                .map_err(|_| Error::invalid("patient", "must be a whole number"))?;
            (Some(p), None)
        };
        Ok(Self {
            concern,
            user,
            patient,
            day,
        })
    }

    /// The query string of the line's drill-down (with the window's).
    pub fn query(&self, w: &Window) -> String {
        let mut q = format!(
            "from={}&to={}&concern={}&user={}",
            w.from,
            w.to,
            self.concern,
            self.user.replace(':', "%3A")
        );
        if let Some(p) = self.patient {
            q.push_str(&format!("&patient={p}"));
        }
        if let Some(d) = self.day {
            q.push_str(&format!("&day={d}"));
        }
        q
    }
}

/// One line of the report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Line {
    pub key: LineKey,
    pub concern_label: &'static str,
    /// The user's name as recorded (or the actor, for a token).
    pub user_name: String,
    pub role: String,
    pub patient: Option<PatientRef>,
    pub lookups: usize,
    pub first_at: String,
    pub last_at: String,
    /// Why the line is here, in words.
    pub why: String,
    /// The audit rows behind the line.
    pub audit_ids: Vec<i64>,
}

/// The report for one window.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub window: Window,
    /// Lookup rows read in the window.
    pub lookups: usize,
    pub relationship_window_days: i64,
    pub volume_rule: String,
    pub lines: Vec<Line>,
}

impl Report {
    pub fn line(&self, key: &LineKey) -> Option<&Line> {
        self.lines.iter().find(|l| &l.key == key)
    }
}

/// Compute the report for `w`.
pub fn compute(c: &Connection, cfg: &PrivacyConfig, w: Window) -> Result<Report> {
    let (from_ms, to_ms) = w.bounds_ms();
    let rows = lookups(c, from_ms, to_ms)?;
    let profiles = staff::profiles(c)?;
    let flags = patient_flags::in_force_between(c, from_ms, to_ms)?;
    let window_ms = cfg.relationship_window_days * 86_400_000;
    let mut groups: BTreeMap<LineKey, (Vec<&Lookup>, String)> = BTreeMap::new();
    fn add<'a>(
        groups: &mut BTreeMap<LineKey, (Vec<&'a Lookup>, String)>,
        key: LineKey,
        l: &'a Lookup,
        why: String,
    ) {
        groups
            .entry(key)
            .or_insert_with(|| (Vec::new(), why))
            .0
            .push(l);
    }
    let mut patient_cache: HashMap<i64, patients::Patient> = HashMap::new();
    for l in &rows {
        if let std::collections::hash_map::Entry::Vacant(e) = patient_cache.entry(l.patient_id) {
            match patients::get(c, l.patient_id) {
                Ok(p) => {
                    e.insert(p);
                }
                Err(Error::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        let patient = &patient_cache[&l.patient_id];
        // Porters (and devices) find folders by barcode and are shown no patient details:
        // their lookups count towards their volume only.
        if matches!(l.role.as_str(), "porter" | "device") {
            continue;
        }
        let profile = l.actor.strip_prefix("user:").and_then(|u| profiles.get(u));
        let key = |concern| LineKey {
            concern,
            user: l.actor.clone(),
            patient: Some(l.patient_id),
            day: None,
        };
        // 1: no legitimate relationship
        let locations = profile.map(|p| p.location_ids.as_slice()).unwrap_or(&[]);
        let checked = !locations.is_empty() || l.role == "clinician";
        if checked && !related(c, l.patient_id, &l.actor, locations, l.at_ms, window_ms)? {
            let why = match profile {
                Some(p) if !p.locations.is_empty() => format!(
                    "no request, appointment or admission at {} within {} days of the lookup",
                    p.locations.join(", "),
                    cfg.relationship_window_days
                ),
                _ => format!(
                    "no work locations are recorded for this user, and no request by them within {} days",
                    cfg.relationship_window_days
                ),
            };
            add(&mut groups, key(Concern::NoRelationship), l, why);
        }
        // 2: same family name
        if let Some(fam) = profile.and_then(|p| p.family_name.as_deref()) {
            if same_family(fam, &patient.family_name) {
                let why = format!(
                    "the patient's family name {:?} matches the user's {:?}",
                    patient.family_name, fam
                );
                add(&mut groups, key(Concern::SameFamilyName), l, why);
            }
        }
        // 3: flagged record
        let active: Vec<&patient_flags::FlagRow> = flags
            .iter()
            .filter(|f| f.patient_id == l.patient_id && f.in_force_for(l.id, l.at_ms))
            .collect();
        if !active.is_empty() {
            let why = active
                .iter()
                .map(|f| format!("flagged {} ({})", f.flag.label(), f.reason))
                .collect::<Vec<_>>()
                .join("; ");
            add(&mut groups, key(Concern::FlaggedRecord), l, why);
        }
    }
    // 4: unusual volume, per user and local day, against the user's previous weeks
    let norm_days = cfg.norm_weeks * 7;
    let hist_from = local_midnight_ms(w.from - Duration::days(norm_days));
    let history = lookups(c, hist_from, from_ms)?;
    let mut per_day: HashMap<(&str, NaiveDate), Vec<&Lookup>> = HashMap::new();
    for l in history.iter().chain(rows.iter()) {
        per_day
            .entry((l.actor.as_str(), local_date_of_ms(l.at_ms)))
            .or_default()
            .push(l);
    }
    let actors: BTreeSet<&str> = rows.iter().map(|l| l.actor.as_str()).collect();
    let mut volume = Vec::new();
    for actor in actors {
        for day in w.days() {
            let Some(today) = per_day.get(&(actor, day)) else {
                continue;
            };
            let hist: Vec<i64> = (1..=norm_days)
                .map(|i| {
                    per_day
                        .get(&(actor, day - Duration::days(i)))
                        .map_or(0, |v| v.len() as i64)
                })
                .collect();
            let limit = threshold(cfg, &hist);
            if today.len() as f64 > limit {
                let (mean, sd) = norm(&hist);
                let why = format!(
                    "{} lookups on {}; the user's norm over the previous {} weeks is {:.1} a day \
                     (standard deviation {:.1}), so more than {:.0} is unusual",
                    today.len(),
                    day.format("%a %d %b %Y"),
                    cfg.norm_weeks,
                    mean,
                    sd,
                    limit.floor()
                );
                volume.push((
                    LineKey {
                        concern: Concern::UnusualVolume,
                        user: actor.to_string(),
                        patient: None,
                        day: Some(day),
                    },
                    today.clone(),
                    why,
                ));
            }
        }
    }
    for (k, v, why) in volume {
        groups.insert(k, (v, why));
    }
    let mut lines = Vec::new();
    for (key, (rows_of, why)) in groups {
        let first = rows_of.first().expect("a group has rows");
        let last = rows_of.last().expect("a group has rows");
        let profile = key.user.strip_prefix("user:").and_then(|u| profiles.get(u));
        lines.push(Line {
            concern_label: key.concern.label(),
            user_name: profile
                .map(|p| p.display_name.clone())
                .unwrap_or_else(|| key.user.clone()),
            role: first.role.clone(),
            patient: key
                .patient
                .and_then(|p| patient_cache.get(&p))
                .map(PatientRef::of),
            lookups: rows_of.len(),
            first_at: first.at.clone(),
            last_at: last.at.clone(),
            why,
            audit_ids: rows_of.iter().map(|l| l.id).collect(),
            key,
        });
    }
    Ok(Report {
        window: w,
        lookups: rows.len(),
        relationship_window_days: cfg.relationship_window_days,
        volume_rule: cfg.volume_rule(),
        lines,
    })
}

/// One audit row of a drill-down, with what was looked up in words.
#[derive(Debug, Clone, Serialize)]
pub struct DetailRow {
    pub id: i64,
    /// UTC, RFC 3339.
    pub at: String,
    /// The site's local time, for people.
    pub local_time: String,
    pub actor: String,
    pub role: String,
    pub action: String,
    pub action_label: String,
    pub patient: Option<PatientRef>,
    pub folder: Option<String>,
    pub detail: String,
}

/// The audit rows behind `line`, oldest first.
pub fn detail_rows(c: &Connection, line: &Line) -> Result<Vec<DetailRow>> {
    let ids = serde_json::to_string(&line.audit_ids).expect("a list of ids");
    let mut st = c.prepare_cached(
        "SELECT a.id, a.at, a.actor, a.role, a.action, a.patient_id, f.barcode, a.detail
         FROM audit_log a LEFT JOIN folders f ON f.id = a.folder_id
         WHERE a.id IN (SELECT value FROM json_each(?1)) ORDER BY a.id",
    )?;
    let raw = st
        .query_map([ids], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<i64>>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, String>(7)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut cache: HashMap<i64, PatientRef> = HashMap::new();
    let mut out = Vec::with_capacity(raw.len());
    for (id, at, actor, role, action, pid, folder, detail) in raw {
        let patient = match pid {
            Some(p) => {
                if let std::collections::hash_map::Entry::Vacant(e) = cache.entry(p) {
                    e.insert(PatientRef::of(&patients::get(c, p)?));
                }
                cache.get(&p).cloned()
            }
            None => None,
        };
        out.push(DetailRow {
            id,
            local_time: crate::util::local_text(&at),
            at,
            actor,
            role,
            action_label: action_label(&action),
            action,
            patient,
            folder,
            detail,
        });
    }
    Ok(out)
}

/// The report as CSV (times in local time with their offset).
pub fn csv(r: &Report) -> Result<Vec<u8>> {
    let mut w = crate::csv_export::Writer::new();
    let head = [
        "concern",
        "user",
        "user_name",
        "role",
        "patient",
        "day",
        "lookups",
        "first_lookup",
        "last_lookup",
        "why",
        "audit_rows",
    ];
    let fail = |e: csv::Error| Error::internal_from("cannot write the privacy report CSV", e);
    w.write_record(head).map_err(fail)?;
    for l in &r.lines {
        w.write_record([
            l.concern_label.to_string(),
            l.key.user.clone(),
            l.user_name.clone(),
            l.role.clone(),
            l.patient.as_ref().map(PatientRef::text).unwrap_or_default(),
            l.key.day.map(|d| d.to_string()).unwrap_or_default(),
            l.lookups.to_string(),
            crate::util::local_rfc3339(&l.first_at),
            crate::util::local_rfc3339(&l.last_at),
            l.why.clone(),
            l.audit_ids
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(" "),
        ])
        .map_err(fail)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Error::internal(format!("cannot finish the privacy report CSV: {e}")))?;
    Ok(bytes)
}

/// The report as a plain-text PDF.
pub fn pdf(r: &Report, generated_at: &str) -> Vec<u8> {
    let mut lines = vec![
        format!(
            "Window {} to {} (local days); generated {}",
            r.window.from,
            r.window.to,
            crate::util::local_text(generated_at)
        ),
        format!(
            "{} lookup(s) read; {} line(s) to review",
            r.lookups,
            r.lines.len()
        ),
        format!(
            "Relationship window: {} days. Volume: {}.",
            r.relationship_window_days, r.volume_rule
        ),
        String::new(),
    ];
    for c in Concern::ALL {
        let of: Vec<&Line> = r.lines.iter().filter(|l| l.key.concern == *c).collect();
        lines.push(format!("{} ({})", c.label(), of.len()));
        for l in of {
            lines.push(format!(
                "  {} ({}) - {} - {} lookup(s), {} to {}",
                l.user_name,
                l.key.user,
                l.patient
                    .as_ref()
                    .map(PatientRef::text)
                    .or(l.key.day.map(|d| d.to_string()))
                    .unwrap_or_default(),
                l.lookups,
                crate::util::local_text(&l.first_at),
                crate::util::local_text(&l.last_at),
            ));
            let why = format!("    {}", l.why);
            for chunk in why.as_bytes().chunks(95) {
                lines.push(String::from_utf8_lossy(chunk).to_string());
            }
        }
        lines.push(String::new());
    }
    crate::reports::statistics::text_pdf("Casenote Tracker privacy report", &lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_names_fold_case_accents_mac_and_double_barrels() {
        assert!(same_family("MacLeod", "McLeod"));
        assert!(same_family("macleod", "MACLEOD"));
        assert!(same_family("Núñez", "Nunez"));
        assert!(same_family("O'Brien", "OBrien"));
        assert!(same_family("Smith-Jones", "Jones"));
        assert!(same_family("Jones", "Smith Jones"));
        assert!(same_family("Ó Dochartaigh", "Dochartaigh"));
        assert!(same_family("van der Berg", "Berg"));
        assert!(!same_family("van der Berg", "van Dijk"), "particles alone");
        assert!(!same_family("Stewart", "Stuart"));
        assert!(!same_family("Macdonald", "Donald"));
        assert!(!same_family("", "Smith"));
        assert_eq!(
            name_parts("Ó Dochartaigh-MacLeod"),
            ["dochartaigh", "macleod"]
        );
    }

    #[test]
    fn volume_threshold_is_the_users_norm_with_a_floor() {
        let cfg = PrivacyConfig::default();
        // a quiet user: the floor decides
        assert_eq!(threshold(&cfg, &[0; 28]), 50.0);
        // a busy, steady user: mean 100, sd 0
        assert_eq!(threshold(&cfg, &[100; 28]), 100.0);
        // mean 60, sd 20: 60 + 3 * 20
        let h: Vec<i64> = (0..28).map(|i| if i % 2 == 0 { 40 } else { 80 }).collect();
        let (m, sd) = norm(&h);
        assert_eq!((m, sd), (60.0, 20.0));
        assert_eq!(threshold(&cfg, &h), 120.0);
    }

    #[test]
    fn windows_are_whole_local_weeks() {
        // Wednesday 2 December 2026
        let d = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        let w = Window::week_of(d);
        assert_eq!(w.from.to_string(), "2026-11-30");
        assert_eq!(w.to.to_string(), "2026-12-06");
        let last = Window::last_full_week(d);
        assert_eq!(
            (last.from.to_string(), last.to.to_string()),
            ("2026-11-23".into(), "2026-11-29".into())
        );
        // summer: local midnight is 23:00 UTC the day before
        let s = Window::week_of(NaiveDate::from_ymd_opt(2026, 7, 1).unwrap());
        assert_eq!(
            crate::util::ms_to_rfc3339(s.bounds_ms().0),
            "2026-06-28T23:00:00.000Z"
        );
        let e = Window::parse(Some("2026-12-07"), Some("2026-12-01")).unwrap_err();
        assert_eq!(e.field(), Some("to"));
        let e = Window::parse(Some("7 Dec"), None).unwrap_err();
        assert_eq!(e.field(), Some("from"));
    }
}
