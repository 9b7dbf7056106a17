//! Where is.

use super::*;
use crate::ledger::folders::FolderStatus;

pub(crate) fn place_text(p: &whereis::Place) -> String {
    format!("{} ({})", p.name, p.code)
}

/// A time for people, in the site's local time (GMT or BST in the UK).
pub(crate) fn time_text(rfc: &str) -> String {
    crate::util::local_text(rfc)
}

/// "Ann Porter (S00042)", or the id alone when no name is known.
fn named(name: Option<&str>, id: &str) -> String {
    match name {
        Some(n) if n != id => format!("{n} ({id})"),
        _ => id.to_string(),
    }
}

/// A device by name: "Ward 5 porter scanner (ward5-porter)", or "scan page (Ann Porter)".
fn device_text(name: Option<&str>, id: &str) -> String {
    match name {
        Some(n) if id.starts_with("web:") => n.to_string(),
        _ => named(name, id),
    }
}

pub(crate) fn whereis_answer(w: &WhereIs, can_request: bool) -> Markup {
    let f = &w.folder;
    html! {
        section.card aria-label={"Folder " (f.barcode)} {
            // (the folder type can reveal a sensitive service: only for those who may read patients)
            @if w.patient.is_some() {
                h2 { "Folder " (f.barcode) " - " (f.folder_type.as_str().replace('_', " ")) ", volume " (f.volume) " of " (f.volume_count) }
            } @else {
                h2 { "Folder " (f.barcode) ", volume " (f.volume) " of " (f.volume_count) }
            }
            @if let Some(p) = &w.patient {
                p { strong { (p.family_name.to_uppercase()) ", " (p.given_name) } " - CHI " (p.chi.as_deref().unwrap_or("none")) " - born " (p.dob) }
            }
            @if f.status != FolderStatus::Active { p { span.tag.warn { "Status: " (f.status.as_str().replace('_', " ")) } } }
            @if let Some(on) = w.on_container_text() {
                div.answer id="on-container" { p.where { "Now " (on) } }
            }
            @match &w.current {
                Some(c) => {
                    div class=(if c.in_transit { "answer transit" } else { "answer" }) {
                        @if c.in_transit {
                            p.where { "In transit from " (place_text(&c.location)) }
                            @if let Some(d) = &c.destination { p { "Going to " strong { (place_text(d)) } } }
                        } @else {
                            p.where { (place_text(&c.location)) }
                        }
                        p { "Since " (time_text(&c.since)) ". Last seen " (time_text(&c.last_seen_at))
                            " by " (c.seen_by_staff.as_deref().map(|s| named(c.seen_by_staff_name.as_deref(), s)).unwrap_or_else(|| "someone who did not scan a badge".into()))
                            " with " (device_text(c.seen_by_device_name.as_deref(), &c.seen_by_device)) " (" (c.method) ")." }
                    }
                }
                None => { div.answer { p.where { "Never scanned: expected at its home, " (w.home_location) } } }
            }
            @if can_request {
                p { a.button href={"/requests/new?volume=" (f.barcode)} { "Request these notes" } }
            }
            @if !w.trail.is_empty() {
                details open[w.trail.len() <= 10] {
                    summary { "Trail (" (w.trail.len()) " scans, newest first)" }
                    ol.timeline {
                        @for t in &w.trail {
                            li { time datetime=(t.read_at) { (time_text(&t.read_at)) } " - " (t.action.as_str()) " at " (place_text(&t.location))
                                @if let Some(d) = &t.destination { " to " (d) }
                                " - "
                                @if let Some(sid) = &t.staff_id { "by " (named(t.staff_name.as_deref(), sid)) ", " }
                                "with " (device_text(t.device_name.as_deref(), &t.device_id))
                                @if let Some(by) = &t.sent_by { " (sent by " (by) ")" } }
                        }
                    }
                }
            }
        }
    }
}

/// What a porter (who may not look patients up) is told on typing a CHI or NHS number.
const PORTER_LOOKUP: &str = "Porters can find a folder by its barcode: scan the folder label \
    (or type the code printed under the bars, such as F000012345X). Looking up a patient by CHI \
    or NHS number, or by name, is for clinical, library and records staff: ask the records \
    library if you need a patient's notes.";

pub async fn whereis(
    State(s): State<AppState>,
    user: WebUser,
    Query(q): Query<Params>,
) -> Result<Markup, WebError> {
    user.who.require(Permission::LocateFolders)?;
    let can_read = user.who.can(Permission::ReadPatient);
    let can_request = user.who.can(Permission::RequestNotes);
    let mut results: Vec<WhereIs> = Vec::new();
    let mut error: Option<String> = None;
    let mut searched = false;
    if let Some(term) = param(&q, "q") {
        searched = true;
        match search::SearchTerm::classify(&s, term) {
            search::SearchTerm::NotUnderstood(why) => error = Some(why),
            search::SearchTerm::Folder(b) => match search::folder(&s, &user.who, b).await {
                Ok(w) => results.push(w),
                Err(e @ (Error::Forbidden { .. } | Error::Unauthorized)) => return Err(e.into()),
                Err(e) if e.kind() == crate::error::ErrorKind::Internal => return Err(e.into()),
                Err(e) => error = Some(e.to_string()),
            },
            search::SearchTerm::Patient(_) if !can_read => {
                error = Some(PORTER_LOOKUP.into());
            }
            search::SearchTerm::Patient(id) => {
                match search::patient(&s, &user.who, "q", id, true).await {
                    Ok((_, list)) => {
                        if list.is_empty() {
                            error = Some("This patient has no folders registered.".into());
                        }
                        results = list;
                    }
                    Err(e) if e.kind() == crate::error::ErrorKind::Internal => return Err(e.into()),
                    Err(e) => error = Some(e.to_string()),
                }
            }
        }
    } else if let (Some(_), Some(_)) = (param(&q, "name"), param(&q, "dob")) {
        if !can_read {
            searched = true;
            error = Some(PORTER_LOOKUP.into());
        }
    }
    if let (true, Some(name), Some(dob)) = (can_read, param(&q, "name"), param(&q, "dob")) {
        searched = true;
        match search::by_name(&s, &user.who, name.to_string(), dob.to_string(), true).await {
            Ok(found) => results = found.into_iter().flat_map(|(_, w)| w).collect(),
            Err(e) if e.kind() == crate::error::ErrorKind::Internal => return Err(e.into()),
            Err(e) => error = Some(e.to_string()),
        }
    }
    let qv = q.get("q").cloned().unwrap_or_default();
    Ok(layout(
        &user,
        "/whereis",
        "Where is a file?",
        html! {
            form.card method="get" action="/whereis" role="search" {
                label for="q" { "Folder barcode, CHI or NHS number" }
                p.hint { "Scan the folder label or type the number." }
                input.scan type="text" id="q" name="q" value=(qv) autocomplete="off" autofocus;
                div { button type="submit" { "Find" } }
            }
            @if can_read {
                form.card method="get" action="/whereis" {
                    h2 { "Or search by name and date of birth" }
                    div.row {
                        div { label for="name" { "Family name (or its start)" } input type="text" id="name" name="name" value=(q.get("name").cloned().unwrap_or_default()); }
                        div { label for="dob" { "Date of birth" } input type="date" id="dob" name="dob" value=(q.get("dob").cloned().unwrap_or_default()); }
                    }
                    div { button.secondary type="submit" { "Search" } }
                }
            }
            @if let Some(e) = &error { div.error-summary role="alert" { h2 { "No answer" } p { (e) } } }
            @if searched && error.is_none() && results.is_empty() { div.error-summary role="alert" { p { "No matching patients or folders." } } }
            @for w in &results { (whereis_answer(w, can_request)) }
        },
    ))
}
