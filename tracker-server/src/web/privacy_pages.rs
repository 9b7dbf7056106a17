//! Privacy monitoring pages: the Caldicott guardian's report with its window picker, the
//! drill-down of one line to its audit rows, the report as CSV or PDF, and the patient flags
//! page where records managers flag staff and VIP records. Thin handlers over
//! [`crate::app::privacy`].

use super::{layout, WebError, WebUser};
use crate::{
    app::{privacy, AppState},
    auth::Permission,
    ledger::patient_flags::PatientFlag,
    reports::privacy::{Concern, LineKey, Report, Window},
    util::local_text,
    Error,
};
use axum::{
    extract::{Form, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use maud::{html, Markup};
use std::collections::HashMap;

type Params = HashMap<String, String>;

fn param<'a>(p: &'a Params, k: &str) -> Option<&'a str> {
    p.get(k).map(|s| s.trim()).filter(|s| !s.is_empty())
}

fn window(q: &Params) -> Result<Window, Error> {
    Window::parse(param(q, "from"), param(q, "to"))
}

/// The window picker: two dates and the quick choices.
fn picker(w: &Window) -> Markup {
    let today = crate::util::site_today();
    let last = Window::last_full_week(today);
    let this = Window::week_of(today);
    html! {
        form.card method="get" action="/reports/privacy" {
            h2 { "Window" }
            p.hint { "Whole days in local time. The default is the last full week, Monday to Sunday." }
            div.row {
                div { label for="from" { "From" } input type="date" id="from" name="from" value=(w.from); }
                div { label for="to" { "To" } input type="date" id="to" name="to" value=(w.to); }
            }
            div {
                button type="submit" { "Show report" }
                " "
                a.button.secondary href={"/reports/privacy?from=" (last.from) "&to=" (last.to)} { "Last full week" }
                " "
                a.button.secondary href={"/reports/privacy?from=" (this.from) "&to=" (this.to)} { "This week so far" }
            }
        }
    }
}

fn report_body(r: &Report) -> Markup {
    let w = &r.window;
    html! {
        p {
            "From " strong { (w.from.format("%A %d %B %Y")) } " to " strong { (w.to.format("%A %d %B %Y")) } ": "
            (r.lookups) " lookup(s) of patients read from the audit log, "
            strong { (r.lines.len()) } " line(s) to review."
        }
        p {
            a.button.secondary href={"/reports/privacy/download?format=csv&from=" (w.from) "&to=" (w.to)} { "Download CSV" }
            " "
            a.button.secondary href={"/reports/privacy/download?format=pdf&from=" (w.from) "&to=" (w.to)} { "Download PDF" }
        }
        @for c in Concern::ALL {
            @let lines: Vec<_> = r.lines.iter().filter(|l| l.key.concern == *c).collect();
            section.card id=(c.as_str()) aria-label=(c.label()) {
                h2 { (c.label()) " (" (lines.len()) ")" }
                p.hint { (explain(*c, r)) }
                @if lines.is_empty() {
                    p { "Nothing to review." }
                } @else {
                    table {
                        thead { tr {
                            th { "User" } th { "Role" }
                            @if *c == Concern::UnusualVolume { th { "Day" } } @else { th { "Patient" } }
                            th { "Lookups" } th { "First" } th { "Last" } th { "Why" } th { "Audit rows" }
                        } }
                        tbody { @for l in lines { tr {
                            td { (l.user_name) " (" (l.key.user.trim_start_matches("user:")) ")" }
                            td { (l.role.replace('_', " ")) }
                            @if let Some(d) = l.key.day { td { (d.format("%a %d %b %Y")) } }
                            @else { td { (l.patient.as_ref().map(|p| p.text()).unwrap_or_default()) } }
                            td { (l.lookups) }
                            td { (local_text(&l.first_at)) }
                            td { (local_text(&l.last_at)) }
                            td { (l.why) }
                            td { a href={"/reports/privacy/detail?" (l.key.query(w))} { "Show the " (l.lookups) " audit row(s)" } }
                        } } }
                    }
                }
            }
        }
    }
}

fn explain(c: Concern, r: &Report) -> String {
    match c {
        Concern::NoRelationship => format!(
            "Lookups by clinicians and by users with recorded work locations, of patients with no \
             request, appointment or admission at the user's locations (and no request by the \
             user) within {} days of the lookup.",
            r.relationship_window_days
        ),
        Concern::SameFamilyName => {
            "Lookups of patients whose family name matches the user's \
             (ignoring case and accents; Mc and Mac alike; either half of a double-barrelled name)."
                .into()
        }
        Concern::FlaggedRecord => {
            "Every lookup of a patient flagged as a member of staff or a VIP at the time.".into()
        }
        Concern::UnusualVolume => format!("Rule: {}.", r.volume_rule),
    }
}

pub async fn report_page(
    State(s): State<AppState>,
    user: WebUser,
    Query(q): Query<Params>,
) -> Result<Markup, WebError> {
    user.who.require(Permission::ReviewPrivacy)?;
    let w = window(&q)?;
    let r = privacy::report(&s.db, &s.cfg.privacy, &user.who, w).await?;
    Ok(layout(
        &user,
        "/reports/privacy",
        "Privacy report",
        html! {
            p { "Lookups of patients that may need a second look by the Caldicott guardian. A line is not proof of wrongdoing: open it to see the audit rows behind it, then follow your board's procedure. Viewing this report is itself recorded." }
            (picker(&w))
            (report_body(&r))
        },
    ))
}

pub async fn detail_page(
    State(s): State<AppState>,
    user: WebUser,
    Query(q): Query<Params>,
) -> Result<Markup, WebError> {
    user.who.require(Permission::ReviewPrivacy)?;
    let w = window(&q)?;
    let key = LineKey::parse(|k| param(&q, k))?;
    let (line, rows) = privacy::detail(&s.db, &s.cfg.privacy, &user.who, w, key).await?;
    Ok(layout(
        &user,
        "/reports/privacy",
        "Audit rows behind a privacy report line",
        html! {
            section.card {
                h2 { (line.concern_label) }
                p { "User: " strong { (line.user_name) } " (" (line.key.user.trim_start_matches("user:")) "), " (line.role.replace('_', " ")) }
                @if let Some(p) = &line.patient { p { "Patient: " strong { (p.text()) } } }
                @if let Some(d) = line.key.day { p { "Day: " strong { (d.format("%A %d %B %Y")) } } }
                p { "Why: " (line.why) }
                p { a href={"/reports/privacy?from=" (w.from) "&to=" (w.to)} { "Back to the report for " (w.from) " to " (w.to) } }
            }
            table id="audit-rows" {
                caption { (rows.len()) " audit row(s), oldest first" }
                thead { tr { th { "Audit row" } th { "Time" } th { "User" } th { "Action" } th { "Looked up" } th { "Detail" } } }
                tbody { @for r in &rows { tr {
                    td { (r.id) }
                    td { time datetime=(r.at) { (r.local_time) } }
                    td { (r.actor.trim_start_matches("user:")) " (" (r.role.replace('_', " ")) ")" }
                    td { (r.action_label) }
                    td {
                        (r.patient.as_ref().map(|p| p.text()).unwrap_or_default())
                        @if let Some(f) = &r.folder { ", folder " (f) }
                    }
                    td { (r.detail) }
                } } }
            }
        },
    ))
}

pub async fn download(
    State(s): State<AppState>,
    user: WebUser,
    Query(q): Query<Params>,
) -> Result<Response, WebError> {
    user.who.require(Permission::ReviewPrivacy)?;
    let w = window(&q)?;
    let pdf = match param(&q, "format") {
        None | Some("csv") => false,
        Some("pdf") => true,
        Some(_) => return Err(Error::invalid("format", "must be csv or pdf").into()),
    };
    let r = privacy::report(&s.db, &s.cfg.privacy, &user.who, w).await?;
    Ok(privacy::file_of(&r, pdf)?.into_response())
}

// ---------- patient flags ----------

async fn flags_body(
    s: &AppState,
    user: &WebUser,
    message: Option<(bool, String)>,
) -> Result<Markup, WebError> {
    let list = privacy::flags(&s.db, &user.who).await?;
    Ok(layout(
        user,
        "/admin/patient-flags",
        "Patient flags",
        html! {
            @if let Some((ok, m)) = &message {
                @if *ok { div.card.ok role="status" { p { (m) } } }
                @else { div.error-summary role="alert" { h2 { "Not done" } p { (m) } } }
            }
            p { "A flagged record is watched: every lookup of it appears on the Caldicott guardian's privacy report. Flag members of staff and people in the public eye. Setting and clearing a flag is recorded." }
            form.card method="post" action="/admin/patient-flags" {
                h2 { "Set or clear a flag" }
                input type="hidden" name="csrf" value=(user.csrf);
                label for="patient" { "Patient's CHI or NHS number" }
                input type="text" id="patient" name="patient" autocomplete="off" required;
                label for="flag" { "Flag" }
                select id="flag" name="flag" { @for f in PatientFlag::ALL { option value=(f.as_str()) { (f.label()) } } }
                label for="reason" { "Why (for the audit log)" }
                input type="text" id="reason" name="reason" required;
                div {
                    button type="submit" name="action" value="set" { "Set flag" }
                    " "
                    button.secondary type="submit" name="action" value="clear" { "Clear flag" }
                }
            }
            h2 { "Flagged records" }
            @if list.is_empty() { p { "No record is flagged." } } @else {
                table {
                    thead { tr { th { "Patient" } th { "Flag" } th { "Why" } th { "Set by" } th { "Since" } } }
                    tbody { @for (f, p) in &list { tr {
                        td { (p.family_name.to_uppercase()) ", " (p.given_name) " (CHI " (p.chi.as_deref().unwrap_or("none")) ")" }
                        td { span.tag.warn { (f.flag.label()) } }
                        td { (f.reason) }
                        td { (f.set_by.trim_start_matches("user:")) }
                        td { (local_text(&crate::util::ms_to_rfc3339(f.set_at))) }
                    } } }
                }
            }
        },
    ))
}

pub async fn flags_page(State(s): State<AppState>, user: WebUser) -> Result<Markup, WebError> {
    user.who.require(Permission::FlagPatients)?;
    flags_body(&s, &user, None).await
}

pub async fn change_flag(
    State(s): State<AppState>,
    user: WebUser,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::FlagPatients)?;
    let result: crate::Result<String> = async {
        let set = match param(&f, "action") {
            Some("set") => true,
            Some("clear") => false,
            _ => return Err(Error::invalid("action", "must be set or clear")),
        };
        let flag = PatientFlag::parse_field("flag", param(&f, "flag").unwrap_or_default())?;
        let patient = param(&f, "patient")
            .ok_or_else(|| Error::invalid("patient", "is required"))?
            .to_string();
        let reason = param(&f, "reason").unwrap_or_default().to_string();
        let p = privacy::change_flag(&s.db, &user.who, patient, flag, set, reason).await?;
        Ok(format!(
            "{}, {}: {} {}.",
            p.family_name.to_uppercase(),
            p.given_name,
            flag.label(),
            if set { "flag set" } else { "flag cleared" }
        ))
    }
    .await;
    Ok(match result {
        Ok(m) => flags_body(&s, &user, Some((true, m)))
            .await?
            .into_response(),
        Err(e @ (Error::Invalid { .. } | Error::Conflict { .. } | Error::NotFound { .. })) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            flags_body(&s, &user, Some((false, e.to_string()))).await?,
        )
            .into_response(),
        Err(e) => return Err(e.into()),
    })
}
