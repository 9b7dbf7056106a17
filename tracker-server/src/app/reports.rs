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
pub async fn statistics(
    db: &Db,
    cfg: &std::sync::Arc<Config>,
    who: &Principal,
    from: NaiveDate,
    to: NaiveDate,
    as_of: NaiveDate,
) -> Result<statistics::Stats> {
    who.require(Permission::ReadReports)?;
    let cfg = cfg.clone();
    let st = db
        .read(move |c| statistics::compute(c, &cfg, from, to, as_of))
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
        .read(move |c| statistics::compute(c, &cfg, from, to, to))
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
