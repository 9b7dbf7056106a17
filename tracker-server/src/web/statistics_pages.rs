//! The statistics pages: tables, SVG bar charts and CSV downloads of [`crate::reports::statistics`].

use super::{layout, pages::bar_chart, svg, WebError, WebUser};
use crate::{app::AppState, audit, auth::Permission, reports::statistics, Error};
use axum::{
    extract::{Query, State},
    response::{IntoResponse, Response},
};
use chrono::NaiveDate;
use maud::html;
use std::collections::HashMap;

type Params = HashMap<String, String>;

fn day(q: &Params, k: &str) -> Result<Option<NaiveDate>, WebError> {
    match q.get(k).map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| Error::invalid(k, "must be a date written YYYY-MM-DD").into()),
    }
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.1}")).unwrap_or_else(|| "-".into())
}

pub async fn statistics_page(
    State(s): State<AppState>,
    user: WebUser,
    Query(q): Query<Params>,
) -> Result<Response, WebError> {
    user.who.require(Permission::ReadReports)?;
    let today = chrono::Utc::now().date_naive();
    let to = day(&q, "to")?.unwrap_or(today);
    let from = day(&q, "from")?.unwrap_or(to - chrono::Days::new(30));
    let cfg = s.cfg.clone();
    let st =
        s.db.read(move |c| statistics::compute(c, &cfg, from, to, today))
            .await?;
    let w = user.who.clone();
    s.db.write(move |c| {
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
    if q.get("format").map(String::as_str) == Some("csv") {
        let section = q.get("section").map(String::as_str).unwrap_or("summary");
        return Ok(crate::app::reports::statistics_csv(&st, section, from, to)?.into_response());
    }
    let mut by_loc: std::collections::BTreeMap<&str, i64> = Default::default();
    for m in &st.movements {
        *by_loc.entry(m.location.as_str()).or_default() += m.count;
    }
    let loc_bars: Vec<(String, i64)> = by_loc
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let turn_bars: Vec<(String, i64)> = st
        .turnaround
        .iter()
        .map(|t| {
            (
                format!("{} median", t.urgency),
                t.median_minutes.unwrap_or(0.0).round() as i64,
            )
        })
        .collect();
    let csv =
        |section: &str| format!("/statistics?format=csv&section={section}&from={from}&to={to}");
    let month = format!("{}", to.format("%Y-%m"));
    Ok(layout(&user, "/statistics", "Statistics", html! {
        form.card method="get" {
            label for="from" { "From" } input type="date" id="from" name="from" value=(from);
            label for="to" { "To" } input type="date" id="to" name="to" value=(to);
            div { button type="submit" { "Show" }
                a.button.secondary href=(csv("summary")) { "Download summary CSV" }
                a.button.secondary href={"/api/v1/reports/monthly?month=" (month)} { "Monthly report (PDF, API)" } }
        }
        h2 { "Movements" }
        p { strong { (st.movements_total) } " scans of known folders from " (st.from) " to " (st.to) ". " a href=(csv("movements")) { "CSV" } }
        div.row {
            div.card.chart { h3 { "By location" } (svg(bar_chart("Movements by location", &loc_bars))) }
            div.card.chart { h3 { "Request turnaround (median minutes)" } (svg(bar_chart("Median turnaround by urgency", &turn_bars))) }
        }
        h2 { "Request turnaround" }
        p { a href=(csv("turnaround")) { "CSV" } }
        table {
            thead { tr { th { "Urgency" } th { "Received" } th { "Median (min)" } th { "90th percentile (min)" } } }
            tbody { @for t in &st.turnaround { tr { td { (t.urgency) } td { (t.received) } td { (opt(t.median_minutes)) } td { (opt(t.p90_minutes)) } } } }
        }
        h2 { "Case-note availability for clinics" }
        p { (st.clinic_availability.available) " of " (st.clinic_availability.booked) " booked patients' notes were at the clinic (" (opt(st.clinic_availability.percent)) "%). " a href=(csv("availability")) { "CSV" } }
        h2 { "Summary" }
        table {
            thead { tr { th { "Measure" } th { "Value" } } }
            tbody { @for (k, v) in statistics::summary_lines(&st) { tr { td { (k) } td { (v) } } } }
        }
        div.row {
            div.card.chart { h3 { "Out of the library now" } (svg(bar_chart("Folders out of the library by age", &st.out_of_library))) }
            div.card.chart { h3 { "Coding backlog" } (svg(bar_chart("Uncoded episodes by weeks after the month of discharge", &st.coding_backlog.bands))) }
        }
    })
    .into_response())
}
