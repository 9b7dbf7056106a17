//! Labels on the web: print or reprint a folder label, a location card or a staff badge to a
//! registered printer; batch printing with a progress display; the printers page.

use super::pages::{param, time_text, Params};
use super::{layout, WebError, WebUser};
use crate::{
    app::{labels, AppState},
    auth::{self, Permission},
    ledger::locations,
    printing::{self, BadgeRequest, BatchFolders, NewPrinter},
    Error,
};
use axum::{
    extract::{Form, Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    Json,
};
use maud::{html, Markup};

type Message = Option<(&'static str, String)>;

fn message_box(m: &Message) -> Markup {
    html! {
        @if let Some((kind, text)) = m {
            @if *kind == "ok" { div.card.ok id="print-result" role="status" { p { (text) } } }
            @else { div.error-summary id="print-result" role="alert" { h2 { "There is a problem" } p { (text) } } }
        }
    }
}

fn copies(f: &Params) -> crate::Result<u32> {
    match param(f, "copies") {
        None => Ok(1),
        Some(c) => c
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=printing::MAX_COPIES).contains(n))
            .ok_or_else(|| {
                Error::invalid("copies", format!("must be 1 to {}", printing::MAX_COPIES))
            }),
    }
}

fn printer_select(id: &str, printers: &[printing::Printer]) -> Markup {
    html! {
        label for=(id) { "Printer" }
        select id=(id) name="printer" required {
            @for p in printers.iter().filter(|p| p.active) { option value=(p.name) { (p.name) " (" (p.stock) " mm)" } }
        }
    }
}

async fn labels_page(s: &AppState, user: &WebUser, message: Message) -> Result<Markup, WebError> {
    let printers = s.db.read(printing::list_printers).await?;
    let locs = s.db.read(locations::list).await?;
    let users = if user.who.can(Permission::ManageUsers) {
        s.db.read(auth::list_users).await?
    } else {
        Vec::new()
    };
    let jobs =
        s.db.read(|c| {
            printing::list_jobs(
                c,
                &printing::JobFilter {
                    status: None,
                    batch_id: None,
                    limit: 15,
                },
            )
        })
        .await?;
    Ok(layout(
        user,
        "/labels",
        "Labels",
        html! {
            (message_box(&message))
            @if printers.is_empty() {
                div.error-summary role="alert" { p { "No printer is registered yet. "
                    @if user.who.can(Permission::ManagePrinters) { a href="/admin/printers" { "Register a printer" } } @else { "Ask an administrator to register one." } } }
            }
            div.row {
                div {
                    form.card method="post" action="/labels/folder" {
                        h2 { "Folder label" }
                        p.hint { "Prints or reprints the label of one folder volume (a reprint is numbered)." }
                        input type="hidden" name="csrf" value=(user.csrf);
                        label for="folder-barcode" { "Folder barcode" }
                        input type="text" id="folder-barcode" name="barcode" autocomplete="off" required;
                        (printer_select("folder-printer", &printers))
                        label for="folder-copies" { "Copies" }
                        input type="number" id="folder-copies" name="copies" min="1" max=(printing::MAX_COPIES) value="1";
                        div { button type="submit" { "Print folder label" } }
                    }
                }
                div {
                    form.card method="post" action="/labels/folder-by-nhs" {
                        h2 { "Folder labels by NHS number" }
                        p.hint { "For a patient known only by an NHS number (no CHI): prints the label of each volume in use." }
                        input type="hidden" name="csrf" value=(user.csrf);
                        label for="nhs-number" { "NHS number" }
                        p.hint { "10 digits, for example 943 476 5919." }
                        input type="text" id="nhs-number" name="nhs_number" inputmode="numeric" autocomplete="off" required;
                        (printer_select("nhs-printer", &printers))
                        div { button type="submit" { "Print folder labels" } }
                    }
                }
            }
            div.row {
                div {
                    form.card method="post" action="/labels/location" {
                        h2 { "Location card" }
                        p.hint { "For ward doors, clinic desks and trolleys." }
                        input type="hidden" name="csrf" value=(user.csrf);
                        label for="location-code" { "Location" }
                        select id="location-code" name="code" required {
                            @for l in &locs { option value=(l.code) { (l.name) " (" (l.code) ")" } }
                        }
                        (printer_select("location-printer", &printers))
                        label for="location-copies" { "Copies" }
                        input type="number" id="location-copies" name="copies" min="1" max=(printing::MAX_COPIES) value="1";
                        div { button type="submit" { "Print location card" } }
                    }
                }
            }
            div.row {
                div {
                    form.card method="post" action="/labels/badge" {
                        h2 { "Staff badge" }
                        p.hint { "For a user of this system, give the user name. Otherwise give a badge number, name and role." }
                        input type="hidden" name="csrf" value=(user.csrf);
                        label for="badge-username" { "User name" }
                        input type="text" id="badge-username" name="username" autocomplete="off" list="usernames";
                        @if !users.is_empty() { datalist id="usernames" { @for u in &users { option value=(u.username) { (u.display_name) } } } }
                        label for="badge-number" { "Or badge number" }
                        input type="text" id="badge-number" name="badge" autocomplete="off";
                        label for="badge-name" { "Name on the badge" }
                        input type="text" id="badge-name" name="name" autocomplete="off";
                        label for="badge-role" { "Role on the badge" }
                        input type="text" id="badge-role" name="role" autocomplete="off";
                        (printer_select("badge-printer", &printers))
                        div { button type="submit" { "Print badge" } }
                    }
                }
                div {
                    form.card method="post" action="/labels/batch" {
                        h2 { "Batch of folder labels" }
                        p.hint { "One folder barcode per line (up to " (printing::MAX_BATCH) "). You can follow the progress." }
                        input type="hidden" name="csrf" value=(user.csrf);
                        label for="batch-barcodes" { "Folder barcodes" }
                        textarea id="batch-barcodes" name="barcodes" rows="6" required {}
                        (printer_select("batch-printer", &printers))
                        div { button type="submit" { "Print batch" } }
                    }
                }
            }
            h2 { "Recent print jobs" }
            @if jobs.is_empty() { p { "None yet." } } @else {
                div.table-wrap {
                    table {
                        thead { tr { th { "Job" } th { "Label" } th { "Printer" } th { "When" } th { "State" } th { span.visually-hidden { "Actions" } } } }
                        tbody { @for j in &jobs {
                            tr {
                                td { (j.id) }
                                td { (j.template) ": " (j.subject) @if j.reprint_number > 0 { " (reprint " (j.reprint_number) ")" } }
                                td { (j.printer) }
                                td { (time_text(&j.created_at)) }
                                td { @match j.status {
                                    printing::JobStatus::Sent => span.tag.ok { "sent" },
                                    printing::JobStatus::Failed => { span.tag.bad { "failed" } br; span.hint { (j.error.as_deref().unwrap_or("")) } },
                                    printing::JobStatus::Queued => span.tag.info { "queued" },
                                } }
                                td { @if j.status == printing::JobStatus::Failed {
                                    form.inline method="post" action={"/labels/jobs/" (j.id) "/retry"} {
                                        input type="hidden" name="csrf" value=(user.csrf);
                                        button.small type="submit" aria-label={"Retry job " (j.id)} { "Retry" }
                                    }
                                } }
                            }
                        } }
                    }
                }
            }
        },
    ))
}

pub async fn labels(State(s): State<AppState>, user: WebUser) -> Result<Markup, WebError> {
    user.who.require(Permission::PrintLabels)?;
    labels_page(&s, &user, None).await
}

/// Send a stored job and show the outcome on the labels page.
async fn send_and_show(
    s: &AppState,
    user: &WebUser,
    ready: crate::Result<printing::Ready>,
) -> Result<Response, WebError> {
    let ready = match ready {
        Ok(r) => r,
        Err(e @ (Error::Invalid { .. } | Error::NotFound { .. } | Error::Conflict { .. })) => {
            return Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                labels_page(s, user, Some(("error", e.to_string()))).await?,
            )
                .into_response())
        }
        Err(e) => return Err(e.into()),
    };
    let job = printing::send_and_record(&s.db, &s.cfg.printing, &s.printer_locks, ready).await?;
    let (status, m) = if job.status == printing::JobStatus::Sent {
        (
            StatusCode::OK,
            (
                "ok",
                format!(
                    "Sent to {}: {} {} (job {}).",
                    job.printer, job.template, job.subject, job.id
                ),
            ),
        )
    } else {
        (
            StatusCode::BAD_GATEWAY,
            (
                "error",
                format!(
                    "{}. The job ({}) is kept: fix the printer, then retry it below.",
                    job.error
                        .as_deref()
                        .unwrap_or("The printer did not take the job"),
                    job.id
                ),
            ),
        )
    };
    Ok((status, labels_page(s, user, Some(m)).await?).into_response())
}

pub async fn print_folder(
    State(s): State<AppState>,
    user: WebUser,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::PrintLabels)?;
    let (barcode, printer) = (
        param(&f, "barcode").unwrap_or_default().to_string(),
        param(&f, "printer").unwrap_or_default().to_string(),
    );
    let ready = match copies(&f) {
        Ok(n) => labels::folder(&s, &user.who, barcode, printer, n).await,
        Err(e) => Err(e),
    };
    send_and_show(&s, &user, ready).await
}

pub async fn print_location(
    State(s): State<AppState>,
    user: WebUser,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::PrintLabels)?;
    let (code, printer) = (
        param(&f, "code").unwrap_or_default().to_string(),
        param(&f, "printer").unwrap_or_default().to_string(),
    );
    let ready = match copies(&f) {
        Ok(n) => labels::location(&s, &user.who, code, printer, n).await,
        Err(e) => Err(e),
    };
    send_and_show(&s, &user, ready).await
}

pub async fn print_badge(
    State(s): State<AppState>,
    user: WebUser,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::PrintLabels)?;
    let b = BadgeRequest {
        username: param(&f, "username").map(String::from),
        badge: param(&f, "badge").map(String::from),
        name: param(&f, "name").map(String::from),
        role: param(&f, "role").map(String::from),
        printer: param(&f, "printer").unwrap_or_default().to_string(),
        copies: 1,
    };
    let ready = labels::badge(&s, &user.who, b).await;
    send_and_show(&s, &user, ready).await
}

pub async fn retry_job(
    State(s): State<AppState>,
    user: WebUser,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::PrintLabels)?;
    let who = user.who.clone();
    let ready =
        s.db.write(move |c| printing::claim_retry(c, id, &who))
            .await;
    send_and_show(&s, &user, ready).await
}

// ---------- batches ----------

pub async fn print_batch(
    State(s): State<AppState>,
    user: WebUser,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::PrintLabels)?;
    let barcodes: Vec<String> = f
        .get("barcodes")
        .map(String::as_str)
        .unwrap_or_default()
        .split(['\n', '\r', ',', ' '])
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .map(String::from)
        .collect();
    if barcodes.is_empty() {
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            labels_page(
                &s,
                &user,
                Some(("error", "Give at least one folder barcode.".into())),
            )
            .await?,
        )
            .into_response());
    }
    let printer = param(&f, "printer").unwrap_or_default().to_string();
    match crate::app::labels::start_batch(
        &s,
        user.who.clone(),
        BatchFolders::List(barcodes),
        printer,
        1,
    )
    .await
    {
        Ok(b) => Ok(Redirect::to(&format!("/labels/batches/{}", b.batch_id)).into_response()),
        Err(e @ (Error::Invalid { .. } | Error::NotFound { .. } | Error::Conflict { .. })) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            labels_page(&s, &user, Some(("error", e.to_string()))).await?,
        )
            .into_response()),
        Err(e) => Err(e.into()),
    }
}

pub async fn batch_page(
    State(s): State<AppState>,
    user: WebUser,
    Path(id): Path<i64>,
) -> Result<Markup, WebError> {
    user.who.require(Permission::PrintLabels)?;
    let b = s.db.read(move |c| printing::get_batch(c, id)).await?;
    Ok(layout(
        &user,
        "/labels",
        &format!("Print batch {id}"),
        html! {
            p { (b.description) }
            div.card id="batch" data-progress={"/web/print/batches/" (id)} {
                label for="batch-progress" { "Progress" }
                progress id="batch-progress" max=(b.total.max(1)) value=(b.done + b.failed) { (b.done) " of " (b.total) }
                p id="batch-status" role="status" aria-live="polite" {
                    (b.done) " of " (b.total) " sent, " (b.failed) " failed (" (b.status) ")."
                }
            }
            p { a href="/labels" { "Back to labels" } }
            script src="/static/progress.js" defer {}
        },
    ))
}

/// `GET /web/print/batches/{id}`: batch progress as JSON for the page script.
pub async fn batch_json(
    State(s): State<AppState>,
    user: WebUser,
    Path(id): Path<i64>,
) -> Result<Json<printing::Batch>, WebError> {
    user.who.require(Permission::PrintLabels)?;
    Ok(Json(s.db.read(move |c| printing::get_batch(c, id)).await?))
}

// ---------- printers ----------

async fn printers_page(s: &AppState, user: &WebUser, message: Message) -> Result<Markup, WebError> {
    let list = s.db.read(printing::list_printers).await?;
    let manage = user.who.can(Permission::ManagePrinters);
    Ok(layout(
        user,
        "/admin/printers",
        "Printers",
        html! {
            (message_box(&message))
            @if list.is_empty() { p { "No printer is registered yet." } }
            @else {
                div.table-wrap {
                    table {
                        thead { tr { th { "Name" } th { "Address" } th { "Labels" } th { "RFID" } th { "Active" } th { "Registered" } @if manage { th { span.visually-hidden { "Actions" } } } } }
                        tbody { @for p in &list {
                            tr id={"printer-" (p.id)} { td { (p.name) } td { code { (p.url) } } td { (p.stock) " mm, " (p.dpi) " dpi" } td { @if p.rfid { "yes" } @else { "no" } } td { @if p.active { span.tag.ok { "yes" } } @else { span.tag.bad { "no" } } } td { (time_text(&p.created_at)) }
                                @if manage { td { a href={"/admin/printers/" (p.id)} aria-label={"Edit printer " (p.name)} { "Edit" } } } }
                        } }
                    }
                }
            }
            @if user.who.can(Permission::ManagePrinters) {
                form.card method="post" action="/admin/printers" {
                    h2 { "Register a printer" }
                    input type="hidden" name="csrf" value=(user.csrf);
                    label for="name" { "Name" } p.hint { "What people choose when printing, e.g. library-zebra-1" }
                    input type="text" id="name" name="name" required;
                    label for="url" { "Address" } p.hint { "tcp://host:9100 for a network printer, lp://queue, or usb://" }
                    input type="text" id="url" name="url" required;
                    label for="stock" { "Label size in mm (optional)" } p.hint { "Width x height, e.g. 100x50" }
                    input type="text" id="stock" name="stock";
                    label for="dpi" { "Resolution (optional)" }
                    select id="dpi" name="dpi" { option value="" { "default" } option value="203" { "203 dpi" } option value="300" { "300 dpi" } }
                    div.checkbox { input type="checkbox" id="rfid" name="rfid" value="1"; label for="rfid" { "RFID printer (writes the folder's tag)" } }
                    div { button type="submit" { "Register printer" } }
                }
            }
        },
    ))
}

pub async fn printers(State(s): State<AppState>, user: WebUser) -> Result<Markup, WebError> {
    user.who.require(Permission::PrintLabels)?;
    printers_page(&s, &user, None).await
}

pub async fn add_printer(
    State(s): State<AppState>,
    user: WebUser,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::ManagePrinters)?;
    let dpi = match param(&f, "dpi") {
        Some(d) => Some(
            d.parse::<u32>()
                .map_err(|_| Error::invalid("dpi", "must be 203 or 300"))?,
        ),
        None => None,
    };
    let n = NewPrinter {
        name: param(&f, "name").unwrap_or_default().to_string(),
        url: param(&f, "url").unwrap_or_default().to_string(),
        stock: param(&f, "stock").map(String::from),
        dpi,
        rfid: param(&f, "rfid").is_some(),
    };
    let (cfg, who) = (s.cfg.printing.clone(), user.who.clone());
    let r =
        s.db.write(move |c| printing::create_printer(c, &cfg, &who, &n))
            .await;
    match r {
        Ok(p) => Ok(printers_page(
            &s,
            &user,
            Some(("ok", format!("Printer {} registered.", p.name))),
        )
        .await?
        .into_response()),
        Err(e @ (Error::Invalid { .. } | Error::Conflict { .. })) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            printers_page(&s, &user, Some(("error", e.to_string()))).await?,
        )
            .into_response()),
        Err(e) => Err(e.into()),
    }
}

// ---------- editing a printer, test print, labels by NHS number ----------

async fn edit_page(
    s: &AppState,
    user: &WebUser,
    id: i64,
    message: Message,
    f: Option<&Params>,
) -> Result<Markup, WebError> {
    let p = s.db.read(move |c| printing::printer_by_id(c, id)).await?;
    // After a refusal the form shows what was typed, not the stored values.
    let val = |k: &str, stored: String| match f {
        Some(f) => f.get(k).cloned().unwrap_or_default(),
        None => stored,
    };
    let url = val("url", p.url.clone());
    let stock = val("stock", p.stock.clone());
    let dpi = val("dpi", p.dpi.to_string());
    let rfid = f.map_or(p.rfid, |f| param(f, "rfid").is_some());
    let active = f.map_or(p.active, |f| param(f, "active").is_some());
    Ok(layout(
        user,
        "/admin/printers",
        &format!("Printer {}", p.name),
        html! {
            (message_box(&message))
            form.card method="post" action={"/admin/printers/" (id)} {
                h2 { "Change this printer" }
                input type="hidden" name="csrf" value=(user.csrf);
                label for="name" { "Name" }
                p.hint { "The name stays, so print jobs and people's habits keep pointing at this printer. To rename, register a new printer and switch this one off." }
                input type="text" id="name" value=(p.name) readonly;
                label for="url" { "Address" } p.hint { "tcp://host:9100 for a network printer, lp://queue, or usb://" }
                input type="text" id="url" name="url" required value=(url);
                label for="stock" { "Label size in mm" } p.hint { "Width x height, e.g. 100x50" }
                input type="text" id="stock" name="stock" required value=(stock);
                label for="dpi" { "Resolution" }
                select id="dpi" name="dpi" {
                    option value="203" selected[dpi == "203"] { "203 dpi" }
                    option value="300" selected[dpi == "300"] { "300 dpi" }
                }
                div.checkbox { input type="checkbox" id="rfid" name="rfid" value="1" checked[rfid]; label for="rfid" { "RFID printer (writes the folder's tag)" } }
                div.checkbox { input type="checkbox" id="active" name="active" value="1" checked[active]; label for="active" { "In use (untick to switch the printer off; its jobs are kept)" } }
                div { button type="submit" { "Save changes" } a.button.secondary href="/admin/printers" { "Back to printers" } }
            }
            form.card method="post" action={"/admin/printers/" (id) "/test"} {
                h2 { "Test print" }
                p.hint { "Prints one card naming the printer, to check the address and the label size." }
                input type="hidden" name="csrf" value=(user.csrf);
                div { button.secondary type="submit" { "Print a test card" } }
            }
        },
    ))
}

/// `GET /admin/printers/{id}`: the edit form.
pub async fn edit_printer_form(
    State(s): State<AppState>,
    user: WebUser,
    Path(id): Path<i64>,
) -> Result<Markup, WebError> {
    user.who.require(Permission::ManagePrinters)?;
    edit_page(&s, &user, id, None, None).await
}

/// `POST /admin/printers/{id}`: save the changes (audited as `printer.update`).
pub async fn edit_printer(
    State(s): State<AppState>,
    user: WebUser,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::ManagePrinters)?;
    let r = match param(&f, "dpi").map(str::parse::<u32>) {
        Some(Err(_)) => Err(Error::invalid("dpi", "must be 203 or 300")),
        dpi => {
            let ch = printing::PrinterChange {
                url: Some(param(&f, "url").unwrap_or_default().to_string()),
                stock: Some(param(&f, "stock").unwrap_or_default().to_string()),
                dpi: dpi.and_then(Result::ok),
                rfid: Some(param(&f, "rfid").is_some()),
                active: Some(param(&f, "active").is_some()),
            };
            let (cfg, who) = (s.cfg.printing.clone(), user.who.clone());
            s.db.write(move |c| printing::update_printer(c, &cfg, &who, id, &ch))
                .await
        }
    };
    match r {
        Ok(p) => Ok(printers_page(
            &s,
            &user,
            Some(("ok", format!("Printer {} changed.", p.name))),
        )
        .await?
        .into_response()),
        Err(e @ (Error::Invalid { .. } | Error::Conflict { .. })) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            edit_page(&s, &user, id, Some(("error", printer_error(&e))), Some(&f)).await?,
        )
            .into_response()),
        Err(e) => Err(e.into()),
    }
}

/// A printer refusal with the field in words.
fn printer_error(e: &Error) -> String {
    match e {
        Error::Invalid { field, message } | Error::Conflict { field, message } => {
            let f = match field.as_str() {
                "url" => "Address",
                "stock" => "Label size",
                "dpi" => "Resolution",
                "name" => "Name",
                "printer" => "Printer",
                "nhs_number" => "NHS number",
                other => other,
            };
            format!("{f}: {message}")
        }
        e => e.to_string(),
    }
}

/// `POST /admin/printers/{id}/test`: a test card, sent now; the outcome is shown.
pub async fn test_print(
    State(s): State<AppState>,
    user: WebUser,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::ManagePrinters)?;
    let who = user.who.clone();
    let ready =
        s.db.write(move |c| {
            let p = printing::printer_by_id(c, id)?;
            printing::test_job(c, &p, &who)
        })
        .await?;
    let job = printing::send_and_record(&s.db, &s.cfg.printing, &s.printer_locks, ready).await?;
    let (status, m) = if job.status == printing::JobStatus::Sent {
        (
            StatusCode::OK,
            (
                "ok",
                format!("Test card sent to {} (job {}).", job.printer, job.id),
            ),
        )
    } else {
        (
            StatusCode::BAD_GATEWAY,
            (
                "error",
                format!(
                    "{} (job {}).",
                    job.error
                        .as_deref()
                        .unwrap_or("The printer did not take the test card"),
                    job.id
                ),
            ),
        )
    };
    Ok((status, edit_page(&s, &user, id, Some(m), None).await?).into_response())
}

/// `POST /labels/folder-by-nhs`: the folder labels of a patient known by an NHS number.
pub async fn print_by_nhs_number(
    State(s): State<AppState>,
    user: WebUser,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::PrintLabels)?;
    let (nhs, printer) = (
        param(&f, "nhs_number").unwrap_or_default().to_string(),
        param(&f, "printer").unwrap_or_default().to_string(),
    );
    let jobs = match labels::folders_by_nhs_number(&s, &user.who, nhs, printer).await {
        Ok(j) => j,
        Err(e @ (Error::Invalid { .. } | Error::NotFound { .. } | Error::Conflict { .. })) => {
            return Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                labels_page(&s, &user, Some(("error", printer_error(&e)))).await?,
            )
                .into_response())
        }
        Err(e) => return Err(e.into()),
    };
    let (mut sent, mut failed) = (Vec::new(), Vec::new());
    for ready in jobs {
        let job =
            printing::send_and_record(&s.db, &s.cfg.printing, &s.printer_locks, ready).await?;
        if job.status == printing::JobStatus::Sent {
            sent.push(job.subject);
        } else {
            failed.push(format!(
                "{} ({})",
                job.subject,
                job.error.as_deref().unwrap_or("not taken")
            ));
        }
    }
    let (status, m) = if failed.is_empty() {
        (
            StatusCode::OK,
            (
                "ok",
                format!("Sent {} folder label(s): {}.", sent.len(), sent.join(", ")),
            ),
        )
    } else {
        (
            StatusCode::BAD_GATEWAY,
            (
                "error",
                format!(
                    "Not printed: {}. The jobs are kept: fix the printer, then retry them below.",
                    failed.join(", ")
                ),
            ),
        )
    };
    Ok((status, labels_page(&s, &user, Some(m)).await?).into_response())
}
