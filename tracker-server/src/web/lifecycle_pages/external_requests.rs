//! GP queries, professional queries, subject access requests (one calendar month, extendable by
//! two further months) and Access to Health Records Act requests: log one, extend, move it on,
//! complete it; overdue ones are marked in words and in red.

use super::*;
use crate::ledger::patients::{self, Patient};
use crate::lifecycle::external_requests::{
    self as ext, ExternalKind, ExternalRequest, ExternalStatus,
};

pub(super) fn kind_text(k: ExternalKind) -> &'static str {
    match k {
        ExternalKind::GpQuery => "GP query",
        ExternalKind::ProfessionalQuery => "Professional query",
        ExternalKind::Sar => "Subject access request",
        ExternalKind::Ahra => "Access to Health Records Act request",
    }
}

fn status_text(s: ExternalStatus) -> &'static str {
    match s {
        ExternalStatus::Open => "open",
        ExternalStatus::InProgress => "in progress",
        ExternalStatus::Completed => "completed",
        ExternalStatus::Refused => "refused",
        ExternalStatus::Withdrawn => "withdrawn",
    }
}

/// How the due date is worked out, for the form and the request's page.
fn period_text(cfg: &ext::ExternalRequestsConfig, k: ExternalKind) -> String {
    match k {
        ExternalKind::Sar => {
            "one calendar month from receipt (UK GDPR), extendable by up to two further months"
                .into()
        }
        ExternalKind::Ahra => format!("{} days from receipt", cfg.ahra_days),
        ExternalKind::GpQuery => {
            format!("{} days from receipt (local standard)", cfg.gp_query_days)
        }
        ExternalKind::ProfessionalQuery => {
            format!(
                "{} days from receipt (local standard)",
                cfg.professional_query_days
            )
        }
    }
}

fn date_text(d: &str) -> String {
    NaiveDate::parse_from_str(d, "%Y-%m-%d")
        .map(|d| d.format("%a %d %b %Y").to_string())
        .unwrap_or_else(|_| d.to_string())
}

/// The due date with how long is left, or how late it is, in words.
fn due_cell(r: &ExternalRequest) -> Markup {
    html! {
        time datetime=(r.due_on) { (date_text(&r.due_on)) }
        @if r.overdue {
            " " span.tag.bad { "Overdue" }
            @if let Some(d) = r.days_left { br; span.hint { (-d) " day(s) late" } }
        } @else if let Some(d) = r.days_left {
            br; span.hint { @if d == 0 { "due today" } @else { (d) " day(s) left" } }
        }
    }
}

fn patient_cell(p: Option<&Patient>, id: i64) -> Markup {
    html! {
        @match p {
            Some(p) => {
                strong { (p.family_name.to_uppercase()) ", " (p.given_name) } br;
                @if let Some(chi) = &p.chi { "CHI " (chi) } @else if let Some(n) = &p.nhs_number { "NHS number " (n) }
            }
            None => { "patient " (id) }
        }
    }
}

async fn load_patients(
    s: &AppState,
    user: &WebUser,
    ids: Vec<i64>,
) -> Result<std::collections::HashMap<i64, Patient>, WebError> {
    if !user.who.can(Permission::ReadPatient) {
        return Ok(Default::default());
    }
    Ok(s.db
        .read(move |c| {
            let mut m = std::collections::HashMap::new();
            for id in ids {
                if let std::collections::hash_map::Entry::Vacant(v) = m.entry(id) {
                    v.insert(patients::get(c, id)?);
                }
            }
            Ok(m)
        })
        .await?)
}

fn done_text(q: &Params) -> Option<Note> {
    let t = match param(q, "done")? {
        "logged" => "Request logged. Its due date is shown below.",
        "extended" => "Extension recorded; the new due date is shown. Tell the requester within the first month.",
        "status" => "Request updated.",
        _ => return None,
    };
    Some(Note::Ok(t.into()))
}

async fn list_page(
    s: &AppState,
    user: &WebUser,
    all: bool,
    note: Option<Note>,
    f: &Params,
) -> Result<Markup, WebError> {
    let today = crate::util::site_today();
    let list =
        s.db.read(move |c| ext::list(c, today, !all, false, None))
            .await?;
    audit_read(
        s,
        &user.who,
        "external_request.list",
        list.iter()
            .map(|r| (Some(r.patient_id), None))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect(),
        "external requests (web)".into(),
    )
    .await?;
    let people = load_patients(s, user, list.iter().map(|r| r.patient_id).collect()).await?;
    let overdue = list.iter().filter(|r| r.overdue).count();
    let cfg = &s.cfg.external_requests;
    let v = |k: &str| f.get(k).cloned().unwrap_or_default();
    let kind = param(f, "kind").unwrap_or("sar").to_string();
    let received = param(f, "received_on")
        .map(String::from)
        .unwrap_or_else(|| today.to_string());
    Ok(layout(
        user,
        "/external-requests",
        "GP queries and subject access requests",
        html! {
            (note_box(&note))
            p {
                strong id="ext-count" { (list.len()) } @if all { " request(s)" } @else { " open request(s)" } ", "
                strong id="ext-overdue" { (overdue) } " overdue. "
                @if all { a href="/external-requests" { "Show open requests only" } } @else { a href="/external-requests?all=1" { "Show every request, closed ones too" } }
            }
            @if list.is_empty() { p { "No requests." } } @else {
                div.table-wrap { table id="external-requests" {
                    caption.visually-hidden { "External requests, earliest due first" }
                    thead { tr { th { "Due" } th { "Type" } th { "Patient" } th { "Who asked" } th { "Received" } th { "Status" } th { span.visually-hidden { "Actions" } } } }
                    tbody { @for r in &list {
                        tr id={"ext-" (r.id)} class=(if r.overdue { "overdue" } else { "" }) {
                            td { (due_cell(r)) }
                            td { (kind_text(r.kind)) @if r.extended_months > 0 { br; span.hint { "extended by " (r.extended_months) " month(s)" } } }
                            td { (patient_cell(people.get(&r.patient_id), r.patient_id)) }
                            td { (r.requester) }
                            td { (date_text(&r.received_on)) }
                            td { (status_text(r.status)) }
                            td { a href={"/external-requests/" (r.id)} aria-label={"Open request " (r.id)} { "Open" } }
                        }
                    } }
                } }
            }
            form.card method="post" action="/external-requests" {
                h2 { "Log a request" }
                input type="hidden" name="csrf" value=(user.csrf);
                fieldset {
                    legend { "Type of request" }
                    @for k in ExternalKind::ALL {
                        div.radio {
                            input type="radio" id={"kind-" (k.as_str())} name="kind" value=(k.as_str()) checked[kind == k.as_str()];
                            label for={"kind-" (k.as_str())} { (kind_text(*k)) " - due " (period_text(cfg, *k)) }
                        }
                    }
                }
                label for="patient" { "Patient (CHI or NHS number)" }
                input type="text" id="patient" name="patient" inputmode="numeric" autocomplete="off" required value=(v("patient"));
                label for="requester" { "Who asked" }
                p.hint { "Name and organisation: the GP practice, solicitor, the patient." }
                input type="text" id="requester" name="requester" autocomplete="off" required value=(v("requester"));
                label for="received_on" { "Date received" }
                p.hint { "For a subject access request, the day the request and proof of identity arrived." }
                input type="date" id="received_on" name="received_on" required value=(received);
                label for="note" { "Note (optional)" }
                textarea id="note" name="note" rows="2" { (v("note")) }
                div { button type="submit" { "Log request" } }
            }
        },
    ))
}

/// `GET /external-requests` (`?all=1` shows closed requests too).
pub async fn external_requests(
    State(s): State<AppState>,
    user: WebUser,
    Query(q): Query<Params>,
) -> Result<Markup, WebError> {
    user.who.require(Permission::ManageExternalRequests)?;
    let all = param(&q, "all").is_some();
    list_page(&s, &user, all, done_text(&q), &Params::new()).await
}

/// `POST /external-requests`: log a request.
pub async fn create_external(
    State(s): State<AppState>,
    user: WebUser,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::ManageExternalRequests)?;
    let n = ext::NewExternalRequest {
        kind: param(&f, "kind").unwrap_or_default().to_string(),
        patient: param(&f, "patient").unwrap_or_default().to_string(),
        requester: param(&f, "requester").unwrap_or_default().to_string(),
        received_on: param(&f, "received_on").unwrap_or_default().to_string(),
        note: param(&f, "note").map(String::from),
    };
    let (cfg, who) = (s.cfg.external_requests.clone(), user.who.clone());
    let today = crate::util::site_today();
    match s
        .db
        .write(move |c| ext::create(c, &who, &cfg, &n, today))
        .await
    {
        Ok(r) => Ok(done(&format!("/external-requests/{}", r.id), "logged")),
        Err(e) => {
            let (status, note) = refusal(e)?;
            Ok(page_with(
                status,
                list_page(&s, &user, false, Some(note), &f).await?,
            ))
        }
    }
}

async fn request_page(
    s: &AppState,
    user: &WebUser,
    id: i64,
    note: Option<Note>,
) -> Result<Markup, WebError> {
    let today = crate::util::site_today();
    let r = s.db.read(move |c| ext::get(c, id, today)).await?;
    audit_read(
        s,
        &user.who,
        "external_request.read",
        vec![(Some(r.patient_id), None)],
        format!("{} {id} (web)", r.kind),
    )
    .await?;
    let people = load_patients(s, user, vec![r.patient_id]).await?;
    let cfg = &s.cfg.external_requests;
    let open = r.status.is_open();
    Ok(layout(
        user,
        "/external-requests",
        &format!("{} {id}", kind_text(r.kind)),
        html! {
            (note_box(&note))
            dl.summary id="request-summary" class=(if r.overdue { "overdue" } else { "" }) {
                dt { "Patient" } dd { (patient_cell(people.get(&r.patient_id), r.patient_id)) }
                dt { "Who asked" } dd { (r.requester) }
                dt { "Received" } dd { (date_text(&r.received_on)) }
                dt { "Due" } dd id="due" { (due_cell(&r)) br; span.hint { "Time allowed: " (period_text(cfg, r.kind)) "." } }
                @if r.extended_months > 0 {
                    dt { "Extended" } dd { (r.extended_months) " month(s): " (r.extension_reason.as_deref().unwrap_or("")) }
                }
                dt { "Status" } dd id="status" { strong { (status_text(r.status)) } @if let Some(d) = &r.completed_on { " on " (date_text(d)) } }
                @if !r.note.is_empty() { dt { "Note" } dd { (r.note) } }
                dt { "Logged by" } dd { (r.created_by) " at " (time_text(&r.created_at)) }
            }
            @if open && r.kind == ExternalKind::Sar && r.extended_months < 2 {
                form.card method="post" action={"/external-requests/" (id) "/extend"} {
                    h2 { "Extend (complex or numerous requests)" }
                    p.hint { "The law allows up to two further months in total. Tell the requester, with the reason, within the first month." }
                    input type="hidden" name="csrf" value=(user.csrf);
                    label for="months" { "Extra months" }
                    select id="months" name="months" {
                        option value="1" { "1 month" }
                        @if r.extended_months == 0 { option value="2" { "2 months" } }
                    }
                    label for="extend-reason" { "Reason" }
                    textarea id="extend-reason" name="reason" rows="2" required {}
                    div { button type="submit" { "Extend the due date" } }
                }
            }
            @if open {
                form.card method="post" action={"/external-requests/" (id) "/status"} {
                    h2 { "Move on or complete" }
                    input type="hidden" name="csrf" value=(user.csrf);
                    label for="new-status" { "New status" }
                    select id="new-status" name="status" {
                        @if r.status == ExternalStatus::Open { option value="in_progress" { "in progress" } }
                        option value="completed" { "completed (information sent)" }
                        option value="refused" { "refused" }
                        option value="withdrawn" { "withdrawn by the requester" }
                    }
                    label for="status-note" { "Note" }
                    p.hint { "Required to complete, refuse or withdraw: what was sent, or why." }
                    textarea id="status-note" name="note" rows="2" {}
                    div { button type="submit" { "Update request" } }
                }
            }
            p { a href="/external-requests" { "Back to the list" } }
        },
    ))
}

/// `GET /external-requests/{id}`.
pub async fn external_request(
    State(s): State<AppState>,
    user: WebUser,
    Path(id): Path<i64>,
    Query(q): Query<Params>,
) -> Result<Markup, WebError> {
    user.who.require(Permission::ManageExternalRequests)?;
    request_page(&s, &user, id, done_text(&q)).await
}

async fn after(
    s: &AppState,
    user: &WebUser,
    id: i64,
    r: crate::Result<ExternalRequest>,
    what: &str,
) -> Result<Response, WebError> {
    match r {
        Ok(_) => Ok(done(&format!("/external-requests/{id}"), what)),
        Err(e) => {
            let (status, note) = refusal(e)?;
            Ok(page_with(
                status,
                request_page(s, user, id, Some(note)).await?,
            ))
        }
    }
}

/// `POST /external-requests/{id}/extend`.
pub async fn extend_external(
    State(s): State<AppState>,
    user: WebUser,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::ManageExternalRequests)?;
    let r = match param(&f, "months").map(str::parse::<u32>) {
        Some(Ok(months)) => {
            let reason = param(&f, "reason").unwrap_or_default().to_string();
            let (cfg, who) = (s.cfg.external_requests.clone(), user.who.clone());
            let today = crate::util::site_today();
            s.db.write(move |c| ext::extend(c, &who, &cfg, id, months, &reason, today))
                .await
        }
        _ => Err(Error::invalid("months", "choose 1 or 2 months")),
    };
    after(&s, &user, id, r, "extended").await
}

/// `POST /external-requests/{id}/status`.
pub async fn status_external(
    State(s): State<AppState>,
    user: WebUser,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::ManageExternalRequests)?;
    let status = param(&f, "status").unwrap_or_default().to_string();
    let note = param(&f, "note").unwrap_or_default().to_string();
    let who = user.who.clone();
    let today = crate::util::site_today();
    let r =
        s.db.write(move |c| ext::set_status(c, &who, id, &status, &note, today))
            .await;
    after(&s, &user, id, r, "status").await
}
