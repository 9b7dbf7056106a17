//! Pull lists: for the clinic sessions of a day (normally N working days ahead), the folders
//! the library must pull, in shelf order: (home location, primary, secondary, tertiary) of the
//! terminal-digit filing number. Folders not in the library are marked with where they are.
//! Also: CSV and PDF exports, and raising the requests (the clinic availability measure is in
//! `reports::availability`).

use crate::ledger::locations::LocationKind;
use crate::{
    auth::Principal,
    config::RequestsConfig,
    util::{local_clock, local_rfc3339, local_text, ms_to_rfc3339},
    workflow::requests::{self, Spec},
    Result,
};
use casenote_core::identifiers::FilingNumber;
use chrono::NaiveDate;
use rusqlite::{params, Connection};
use serde::Serialize;

/// The day pull lists are prepared for by default: `pull_list_days_ahead` working days after
/// today at the site (weekends, Scottish bank holidays and local holidays skipped).
pub fn default_date(cfg: &crate::config::RequestsConfig) -> NaiveDate {
    super::working_days::Calendar::new(&cfg.local_holidays)
        .add(crate::util::site_today(), cfg.pull_list_days_ahead)
}

#[derive(Debug, Clone, Serialize)]
pub struct PullItem {
    pub home_location: String,
    pub filing_number: Option<String>,
    pub barcode: String,
    pub folder_type: String,
    pub volume: i64,
    pub volume_count: i64,
    pub patient_id: i64,
    pub chi: Option<String>,
    pub family_name: String,
    pub given_name: String,
    pub clinic: String,
    pub session_id: i64,
    pub appointment_id: i64,
    pub slot_start: String,
    pub in_library: bool,
    /// Where it is when not in the library.
    pub current_location: Option<String>,
    pub current_location_name: Option<String>,
    pub since: Option<String>,
    #[serde(skip)]
    key: (String, (u8, u8, u8), i64),
}

/// A booked appointment whose patient has no folder to pull (none registered, or all closed,
/// merged or destroyed): the library must make a temporary folder before the clinic.
#[derive(Debug, Clone, Serialize)]
pub struct NoFolder {
    pub appointment_id: i64,
    pub patient_id: i64,
    pub chi: Option<String>,
    pub family_name: String,
    pub given_name: String,
    pub clinic: String,
    pub slot_start: String,
    /// What to do, in words.
    pub action: &'static str,
}

/// The words shown for an appointment with no folder.
pub const NO_FOLDER_ACTION: &str = "no folder registered: make a temporary folder";

#[derive(Debug, Serialize)]
pub struct PullList {
    pub date: String,
    pub clinic: Option<String>,
    pub sessions: usize,
    pub appointments: usize,
    pub folders: usize,
    pub not_in_library: usize,
    pub items: Vec<PullItem>,
    /// Appointments with no folder to pull (counted in `appointments`).
    pub no_folder: Vec<NoFolder>,
}

/// Build the pull list for `date` (optionally one clinic location code).
pub fn build(c: &Connection, date: NaiveDate, clinic: Option<&str>) -> Result<PullList> {
    let mut st = c.prepare_cached(
        "SELECT h.code, f.filing_number, f.barcode, f.folder_type, f.volume, f.volume_count,
                p.id, p.chi, p.family_name, p.given_name, cl.code, s.id, a.id, a.slot_start,
                cur.code, cur.name, cur.kind, f.cur_since
         FROM clinic_sessions s
         JOIN locations cl ON cl.id = s.clinic_location_id
         JOIN appointments a ON a.session_id = s.id AND a.status = 'booked'
         JOIN patients p ON p.id = a.patient_id
         JOIN folders f ON f.patient_id = p.id AND f.status IN ('active','temporary','missing')
         JOIN locations h ON h.id = f.home_location_id
         LEFT JOIN locations cur ON cur.id = f.cur_location_id
         WHERE s.date = ?1 AND (?2 IS NULL OR cl.code = upper(?2))",
    )?;
    let mut items: Vec<PullItem> = st
        .query_map(params![date.to_string(), clinic], |r| {
            let filing: Option<String> = r.get(1)?;
            let shelf = filing
                .as_deref()
                .and_then(|f| FilingNumber::parse(f).ok())
                .map(|f| f.shelf_key())
                .unwrap_or((99, 99, 99));
            let home: String = r.get(0)?;
            let barcode: String = r.get(2)?;
            let kind: Option<LocationKind> = r.get(16)?;
            let in_library = kind.is_none_or(LocationKind::is_library);
            let since: Option<i64> = r.get(17)?;
            let id_key: i64 = r.get(12)?;
            Ok(PullItem {
                key: (home.clone(), shelf, id_key),
                home_location: home,
                filing_number: filing,
                barcode,
                folder_type: r.get(3)?,
                volume: r.get(4)?,
                volume_count: r.get(5)?,
                patient_id: r.get(6)?,
                chi: r.get(7)?,
                family_name: r.get(8)?,
                given_name: r.get(9)?,
                clinic: r.get(10)?,
                session_id: r.get(11)?,
                appointment_id: r.get(12)?,
                slot_start: ms_to_rfc3339(r.get(13)?),
                current_location: if in_library { None } else { r.get(14)? },
                current_location_name: if in_library { None } else { r.get(15)? },
                since: if in_library {
                    None
                } else {
                    since.map(ms_to_rfc3339)
                },
                in_library,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    items.sort_by(|a, b| a.key.cmp(&b.key).then_with(|| a.barcode.cmp(&b.barcode)));
    let sessions: i64 = c.query_row(
        "SELECT count(*) FROM clinic_sessions s JOIN locations cl ON cl.id = s.clinic_location_id WHERE s.date=?1 AND (?2 IS NULL OR cl.code = upper(?2))",
        params![date.to_string(), clinic],
        |r| r.get(0),
    )?;
    let no_folder: Vec<NoFolder> = c
        .prepare_cached(
            "SELECT a.id, p.id, p.chi, p.family_name, p.given_name, cl.code, a.slot_start
             FROM clinic_sessions s
             JOIN locations cl ON cl.id = s.clinic_location_id
             JOIN appointments a ON a.session_id = s.id AND a.status = 'booked'
             JOIN patients p ON p.id = a.patient_id
             WHERE s.date = ?1 AND (?2 IS NULL OR cl.code = upper(?2))
               AND NOT EXISTS (SELECT 1 FROM folders f WHERE f.patient_id = p.id
                               AND f.status IN ('active','temporary','missing'))
             ORDER BY a.slot_start, a.id",
        )?
        .query_map(params![date.to_string(), clinic], |r| {
            Ok(NoFolder {
                appointment_id: r.get(0)?,
                patient_id: r.get(1)?,
                chi: r.get(2)?,
                family_name: r.get(3)?,
                given_name: r.get(4)?,
                clinic: r.get(5)?,
                slot_start: ms_to_rfc3339(r.get(6)?),
                action: NO_FOLDER_ACTION,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut appts: Vec<i64> = items
        .iter()
        .map(|i| i.appointment_id)
        .chain(no_folder.iter().map(|n| n.appointment_id))
        .collect();
    appts.sort_unstable();
    appts.dedup();
    Ok(PullList {
        date: date.to_string(),
        clinic: clinic.map(str::to_ascii_uppercase),
        sessions: sessions as usize,
        appointments: appts.len(),
        folders: items.len(),
        not_in_library: items.iter().filter(|i| !i.in_library).count(),
        items,
        no_folder,
    })
}

/// CSV with a header row, in pull order.
pub fn to_csv(list: &PullList) -> Result<String> {
    let mut w = crate::csv_export::Writer::new();
    let e = |e: csv::Error| crate::Error::internal_from("cannot write the CSV", e);
    w.write_record([
        "home_location",
        "filing_number",
        "barcode",
        "folder_type",
        "volume",
        "chi",
        "family_name",
        "given_name",
        "clinic",
        "slot_start",
        "in_library",
        "current_location",
        "since",
    ])
    .map_err(e)?;
    for i in &list.items {
        w.write_record([
            i.home_location.as_str(),
            i.filing_number.as_deref().unwrap_or(""),
            &i.barcode,
            &i.folder_type,
            &format!("{} of {}", i.volume, i.volume_count),
            i.chi.as_deref().unwrap_or(""),
            &i.family_name,
            &i.given_name,
            &i.clinic,
            &local_rfc3339(&i.slot_start),
            if i.in_library { "yes" } else { "no" },
            i.current_location.as_deref().unwrap_or(""),
            &i.since.as_deref().map(local_rfc3339).unwrap_or_default(),
        ])
        .map_err(e)?;
    }
    for n in &list.no_folder {
        w.write_record([
            "",
            "",
            "",
            "",
            "",
            n.chi.as_deref().unwrap_or(""),
            &n.family_name,
            &n.given_name,
            &n.clinic,
            &local_rfc3339(&n.slot_start),
            "no",
            n.action,
            "",
        ])
        .map_err(e)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| crate::Error::internal_from("cannot write the CSV", e))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// A printable A4 landscape PDF: a plain text table, 40 rows a page, Helvetica.
pub fn to_pdf(list: &PullList) -> Vec<u8> {
    const ROWS: usize = 40;
    let mut pages: Vec<String> = Vec::new();
    let chunks: Vec<&[PullItem]> = if list.items.is_empty() {
        vec![&[]]
    } else {
        list.items.chunks(ROWS).collect()
    };
    let total = chunks.len();
    for (n, chunk) in chunks.iter().enumerate() {
        let mut s = String::new();
        let mut line = |y: i32, size: i32, text: &str| {
            s.push_str(&format!(
                "BT /F1 {size} Tf 30 {y} Td ({}) Tj ET\n",
                crate::pdf::text(text)
            ));
        };
        line(
            560,
            14,
            &format!(
                "Pull list {} {} - {} folder(s), {} not in the library - page {} of {}",
                list.date,
                list.clinic.as_deref().unwrap_or("all clinics"),
                list.folders,
                list.not_in_library,
                n + 1,
                total
            ),
        );
        line(
            535,
            9,
            "Store      Filing    Folder        Vol   CHI         Name                          Clinic     Slot   Where (if not in library)",
        );
        for (i, it) in chunk.iter().enumerate() {
            let name = format!("{}, {}", it.family_name, it.given_name);
            let slot = local_clock(&it.slot_start);
            let wher = if it.in_library {
                String::new()
            } else {
                format!(
                    "OUT: {} {}",
                    it.current_location.as_deref().unwrap_or("?"),
                    it.since.as_deref().map(local_text).unwrap_or_default()
                )
            };
            let text = format!(
                "{:<10} {:<9} {:<13} {:<5} {:<11} {:<29} {:<10} {:<6} {}",
                it.home_location,
                it.filing_number.as_deref().unwrap_or("-"),
                it.barcode,
                format!("{}/{}", it.volume, it.volume_count),
                it.chi.as_deref().unwrap_or(""),
                name.chars().take(29).collect::<String>(),
                it.clinic,
                slot,
                wher
            );
            line(518 - 12 * i as i32, 8, &text);
        }
        pages.push(s);
    }
    // Appointments with no folder: a page of their own, so the library makes temporary ones.
    for (n, chunk) in list.no_folder.chunks(ROWS).enumerate() {
        let mut s = String::new();
        let mut line = |y: i32, size: i32, text: &str| {
            s.push_str(&format!(
                "BT /F1 {size} Tf 30 {y} Td ({}) Tj ET\n",
                crate::pdf::text(text)
            ));
        };
        line(
            560,
            14,
            &format!(
                "Pull list {}: {} appointment(s) with no folder - make temporary folders ({})",
                list.date,
                list.no_folder.len(),
                n + 1
            ),
        );
        for (i, nf) in chunk.iter().enumerate() {
            let text = format!(
                "{:<11} {:<29} {:<10} {:<6} {}",
                nf.chi.as_deref().unwrap_or(""),
                format!("{}, {}", nf.family_name, nf.given_name)
                    .chars()
                    .take(29)
                    .collect::<String>(),
                nf.clinic,
                local_clock(&nf.slot_start),
                nf.action
            );
            line(535 - 12 * i as i32, 8, &text);
        }
        pages.push(s);
    }
    crate::pdf::assemble(&pages, (842, 595))
}

/// Raise routine requests (destination the clinic, needed by the session start) for every
/// booked appointment on the list that has no request yet. Returns the new request ids.
pub fn raise_requests(
    c: &Connection,
    who: &Principal,
    cfg: &RequestsConfig,
    list: &PullList,
) -> Result<Vec<i64>> {
    let mut appts: Vec<i64> = list.items.iter().map(|i| i.appointment_id).collect();
    appts.sort_unstable();
    appts.dedup();
    let mut out = Vec::new();
    for a in appts {
        let exists: i64 = c.query_row(
            "SELECT count(*) FROM requests WHERE appointment_id=?1 AND state != 'cancelled'",
            [a],
            |r| r.get(0),
        )?;
        if exists > 0 {
            continue;
        }
        let (patient, clinic, start): (i64, i64, i64) = c.query_row(
            "SELECT a.patient_id, s.clinic_location_id, s.start_at FROM appointments a JOIN clinic_sessions s ON s.id = a.session_id WHERE a.id=?1",
            [a],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        out.push(requests::create(
            c,
            who,
            cfg,
            &Spec {
                patient_id: patient,
                folder_id: None,
                destination_id: clinic,
                urgency: "routine".into(),
                reason: format!("clinic appointment {a}"),
                needed_by: Some(start),
                source: "pull_list",
                encounter: None,
                appointment_id: Some(a),
            },
        )?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn working_days_skip_weekends_and_st_andrews_day() {
        let cal = crate::workflow::working_days::Calendar::default();
        let fri = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        // Monday 30 November 2026 is St Andrew's Day, a bank holiday in Scotland
        assert_eq!(cal.add(fri, 1).to_string(), "2026-12-01");
        assert_eq!(cal.add(fri, 2).to_string(), "2026-12-02");
        assert_eq!(cal.add(fri, 0), fri);
        let sat = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
        assert_eq!(cal.add(sat, 1).to_string(), "2026-12-01");
    }

    #[test]
    fn pdf_is_well_formed() {
        let list = PullList {
            date: "2026-11-30".into(),
            clinic: None,
            sessions: 0,
            appointments: 0,
            folders: 0,
            not_in_library: 0,
            items: vec![],
            no_folder: vec![],
        };
        let pdf = to_pdf(&list);
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.starts_with("%PDF-1.4"));
        assert!(text.ends_with("%%EOF\n"));
        assert!(text.contains("/Count 1"));
        let xref: usize = text
            .rsplit("startxref\n")
            .next()
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(text[xref..].starts_with("xref"));
        assert_eq!(crate::pdf::text("a(b)\\é"), "a\\(b\\)\\\\?");
    }
}
