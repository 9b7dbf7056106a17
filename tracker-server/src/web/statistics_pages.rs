//! The statistics page, written as a report for a records manager: grouped sections
//! (availability, requests, folders, the records lifecycle, devices), every figure labelled in
//! words, bar charts drawn as inline SVG (no script), times in the site's local time; CSV
//! downloads and the monthly PDF for the board. The figures come from
//! [`crate::app::reports::statistics`], the same use case as the API.

use super::{layout, pages::bar_chart, svg, WebError, WebUser};
use crate::{
    app::AppState,
    auth::Permission,
    reports::statistics::{self, in_unit},
    util::{local_text, site_today},
    Error,
};
use axum::{
    extract::{Query, State},
    http::header,
    response::{IntoResponse, Response},
};
use chrono::NaiveDate;
use maud::{html, Markup};
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

fn pct(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.1}%")).unwrap_or_else(|| "-".into())
}

/// A table of labelled figures.
fn figures(lines: &[statistics::Line]) -> Markup {
    html! {
        table.figures {
            thead { tr { th scope="col" { "Measure" } th scope="col" { "Value" } } }
            tbody { @for l in lines { tr { th scope="row" { (l.label) } td { (l.value) } } } }
        }
    }
}

pub async fn statistics_page(
    State(s): State<AppState>,
    user: WebUser,
    Query(q): Query<Params>,
) -> Result<Response, WebError> {
    user.who.require(Permission::ReadReports)?;
    let today = site_today();
    let to = day(&q, "to")?.unwrap_or(today);
    let from = day(&q, "from")?.unwrap_or(to - chrono::Days::new(30));
    let st = crate::app::reports::statistics(&s, &user.who, from, to, today).await?;
    if q.get("format").map(String::as_str) == Some("csv") {
        let section = q.get("section").map(String::as_str).unwrap_or("summary");
        return Ok(crate::app::reports::statistics_csv(&st, section, from, to)?.into_response());
    }
    let sections = statistics::sections(&st);
    let section = |i: usize| sections.get(i).map(|s| s.lines.as_slice()).unwrap_or(&[]);
    let a = &st.clinic_availability;
    let avail_bars = vec![
        ("Available".to_string(), a.available),
        ("Temporary notes".to_string(), a.temporary),
        ("Unavailable".to_string(), a.unavailable),
    ];
    let reason_bars: Vec<(String, i64)> = a
        .reasons
        .iter()
        .filter(|r| r.count > 0)
        .map(|r| (r.label.to_string(), r.count))
        .collect();
    let target_bars: Vec<(String, i64)> = st
        .turnaround
        .iter()
        .map(|t| {
            (
                t.label.to_string(),
                t.percent_within_target.unwrap_or(0.0).round() as i64,
            )
        })
        .collect();
    let received_bars: Vec<(String, i64)> = st
        .turnaround
        .iter()
        .map(|t| (t.label.to_string(), t.received))
        .collect();
    let mut by_loc: std::collections::BTreeMap<&str, i64> = Default::default();
    for m in &st.movements {
        *by_loc.entry(m.location.as_str()).or_default() += m.count;
    }
    let loc_bars: Vec<(String, i64)> = by_loc
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let csv =
        |section: &str| format!("/statistics?format=csv&section={section}&from={from}&to={to}");
    let month = format!("{}", to.format("%Y-%m"));
    let within: i64 = st.turnaround.iter().map(|t| t.within_target).sum();
    let received: i64 = st.turnaround.iter().map(|t| t.received).sum();
    let period = format!("{} to {}", from.format("%-d %B %Y"), to.format("%-d %B %Y"));
    Ok(layout(&user, "/statistics", "Statistics", html! {
        form.card.noprint method="get" {
            label for="from" { "From" } input type="date" id="from" name="from" value=(from);
            label for="to" { "To" } input type="date" id="to" name="to" value=(to);
            div { button type="submit" { "Show" }
                a.button.secondary href=(csv("summary")) { "Download the summary (CSV)" }
                a.button.secondary href={"/statistics/monthly?month=" (month)} { "Monthly report for the board (PDF)" } }
        }
        p.lead { "Report for " strong { (period) } " (local dates). Figures marked \"now\" are as of today." }
        div.row.headline {
            div.card { h3 { "Notes available at clinic start" } p.big { (pct(a.percent_available)) } p { (a.available) " of " (a.booked) " appointments booked" } }
            div.card { h3 { "Temporary notes used" } p.big { (pct(a.percent_temporary)) } p { (a.temporary) " appointments (not counted as available)" } }
            div.card { h3 { "Requests delivered within target" } p.big { (pct(crate::reports::availability::percent(within, received))) } p { (within) " of " (received) " received" } }
        }

        h2 id="availability" { "Clinic case-note availability" }
        p { "As NHS case-note audits count it: for each clinic session, the appointments booked; notes " strong { "available" } " when the patient's own folder was scanned into the clinic or its preparation area before the start; " strong { "temporary notes" } " counted separately, never as available; the rest " strong { "unavailable" } ", with where the notes were. " a href=(csv("availability")) { "Download per session (CSV)" } }
        div.row {
            div.card.chart { h3 { "Appointments by notes at the start" } (svg(bar_chart("Appointments by notes at the start", &avail_bars))) }
            div.card.chart { h3 { "Why notes were unavailable" }
                @if reason_bars.is_empty() { p { "No notes were unavailable." } } @else { (svg(bar_chart("Unavailable notes by reason", &reason_bars))) } }
        }
        (figures(section(0)))
        @if !a.sessions.is_empty() {
            h3 { "Each clinic session" }
            table {
                thead { tr { th { "Start" } th { "Clinic" } th { "Session" } th { "Booked" } th { "Available" } th { "Temporary notes" } th { "Unavailable" } th { "Available (%)" } } }
                tbody { @for x in a.sessions.iter().take(1000) {
                    tr { td { (local_text(&x.start_at)) } td { (x.clinic_name) " (" (x.clinic) ")" } td { (x.session_name) } td { (x.booked) } td { (x.available) } td { (x.temporary) } td { (x.unavailable) } td { (pct(x.percent_available)) } }
                } }
            }
        }

        h2 id="requests" { "Requests for notes" }
        p { "Turnaround is from the request to the notes arriving, for requests received in the period, against each urgency's target. Emergency and urgent targets are clock time; routine targets are working days (weekends, Scottish bank holidays and local holidays do not count). " a href=(csv("turnaround")) { "Download (CSV)" } }
        table {
            thead { tr { th { "Urgency" } th { "Target" } th { "Received" } th { "Within target" } th { "Median" } th { "90th percentile" } } }
            tbody { @for t in &st.turnaround {
                tr { th scope="row" { (t.label) } td { (t.target) } td { (t.received) } td { (t.within_target) " (" (pct(t.percent_within_target)) ")" } td { (in_unit(t.median, t.unit)) } td { (in_unit(t.p90, t.unit)) } }
            } }
        }
        div.row {
            div.card.chart { h3 { "Delivered within target (%)" } (svg(bar_chart("Requests delivered within target, per cent, by urgency", &target_bars))) }
            div.card.chart { h3 { "Received in the period" } (svg(bar_chart("Requests received in the period, by urgency", &received_bars))) }
        }
        (figures(section(1)))

        h2 id="folders" { "Folders and movements" }
        p { (st.movements_total) " scans of known folders in the period. " a href=(csv("movements")) { "Download per day and location (CSV)" } }
        div.row {
            div.card.chart { h3 { "Scans by location" } (svg(bar_chart("Scans of folders by location", &loc_bars))) }
            div.card.chart { h3 { "Out of the library now" } (svg(bar_chart("Folders out of the library by how long", &st.out_of_library))) }
        }
        (figures(section(2)))

        h2 id="lifecycle" { "Records lifecycle" }
        p {
            "Clinical coding, digitisation, retention, GP queries and subject access requests. "
            @if let Some(at) = &st.retention_counted_at {
                "Retention figures counted " (crate::util::local_text(at)) "."
            } @else {
                strong { "Retention figures are being counted" }
                " (a few minutes at a large site); reload the page shortly."
            }
        }
        div.row {
            div.card.chart { h3 { "Coding backlog" } (svg(bar_chart("Episodes awaiting coding by weeks after the month of discharge", &st.coding_backlog.bands))) }
        }
        (figures(section(3)))

        h2 id="devices" { "Devices" }
        p { "Scanners and RFID readers as their bridges last reported. " a href="/admin/devices" { "See each device" } }
        (figures(section(4)))
    })
    .into_response())
}

/// The monthly report for the board, as a PDF download.
pub async fn monthly_pdf(
    State(s): State<AppState>,
    user: WebUser,
    Query(q): Query<Params>,
) -> Result<Response, WebError> {
    user.who.require(Permission::ReadReports)?;
    let month = q
        .get("month")
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| site_today().format("%Y-%m").to_string());
    let pdf = crate::app::reports::monthly_report(&s.db, &s.cfg, &user.who, &month).await?;
    Ok((
        [
            (header::CONTENT_TYPE, pdf.content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", pdf.filename),
            ),
        ],
        pdf.body,
    )
        .into_response())
}
