//! Privacy monitoring, the use cases: the Caldicott report and its drill-down (page, API and
//! `tracker-server privacy-report` all call these), and patient flags. Each checks the role and
//! writes the audit row; viewing the report is itself audited (`privacy.report`,
//! `privacy.detail`), one row per patient shown, so the guardian's own reads are on the record.

use super::reports::Download;
use crate::{
    audit,
    auth::{Permission, Principal},
    ledger::{
        patient_flags::{self, FlagRow, PatientFlag},
        patients::{self, Patient},
    },
    reports::privacy::{self, DetailRow, Line, LineKey, PrivacyConfig, Report, Window},
    storage::Db,
    Error, Result,
};

/// The patients a report shows, as audit rows (one row without a patient when it shows none).
fn shown(lines: &[&Line]) -> Vec<(Option<i64>, Option<i64>)> {
    let mut ids: Vec<i64> = lines.iter().filter_map(|l| l.key.patient).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        vec![(None, None)]
    } else {
        ids.into_iter().map(|p| (Some(p), None)).collect()
    }
}

/// The privacy report for `window`. Audited as `privacy.report`.
pub async fn report(
    db: &Db,
    cfg: &PrivacyConfig,
    who: &Principal,
    window: Window,
) -> Result<Report> {
    who.require(Permission::ReviewPrivacy)?;
    let c = cfg.clone();
    let r = db
        .read(move |conn| privacy::compute(conn, &c, window))
        .await?;
    let detail = format!(
        "privacy report {} to {}: {} line(s)",
        window.from,
        window.to,
        r.lines.len()
    );
    let lines: Vec<&Line> = r.lines.iter().collect();
    audit::record_reads(db, who, "privacy.report", shown(&lines), detail).await?;
    Ok(r)
}

/// One line of the report for `window` and the audit rows behind it. Audited as
/// `privacy.detail`.
pub async fn detail(
    db: &Db,
    cfg: &PrivacyConfig,
    who: &Principal,
    window: Window,
    key: LineKey,
) -> Result<(Line, Vec<DetailRow>)> {
    who.require(Permission::ReviewPrivacy)?;
    let c = cfg.clone();
    let k = key.clone();
    let (line, rows) = db
        .read(move |conn| {
            let r = privacy::compute(conn, &c, window)?;
            let line = r.line(&k).cloned().ok_or_else(|| {
                Error::not_found(format!(
                    "a {} line for {} in {} to {}",
                    k.concern.label().to_lowercase(),
                    k.user,
                    window.from,
                    window.to
                ))
            })?;
            let rows = privacy::detail_rows(conn, &line)?;
            Ok((line, rows))
        })
        .await?;
    let detail = format!(
        "privacy report line: {} by {}, {} audit row(s)",
        key.concern,
        key.user,
        line.audit_ids.len()
    );
    // one row per patient shown: the line's, and those of a day's lookups (unusual volume)
    let mut ids: Vec<i64> = rows
        .iter()
        .filter_map(|r| r.patient.as_ref().map(|p| p.id))
        .chain(line.key.patient)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let seen = if ids.is_empty() {
        vec![(None, None)]
    } else {
        ids.into_iter().map(|p| (Some(p), None)).collect()
    };
    audit::record_reads(db, who, "privacy.detail", seen, detail).await?;
    Ok((line, rows))
}

/// The report for the Monday-to-Sunday week containing `day`, as a CSV or PDF file (the weekly
/// run from cron). Audited as `privacy.report`.
pub async fn weekly_file(
    db: &Db,
    cfg: &PrivacyConfig,
    who: &Principal,
    day: chrono::NaiveDate,
    pdf: bool,
) -> Result<(Report, Download)> {
    let window = Window::week_of(day);
    let r = report(db, cfg, who, window).await?;
    let file = file_of(&r, pdf)?;
    Ok((r, file))
}

/// A computed report as a download.
pub fn file_of(r: &Report, pdf: bool) -> Result<Download> {
    let stem = format!("privacy-report-{}-{}", r.window.from, r.window.to);
    Ok(if pdf {
        Download {
            content_type: "application/pdf",
            filename: format!("{stem}.pdf"),
            body: privacy::pdf(r, &crate::util::now_rfc3339()),
        }
    } else {
        Download {
            content_type: "text/csv; charset=utf-8",
            filename: format!("{stem}.csv"),
            body: privacy::csv(r)?,
        }
    })
}

/// Set (`set`) or clear a flag on the patient with this CHI, NHS number or id. Audited as
/// `patient.flag_set` / `patient.flag_clear`.
pub async fn change_flag(
    db: &Db,
    who: &Principal,
    patient: String,
    flag: PatientFlag,
    set: bool,
    reason: String,
) -> Result<Patient> {
    who.require(Permission::FlagPatients)?;
    let who = who.clone();
    db.write(move |c| {
        let p = patients::find_by_identifier(c, "patient", patient.trim())?;
        if set {
            patient_flags::set(c, &who, p.id, flag, &reason)?;
        } else {
            patient_flags::clear(c, &who, p.id, flag, &reason)?;
        }
        Ok(p)
    })
    .await
}

/// Every flag in force with its patient. Audited as `patient.flags`, one row per patient.
pub async fn flags(db: &Db, who: &Principal) -> Result<Vec<(FlagRow, Patient)>> {
    who.require(Permission::FlagPatients)?;
    let list = db
        .read(|c| {
            patient_flags::all_active(c)?
                .into_iter()
                .map(|f| {
                    let p = patients::get(c, f.patient_id)?;
                    Ok((f, p))
                })
                .collect::<Result<Vec<_>>>()
        })
        .await?;
    let mut rows: Vec<(Option<i64>, Option<i64>)> = list
        .iter()
        .map(|(f, _)| (Some(f.patient_id), None))
        .collect();
    rows.sort_unstable();
    rows.dedup();
    if !rows.is_empty() {
        audit::record_reads(db, who, "patient.flags", rows, "flagged patients".into()).await?;
    }
    Ok(list)
}
