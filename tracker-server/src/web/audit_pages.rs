//! Shelf audits on the web: the list of audits with a summary each, and one audit's result
//! (found here, found but expected elsewhere, expected here but not found, with follow-up).
//! The scanning itself is the scan page in "Shelf audit" mode (`/scan?mode=audit`).

use super::pages::{audit_read, param, time_text, Params};
use super::{layout, WebError, WebUser};
use crate::{
    app::AppState,
    auth::Permission,
    config::ShelfAuditConfig,
    util::{ms_to_rfc3339, now_ms, parse_rfc3339_ms},
    workflow::shelf_audit::{self, AuditLine, AuditStatus, AuditSummary, FollowUp},
};
use axum::{
    extract::{Form, Path, Query, State},
    response::{IntoResponse, Redirect, Response},
};
use maud::{html, Markup};

fn who_text(actor: &str) -> &str {
    actor
        .strip_prefix("user:")
        .or_else(|| actor.strip_prefix("token:"))
        .unwrap_or(actor)
}

fn duration_text(minutes: i64) -> String {
    match minutes {
        0 => "under a minute".into(),
        m if m < 60 => format!("{m} min"),
        m => format!("{} h {:02} min", m / 60, m % 60),
    }
}

fn status_tag(a: &AuditSummary) -> Markup {
    html! {
        @match a.status {
            AuditStatus::Open => { span.tag.info { "open" } }
            AuditStatus::Closed => { span.tag.ok { "closed" } }
        }
    }
}

pub async fn audits(
    State(s): State<AppState>,
    user: WebUser,
    Query(q): Query<Params>,
) -> Result<Markup, WebError> {
    user.who.require(Permission::EditRecords)?;
    let status = param(&q, "status").map(String::from);
    let list =
        s.db.read(move |c| shelf_audit::list(c, None, status.as_deref(), 200))
            .await?;
    Ok(layout(
        &user,
        "/audits",
        "Shelf audits",
        html! {
            p { "A shelf audit (stock-take) checks one shelf or bay against the tracker: scan the shelf card, then every folder on it, then close the audit." }
            p { a.button href="/scan?mode=audit" { "Start a shelf audit" } }
            @if list.is_empty() {
                p { "No shelf audits yet." }
            } @else {
                div.table-wrap {
                    table {
                        caption.visually-hidden { "Shelf audits, newest first" }
                        thead { tr {
                            th scope="col" { "Audit" } th scope="col" { "Shelf" } th scope="col" { "Terminal digits" }
                            th scope="col" { "Status" } th scope="col" { "Started" } th scope="col" { "By" } th scope="col" { "Took" }
                            th scope="col" { "Scanned" } th scope="col" { "Found here" } th scope="col" { "Found, expected elsewhere" } th scope="col" { "Not found" }
                        } }
                        tbody {
                            @for a in &list {
                                tr {
                                    td { a href={"/audits/" (a.id)} { "Audit " (a.id) } }
                                    td { (a.location.name) " (" (a.location.code) ")" }
                                    td { (a.filing_range.as_deref().unwrap_or("-")) }
                                    td { (status_tag(a)) }
                                    td { (time_text(&a.opened_at)) }
                                    td { (who_text(&a.opened_by)) }
                                    td { (duration_text(a.duration_minutes)) }
                                    td { (a.scanned) }
                                    td { (a.found) }
                                    td { (a.elsewhere) }
                                    td { (a.not_found) }
                                }
                            }
                        }
                    }
                }
            }
        },
    ))
}

fn folder_cells(l: &AuditLine) -> Markup {
    html! {
        td { a href={"/whereis?q=" (l.folder)} { (l.folder) } }
        td { (l.filing_number.as_deref().unwrap_or("-")) }
        td { (l.folder_type.replace('_', " ")) " vol " (l.volume) "/" (l.volume_count) }
    }
}

fn follow_up_cell(l: &AuditLine, due: Option<&str>) -> Markup {
    html! {
        @match l.follow_up {
            Some(FollowUp::Pending) => {
                span.tag.warn { (shelf_audit::follow_up_text(FollowUp::Pending)) }
                @if let Some(d) = due { " - reported missing at " (time_text(d)) " unless scanned before" }
            }
            Some(FollowUp::Missing) => {
                span.tag.bad { (shelf_audit::follow_up_text(FollowUp::Missing)) }
                @if let Some(case) = l.missing_case { " (case " (case) ")" }
            }
            Some(f) => { span.tag.ok { (shelf_audit::follow_up_text(f)) } }
            None => { "-" }
        }
    }
}

fn due_text(
    cfg: &ShelfAuditConfig,
    holidays: &[chrono::NaiveDate],
    a: &AuditSummary,
) -> Option<String> {
    let closed = a.closed_at.as_deref().and_then(parse_rfc3339_ms)?;
    Some(ms_to_rfc3339(shelf_audit::due_at(cfg, holidays, closed)))
}

pub async fn audit_page(
    State(s): State<AppState>,
    user: WebUser,
    Path(id): Path<i64>,
) -> Result<Markup, WebError> {
    user.who.require(Permission::EditRecords)?;
    let d = s.db.read(move |c| shelf_audit::get(c, id)).await?;
    audit_read(
        &s,
        &user.who,
        "shelf_audit.read",
        d.found
            .iter()
            .chain(&d.elsewhere)
            .chain(&d.not_found)
            .map(|l| (Some(l.patient_id), Some(l.folder_id)))
            .collect(),
        format!("shelf audit {id}"),
    )
    .await?;
    let a = &d.audit;
    let due = due_text(&s.cfg.shelf_audit, &s.cfg.requests.local_holidays, a);
    let expected = a.found + a.not_found;
    Ok(layout(
        &user,
        "/audits",
        &format!("Shelf audit {id}: {}", a.location.name),
        html! {
            dl.summary {
                dt { "Shelf" } dd { (a.location.name) " (" (a.location.code) ")" }
                @if let Some(r) = &a.filing_range { dt { "Terminal digits expected" } dd { (r) } }
                dt { "Status" } dd { (status_tag(a)) }
                dt { "Started" } dd { (time_text(&a.opened_at)) " by " (who_text(&a.opened_by)) }
                @if let (Some(at), Some(by)) = (&a.closed_at, &a.closed_by) { dt { "Closed" } dd { (time_text(at)) " by " (who_text(by)) } }
                dt { "Took" } dd { (duration_text(a.duration_minutes)) @if a.status == AuditStatus::Open { " so far" } }
                dt { "Summary" } dd id="audit-summary" {
                    (a.scanned) " scanned: " (a.found) " found here, " (a.elsewhere) " found but expected elsewhere (moved here); "
                    @if a.status == AuditStatus::Closed { (a.not_found) " of " (expected) " expected here not found." }
                    @else { "folders not found are listed when the audit is closed." }
                }
            }
            @if a.status == AuditStatus::Open {
                p { a.button href="/scan?mode=audit" { "Carry on scanning" } }
                form.card method="post" action={"/audits/" (id) "/close"} {
                    input type="hidden" name="csrf" value=(user.csrf);
                    p { "Close the audit when every folder on the shelf has been scanned. Folders expected here and not scanned are then listed for follow-up." }
                    button type="submit" { "Close audit" }
                }
            }
            section aria-labelledby="found-h" {
                h2 id="found-h" { "Found here (" (d.found.len()) ")" }
                @if d.found.is_empty() { p { "None." } } @else {
                    div.table-wrap { table id="found" {
                        thead { tr { th scope="col" { "Folder" } th scope="col" { "Filing number" } th scope="col" { "Type" } th scope="col" { "Scanned" } } }
                        tbody { @for l in &d.found { tr { (folder_cells(l)) td { (l.scanned_at.as_deref().map(time_text).unwrap_or_default()) } } } }
                    } }
                }
            }
            section aria-labelledby="elsewhere-h" {
                h2 id="elsewhere-h" { "Found here but expected elsewhere (" (d.elsewhere.len()) ")" }
                p.hint { "Each is now recorded on this shelf (a movement made by the audit)." }
                @if d.elsewhere.is_empty() { p { "None." } } @else {
                    div.table-wrap { table id="elsewhere" {
                        thead { tr { th scope="col" { "Folder" } th scope="col" { "Filing number" } th scope="col" { "Type" } th scope="col" { "Expected at" } th scope="col" { "Scanned" } } }
                        tbody { @for l in &d.elsewhere { tr {
                            (folder_cells(l))
                            td { @if let Some(p) = &l.expected_at { (p.name) " (" (p.code) ")" } @else { "-" } }
                            td { (l.scanned_at.as_deref().map(time_text).unwrap_or_default()) }
                        } } }
                    } }
                }
            }
            section aria-labelledby="notfound-h" {
                h2 id="notfound-h" { "Expected here but not found (" (d.not_found.len()) ")" }
                @if a.status == AuditStatus::Open { p { "Listed when the audit is closed." } }
                @else if d.not_found.is_empty() { p { "None." } } @else {
                    div.table-wrap { table id="not-found" {
                        thead { tr { th scope="col" { "Folder" } th scope="col" { "Filing number" } th scope="col" { "Type" } th scope="col" { "Last recorded at" } th scope="col" { "Follow-up" } } }
                        tbody { @for l in &d.not_found { tr {
                            (folder_cells(l))
                            td { @if let Some(p) = &l.expected_at { (p.name) " (" (p.code) ")" } @else { "-" } }
                            td { (follow_up_cell(l, due.as_deref())) }
                        } } }
                    } }
                }
            }
            p { a href="/audits" { "All shelf audits" } }
        },
    ))
}

pub async fn close_audit(
    State(s): State<AppState>,
    user: WebUser,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::EditRecords)?;
    let who = user.who.clone();
    s.db.write(move |c| shelf_audit::close(c, &who, id, None, now_ms()))
        .await?;
    Ok(Redirect::to(&format!("/audits/{id}")).into_response())
}
