//! Statistics and the monthly report for the board (the use cases are in
//! [`crate::app::reports`]).

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
    let st = crate::app::reports::statistics(&s, &who, from, to, as_of).await?;
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
    let pdf = crate::app::reports::monthly_report(&s.db, &s.cfg, &who, &month).await?;
    Ok((
        [
            (header::CONTENT_TYPE, pdf.content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{}\"", pdf.filename),
            ),
        ],
        pdf.body,
    )
        .into_response())
}
