//! Retention and destruction: the folders due for review or destruction, legal holds, and
//! destruction by two people (one proposes, a different one approves or rejects), with the
//! certificate of an approved destruction.

use super::*;
use crate::lifecycle::retention::{self, Destruction, DestructionStatus, RetentionAction};

fn action_text(a: RetentionAction) -> &'static str {
    match a {
        RetentionAction::Review => "review",
        RetentionAction::Destroy => "destroy",
        RetentionAction::Appraise => "appraise for permanent archive",
    }
}

fn done_text(q: &Params) -> Option<Note> {
    let t = match param(q, "done")? {
        "held" => "Legal hold placed. The folder cannot be destroyed while it is held.",
        "released" => "Legal hold released.",
        "proposed" => {
            "Destruction proposed. A second records manager must now approve or reject it."
        }
        "approved" => {
            "Destruction approved. The folder is recorded as destroyed; its certificate is below."
        }
        "rejected" => "Destruction rejected; the folder is kept.",
        "death" => "Date of death recorded; the patient's folders now follow the retention rule for deceased patients.",
        _ => return None,
    };
    Some(Note::Ok(t.into()))
}

fn destruction_row(d: &Destruction, me: &str, csrf: &str) -> Markup {
    let mine = d.requested_by == me;
    html! {
        tr id={"destruction-" (d.id)} {
            td { (d.id) }
            td { a href={"/whereis?q=" (d.barcode)} { (d.barcode) } }
            td { (d.rule) @if let Some(due) = &d.due_on { br; span.hint { "due " (due) } } }
            td { (d.reason) }
            td { (d.requested_by) br; span.hint { (time_text(&d.requested_at)) } }
            td {
                @if mine {
                    p.two-person { span.tag.warn { "Waiting for a second person" } br;
                        "You proposed this destruction, so you cannot approve or reject it. Another records manager must decide." }
                } @else {
                    form.inline method="post" action={"/retention/destructions/" (d.id) "/decide"} {
                        input type="hidden" name="csrf" value=(csrf);
                        label for={"note-" (d.id)} { "Note (required to reject)" }
                        input type="text" id={"note-" (d.id)} name="note" autocomplete="off";
                        button.small type="submit" name="decision" value="approve" aria-label={"Approve destruction " (d.id)} { "Approve" }
                        " "
                        button.small.secondary type="submit" name="decision" value="reject" aria-label={"Reject destruction " (d.id)} { "Reject" }
                    }
                }
            }
        }
    }
}

async fn retention_page(
    s: &AppState,
    user: &WebUser,
    as_of: Option<NaiveDate>,
    note: Option<Note>,
    f: &Params,
) -> Result<Markup, WebError> {
    let today = crate::util::site_today();
    let as_of = as_of.unwrap_or(today);
    let rules = s.cfg.retention.rules.clone();
    let (due, holds, destructions) =
        s.db.read(move |c| {
            Ok((
                retention::due(c, &rules, as_of, 500)?,
                retention::current_holds(c)?,
                retention::list_destructions(c, None)?,
            ))
        })
        .await?;
    audit_read(
        s,
        &user.who,
        "retention.due",
        due.iter()
            .map(|d| (Some(d.patient_id), Some(d.folder_id)))
            .collect(),
        format!("retention due as of {as_of} (web)"),
    )
    .await?;
    let pending: Vec<&Destruction> = destructions
        .iter()
        .filter(|d| d.status == DestructionStatus::Pending)
        .collect();
    let decided: Vec<&Destruction> = destructions
        .iter()
        .rev()
        .filter(|d| d.status != DestructionStatus::Pending)
        .take(50)
        .collect();
    let v = |k: &str| f.get(k).cloned().unwrap_or_default();
    let me = user.who.actor.clone();
    Ok(layout(
        user,
        "/retention",
        "Retention and destruction",
        html! {
            (note_box(&note))
            p.hint { "Nothing is destroyed automatically. One records manager proposes a destruction; a different one approves or rejects it. A folder under a legal hold cannot be destroyed." }
            h2 id="due-heading" { "Due for review or destruction on or before " (as_of.format("%a %d %b %Y")) }
            form.actions method="get" action="/retention" {
                div { label for="as_of" { "Look ahead to" } input type="date" id="as_of" name="as_of" value=(as_of.to_string()); }
                div { button.secondary type="submit" { "Show" } }
            }
            @if due.is_empty() { p { "No folder is due." } } @else {
                div.table-wrap { table id="retention-due" {
                    thead { tr { th { "Folder" } th { "Type" } th { "Last entry" } th { "Rule" } th { "Action" } th { "Due" } th { "Hold or proposal" } } }
                    tbody { @for d in &due {
                        tr id={"due-" (d.barcode)} {
                            td { a href={"/whereis?q=" (d.barcode)} { (d.barcode) } }
                            td { (words(&d.folder_type)) }
                            td { (d.last_entry) }
                            td { (d.rule) @if !d.rule_confirmed { " " span.tag.warn { "rule not yet confirmed" } } }
                            td { (action_text(d.action)) }
                            td { (d.due_on) }
                            td {
                                @if d.legal_hold { span.tag.bad { "legal hold" } }
                                @else if let Some(p) = d.pending_destruction { span.tag.info { "destruction " (p) " waiting for approval" } }
                                @else { a href={"/retention?folder=" (d.barcode) "#propose"} aria-label={"Propose destruction of " (d.barcode)} { "Propose destruction" } }
                            }
                        }
                    } }
                } }
            }
            h2 { "Destructions waiting for a second person" }
            @if pending.is_empty() { p { "None." } } @else {
                div.table-wrap { table id="pending-destructions" {
                    thead { tr { th { "No." } th { "Folder" } th { "Rule" } th { "Reason" } th { "Proposed by" } th { "Decision" } } }
                    tbody { @for d in &pending { (destruction_row(d, &me, &user.csrf)) } }
                } }
            }
            div.row {
                div {
                    form.card id="propose" method="post" action="/retention/destructions" {
                        h2 { "Propose a destruction" }
                        p.hint { "The folder must be due under its retention rule and not under a legal hold." }
                        input type="hidden" name="csrf" value=(user.csrf);
                        label for="destroy-folder" { "Folder barcode" }
                        input type="text" id="destroy-folder" name="folder" autocomplete="off" required value=(v("folder"));
                        label for="destroy-reason" { "Reason" }
                        textarea id="destroy-reason" name="reason" rows="2" required { (v("reason")) }
                        div { button type="submit" { "Propose destruction" } }
                    }
                }
                div {
                    form.card method="post" action="/retention/holds" {
                        h2 { "Place a legal hold" }
                        p.hint { "For a claim, complaint, inquiry or investigation: the notes must be kept." }
                        input type="hidden" name="csrf" value=(user.csrf);
                        label for="hold-folder" { "Folder barcode" }
                        input type="text" id="hold-folder" name="folder" autocomplete="off" required value=(v("hold_folder"));
                        label for="hold-reason" { "Reason" }
                        textarea id="hold-reason" name="reason" rows="2" required {}
                        div { button type="submit" { "Place legal hold" } }
                    }
                }
            }
            @if user.who.can(Permission::EditRecords) {
                form.card method="post" action="/retention/deaths" {
                    h2 { "Record a date of death" }
                    p.hint { "Retention for a deceased patient counts from the date of death." }
                    input type="hidden" name="csrf" value=(user.csrf);
                    label for="death-patient" { "Patient (CHI or NHS number)" }
                    input type="text" id="death-patient" name="patient" inputmode="numeric" autocomplete="off" required value=(v("patient"));
                    label for="date_of_death" { "Date of death" }
                    input type="date" id="date_of_death" name="date_of_death" required value=(v("date_of_death"));
                    div { button type="submit" { "Record date of death" } }
                }
            }
            h2 { "Legal holds in force" }
            @if holds.is_empty() { p { "None." } } @else {
                div.table-wrap { table id="legal-holds" {
                    thead { tr { th { "Folder" } th { "Reason" } th { "Placed" } th { "Release" } } }
                    tbody { @for h in &holds {
                        tr id={"hold-" (h.barcode)} {
                            td { a href={"/whereis?q=" (h.barcode)} { (h.barcode) } }
                            td { (h.reason) }
                            td { (h.placed_by) br; span.hint { (time_text(&h.placed_at)) } }
                            td {
                                form.inline method="post" action="/retention/holds/release" {
                                    input type="hidden" name="csrf" value=(user.csrf);
                                    input type="hidden" name="folder" value=(h.barcode);
                                    label for={"release-" (h.id)} { "Why release it?" }
                                    input type="text" id={"release-" (h.id)} name="note" autocomplete="off" required;
                                    button.small.secondary type="submit" aria-label={"Release the hold on " (h.barcode)} { "Release" }
                                }
                            }
                        }
                    } }
                } }
            }
            h2 { "Decided destructions" }
            @if decided.is_empty() { p { "None yet." } } @else {
                div.table-wrap { table id="decided-destructions" {
                    thead { tr { th { "No." } th { "Folder" } th { "Decision" } th { "Proposed by" } th { "Decided by" } th { "Certificate" } } }
                    tbody { @for d in &decided {
                        tr id={"destruction-" (d.id)} {
                            td { (d.id) }
                            td { (d.barcode) }
                            td { @if d.status == DestructionStatus::Approved { span.tag.bad { "destroyed" } } @else { span.tag.ok { "rejected: kept" } }
                                 @if let Some(n) = d.decision_note.as_deref().filter(|n| !n.is_empty()) { br; span.hint { (n) } } }
                            td { (d.requested_by) }
                            td { (d.decided_by.as_deref().unwrap_or("")) @if let Some(at) = &d.decided_at { br; span.hint { (time_text(at)) } } }
                            td { @if d.certificate_sha256.is_some() { a href={"/retention/destructions/" (d.id) "/certificate"} { "Certificate " (d.id) } } }
                        }
                    } }
                } }
            }
        },
    ))
}

/// `GET /retention` (`?as_of=YYYY-MM-DD` looks ahead; `?folder=` fills the proposal form).
pub async fn retention_home(
    State(s): State<AppState>,
    user: WebUser,
    Query(q): Query<Params>,
) -> Result<Response, WebError> {
    user.who.require(Permission::ManageRetention)?;
    let mut f = Params::new();
    if let Some(b) = param(&q, "folder") {
        f.insert("folder".into(), b.to_string());
    }
    match date_field(&q, "as_of") {
        Ok(as_of) => Ok(retention_page(&s, &user, as_of, done_text(&q), &f)
            .await?
            .into_response()),
        Err(e) => {
            let (status, note) = refusal(e)?;
            Ok(page_with(
                status,
                retention_page(&s, &user, None, Some(note), &f).await?,
            ))
        }
    }
}

async fn after<T>(
    s: &AppState,
    user: &WebUser,
    r: crate::Result<T>,
    what: &str,
    f: &Params,
) -> Result<Response, WebError> {
    match r {
        Ok(_) => Ok(done("/retention", what)),
        Err(e) => {
            let (status, note) = refusal(e)?;
            Ok(page_with(
                status,
                retention_page(s, user, None, Some(note), f).await?,
            ))
        }
    }
}

/// `POST /retention/holds`: place a legal hold.
pub async fn place_hold(
    State(s): State<AppState>,
    user: WebUser,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::ManageRetention)?;
    let (barcode, reason) = (
        param(&f, "folder").unwrap_or_default().to_string(),
        param(&f, "reason").unwrap_or_default().to_string(),
    );
    let (scheme, who) = (s.cfg.identifiers.folder.clone(), user.who.clone());
    let r =
        s.db.write(move |c| {
            let folder = folder_by_barcode(c, &scheme, &barcode)?;
            retention::place_hold(c, &who, folder.id, &reason)
        })
        .await;
    let mut back = Params::new();
    back.insert(
        "hold_folder".into(),
        param(&f, "folder").unwrap_or_default().into(),
    );
    after(&s, &user, r, "held", &back).await
}

fn folder_by_barcode(
    c: &rusqlite::Connection,
    scheme: &casenote_core::identifiers::FolderIdScheme,
    barcode: &str,
) -> crate::Result<crate::ledger::folders::Folder> {
    crate::ledger::folders::by_barcode(c, scheme, barcode).map_err(|e| match e {
        Error::Invalid { message, .. } => Error::invalid("folder", message),
        e => e,
    })
}

/// `POST /retention/deaths`: record a patient's date of death (as the API's
/// `POST /api/v1/patients/{id}/death`).
pub async fn record_death(
    State(s): State<AppState>,
    user: WebUser,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::ManageRetention)?;
    user.who.require(Permission::EditRecords)?;
    let (patient, date) = (
        param(&f, "patient").unwrap_or_default().to_string(),
        param(&f, "date_of_death").unwrap_or_default().to_string(),
    );
    let who = user.who.clone();
    let r =
        s.db.write(move |c| retention::record_death(c, &who, &patient, &date))
            .await;
    after(&s, &user, r, "death", &f).await
}

/// `POST /retention/holds/release`.
pub async fn release_hold(
    State(s): State<AppState>,
    user: WebUser,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::ManageRetention)?;
    let (barcode, note) = (
        param(&f, "folder").unwrap_or_default().to_string(),
        param(&f, "note").unwrap_or_default().to_string(),
    );
    let (scheme, who) = (s.cfg.identifiers.folder.clone(), user.who.clone());
    let r =
        s.db.write(move |c| {
            let folder = folder_by_barcode(c, &scheme, &barcode)?;
            retention::release_hold(c, &who, folder.id, &note)
        })
        .await;
    after(&s, &user, r, "released", &Params::new()).await
}

/// `POST /retention/destructions`: propose a destruction (the first person).
pub async fn propose_destruction(
    State(s): State<AppState>,
    user: WebUser,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::ManageRetention)?;
    let (barcode, reason) = (
        param(&f, "folder").unwrap_or_default().to_string(),
        param(&f, "reason").unwrap_or_default().to_string(),
    );
    let (scheme, rules, who) = (
        s.cfg.identifiers.folder.clone(),
        s.cfg.retention.rules.clone(),
        user.who.clone(),
    );
    let today = crate::util::site_today();
    let r =
        s.db.write(move |c| {
            retention::request_destruction_of(c, &who, &rules, &scheme, &barcode, &reason, today)
        })
        .await;
    after(&s, &user, r, "proposed", &f).await
}

/// `POST /retention/destructions/{id}/decide`: approve or reject (a second, different person).
pub async fn decide_destruction(
    State(s): State<AppState>,
    user: WebUser,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::ManageRetention)?;
    let approve = match param(&f, "decision") {
        Some("approve") => true,
        Some("reject") => false,
        _ => {
            let r: crate::Result<()> = Err(Error::invalid("decision", "choose approve or reject"));
            return after(&s, &user, r, "", &Params::new()).await;
        }
    };
    let note = param(&f, "note").unwrap_or_default().to_string();
    let who = user.who.clone();
    let r =
        s.db.write(move |c| retention::decide_destruction(c, &who, id, approve, &note))
            .await;
    let what = if approve { "approved" } else { "rejected" };
    after(&s, &user, r, what, &Params::new()).await
}

/// `GET /retention/destructions/{id}/certificate`: the certificate text, as the API serves it.
pub async fn destruction_certificate(
    State(s): State<AppState>,
    user: WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    user.who.require(Permission::ManageRetention)?;
    let (cert, sha) = s.db.read(move |c| retention::certificate(c, id)).await?;
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8".to_string(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("inline; filename=\"destruction-{id}.txt\""),
            ),
        ],
        format!("{cert}SHA-256 of the text above: {sha}\n"),
    )
        .into_response())
}
