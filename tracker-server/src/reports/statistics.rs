//! Statistics for records managers, as a report: clinic case-note availability (per session,
//! as NHS audits define it: see [`super::availability`]), request turnaround per urgency against
//! its target, the records lifecycle (coding, digitisation, retention, GP queries and subject
//! access requests), and the devices; movements per day and location; and the monthly PDF for
//! the board. Every figure has a label in words ([`sections`]); pages, CSVs and the PDF use the
//! same labels.
//!
//! Definitions (also in the README): turnaround is from a request being made to the notes being
//! received at the destination, for requests received within the period, grouped by the urgency
//! the request was made with (an escalated routine request still counts as routine). Emergency
//! and urgent turnaround is clock time in minutes; routine turnaround is working time in working
//! days (weekends, Scottish bank holidays and local holidays count nothing). A request is within
//! target when it was received by its urgency's target time from when it was made
//! ([`crate::workflow::requests::due_after`]). The median is the middle value (the mean of the
//! two middle values for an even count); the 90th percentile is by the nearest-rank method (the
//! value at rank ceil(0.9 x n) in ascending order). Days are the site's local days.

use super::availability::{self, Availability};
use crate::{
    config::Config,
    lifecycle::coding,
    lifecycle::external_requests::ExternalKind,
    lifecycle::retention::{self, RetentionAction},
    util::{local_date_of_ms, local_midnight_ms, local_text, ms_to_rfc3339, site_tz},
    workflow::requests::{due_after, target_text, Urgency},
    Result,
};
use chrono::{Datelike, NaiveDate};
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

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[derive(Debug, Serialize)]
pub struct MovementCount {
    pub date: String,
    pub location: String,
    pub count: i64,
}

/// Turnaround of one urgency against its target.
#[derive(Debug, Serialize)]
pub struct Turnaround {
    pub urgency: Urgency,
    pub label: &'static str,
    /// Requests of this urgency received in the period.
    pub received: i64,
    /// Clock time from request to receipt.
    pub median_minutes: Option<f64>,
    pub p90_minutes: Option<f64>,
    /// The target in words ("30 minutes", "2 working days").
    pub target: String,
    /// The unit of `median` and `p90`: `minutes` (clock time) or `working days`.
    pub unit: &'static str,
    pub median: Option<f64>,
    pub p90: Option<f64>,
    /// Received by the target time.
    pub within_target: i64,
    pub percent_within_target: Option<f64>,
}

/// Requests for notes in the period.
#[derive(Debug, Serialize, Default)]
pub struct RequestFigures {
    pub made: i64,
    pub open_now: i64,
    pub overdue_now: i64,
    pub escalated: i64,
    pub closed_clinic_passed: i64,
    pub cancelled: i64,
}

/// A count with its label in words.
#[derive(Debug, Clone, Serialize)]
pub struct Labelled {
    pub key: &'static str,
    pub label: &'static str,
    pub count: i64,
}

/// External requests (GP and professional queries, SARs, AHRA) of one kind.
#[derive(Debug, Serialize)]
pub struct ExternalFigure {
    pub kind: ExternalKind,
    pub label: &'static str,
    pub open: i64,
    pub overdue: i64,
}

/// Scanners and readers, as their bridges last reported.
#[derive(Debug, Serialize, Default)]
pub struct DeviceFigures {
    pub devices: i64,
    pub online: i64,
    pub offline: i64,
    pub with_queued_scans: i64,
    pub queued_scans: i64,
}

#[derive(Debug, Serialize)]
pub struct Stats {
    pub from: String,
    pub to: String,
    pub movements_total: i64,
    pub movements: Vec<MovementCount>,
    pub clinic_availability: Availability,
    pub turnaround: Vec<Turnaround>,
    pub requests: RequestFigures,
    pub folders_missing: i64,
    pub folders_temporary: i64,
    pub missing_cases_open: i64,
    /// (band, folders) of folders out of the library now.
    pub out_of_library: Vec<(String, i64)>,
    pub coding_backlog: coding::Backlog,
    pub episodes_coded_in_period: i64,
    pub digitisation: Digitisation,
    /// Folders whose retention falls due on or before the end of the period, by action.
    pub retention_due: Vec<Labelled>,
    pub retention_on_hold: i64,
    /// When the retention figures were counted (RFC 3339); none while the server is still
    /// counting them in the background (the retention figures are then empty).
    pub retention_counted_at: Option<String>,
    pub destroyed_in_period: i64,
    pub external_requests: Vec<ExternalFigure>,
    pub devices: DeviceFigures,
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

/// Turnaround per urgency against its target, for requests received in `[lo, hi)`.
fn turnaround(c: &Connection, cfg: &Config, lo: i64, hi: i64) -> Result<Vec<Turnaround>> {
    let cal = crate::workflow::working_days::Calendar::new(&cfg.requests.local_holidays);
    let tz = site_tz();
    let mut out = Vec::new();
    for &u in Urgency::ALL {
        let rows: Vec<(i64, i64)> = c
            .prepare_cached(
                "SELECT created_at, received_at FROM requests
                 WHERE COALESCE(escalated_from, urgency)=?1 AND received_at IS NOT NULL
                   AND received_at >= ?2 AND received_at < ?3",
            )?
            .query_map(params![u, lo, hi], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut minutes: Vec<f64> = rows
            .iter()
            .map(|(a, b)| (b - a) as f64 / 60_000.0)
            .collect();
        minutes.sort_by(f64::total_cmp);
        let working = u == Urgency::Routine && cfg.requests.routine_hours.is_none();
        let mut in_unit: Vec<f64> = if working {
            rows.iter()
                .map(|(a, b)| cal.working_days_between(tz, *a, *b))
                .collect()
        } else {
            minutes.clone()
        };
        in_unit.sort_by(f64::total_cmp);
        let within = rows
            .iter()
            .filter(|(a, b)| *b <= due_after(&cfg.requests, u, *a))
            .count() as i64;
        let n = rows.len() as i64;
        out.push(Turnaround {
            urgency: u,
            label: u.label(),
            received: n,
            median_minutes: median(&minutes).map(round1),
            p90_minutes: percentile(&minutes, 90.0).map(round1),
            target: target_text(&cfg.requests, u),
            unit: if working { "working days" } else { "minutes" },
            median: median(&in_unit).map(round1),
            p90: percentile(&in_unit, 90.0).map(round1),
            within_target: within,
            percent_within_target: availability::percent(within, n),
        });
    }
    Ok(out)
}

/// Everything for the period `from..=to` (the site's local dates). `today` is used for "now"
/// figures.
/// The retention figures as of a date: folders due on or before it, by action, and how many
/// of them are on legal hold.
#[derive(Debug, Clone)]
pub struct RetentionFigures {
    pub as_of: NaiveDate,
    pub due: Vec<Labelled>,
    pub on_hold: i64,
    /// When they were counted (RFC 3339).
    pub counted_at: String,
}

/// Count the retention figures as of `as_of`. This evaluates every folder's retention rules
/// (over a minute at five million folders): the server does it in the background every
/// `[retention] figures_every_minutes` and hands the result to [`compute`].
pub fn retention_figures(
    c: &Connection,
    cfg: &Config,
    as_of: NaiveDate,
) -> Result<RetentionFigures> {
    // counted as the folders are read, none of them kept
    let mut by_action = vec![0i64; RetentionAction::ALL.len()];
    let mut on_hold = 0i64;
    retention::for_each_due(c, &cfg.retention.rules, as_of, &mut |d| {
        if let Some(k) = RetentionAction::ALL.iter().position(|a| *a == d.action) {
            by_action[k] += 1;
        }
        on_hold += i64::from(d.legal_hold);
    })?;
    Ok(RetentionFigures {
        as_of,
        due: RetentionAction::ALL
            .iter()
            .zip(by_action)
            .map(|(a, count)| Labelled {
                key: a.as_str(),
                label: a.label(),
                count,
            })
            .collect(),
        on_hold,
        counted_at: crate::util::ms_to_rfc3339(crate::util::now_ms()),
    })
}

/// Where [`compute`] takes the retention figures from.
#[derive(Debug, Clone)]
pub enum Retention {
    /// Count them now (reports for a past period, the monthly PDF, the command line).
    CountNow,
    /// Counted earlier in the background (see [`retention_figures`]).
    Counted(RetentionFigures),
    /// The background count has not finished yet: the figures are left out.
    BeingCounted,
}

/// The statistics for `from..=to`, with the retention figures from `retention`.
pub fn compute(
    c: &Connection,
    cfg: &Config,
    from: NaiveDate,
    to: NaiveDate,
    today: NaiveDate,
    retention: Retention,
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
        local_midnight_ms(from),
        local_midnight_ms(to.succ_opt().unwrap_or(to)),
    );
    // Counted per UTC hour as scans are stored (`movement_hours`, kept by a trigger; scans of
    // unknown barcodes and stock-take (shelf audit) scans are not movements of notes and are
    // not counted), then each hour put on its local day.
    let hourly: Vec<(i64, String, i64)> = c
        .prepare_cached(
            "SELECT h.hour, l.code, h.n
             FROM movement_hours h JOIN locations l ON l.id = h.location_id
             WHERE h.hour >= ?1 AND h.hour < ?2",
        )?
        .query_map(
            params![lo.div_euclid(3_600_000), hi.div_euclid(3_600_000)],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?
        .collect::<rusqlite::Result<_>>()?;
    let mut by_day: std::collections::BTreeMap<(NaiveDate, String), i64> = Default::default();
    for (h, code, n) in hourly {
        *by_day
            .entry((local_date_of_ms(h * 3_600_000), code))
            .or_default() += n;
    }
    let movements: Vec<MovementCount> = by_day
        .into_iter()
        .map(|((d, location), count)| MovementCount {
            date: d.to_string(),
            location,
            count,
        })
        .collect();
    let movements_total = movements.iter().map(|m| m.count).sum();

    let count = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> Result<i64> {
        Ok(c.prepare_cached(sql)?.query_row(p, |r| r.get(0))?)
    };
    let now = crate::util::now_ms();
    let requests = RequestFigures {
        made: count(
            "SELECT count(*) FROM requests WHERE created_at >= ?1 AND created_at < ?2",
            &[&lo, &hi],
        )?,
        open_now: count(
            "SELECT count(*) FROM requests WHERE closed_at IS NULL AND state != 'cancelled'",
            &[],
        )?,
        overdue_now: count(
            "SELECT count(*) FROM requests WHERE closed_at IS NULL
               AND state IN ('requested','located','pulled','dispatched') AND due_at < ?1",
            &[&now],
        )?,
        escalated: count(
            "SELECT count(*) FROM requests WHERE escalated_at >= ?1 AND escalated_at < ?2",
            &[&lo, &hi],
        )?,
        closed_clinic_passed: count(
            "SELECT count(*) FROM requests WHERE close_reason = ?3 AND closed_at >= ?1 AND closed_at < ?2",
            &[&lo, &hi, &crate::workflow::request_state::CLINIC_PASSED],
        )?,
        cancelled: count(
            "SELECT count(*) FROM requests WHERE state = 'cancelled' AND (close_reason IS NULL OR close_reason != ?3)
               AND closed_at >= ?1 AND closed_at < ?2",
            &[&lo, &hi, &crate::workflow::request_state::CLINIC_PASSED],
        )?,
    };

    // (`status <> 'active'` lets these use the index of folders not active)
    let folders_missing = count(
        "SELECT count(*) FROM folders WHERE status <> 'active' AND status='missing'",
        &[],
    )?;
    let folders_temporary = count(
        "SELECT count(*) FROM folders WHERE status <> 'active' AND status='temporary'",
        &[],
    )?;
    let missing_cases_open = count(
        "SELECT count(*) FROM missing_cases WHERE status != 'found'",
        &[],
    )?;

    let out_of_library = crate::ledger::folders::out_of_library_by_days(c, now)?;

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
            "SELECT count(*) FROM folders WHERE status <> 'active' AND status='sent_for_scanning'",
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

    let retention = match retention {
        Retention::Counted(r) => Some(r),
        Retention::CountNow => Some(retention_figures(c, cfg, to)?),
        Retention::BeingCounted => None,
    };
    let destroyed_in_period = count(
        "SELECT count(*) FROM tombstones WHERE destroyed_at >= ?1 AND destroyed_at < ?2",
        &[&lo, &hi],
    )?;
    let ext = crate::lifecycle::external_requests::list(c, today, true, false, None)?;
    let external_requests = ExternalKind::ALL
        .iter()
        .map(|k| ExternalFigure {
            kind: *k,
            label: k.label(),
            open: ext.iter().filter(|r| r.kind == *k).count() as i64,
            overdue: ext.iter().filter(|r| r.kind == *k && r.overdue).count() as i64,
        })
        .collect();
    let devices = c
        .prepare_cached(
            "SELECT count(*), COALESCE(sum(online), 0), COALESCE(sum(queue_depth > 0), 0),
                    COALESCE(sum(queue_depth), 0) FROM devices",
        )?
        .query_row([], |r| {
            let (n, on): (i64, i64) = (r.get(0)?, r.get(1)?);
            Ok(DeviceFigures {
                devices: n,
                online: on,
                offline: n - on,
                with_queued_scans: r.get(2)?,
                queued_scans: r.get(3)?,
            })
        })?;

    Ok(Stats {
        from: from.to_string(),
        to: to.to_string(),
        movements_total,
        movements,
        clinic_availability: availability::compute(c, from, to)?,
        turnaround: turnaround(c, cfg, lo, hi)?,
        requests,
        folders_missing,
        folders_temporary,
        missing_cases_open,
        out_of_library,
        coding_backlog,
        episodes_coded_in_period,
        digitisation: dg,
        retention_on_hold: retention.as_ref().map(|r| r.on_hold).unwrap_or(0),
        retention_counted_at: retention.as_ref().map(|r| r.counted_at.clone()),
        retention_due: retention.map(|r| r.due).unwrap_or_default(),
        destroyed_in_period,
        external_requests,
        devices,
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

fn pct(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.1}%")).unwrap_or_else(|| "-".into())
}

/// A figure in the report with its label; `key` names it for machines (CSV).
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub label: String,
    pub value: String,
}

/// A group of figures under a heading.
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    pub title: &'static str,
    pub lines: Vec<Line>,
}

fn line(label: impl Into<String>, value: impl ToString) -> Line {
    Line {
        label: label.into(),
        value: value.to_string(),
    }
}

/// A turnaround figure in words: "55.0 minutes", "1.5 working days", "-".
pub fn in_unit(v: Option<f64>, unit: &str) -> String {
    v.map(|x| format!("{x:.1} {unit}"))
        .unwrap_or_else(|| "-".into())
}

/// The report's sections, every figure with its label in words: the page, the summary CSV and
/// the monthly PDF all read from here.
pub fn sections(s: &Stats) -> Vec<Section> {
    let a = &s.clinic_availability;
    let mut avail = vec![
        line("Clinic sessions", a.sessions_count),
        line("Appointments booked", a.booked),
        line(
            "Notes available at the start",
            format!("{} ({})", a.available, pct(a.percent_available)),
        ),
        line(
            "Temporary notes used (not counted as available)",
            format!("{} ({})", a.temporary, pct(a.percent_temporary)),
        ),
        line(
            "Notes unavailable",
            format!("{} ({})", a.unavailable, pct(a.percent_unavailable)),
        ),
    ];
    for r in a.reasons.iter().filter(|r| r.count > 0) {
        avail.push(line(format!("Unavailable: {}", r.label), r.count));
    }
    let mut req = vec![
        line("Requests made", s.requests.made),
        line("Open now", s.requests.open_now),
        line("Overdue now", s.requests.overdue_now),
        line(
            "Routine requests escalated (not delivered in time)",
            s.requests.escalated,
        ),
        line(
            "Closed because the clinic had passed",
            s.requests.closed_clinic_passed,
        ),
        line("Cancelled", s.requests.cancelled),
    ];
    for t in &s.turnaround {
        req.push(line(
            format!("{}: received (target {})", t.label, t.target),
            t.received,
        ));
        req.push(line(
            format!("{}: within target", t.label),
            format!("{} ({})", t.within_target, pct(t.percent_within_target)),
        ));
        req.push(line(
            format!("{}: median", t.label),
            in_unit(t.median, t.unit),
        ));
        req.push(line(
            format!("{}: 90th percentile", t.label),
            in_unit(t.p90, t.unit),
        ));
    }
    let mut folders = vec![
        line("Scans of known folders", s.movements_total),
        line("Folders missing", s.folders_missing),
        line("Missing-notes cases open", s.missing_cases_open),
        line("Temporary folders in use", s.folders_temporary),
    ];
    for (b, n) in &s.out_of_library {
        folders.push(line(format!("Out of the library now: {b}"), n));
    }
    let mut lifecycle = vec![
        line("Episodes awaiting coding", s.coding_backlog.awaiting),
        line("Episodes coded in the period", s.episodes_coded_in_period),
    ];
    for (b, n) in &s.coding_backlog.bands {
        lifecycle.push(line(
            format!("Coding backlog: {b} after the month of discharge"),
            n,
        ));
    }
    let d = &s.digitisation;
    for (k, n) in [
        ("Scanning batches", d.batches),
        ("Scanning batches completed", d.batches_completed),
        ("Folders sent for scanning", d.folders_sent),
        ("Folders at the scanning bureau now", d.folders_at_bureau),
        ("Scanned documents", d.documents),
        ("Scanning quality checks passed", d.qa_passed),
        ("Scanning quality checks failed", d.qa_failed),
        ("Scanning quality checks pending", d.qa_pending),
        ("Paper returned after scanning", d.returned),
        ("Paper retained after scanning", d.retained),
        ("Paper destroyed after scanning", d.destroyed),
    ] {
        lifecycle.push(line(k, n));
    }
    for r in &s.retention_due {
        lifecycle.push(line(
            format!("Retention due by the end of the period: {}", r.label),
            r.count,
        ));
    }
    lifecycle.push(line("Retention due but on legal hold", s.retention_on_hold));
    lifecycle.push(line(
        "Folders destroyed in the period",
        s.destroyed_in_period,
    ));
    for e in &s.external_requests {
        lifecycle.push(line(format!("{}: open", e.label), e.open));
        lifecycle.push(line(format!("{}: overdue", e.label), e.overdue));
    }
    let dv = &s.devices;
    let devices = vec![
        line("Scanners and readers", dv.devices),
        line("Online", dv.online),
        line("Offline", dv.offline),
        line("With scans waiting to be sent", dv.with_queued_scans),
        line("Scans waiting to be sent", dv.queued_scans),
    ];
    vec![
        Section {
            title: "Clinic case-note availability",
            lines: avail,
        },
        Section {
            title: "Requests for notes",
            lines: req,
        },
        Section {
            title: "Folders",
            lines: folders,
        },
        Section {
            title: "Records lifecycle: coding, digitisation, retention, GP queries and SARs",
            lines: lifecycle,
        },
        Section {
            title: "Devices",
            lines: devices,
        },
    ]
}

/// (measure, value) pairs of every section, for the summary CSV.
pub fn summary_lines(s: &Stats) -> Vec<(String, String)> {
    sections(s)
        .into_iter()
        .flat_map(|sec| sec.lines.into_iter().map(|l| (l.label, l.value)))
        .collect()
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
            w.write_record([
                "urgency",
                "received",
                "median_minutes",
                "p90_minutes",
                "target",
                "unit",
                "median",
                "p90",
                "within_target",
                "percent_within_target",
            ])
            .map_err(e)?;
            for t in &s.turnaround {
                w.write_record([
                    t.urgency.as_str().to_string(),
                    t.received.to_string(),
                    opt(t.median_minutes),
                    opt(t.p90_minutes),
                    t.target.clone(),
                    t.unit.to_string(),
                    opt(t.median),
                    opt(t.p90),
                    t.within_target.to_string(),
                    opt(t.percent_within_target),
                ])
                .map_err(e)?;
            }
        }
        "availability" => {
            let mut head: Vec<String> = [
                "date",
                "clinic",
                "clinic_name",
                "session",
                "start",
                "booked",
                "available",
                "percent_available",
                "temporary_notes_used",
                "unavailable",
            ]
            .iter()
            .map(|h| h.to_string())
            .collect();
            head.extend(
                availability::UnavailableReason::ALL
                    .iter()
                    .map(|r| format!("unavailable_{r}")),
            );
            w.write_record(&head).map_err(e)?;
            for a in &s.clinic_availability.sessions {
                let mut row = vec![
                    a.date.clone(),
                    a.clinic.clone(),
                    a.clinic_name.clone(),
                    a.session_name.clone(),
                    crate::util::local_rfc3339(&a.start_at),
                    a.booked.to_string(),
                    a.available.to_string(),
                    opt(a.percent_available),
                    a.temporary.to_string(),
                    a.unavailable.to_string(),
                ];
                row.extend(a.reasons.iter().map(|r| r.count.to_string()));
                w.write_record(&row).map_err(e)?;
            }
        }
        "summary" => {
            w.write_record(["section", "measure", "value"]).map_err(e)?;
            for sec in sections(s) {
                for l in sec.lines {
                    w.write_record([sec.title, &l.label, &l.value]).map_err(e)?;
                }
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

/// A text bar for the PDF: `#` characters in proportion, at most `width`.
fn text_bar(n: i64, max: i64, width: usize) -> String {
    if max <= 0 || n <= 0 {
        return String::new();
    }
    let len = ((n as f64 / max as f64) * width as f64).round().max(1.0) as usize;
    "#".repeat(len.min(width))
}

/// The monthly report for the board as PDF: the same sections and labels as the page, then
/// availability per clinic session and the unavailable notes by reason.
pub fn monthly_pdf(s: &Stats, generated_at: i64) -> Vec<u8> {
    let mut lines = vec![
        format!(
            "Period {} to {}; generated {}",
            s.from,
            s.to,
            local_text(&ms_to_rfc3339(generated_at))
        ),
        String::new(),
    ];
    for sec in sections(s) {
        lines.push(sec.title.to_uppercase());
        for l in &sec.lines {
            lines.push(format!("  {:<62} {:>14}", l.label, l.value));
        }
        lines.push(String::new());
    }
    let a = &s.clinic_availability;
    let max = a.reasons.iter().map(|r| r.count).max().unwrap_or(0);
    if a.unavailable > 0 {
        lines.push("UNAVAILABLE NOTES BY REASON".into());
        for r in a.reasons.iter().filter(|r| r.count > 0) {
            lines.push(format!(
                "  {:<40} {:>6} {}",
                r.label,
                r.count,
                text_bar(r.count, max, 30)
            ));
        }
        lines.push(String::new());
    }
    lines.push("AVAILABILITY PER CLINIC SESSION".into());
    lines.push(format!(
        "  {:<24} {:<10} {:>6} {:>9} {:>9} {:>11} {:>7}",
        "Start", "Clinic", "Booked", "Available", "Temporary", "Unavailable", "%"
    ));
    for x in &a.sessions {
        lines.push(format!(
            "  {:<24} {:<10} {:>6} {:>9} {:>9} {:>11} {:>7}",
            local_text(&x.start_at),
            x.clinic,
            x.booked,
            x.available,
            x.temporary,
            x.unavailable,
            pct(x.percent_available)
        ));
    }
    if a.sessions.is_empty() {
        lines.push("  (no clinic sessions in the period)".into());
    }
    text_pdf("Casenote Tracker: monthly report for the board", &lines)
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
