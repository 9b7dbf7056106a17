//! Scanning.

use super::*;
use crate::ledger::movements::EventStatus;

pub async fn scan_page(
    State(s): State<AppState>,
    user: WebUser,
    Query(q): Query<Params>,
) -> Result<Markup, WebError> {
    user.who.require(Permission::IngestEvents)?;
    let mode = match param(&q, "mode").unwrap_or("porter") {
        m @ ("dispatch" | "receive" | "refile" | "audit") => {
            user.who.require(Permission::EditRecords)?;
            m
        }
        _ => "porter",
    };
    let locs = s.db.read(locations::list).await?;
    let libraries: Vec<&locations::Location> =
        locs.iter().filter(|l| l.kind.is_library()).collect();
    let others: Vec<&locations::Location> = locs
        .iter()
        .filter(|l| !l.kind.is_library() && !l.kind.is_container())
        .collect();
    let (title, help) = match mode {
        "dispatch" => ("Library desk: dispatch", "Choose where the folders are going, then scan each folder."),
        "receive" => ("Library desk: receive", "Scan each returned folder as it arrives at the library."),
        "refile" => ("Library: re-file", "Scan each folder as you put it back on the shelf."),
        "audit" => ("Shelf audit", "Scan the shelf or bay card to start its audit (or join the one open there), then each folder on the shelf. Press Close audit when the shelf is done: the result lists what was found, what was found but expected elsewhere, and what was expected but not found."),
        _ => ("Scan folders", "Scan the location card (ward door or clinic), then each folder. Scan your badge to record your name. To use a trolley, bag or crate: scan its label, then the folders you put on it; at the destination scan the location card, then the trolley, and every folder on it is recorded there."),
    };
    let preset = if mode == "porter" || mode == "audit" {
        None
    } else {
        libraries.first().map(|l| l.code.clone())
    };
    // What the page needs to tell cards, badges and folders apart the moment they are scanned,
    // even with no network: the formats, the places and the known badges.
    let prefix = s.cfg.identifiers.staff_prefix.clone();
    let badges =
        s.db.read(move |c| crate::ledger::staff::all_known(c, &prefix))
            .await?;
    let ids = &s.cfg.identifiers;
    let config = json!({
        "location_prefix": ids.location_prefix,
        "staff_prefix": ids.staff_prefix,
        "folder_prefix": ids.folder.prefix,
        "folder_digits": ids.folder.digits,
        "locations": locs.iter().map(|l| json!({"code": l.code, "name": l.name, "gln": l.gln})).collect::<Vec<_>>(),
        "badges": badges,
    })
    .to_string();
    Ok(layout(
        &user,
        if mode == "porter" {
            "/scan?mode=porter"
        } else if mode == "audit" {
            "/audits"
        } else {
            "/scan?mode=dispatch"
        },
        title,
        html! {
            p { (help) }
            @if mode != "porter" {
                nav.card aria-label="Desk mode" { "Desk: " a href="/scan?mode=dispatch" { "dispatch" } " | " a href="/scan?mode=receive" { "receive" } " | " a href="/scan?mode=refile" { "re-file" } " | " a href="/scan?mode=audit" { "shelf audit" } }
            }
            // novalidate: the page checks scans itself (an empty destination is allowed: a
            // requested folder goes where it was asked for)
            form.card id="scan-form" novalidate data-csrf=(user.csrf) data-mode=(mode) data-user=(user.username()) data-config=(config) data-location=[preset.as_deref()] {
                @if mode == "porter" {
                    p { "Location: " strong id="here" { "none yet - scan a location card" } }
                    p { "Loading onto: " strong id="container" { "none" } }
                } @else if mode == "audit" {
                    p { "Shelf: " strong id="here" { "none yet - scan the shelf or bay card" } }
                } @else {
                    p { "Desk: " strong id="here" { (preset.as_deref().unwrap_or("no library location is set up")) } }
                }
                @if mode == "dispatch" {
                    label for="destination" { "Sending to" }
                    // No place is chosen for the clerk: a folder sent to the wrong ward is worse
                    // than a scan refused until a destination is picked.
                    select id="destination" name="destination" {
                        option value="" selected disabled { "Choose where the folders are going" }
                        @for l in &others { option value=(l.code) { (l.name) " (" (l.code) ")" } }
                    }
                }
                label for="scan-input" { "Scan here" }
                p.hint { "The scanner types into this box and presses Enter." }
                input.scan type="text" id="scan-input" name="raw" autocomplete="off" autofocus;
                div {
                    button type="submit" { "Record scan" }
                    @if mode == "audit" {
                        " "
                        button.secondary type="button" id="audit-close" { "Close audit" }
                    }
                }
            }
            @if mode == "audit" {
                p id="audit-result" role="status" aria-live="polite" hidden {}
                p { a href="/audits" { "All shelf audits" } }
            }
            div id="feedback" role="status" aria-live="assertive" { "Ready." }
            p id="waiting" role="status" aria-live="polite" hidden {}
            div.card.warn id="confirm" role="alertdialog" aria-labelledby="confirm-text" hidden {
                p id="confirm-text" {}
                button type="button" id="confirm-request" {}
                " "
                button type="button" id="confirm-chosen" {}
            }
            h2 { "This session" }
            ol id="log" {}
            script src="/static/app.js" defer {}
        },
    ))
}

#[derive(Deserialize)]
pub struct WebScan {
    event_id: String,
    /// When the page read the scan (ms since the Unix epoch, the device's clock): a scan kept
    /// in the browser while offline is recorded at the time it was made.
    #[serde(default)]
    scanned_at: Option<i64>,
    raw: String,
    mode: String,
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    staff: Option<String>,
    #[serde(default)]
    destination: Option<String>,
    /// The container label (trolley, bag, crate) scanned before this folder, as scanned: the
    /// folder is loaded onto it instead of being recorded at the place.
    #[serde(default)]
    container: Option<String>,
    /// The clerk confirmed sending a requested folder somewhere other than the request's
    /// destination.
    #[serde(default)]
    confirmed: bool,
    /// Shelf audit mode: `open` (the shelf card, scanned) or `close` (the Close audit button),
    /// each with its own event id, queued in order with the folder scans.
    #[serde(default)]
    audit: Option<String>,
}

pub(crate) fn answer(kind: &str, level: &str, message: impl Into<String>) -> Json<Value> {
    Json(json!({"kind": kind, "level": level, "message": message.into()}))
}

pub async fn scan(
    State(s): State<AppState>,
    user: WebUser,
    headers: HeaderMap,
    Json(b): Json<WebScan>,
) -> Result<Json<Value>, WebError> {
    user.check_csrf(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))?;
    user.who.require(Permission::IngestEvents)?;
    if b.mode != "porter" {
        user.who.require(Permission::EditRecords)?;
    }
    if b.mode == "audit" {
        if let Some(step) = b.audit.as_deref() {
            return audit_step(&s, &user, &b, step).await;
        }
    }
    match classify(&b.raw, &s.cfg.identifiers) {
        ScanTarget::Location { code } | ScanTarget::LocationGln { gln: code } => {
            let c2 = code.clone();
            match s.db.read(move |c| locations::resolve(c, &c2)).await? {
                Some(l) => Ok(Json(
                    json!({"kind": "location", "level": "ok", "code": l.code, "name": l.name, "message": format!("Location set: {} ({})", l.name, l.code)}),
                )),
                None => Ok(answer(
                    "error",
                    "error",
                    format!("Unknown location card {code}: it is not registered."),
                )),
            }
        }
        ScanTarget::Staff { badge } => {
            let prefix = s.cfg.identifiers.staff_prefix.clone();
            let b2 = badge.clone();
            if !s
                .db
                .read(move |c| crate::ledger::staff::known(c, &prefix, &b2))
                .await?
            {
                return Ok(answer(
                    "error",
                    "error",
                    format!("Badge {badge} is not registered: ask the records team to print you a badge."),
                ));
            }
            Ok(Json(
                json!({"kind": "staff", "level": "ok", "badge": badge, "message": format!("Badge {badge} recorded for the next scans")}),
            ))
        }
        ScanTarget::Unknown { reason } => Ok(answer(
            "error",
            "error",
            format!("Not recognised ({reason}). Check the label and scan again."),
        )),
        ScanTarget::Container { .. } if b.mode == "audit" => Ok(answer(
            "error",
            "error",
            "That is a trolley, bag or crate label: a shelf audit counts folders. Scan the folders on the shelf.",
        )),
        ScanTarget::Container { grai } => scan_container(&s, &user, &b, grai).await,
        ScanTarget::Folder { serial } => {
            if b.mode == "audit" {
                return audit_folder(&s, &user, &b, serial as i64).await;
            }
            let (action, mut destination) = match b.mode.as_str() {
                "dispatch" => ("dispatch", b.destination.clone().filter(|d| !d.is_empty())),
                "receive" => ("receive", None),
                _ => ("seen", None),
            };
            if action == "dispatch" {
                // A folder someone asked for goes where they asked, unless the clerk says
                // otherwise: default to the request's destination, and ask before sending it
                // anywhere else.
                let expected =
                    s.db.read(move |c| {
                        crate::workflow::requests::expected_destination(c, serial as i64)
                    })
                    .await?;
                match (&destination, expected) {
                    (None, Some((code, _))) => destination = Some(code),
                    (Some(chosen), Some((code, name))) if *chosen != code && !b.confirmed => {
                        return Ok(Json(json!({
                            "kind": "confirm", "level": "warn",
                            "request_destination": code, "request_destination_name": name,
                            "chosen": chosen,
                            "message": format!("This folder was requested for {name} ({code}), not {chosen}. Choose where it goes."),
                        })));
                    }
                    _ => {}
                }
            }
            let Some(location) = b.location.clone().filter(|l| !l.is_empty()) else {
                return Ok(answer(
                    "error",
                    "error",
                    "Scan a location card first, so we know where this folder is.",
                ));
            };
            if action == "dispatch" && destination.is_none() {
                return Ok(answer(
                    "error",
                    "error",
                    "Choose where the folders are going first (no request names a place for this folder).",
                ));
            }
            let read_at = read_time(&b);
            let mut ev = json!({
                "event_id": b.event_id, "device_id": format!("web:{}", user.username()),
                "staff_id": b.staff.clone().unwrap_or_else(|| user.username().to_string()),
                "read_at": read_at, "raw": b.raw, "method": "barcode",
                "location": location, "action": action, "destination": destination,
            });
            let onto = match b.container.as_deref().filter(|k| !k.trim().is_empty()) {
                None => None,
                Some(k) => match classify(k, &s.cfg.identifiers) {
                    ScanTarget::Container { grai } => {
                        ev["container"] = json!(grai);
                        let g2 = grai.clone();
                        s.db.read(move |c| crate::ledger::containers::resolve(c, &g2))
                            .await?
                            .map(|k| k.title())
                            .or(Some(grai))
                    }
                    _ => {
                        return Ok(answer(
                            "error",
                            "error",
                            "The container label scanned before this folder was not recognised: scan the container again.",
                        ))
                    }
                },
            };
            let out = crate::workflow::scans::ingest_batch(
                &s.db,
                &s.cfg.identifiers,
                s.cfg.server.max_clock_skew_secs,
                user.who.clone(),
                vec![ev],
            )
            .await?;
            let r = &out.results[0];
            let folder = casenote_core::identifiers::strip_aim(b.raw.trim())
                .1
                .to_ascii_uppercase();
            Ok(match (r.status, r.matched) {
                (EventStatus::Stored, Some(true)) if onto.is_some() => answer(
                    "folder",
                    "ok",
                    format!("{folder} put on {}", onto.unwrap_or_default()),
                ),
                (EventStatus::Stored, Some(true)) => {
                    let what = match action {
                        "dispatch" => format!("dispatched to {}", destination.unwrap_or_default()),
                        "receive" => format!("received at {location}"),
                        _ => format!("recorded at {location}"),
                    };
                    answer("folder", "ok", format!("{folder} {what}"))
                }
                (EventStatus::Stored, _) => answer("folder", "warn", format!("{folder} is not a registered folder. The scan is kept; tell the records team.")),
                (EventStatus::Duplicate, _) => answer("folder", "warn", format!("{folder} was already recorded")),
                (EventStatus::Rejected, _) => answer("folder", "error", format!("Not recorded: {}: {}", r.field.clone().unwrap_or_default(), r.message.clone().unwrap_or_default())),
            })
        }
    }
}

/// When the page read the scan, as RFC 3339 (now, if the page did not say).
fn read_time(b: &WebScan) -> String {
    b.scanned_at
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(crate::util::now_rfc3339)
}

/// The time of an audit step: when the page read it, never ahead of the server's clock.
fn step_time(b: &WebScan) -> i64 {
    b.scanned_at.unwrap_or_else(now_ms).min(now_ms())
}

/// Shelf audit: the shelf card opens (or joins) the shelf's audit; Close audit closes it.
async fn audit_step(
    s: &AppState,
    user: &WebUser,
    b: &WebScan,
    step: &str,
) -> Result<Json<Value>, WebError> {
    use crate::workflow::shelf_audit::{self, Opened};
    let Some(location) = b.location.clone().filter(|l| !l.is_empty()) else {
        return Ok(answer(
            "error",
            "error",
            "Scan the shelf or bay card first.",
        ));
    };
    let (who, event, at) = (user.who.clone(), b.event_id.clone(), step_time(b));
    let done = match step {
        "open" => s
            .db
            .write(move |c| shelf_audit::open(c, &who, &location, Some(&event), at))
            .await
            .map(|(a, how)| {
                let what = match how {
                    Opened::New | Opened::Again => "started",
                    Opened::Joined => "already open: your scans are added to it",
                };
                json!({"kind": "audit", "level": "ok", "audit_id": a.id, "url": format!("/audits/{}", a.id),
                       "message": format!("Shelf audit {} at {} ({}) {what}. Scan each folder on the shelf.", a.id, a.location.name, a.location.code)})
            }),
        "close" => s
            .db
            .write(move |c| shelf_audit::close_at(c, &who, &location, Some(&event), at))
            .await
            .map(|d| {
                let a = d.audit;
                let level = if a.not_found > 0 || a.elsewhere > 0 {
                    "warn"
                } else {
                    "ok"
                };
                json!({"kind": "audit-closed", "level": level,
                       "audit_id": a.id, "url": format!("/audits/{}", a.id),
                       "message": format!("Shelf audit {} at {} closed: {} found here, {} found but expected elsewhere (moved here), {} expected here but not found.", a.id, a.location.code, a.found, a.elsewhere, a.not_found)})
            }),
        _ => return Ok(answer("error", "error", "Unknown shelf audit step.")),
    };
    match done {
        Ok(v) => Ok(Json(v)),
        Err(e @ (Error::Invalid { .. } | Error::Conflict { .. } | Error::NotFound { .. })) => {
            Ok(answer("error", "error", e.public_message()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Shelf audit: a folder scanned on the shelf, recorded as a scan with method `audit`.
async fn audit_folder(
    s: &AppState,
    user: &WebUser,
    b: &WebScan,
    serial: i64,
) -> Result<Json<Value>, WebError> {
    use crate::workflow::shelf_audit::{self, Outcome};
    let Some(location) = b.location.clone().filter(|l| !l.is_empty()) else {
        return Ok(answer(
            "error",
            "error",
            "Scan the shelf or bay card first, so we know which shelf you are auditing.",
        ));
    };
    let ev = json!({
        "event_id": b.event_id, "device_id": format!("web:{}", user.username()),
        "staff_id": b.staff.clone().unwrap_or_else(|| user.username().to_string()),
        "read_at": read_time(b), "raw": b.raw, "method": "audit",
        "location": location, "action": "seen",
    });
    let out = crate::workflow::scans::ingest_batch(
        &s.db,
        &s.cfg.identifiers,
        s.cfg.server.max_clock_skew_secs,
        user.who.clone(),
        vec![ev],
    )
    .await?;
    let r = &out.results[0];
    let folder = casenote_core::identifiers::strip_aim(b.raw.trim())
        .1
        .to_ascii_uppercase();
    let loc = location.clone();
    let line =
        s.db.read(move |c| shelf_audit::scan_answer(c, serial, &loc))
            .await?;
    Ok(match (r.status, r.matched, line) {
        (EventStatus::Stored, Some(true), Some((id, Outcome::Found, _))) => {
            answer("folder", "ok", format!("{folder}: found here (audit {id})"))
        }
        (EventStatus::Stored, Some(true), Some((id, _, was))) => answer(
            "folder",
            "warn",
            format!(
                "{folder}: found here but expected at {} - now recorded on this shelf (audit {id})",
                was.map(|p| format!("{} ({})", p.name, p.code))
                    .unwrap_or_else(|| "another place".into())
            ),
        ),
        (EventStatus::Stored, Some(true), None) => {
            answer("folder", "ok", format!("{folder} recorded at {location}"))
        }
        (EventStatus::Stored, _, _) => answer(
            "folder",
            "warn",
            format!(
                "{folder} is not a registered folder. The scan is kept; tell the records team."
            ),
        ),
        (EventStatus::Duplicate, _, _) => answer(
            "folder",
            "warn",
            format!("{folder} was already counted in this audit"),
        ),
        (EventStatus::Rejected, _, _) => answer(
            "folder",
            "error",
            format!(
                "Not recorded: {}: {}",
                r.field.clone().unwrap_or_default(),
                r.message.clone().unwrap_or_default()
            ),
        ),
    })
}

/// A container label scanned on the scan page: with a place known, the container is recorded
/// there (each folder on it moves there); either way the page then loads the next folders
/// scanned onto it, until a location card is scanned.
async fn scan_container(
    s: &AppState,
    user: &WebUser,
    b: &WebScan,
    grai: String,
) -> Result<Json<Value>, WebError> {
    let g2 = grai.clone();
    let Some(k) =
        s.db.read(move |c| crate::ledger::containers::resolve(c, &g2))
            .await?
    else {
        return Ok(answer(
            "error",
            "error",
            format!("Unknown container (GRAI {grai}): it is not registered. Register it on the Containers page."),
        ));
    };
    let title = k.title();
    let mut name = title.clone();
    if let Some(first) = name.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    let loading = format!("Scan folders to put them on {title}; scan a location card when done.");
    let Some(location) = b.location.clone().filter(|l| !l.is_empty()) else {
        return Ok(Json(json!({
            "kind": "container", "level": "ok", "name": title,
            "message": format!("{name} scanned. {loading}"),
        })));
    };
    let (action, destination) = match b.mode.as_str() {
        "dispatch" => ("dispatch", b.destination.clone().filter(|d| !d.is_empty())),
        "receive" => ("receive", None),
        _ => ("seen", None),
    };
    if action == "dispatch" && destination.is_none() {
        return Ok(answer(
            "error",
            "error",
            "Choose where the container is going first.",
        ));
    }
    let read_at = read_time(b);
    let ev = json!({
        "event_id": b.event_id, "device_id": format!("web:{}", user.username()),
        "staff_id": b.staff.clone().unwrap_or_else(|| user.username().to_string()),
        "read_at": read_at, "raw": b.raw, "method": "barcode",
        "location": location, "action": action, "destination": destination,
    });
    let out = crate::workflow::scans::ingest_batch(
        &s.db,
        &s.cfg.identifiers,
        s.cfg.server.max_clock_skew_secs,
        user.who.clone(),
        vec![ev],
    )
    .await?;
    let r = &out.results[0];
    Ok(match r.status {
        EventStatus::Stored => {
            let id = k.id;
            let k =
                s.db.read(move |c| crate::ledger::containers::get(c, id))
                    .await?;
            Json(json!({
                "kind": "container", "level": "ok", "name": title,
                "message": format!("{name} recorded at {location} with the {} folder(s) on it. {loading}", k.folders),
            }))
        }
        EventStatus::Duplicate => Json(json!({
            "kind": "container", "level": "warn", "name": title,
            "message": format!("{name} was already recorded. {loading}"),
        })),
        EventStatus::Rejected => answer(
            "error",
            "error",
            format!(
                "Not recorded: {}: {}",
                r.field.clone().unwrap_or_default(),
                r.message.clone().unwrap_or_default()
            ),
        ),
    })
}
