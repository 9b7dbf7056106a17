//! Statistics.

use super::*;

/// The period from `from`/`to` (defaults: the last 30 days) or `month`.
pub fn period(q: &Params) -> ApiResult<(NaiveDate, NaiveDate)> {
    if let Some(m) = q.get("month") {
        return Ok(statistics::month_bounds(m)?);
    }
    let t = today();
    let to = day_param(q, "to")?.unwrap_or(t);
    let from = day_param(q, "from")?.unwrap_or(to - chrono::Days::new(30));
    Ok((from, to))
}

pub(crate) async fn get_statistics(
    State(s): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<Params>,
    _h: HeaderMap,
) -> ApiResult<Response> {
    who.require(Permission::ReadReports)?;
    let (from, to) = period(&q)?;
    let as_of = day_param(&q, "as_of")?.unwrap_or_else(today);
    let cfg = s.cfg.clone();
    let st =
        s.db.read(move |c| statistics::compute(c, &cfg, from, to, as_of))
            .await?;
    if q.get("format").map(String::as_str) == Some("csv") {
        let section = q.get("section").map(String::as_str).unwrap_or("summary");
        return Ok(crate::app::reports::statistics_csv(&st, section, from, to)?.into_response());
    }
    Ok(Json(st).into_response())
}

pub(crate) async fn monthly_report(
    State(s): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<Params>,
) -> ApiResult<Response> {
    who.require(Permission::ReadReports)?;
    let month = q
        .get("month")
        .ok_or_else(|| Error::invalid("month", "is required (YYYY-MM)"))?
        .clone();
    let (from, to) = statistics::month_bounds(&month)?;
    let cfg = s.cfg.clone();
    let st =
        s.db.read(move |c| statistics::compute(c, &cfg, from, to, to))
            .await?;
    let w = who.clone();
    let m = month.clone();
    s.db.write(move |c| {
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
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"monthly-report-{}.pdf\"", month.trim()),
            ),
        ],
        statistics::monthly_pdf(&st, now_ms()),
    )
        .into_response())
}
