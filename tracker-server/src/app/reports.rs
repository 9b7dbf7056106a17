//! Reports: the statistics and the monthly report for the board, as the API and the web pages
//! both ask for them (authorised, computed, audited), and reports handed over as files.

use crate::{
    audit,
    auth::{Permission, Principal},
    config::Config,
    reports::statistics,
    storage::Db,
    Result,
};
use axum::{
    http::header,
    response::{IntoResponse, Response},
};
use chrono::NaiveDate;

/// A file for the caller to save (CSV or PDF).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    pub content_type: &'static str,
    pub filename: String,
    pub body: Vec<u8>,
}

impl IntoResponse for Download {
    fn into_response(self) -> Response {
        (
            [
                (header::CONTENT_TYPE, self.content_type.to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{}\"", self.filename),
                ),
            ],
            self.body,
        )
            .into_response()
    }
}

/// One section of the statistics as a CSV download.
pub fn statistics_csv(
    st: &statistics::Stats,
    section: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Download> {
    Ok(Download {
        content_type: "text/csv; charset=utf-8",
        filename: format!("statistics-{section}-{from}-{to}.csv"),
        body: statistics::section_csv(st, section)?.into(),
    })
}

/// The statistics for `from..=to` (local dates; "now" figures as of `as_of`) for `who`, who
/// must be allowed to read reports. The read is audited (the figures hold no patient's data).
///
/// The retention figures come from the last background count when it is as of `to` (the
/// default period ends today); while today's count is still running they are left out; for
/// other periods they are counted now.
pub async fn statistics(
    s: &super::AppState,
    who: &Principal,
    from: NaiveDate,
    to: NaiveDate,
    as_of: NaiveDate,
) -> Result<statistics::Stats> {
    who.require(Permission::ReadReports)?;
    let (db, cfg) = (&s.db, s.cfg.clone());
    let counted = s
        .retention_figures
        .read()
        .map_err(|_| crate::Error::internal("retention figures lock"))?
        .clone();
    let retention = match counted {
        Some(r) if r.as_of == to => statistics::Retention::Counted(r),
        _ if to == crate::util::site_today() && cfg.retention.figures_every_minutes > 0 => {
            statistics::Retention::BeingCounted
        }
        _ => statistics::Retention::CountNow,
    };
    let st = db
        .read(move |c| statistics::compute(c, &cfg, from, to, as_of, retention))
        .await?;
    let w = who.clone();
    db.write(move |c| {
        audit::record(
            c,
            &w,
            "statistics.read",
            None,
            None,
            &format!("statistics {from} to {to}"),
        )
    })
    .await?;
    Ok(st)
}

/// The monthly report for the board for `month` (`YYYY-MM`) as a PDF, for `who`, who must be
/// allowed to read reports. Audited.
pub async fn monthly_report(
    db: &Db,
    cfg: &std::sync::Arc<Config>,
    who: &Principal,
    month: &str,
) -> Result<Download> {
    who.require(Permission::ReadReports)?;
    let (from, to) = statistics::month_bounds(month)?;
    let cfg = cfg.clone();
    let st = db
        .read(move |c| statistics::compute(c, &cfg, from, to, to, statistics::Retention::CountNow))
        .await?;
    let (w, m) = (who.clone(), month.trim().to_string());
    db.write(move |c| {
        audit::record(
            c,
            &w,
            "report.monthly",
            None,
            None,
            &format!("monthly report {m}"),
        )
    })
    .await?;
    Ok(Download {
        content_type: "application/pdf",
        filename: format!("monthly-report-{}.pdf", month.trim()),
        body: statistics::monthly_pdf(&st, crate::util::now_ms()),
    })
}

/// Count the statistics page's retention figures as of today and keep them in `s` (the
/// server's background task, every `[retention] figures_every_minutes`).
pub async fn count_retention_figures(s: &super::AppState) -> Result<()> {
    let cfg = s.cfg.clone();
    let today = crate::util::site_today();
    let t = std::time::Instant::now();
    let figures =
        s.db.read(move |c| statistics::retention_figures(c, &cfg, today))
            .await?;
    tracing::info!(
        elapsed_ms = t.elapsed().as_millis() as u64,
        "retention figures counted"
    );
    *s.retention_figures
        .write()
        .map_err(|_| crate::Error::internal("retention figures lock"))? = Some(figures);
    Ok(())
}
