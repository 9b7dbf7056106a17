//! Containers on the web: the list of trolleys, bags and crates with where each was last seen
//! and how many folders are on it; registering one (library and records staff); one
//! container's contents, with "take all folders off".

use super::pages::{param, time_text, Params};
use super::{layout, WebError, WebUser};
use crate::{
    app::{containers, AppState},
    auth::Permission,
    ledger::containers::{Container, ContainerKind, NewContainer},
    ledger::locations,
    printing,
};
use axum::{
    extract::{Form, Path, State},
    response::{IntoResponse, Redirect, Response},
};
use maud::{html, Markup};

fn kind_text(k: ContainerKind) -> String {
    let mut s = k.label().to_string();
    if let Some(f) = s.get_mut(..1) {
        f.make_ascii_uppercase();
    }
    s
}

fn last_seen_text(k: &Container) -> String {
    match &k.last_seen {
        Some(seen) => format!(
            "{} ({}), {}",
            seen.location.name,
            seen.location.code,
            time_text(&seen.read_at)
        ),
        None => "not scanned yet".into(),
    }
}

async fn list_page(
    s: &AppState,
    user: &WebUser,
    problem: Option<String>,
) -> Result<Markup, WebError> {
    let list = containers::list(s, &user.who).await?;
    let can_edit = user.who.can(Permission::EditRecords);
    let locs = if can_edit {
        s.db.read(locations::list).await?
    } else {
        Vec::new()
    };
    Ok(layout(
        user,
        "/containers",
        "Trolleys, bags and crates",
        html! {
            p { "Porters scan a container's label, then the folders they put on it; at the destination they scan the location card, then the container, and every folder on it is recorded there. A folder scanned at a place comes off its container." }
            @if let Some(p) = &problem {
                div.error-summary id="container-problem" role="alert" { h2 { "There is a problem" } p { (p) } }
            }
            @if list.is_empty() { p { "No container is registered yet." } } @else {
                div.table-wrap {
                    table id="containers" {
                        thead { tr { th { "Name" } th { "Kind" } th { "Folders on it" } th { "Last seen" } th { "GRAI (barcode)" } th { "RFID tag (EPC)" } th { "Kept at" } } }
                        tbody { @for k in &list {
                            tr {
                                td { a href={"/containers/" (k.id)} { (k.name) } @if !k.active { " " span.tag.warn { "retired" } } }
                                td { (kind_text(k.kind)) }
                                td { (k.folders) }
                                td { (last_seen_text(k)) }
                                td { "(8003)" (k.grai) }
                                td { (k.epc.as_deref().unwrap_or("none")) }
                                td { (k.home_location.as_deref().unwrap_or("")) }
                            }
                        } }
                    }
                }
            }
            @if can_edit {
                form.card method="post" action="/containers" {
                    h2 { "Register a container" }
                    p.hint { "Its barcode (a GS1 GRAI) and RFID tag number are made for you; print its label from the Labels page once registered." }
                    input type="hidden" name="csrf" value=(user.csrf);
                    label for="container-kind" { "Kind" }
                    select id="container-kind" name="kind" required {
                        @for k in ContainerKind::ALL { option value=(k.as_str()) { (kind_text(*k)) } }
                    }
                    label for="container-name" { "Name" }
                    p.hint { "What porters call it, e.g. T3." }
                    input type="text" id="container-name" name="name" autocomplete="off" required maxlength="20";
                    label for="container-home" { "Kept at (optional)" }
                    select id="container-home" name="home_location" {
                        option value="" { "Not set" }
                        @for l in &locs { option value=(l.code) { (l.name) " (" (l.code) ")" } }
                    }
                    label for="container-grai" { "GRAI already on the container (optional)" }
                    input type="text" id="container-grai" name="grai" autocomplete="off";
                    div { button type="submit" { "Register container" } }
                }
            }
        },
    ))
}

pub async fn containers_page(State(s): State<AppState>, user: WebUser) -> Result<Markup, WebError> {
    list_page(&s, &user, None).await
}

pub async fn register(
    State(s): State<AppState>,
    user: WebUser,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::EditRecords)?;
    let n = NewContainer {
        kind: param(&f, "kind").unwrap_or_default().to_string(),
        name: param(&f, "name").unwrap_or_default().to_string(),
        home_location: param(&f, "home_location").map(String::from),
        grai: param(&f, "grai").map(String::from),
    };
    match containers::create(&s, &user.who, n).await {
        Ok(k) => Ok(Redirect::to(&format!("/containers/{}", k.id)).into_response()),
        Err(e) if e.field().is_some() => {
            let msg = format!("{}: {}", e.field().unwrap_or_default(), e.public_message());
            Ok(list_page(&s, &user, Some(msg)).await?.into_response())
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn container_page(
    State(s): State<AppState>,
    user: WebUser,
    Path(id): Path<i64>,
) -> Result<Markup, WebError> {
    container_view(&s, &user, id, None).await
}

async fn container_view(
    s: &AppState,
    user: &WebUser,
    id: i64,
    message: Option<(bool, String)>,
) -> Result<Markup, WebError> {
    let (k, on) = containers::detail(s, &user.who, id).await?;
    let can_edit = user.who.can(Permission::EditRecords);
    let printers = if user.who.can(Permission::PrintLabels) {
        s.db.read(printing::list_printers).await?
    } else {
        Vec::new()
    };
    let mut title = k.title();
    if let Some(f) = title.get_mut(..1) {
        f.make_ascii_uppercase();
    }
    Ok(layout(
        user,
        "/containers",
        &title,
        html! {
            @match &message {
                Some((true, m)) => { div.card.ok id="print-result" role="status" { p { (m) } } }
                Some((false, m)) => { div.error-summary id="print-result" role="alert" { h2 { "There is a problem" } p { (m) } } }
                None => {}
            }
            p { a href="/containers" { "All containers" } }
            dl.card {
                dt { "Last seen" } dd id="last-seen" { (last_seen_text(&k)) }
                dt { "GRAI (barcode)" } dd { "(8003)" (k.grai) }
                dt { "RFID tag (EPC GRAI-96)" } dd { (k.epc.as_deref().unwrap_or("none")) }
                dt { "Kept at" } dd { (k.home_location.as_deref().unwrap_or("not set")) }
            }
            @if printers.iter().any(|p| p.active) {
                form.card method="post" action={"/containers/" (k.id) "/label"} {
                    h2 { "Print its label" }
                    p.hint { "The barcode is its GS1 GRAI; an RFID printer also writes the tag." }
                    input type="hidden" name="csrf" value=(user.csrf);
                    label for="label-printer" { "Printer" }
                    select id="label-printer" name="printer" required {
                        @for p in printers.iter().filter(|p| p.active) { option value=(p.name) { (p.name) " (" (p.stock) " mm)" @if p.rfid { ", RFID" } } }
                    }
                    div { button type="submit" { "Print label" } }
                }
            }
            @if can_edit {
                form.card method="post" action={"/containers/" (k.id) "/active"} {
                    input type="hidden" name="csrf" value=(user.csrf);
                    @if k.active {
                        p.hint { "A retired container can no longer be loaded (take its folders off first)." }
                        input type="hidden" name="active" value="0";
                        button type="submit" { "Retire this container" }
                    } @else {
                        p { span.tag.warn { "Retired" } }
                        input type="hidden" name="active" value="1";
                        button type="submit" { "Bring back into use" }
                    }
                }
            }
            h2 { "Folders on it (" (on.len()) ")" }
            @if on.is_empty() { p id="contents" { "None." } } @else {
                div.table-wrap {
                    table id="contents" {
                        thead { tr { th { "Folder" } th { "Put on" } } }
                        tbody { @for f in &on {
                            tr { td { a href={"/whereis?q=" (f.barcode)} { (f.barcode) } } td { (time_text(&f.loaded_at)) } }
                        } }
                    }
                }
                @if can_edit {
                    form.card method="post" action={"/containers/" (k.id) "/unload"} {
                        p.hint { "When the container is emptied: each folder stays where the container was last seen." }
                        input type="hidden" name="csrf" value=(user.csrf);
                        button type="submit" { "Take all folders off" }
                    }
                }
            }
        },
    ))
}

pub async fn unload(
    State(s): State<AppState>,
    user: WebUser,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    containers::unload_all(&s, &user.who, id).await?;
    Ok(Redirect::to(&format!("/containers/{id}")).into_response())
}

pub async fn print_label(
    State(s): State<AppState>,
    user: WebUser,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    let printer = param(&f, "printer").unwrap_or_default().to_string();
    let message = match containers::label(&s, &user.who, id, printer, 1).await {
        Ok(ready) => {
            let job =
                printing::send_and_record(&s.db, &s.cfg.printing, &s.printer_locks, ready).await?;
            if job.status == printing::JobStatus::Sent {
                (
                    true,
                    format!("Label sent to {} (job {}).", job.printer, job.id),
                )
            } else {
                (
                    false,
                    format!(
                        "The label was not printed: {} (job {}; retry it from the Labels page).",
                        job.error.unwrap_or_default(),
                        job.id
                    ),
                )
            }
        }
        Err(e) if e.field().is_some() => (false, e.to_string()),
        Err(e) => return Err(e.into()),
    };
    Ok(container_view(&s, &user, id, Some(message))
        .await?
        .into_response())
}

pub async fn set_active(
    State(s): State<AppState>,
    user: WebUser,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    let active = param(&f, "active") == Some("1");
    match containers::set_active(&s, &user.who, id, active).await {
        Ok(_) => Ok(Redirect::to(&format!("/containers/{id}")).into_response()),
        Err(e) if e.field().is_some() => {
            Ok(container_view(&s, &user, id, Some((false, e.to_string())))
                .await?
                .into_response())
        }
        Err(e) => Err(e.into()),
    }
}
