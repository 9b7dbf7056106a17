//! Scanning-bureau batches: prepare and send a batch of folders to the bureau, record the
//! quality check of each folder's scans, then what happens to the paper (returned, kept by the
//! bureau, or destroyed through the two-person destruction approval). The bureau uploads the
//! scanned documents through the API (`POST /api/v1/folders/{barcode}/documents`).

use super::*;
use crate::ledger::locations::{self, LocationKind};
use crate::lifecycle::digitisation::{self, Disposition, QaResult};

fn disposition_text(d: &str) -> &'static str {
    match d.parse::<Disposition>() {
        Ok(Disposition::Returned) => "returned to the library",
        Ok(Disposition::Retained) => "kept by the scanning bureau",
        Ok(Disposition::Destroyed) => "to be destroyed (a second person approves)",
        Err(_) => "unknown",
    }
}

fn qa_tag(q: &str) -> Markup {
    html! {
        @match q.parse::<QaResult>() {
            Ok(QaResult::Passed) => span.tag.ok { "QA passed" },
            Ok(QaResult::Failed) => span.tag.bad { "QA failed" },
            Err(_) => span.tag.info { "waiting for QA" },
        }
    }
}

fn done_text(q: &Params) -> Option<Note> {
    let t = match param(q, "done")? {
        "sent" => "Batch recorded as sent to the scanning bureau. Each folder's status is now sent for scanning.",
        "qa" => "QA result recorded.",
        "disposed" => "What happens to the paper is recorded.",
        "destroy" => "Destruction of the paper proposed: a second records manager must approve it on the retention page.",
        _ => return None,
    };
    Some(Note::Ok(t.into()))
}

async fn batches_page(
    s: &AppState,
    user: &WebUser,
    note: Option<Note>,
    f: &Params,
) -> Result<Markup, WebError> {
    let (list, locs) =
        s.db.read(|c| Ok((digitisation::list_batches(c, 200)?, locations::list(c)?)))
            .await?;
    let bureaus: Vec<_> = locs
        .iter()
        .filter(|l| l.kind == LocationKind::ScanningBureau)
        .collect();
    let v = |k: &str| f.get(k).cloned().unwrap_or_default();
    let chosen = v("bureau");
    Ok(layout(
        user,
        "/digitisation",
        "Scanning bureau batches",
        html! {
            (note_box(&note))
            @if list.is_empty() { p { "No batch has been sent yet." } } @else {
                div.table-wrap { table id="batches" {
                    thead { tr { th { "Batch" } th { "Bureau" } th { "Sent" } th { "Folders" } th { "QA passed" } th { "Paper decided" } th { "Status" } } }
                    tbody { @for b in &list {
                        tr id={"batch-" (b.id)} {
                            td { a href={"/digitisation/batches/" (b.id)} { "Batch " (b.id) } }
                            td { (b.bureau) }
                            td { (time_text(&b.created_at)) br; span.hint { (b.created_by) } }
                            td { (b.folders) }
                            td { (b.qa_passed) }
                            td { (b.disposed) }
                            td { @if b.status == "completed" { span.tag.ok { "completed" } } @else { span.tag.info { "at the bureau" } } }
                        }
                    } }
                } }
            }
            form.card method="post" action="/digitisation/batches" {
                h2 { "Prepare and send a batch" }
                p.hint { "Scan or type the barcode of each folder going to the bureau, one per line. Only active or closed folders can be sent." }
                input type="hidden" name="csrf" value=(user.csrf);
                @if bureaus.is_empty() {
                    div.error-summary role="alert" { p { "No scanning bureau location is registered. "
                        @if user.who.can(Permission::ManageLocations) { a href="/admin/locations" { "Add one (kind: scanning bureau)" } } @else { "Ask a records manager to add one." } } }
                }
                label for="bureau" { "Scanning bureau" }
                select id="bureau" name="bureau" required {
                    @for l in &bureaus { option value=(l.code) selected[l.code == chosen] { (l.name) " (" (l.code) ")" } }
                }
                label for="folders" { "Folder barcodes" }
                textarea id="folders" name="folders" rows="6" required { (v("folders")) }
                label for="batch-note" { "Note (optional)" }
                input type="text" id="batch-note" name="note" autocomplete="off" value=(v("note"));
                div { button type="submit" { "Send batch to the bureau" } }
            }
        },
    ))
}

/// `GET /digitisation`.
pub async fn digitisation_home(
    State(s): State<AppState>,
    user: WebUser,
    Query(q): Query<Params>,
) -> Result<Markup, WebError> {
    user.who.require(Permission::ManageDigitisation)?;
    batches_page(&s, &user, done_text(&q), &Params::new()).await
}

/// `POST /digitisation/batches`: prepare and send a batch.
pub async fn create_batch(
    State(s): State<AppState>,
    user: WebUser,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::ManageDigitisation)?;
    let n = digitisation::NewBatch {
        bureau: param(&f, "bureau").unwrap_or_default().to_string(),
        folders: f
            .get("folders")
            .map(String::as_str)
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect(),
        note: param(&f, "note").map(String::from),
    };
    let (scheme, who) = (s.cfg.identifiers.folder.clone(), user.who.clone());
    match s
        .db
        .write(move |c| digitisation::create_batch(c, &who, &scheme, &n))
        .await
    {
        Ok(id) => Ok(done(&format!("/digitisation/batches/{id}"), "sent")),
        Err(e) => {
            let (status, note) = refusal(e)?;
            Ok(page_with(
                status,
                batches_page(&s, &user, Some(note), &f).await?,
            ))
        }
    }
}

async fn batch_page(
    s: &AppState,
    user: &WebUser,
    id: i64,
    note: Option<Note>,
) -> Result<Markup, WebError> {
    let b = s.db.read(move |c| digitisation::get_batch(c, id)).await?;
    let cfg = &s.cfg.digitisation;
    let allowed: Vec<&str> = Disposition::WORDS
        .iter()
        .copied()
        .filter(|d| cfg.allowed_dispositions.iter().any(|a| a == d))
        // Destroying paper is a retention decision: offered only to those who may make it.
        .filter(|d| {
            *d != Disposition::Destroyed.as_str() || user.who.can(Permission::ManageRetention)
        })
        .collect();
    Ok(layout(
        user,
        "/digitisation",
        &format!("Scanning batch {id}"),
        html! {
            (note_box(&note))
            dl.summary {
                dt { "Bureau" } dd { (b.bureau) }
                dt { "Sent" } dd { (time_text(&b.created_at)) " by " (b.created_by) }
                dt { "Status" } dd { @if b.status == "completed" { strong { "completed" } @if let Some(at) = &b.completed_at { " " (time_text(at)) } } @else { strong { "at the bureau" } } }
                @if !b.note.is_empty() { dt { "Note" } dd { (b.note) } }
            }
            p.hint { "The bureau uploads each folder's scans; a folder can pass QA only once its scans are uploaded."
                @if cfg.require_qa_before_disposition { " The paper's fate is recorded after the folder passes QA." } }
            div.table-wrap { table id="batch-folders" {
                thead { tr { th { "Folder" } th { "Where it is now" } th { "Scans uploaded" } th { "QA" } th { "Paper" } } }
                tbody { @for bf in &b.folders {
                    tr id={"folder-" (bf.barcode)} {
                        td { a href={"/whereis?q=" (bf.barcode)} { (bf.barcode) } br; span.hint { (words(&bf.folder_status)) } }
                        td { (bf.current_location.as_deref().unwrap_or("never scanned")) }
                        td { (bf.documents) }
                        td {
                            (qa_tag(&bf.qa_status)) @if let Some(by) = &bf.qa_by { br; span.hint { "by " (by) } }
                            @if bf.disposition.is_none() {
                                form method="post" action={"/digitisation/batches/" (id) "/qa"} {
                                    input type="hidden" name="csrf" value=(user.csrf);
                                    input type="hidden" name="barcode" value=(bf.barcode);
                                    label for={"qa-" (bf.barcode)} { "QA result" }
                                    select id={"qa-" (bf.barcode)} name="result" {
                                        option value="passed" { "passed: complete and legible" }
                                        option value="failed" { "failed: rescan needed" }
                                    }
                                    label for={"qa-note-" (bf.barcode)} { "Note (say what is wrong if it failed)" }
                                    input type="text" id={"qa-note-" (bf.barcode)} name="note" autocomplete="off";
                                    button.small type="submit" aria-label={"Record QA for " (bf.barcode)} { "Record QA" }
                                }
                            }
                        }
                        td {
                            @if let Some(d) = &bf.disposition {
                                strong { (disposition_text(d)) } @if let Some(by) = &bf.disposition_by { br; span.hint { "by " (by) } }
                            } @else if bf.qa_status == "passed" || !cfg.require_qa_before_disposition {
                                form method="post" action={"/digitisation/batches/" (id) "/disposition"} {
                                    input type="hidden" name="csrf" value=(user.csrf);
                                    input type="hidden" name="barcode" value=(bf.barcode);
                                    label for={"disp-" (bf.barcode)} { "What happens to the paper" }
                                    select id={"disp-" (bf.barcode)} name="disposition" {
                                        @for d in &allowed { option value=(d) { (disposition_text(d)) } }
                                    }
                                    label for={"disp-note-" (bf.barcode)} { "Note (optional)" }
                                    input type="text" id={"disp-note-" (bf.barcode)} name="note" autocomplete="off";
                                    button.small type="submit" aria-label={"Record the paper's fate for " (bf.barcode)} { "Record" }
                                }
                            } @else { span.hint { "after QA passes" } }
                        }
                    }
                } }
            } }
            p { a href="/digitisation" { "Back to the batches" } }
        },
    ))
}

/// `GET /digitisation/batches/{id}`.
pub async fn digitisation_batch(
    State(s): State<AppState>,
    user: WebUser,
    Path(id): Path<i64>,
    Query(q): Query<Params>,
) -> Result<Markup, WebError> {
    user.who.require(Permission::ManageDigitisation)?;
    batch_page(&s, &user, id, done_text(&q)).await
}

async fn after<T>(
    s: &AppState,
    user: &WebUser,
    id: i64,
    r: crate::Result<T>,
    what: &str,
) -> Result<Response, WebError> {
    match r {
        Ok(_) => Ok(done(&format!("/digitisation/batches/{id}"), what)),
        Err(e) => {
            let (status, note) = refusal(e)?;
            Ok(page_with(
                status,
                batch_page(s, user, id, Some(note)).await?,
            ))
        }
    }
}

/// `POST /digitisation/batches/{id}/qa`.
pub async fn qa_folder(
    State(s): State<AppState>,
    user: WebUser,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::ManageDigitisation)?;
    let (barcode, result, note) = (
        param(&f, "barcode").unwrap_or_default().to_string(),
        param(&f, "result").unwrap_or_default().to_string(),
        param(&f, "note").unwrap_or_default().to_string(),
    );
    let (scheme, who) = (s.cfg.identifiers.folder.clone(), user.who.clone());
    let r =
        s.db.write(move |c| digitisation::qa(c, &who, &scheme, id, &barcode, &result, &note))
            .await;
    after(&s, &user, id, r, "qa").await
}

/// `POST /digitisation/batches/{id}/disposition`: what happens to the paper.
pub async fn dispose_folder(
    State(s): State<AppState>,
    user: WebUser,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::ManageDigitisation)?;
    let disposition = param(&f, "disposition").unwrap_or_default().to_string();
    // Destroying paper is a retention decision, as in the API.
    if disposition.parse() == Ok(Disposition::Destroyed) {
        user.who.require(Permission::ManageRetention)?;
    }
    let (barcode, note) = (
        param(&f, "barcode").unwrap_or_default().to_string(),
        param(&f, "note").unwrap_or_default().to_string(),
    );
    let (cfg, scheme, who) = (
        s.cfg.digitisation.clone(),
        s.cfg.identifiers.folder.clone(),
        user.who.clone(),
    );
    let r =
        s.db.write(move |c| {
            digitisation::dispose(c, &who, &cfg, &scheme, id, &barcode, &disposition, &note)
        })
        .await;
    let what = match &r {
        Ok(Some(_)) => "destroy",
        _ => "disposed",
    };
    after(&s, &user, id, r, what).await
}
