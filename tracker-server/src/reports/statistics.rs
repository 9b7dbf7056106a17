//! Statistics for records managers: movements per day and location, case-note availability for
//! clinics, request turnaround by urgency, missing and temporary folders, folders out of the
//! library by age, the coding backlog, digitisation progress, retention due, external
//! requests; and the monthly report as a PDF.
//!
//! Definitions (also in docs/records-lifecycle.md): turnaround is from a request being made to
//! the notes being received at the destination, in minutes, for requests received within the
//! period. The median is the middle value (the mean of the two middle values for an even
//! count); the 90th percentile is by the nearest-rank method (the value at rank
//! ceil(0.9 x n) in ascending order).

use crate::{
    config::Config, lifecycle::coding, lifecycle::retention, util::ms_to_rfc3339,
    workflow::pulllists, Result,
};
use chrono::{Datelike, NaiveDate, NaiveTime};
use rusqlite::{params, Connection};
use serde::Serialize;

/// Median (mean of the middle two for an even count). None when empty.
pub fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    Some(if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    })
}

/// Nearest-rank percentile `p` (0-100]: the value at rank ceil(p/100 x n).
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = ((p / 100.0) * n as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(n) - 1])
}

fn day_start_ms(d: NaiveDate) -> i64 {
    d.and_time(NaiveTime::MIN).and_utc().timestamp_millis()
}

#[derive(Debug, Serialize)]
pub struct MovementCount {
    pub date: String,
    pub location: String,
    pub count: i64,
}

#[derive(Debug, Serialize)]
pub struct Turnaround {
    pub urgency: String,
    pub received: i64,
    pub median_minutes: Option<f64>,
    pub p90_minutes: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Stats {
    pub from: String,
    pub to: String,
    pub movements_total: i64,
    pub movements: Vec<MovementCount>,
    pub clinic_availability: pulllists::Availability,
    pub turnaround: Vec<Turnaround>,
    pub folders_missing: i64,
    pub folders_temporary: i64,
    pub missing_cases_open: i64,
    /// (band, folders) of folders out of the library now.
    pub out_of_library: Vec<(String, i64)>,
    pub coding_backlog: coding::Backlog,
    pub episodes_coded_in_period: i64,
    pub digitisation: Digitisation,
    /// (action, folders due on or before the end of the period).
    pub retention_due: Vec<(String, i64)>,
    pub retention_on_hold: i64,
    pub destroyed_in_period: i64,
    /// (kind, open, overdue).
    pub external_requests: Vec<(String, i64, i64)>,
}

#[derive(Debug, Serialize, Default)]
pub struct Digitisation {
    pub batches: i64,
    pub batches_completed: i64,
    pub folders_sent: i64,
    pub folders_at_bureau: i64,
    pub documents: i64,
    pub qa_passed: i64,
    pub qa_failed: i64,
    pub qa_pending: i64,
    pub returned: i64,
    pub retained: i64,
    pub destroyed: i64,
}

/// Everything for the period `from..=to` (dates, UTC). `today` is used for "now" figures.
pub fn compute(
    c: &Connection,
    cfg: &Config,
    from: NaiveDate,
    to: NaiveDate,
    today: NaiveDate,
) -> Result<Stats> {
    if to < from {
        return Err(crate::Error::invalid("to", "is before from"));
    }
    if (to - from).num_days() > 3660 {
        return Err(crate::Error::invalid(
            "to",
            "the period may be at most ten years",
        ));
    }
    let (lo, hi) = (
        day_start_ms(from),
        day_start_ms(to.succ_opt().unwrap_or(to)),
    );
    let movements: Vec<MovementCount> = c
        .prepare_cached(
            "SELECT date(m.read_at / 1000, 'unixepoch') AS d, l.code, count(*)
             FROM movements m JOIN locations l ON l.id = m.location_id
             WHERE m.read_at >= ?1 AND m.read_at < ?2 AND m.folder_id IS NOT NULL
             GROUP BY d, l.code ORDER BY d, l.code",
        )?
        .query_map(params![lo, hi], |r| {
            Ok(MovementCount {
                date: r.get(0)?,
                location: r.get(1)?,
                count: r.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let movements_total = movements.iter().map(|m| m.count).sum();

    let mut turnaround = Vec::new();
    for u in crate::workflow::requests::URGENCIES {
        let mut v: Vec<f64> = c
            .prepare_cached(
                "SELECT received_at - created_at FROM requests
                 WHERE urgency=?1 AND received_at IS NOT NULL AND received_at >= ?2 AND received_at < ?3",
            )?
            .query_map(params![u, lo, hi], |r| r.get::<_, i64>(0))?
            .map(|x| x.map(|ms| ms as f64 / 60_000.0))
            .collect::<rusqlite::Result<_>>()?;
        v.sort_by(f64::total_cmp);
        let round = |x: f64| (x * 10.0).round() / 10.0;
        turnaround.push(Turnaround {
            urgency: u.to_string(),
            received: v.len() as i64,
            median_minutes: median(&v).map(round),
            p90_minutes: percentile(&v, 90.0).map(round),
        });
    }

    let count = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> Result<i64> {
        Ok(c.prepare_cached(sql)?.query_row(p, |r| r.get(0))?)
    };
    let folders_missing = count("SELECT count(*) FROM folders WHERE status='missing'", &[])?;
    let folders_temporary = count("SELECT count(*) FROM folders WHERE status='temporary'", &[])?;
    let missing_cases_open = count(
        "SELECT count(*) FROM missing_cases WHERE status != 'found'",
        &[],
    )?;

    let now = crate::util::now_ms();
    let out = crate::ledger::folders::out_of_library(c, 0, now, 1_000_000)?;
    let out_of_library = crate::ledger::folders::by_days_out(&out);

    let coding_backlog = coding::backlog(c, &cfg.coding.backlog_weeks, today)?;
    let episodes_coded_in_period = count(
        "SELECT count(*) FROM episodes WHERE coded_at >= ?1 AND coded_at < ?2",
        &[&lo, &hi],
    )?;

    let dg = Digitisation {
        batches: count("SELECT count(*) FROM scanning_batches", &[])?,
        batches_completed: count(
            "SELECT count(*) FROM scanning_batches WHERE status='completed'",
            &[],
        )?,
        folders_sent: count("SELECT count(*) FROM scanning_batch_folders", &[])?,
        folders_at_bureau: count(
            "SELECT count(*) FROM folders WHERE status='sent_for_scanning'",
            &[],
        )?,
        documents: count("SELECT count(*) FROM scanned_documents", &[])?,
        qa_passed: count(
            "SELECT count(*) FROM scanning_batch_folders WHERE qa_status='passed'",
            &[],
        )?,
        qa_failed: count(
            "SELECT count(*) FROM scanning_batch_folders WHERE qa_status='failed'",
            &[],
        )?,
        qa_pending: count(
            "SELECT count(*) FROM scanning_batch_folders WHERE qa_status='pending'",
            &[],
        )?,
        returned: count(
            "SELECT count(*) FROM scanning_batch_folders WHERE disposition='returned'",
            &[],
        )?,
        retained: count(
            "SELECT count(*) FROM scanning_batch_folders WHERE disposition='retained'",
            &[],
        )?,
        destroyed: count(
            "SELECT count(*) FROM scanning_batch_folders WHERE disposition='destroyed'",
            &[],
        )?,
    };

    let due = retention::due(c, &cfg.retention.rules, to, usize::MAX)?;
    let retention_due = retention::RetentionAction::ALL
        .iter()
        .map(|a| {
            (
                a.as_str().to_string(),
                due.iter().filter(|d| d.action == *a).count() as i64,
            )
        })
        .collect();
    let retention_on_hold = due.iter().filter(|d| d.legal_hold).count() as i64;
    let destroyed_in_period = count(
        "SELECT count(*) FROM tombstones WHERE destroyed_at >= ?1 AND destroyed_at < ?2",
        &[&lo, &hi],
    )?;
    let ext = crate::lifecycle::external_requests::list(c, today, true, false, None)?;
    let external_requests = crate::lifecycle::external_requests::ExternalKind::ALL
        .iter()
        .map(|k| {
            (
                k.as_str().to_string(),
                ext.iter().filter(|r| r.kind == *k).count() as i64,
                ext.iter().filter(|r| r.kind == *k && r.overdue).count() as i64,
            )
        })
        .collect();

    Ok(Stats {
        from: from.to_string(),
        to: to.to_string(),
        movements_total,
        movements,
        clinic_availability: pulllists::availability(c, from, to)?,
        turnaround,
        folders_missing,
        folders_temporary,
        missing_cases_open,
        out_of_library,
        coding_backlog,
        episodes_coded_in_period,
        digitisation: dg,
        retention_due,
        retention_on_hold,
        destroyed_in_period,
        external_requests,
    })
}

/// The first and last day of a `YYYY-MM` month.
pub fn month_bounds(month: &str) -> Result<(NaiveDate, NaiveDate)> {
    let bad = || crate::Error::invalid("month", "must be a month written YYYY-MM, e.g. 2026-10");
    let first = NaiveDate::parse_from_str(&format!("{}-01", month.trim()), "%Y-%m-%d")
        .map_err(|_| bad())?;
    if month.trim().len() != 7 {
        return Err(bad());
    }
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    }
    .ok_or_else(bad)?;
    Ok((first, next.pred_opt().ok_or_else(bad)?))
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.1}")).unwrap_or_else(|| "-".into())
}

/// CSV for one section of the statistics.
pub fn section_csv(s: &Stats, section: &str) -> Result<String> {
    let mut w = crate::csv_export::Writer::new();
    let e = |e: csv::Error| crate::Error::internal_from("cannot write the CSV", e);
    match section {
        "movements" => {
            w.write_record(["date", "location", "movements"])
                .map_err(e)?;
            for m in &s.movements {
                w.write_record([m.date.clone(), m.location.clone(), m.count.to_string()])
                    .map_err(e)?;
            }
        }
        "turnaround" => {
            w.write_record(["urgency", "received", "median_minutes", "p90_minutes"])
                .map_err(e)?;
            for t in &s.turnaround {
                w.write_record([
                    t.urgency.clone(),
                    t.received.to_string(),
                    opt(t.median_minutes),
                    opt(t.p90_minutes),
                ])
                .map_err(e)?;
            }
        }
        "availability" => {
            w.write_record(["session_id", "clinic", "start_at", "booked", "available"])
                .map_err(e)?;
            for a in &s.clinic_availability.sessions {
                w.write_record([
                    a.session_id.to_string(),
                    a.clinic.clone(),
                    a.start_at.clone(),
                    a.booked.to_string(),
                    a.available.to_string(),
                ])
                .map_err(e)?;
            }
        }
        "summary" => {
            w.write_record(["measure", "value"]).map_err(e)?;
            for (k, v) in summary_lines(s) {
                w.write_record([k, v]).map_err(e)?;
            }
        }
        _ => {
            return Err(crate::Error::invalid(
                "section",
                "must be movements, turnaround, availability or summary",
            ))
        }
    }
    let bytes = w
        .into_inner()
        .map_err(|e| crate::Error::internal_from("cannot write the CSV", e))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// (measure, value) pairs summarising everything but the long tables.
pub fn summary_lines(s: &Stats) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = vec![
        (
            "Movements (scans of known folders)".into(),
            s.movements_total.to_string(),
        ),
        (
            "Clinic appointments booked".into(),
            s.clinic_availability.booked.to_string(),
        ),
        (
            "Clinic notes available".into(),
            s.clinic_availability.available.to_string(),
        ),
        (
            "Clinic availability %".into(),
            opt(s.clinic_availability.percent),
        ),
    ];
    for t in &s.turnaround {
        v.push((
            format!("Turnaround {} received", t.urgency),
            t.received.to_string(),
        ));
        v.push((
            format!("Turnaround {} median (min)", t.urgency),
            opt(t.median_minutes),
        ));
        v.push((
            format!("Turnaround {} 90th percentile (min)", t.urgency),
            opt(t.p90_minutes),
        ));
    }
    v.push(("Folders missing".into(), s.folders_missing.to_string()));
    v.push(("Temporary folders".into(), s.folders_temporary.to_string()));
    v.push((
        "Missing cases open".into(),
        s.missing_cases_open.to_string(),
    ));
    for (b, n) in &s.out_of_library {
        v.push((format!("Out of library {b}"), n.to_string()));
    }
    v.push((
        "Episodes awaiting coding".into(),
        s.coding_backlog.awaiting.to_string(),
    ));
    for (b, n) in &s.coding_backlog.bands {
        v.push((format!("Coding backlog {b}"), n.to_string()));
    }
    v.push((
        "Episodes coded in period".into(),
        s.episodes_coded_in_period.to_string(),
    ));
    let d = &s.digitisation;
    for (k, n) in [
        ("Scanning batches", d.batches),
        ("Scanning batches completed", d.batches_completed),
        ("Folders sent for scanning", d.folders_sent),
        ("Folders at the bureau now", d.folders_at_bureau),
        ("Scanned documents", d.documents),
        ("QA passed", d.qa_passed),
        ("QA failed", d.qa_failed),
        ("QA pending", d.qa_pending),
        ("Paper returned", d.returned),
        ("Paper retained", d.retained),
        ("Paper to destruction", d.destroyed),
    ] {
        v.push((k.into(), n.to_string()));
    }
    for (a, n) in &s.retention_due {
        v.push((format!("Retention due: {a}"), n.to_string()));
    }
    v.push((
        "Retention due but on legal hold".into(),
        s.retention_on_hold.to_string(),
    ));
    v.push((
        "Folders destroyed in period".into(),
        s.destroyed_in_period.to_string(),
    ));
    for (k, open, overdue) in &s.external_requests {
        v.push((format!("External {k} open"), open.to_string()));
        v.push((format!("External {k} overdue"), overdue.to_string()));
    }
    v
}

/// A plain-text A4 portrait PDF (Courier), 60 lines a page: the same minimal writer as the
/// pull lists.
pub fn text_pdf(title: &str, lines: &[String]) -> Vec<u8> {
    const ROWS: usize = 60;
    let chunks: Vec<&[String]> = if lines.is_empty() {
        vec![&[]]
    } else {
        lines.chunks(ROWS).collect()
    };
    let total = chunks.len();
    let mut pages = Vec::new();
    for (n, chunk) in chunks.iter().enumerate() {
        let mut s = format!(
            "BT /F1 13 Tf 40 800 Td ({}) Tj ET\n",
            crate::pdf::text(&format!("{title} - page {} of {total}", n + 1))
        );
        for (i, l) in chunk.iter().enumerate() {
            s.push_str(&format!(
                "BT /F1 9 Tf 40 {} Td ({}) Tj ET\n",
                775 - 12 * i as i32,
                crate::pdf::text(l)
            ));
        }
        pages.push(s);
    }
    crate::pdf::assemble(&pages, (595, 842))
}

/// The monthly report as PDF.
pub fn monthly_pdf(s: &Stats, generated_at: i64) -> Vec<u8> {
    let mut lines = vec![
        format!(
            "Period {} to {}; generated {}",
            s.from,
            s.to,
            ms_to_rfc3339(generated_at)
        ),
        String::new(),
    ];
    for (k, v) in summary_lines(s) {
        lines.push(format!("{k:<48} {v:>10}"));
    }
    lines.push(String::new());
    lines.push("Movements per day and location".into());
    for m in &s.movements {
        lines.push(format!("  {} {:<20} {:>8}", m.date, m.location, m.count));
    }
    text_pdf("Casenote Tracker monthly report", &lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_nearest_rank_p90() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        assert_eq!(median(&v), Some(5.5));
        assert_eq!(percentile(&v, 90.0), Some(9.0));
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(percentile(&[3.0], 90.0), Some(3.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0, 5.0], 90.0), Some(5.0));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn months() {
        let (a, b) = month_bounds("2028-02").unwrap();
        assert_eq!(
            (a.to_string(), b.to_string()),
            ("2028-02-01".into(), "2028-02-29".into())
        );
        assert!(month_bounds("2026-13").is_err());
        assert!(month_bounds("2026-1").is_err());
        let pdf = text_pdf("t", &["a(b)".into()]);
        assert!(String::from_utf8_lossy(&pdf).ends_with("%%EOF\n"));
    }
}
