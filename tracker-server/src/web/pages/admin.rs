//! Admin.

use super::*;
use crate::ledger::read_norms::{ReadHealth, ReadVerdict};
use axum::extract::Path;

/// Every device with its read health now (days counted in the site's time zone).
async fn devices_now(s: &AppState) -> Result<Vec<devices::DeviceStatus>, WebError> {
    let cfg = s.cfg.device_health.clone();
    let tz = crate::util::site_tz();
    Ok(s.db
        .read(move |c| devices::list(c, &cfg, now_ms(), tz))
        .await?)
}

pub async fn devices(State(s): State<AppState>, user: WebUser) -> Result<Markup, WebError> {
    user.who.require(Permission::ReadReports)?;
    let list = devices_now(&s).await?;
    Ok(layout(
        &user,
        "/admin/devices",
        "Devices",
        html! {
            @if list.is_empty() { p { "No bridge has reported yet." } }
            @else { p { "Read rate: each device's reads against its own norm. " a href="/reports/device-health" { "Reader health report" } } }
            div.table-wrap { table {
                thead { tr { th { "Device" } th { "Bridge" } th { "State" } th { "Last read" } th { "Read rate" } th { "Queue" } th { "Oldest queued" } th { "Dropped" } th { "Reader errors" } th { "Last report" } } }
                tbody { @for d in &list {
                    tr {
                        td { (d.device_id) br; span.hint { (d.description) } }
                        td { (d.bridge_id) }
                        td { @if d.online { span.tag.ok { "online" } } @else { span.tag.bad { "offline" } } }
                        td { (d.last_read_at.as_deref().map(time_text).unwrap_or_else(|| "never".into())) }
                        td { (read_health_tag(&d.read_health)) }
                        td { @if d.queue_depth > 0 { span.tag.warn { (d.queue_depth) } } @else { "0" } }
                        td { (d.oldest_event_age_s.map(|s| format!("{s} s")).unwrap_or_else(|| "-".into())) }
                        td {
                            @if d.foreign_reads + d.corrupt_messages + d.refused_scans == 0 { "0" }
                            @if d.foreign_reads > 0 { span.tag.warn { (d.foreign_reads) " other tags" } " " }
                            @if d.corrupt_messages > 0 { span.tag.warn { (d.corrupt_messages) " corrupt" } " " }
                            @if d.refused_scans > 0 { span.tag.warn { (d.refused_scans) " refused scans" } }
                        }
                        td {
                            @if d.reader_errors > 0 { span.tag.bad { (d.reader_errors) } " " }
                            @else { "0" }
                            @if let Some(e) = &d.last_error { br; span.hint { (e) } }
                        }
                        td { (time_text(&d.last_heartbeat)) }
                    }
                } }
            } }
        },
    ))
}

/// The read rate in words, in a tag: red when someone should look.
fn read_health_tag(h: &ReadHealth) -> Markup {
    let class = match h.verdict {
        ReadVerdict::Silent | ReadVerdict::BelowNormal => "tag bad",
        ReadVerdict::Learning => "tag info",
        ReadVerdict::Normal => "tag ok",
    };
    html! { span class=(class) { (h.summary) } }
}

/// `GET /reports/device-health`: every device's read rate against its own norm, silent and
/// below-normal devices first (`?format=csv` for a CSV).
pub async fn device_health(
    State(s): State<AppState>,
    user: WebUser,
    Query(q): Query<Params>,
) -> Result<Response, WebError> {
    user.who.require(Permission::ReadReports)?;
    let mut list = devices_now(&s).await?;
    list.sort_by_key(|d| d.read_health.verdict.urgency_rank());
    let cfg = &s.cfg.device_health;
    if param(&q, "format") == Some("csv") {
        let mut w = crate::csv_export::Writer::new();
        let _ = w.write_record([
            "device_id",
            "description",
            "bridge_id",
            "online",
            "verdict",
            "read_rate",
            "window_hours",
            "reads_in_window",
            "norm",
            "history_days",
            "silent_hours",
            "usual_reads_when_silent",
            "last_read",
            "reader_errors",
            "last_error",
            "last_report",
        ]);
        let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        for d in &list {
            let h = &d.read_health;
            let _ = w.write_record([
                d.device_id.clone(),
                d.description.clone(),
                d.bridge_id.clone(),
                d.online.to_string(),
                h.verdict.to_string(),
                h.summary.clone(),
                h.window_hours.to_string(),
                h.recent.to_string(),
                opt(h.norm),
                h.history_days.to_string(),
                opt(h.silent_hours),
                opt(h.usual_when_silent),
                d.last_read_at
                    .as_deref()
                    .map(crate::util::local_rfc3339)
                    .unwrap_or_default(),
                d.reader_errors.to_string(),
                d.last_error.clone().unwrap_or_default(),
                crate::util::local_rfc3339(&d.last_heartbeat),
            ]);
        }
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"device-health.csv\"",
                ),
            ],
            w.into_inner().unwrap_or_default(),
        )
            .into_response());
    }
    let count = |v: ReadVerdict| list.iter().filter(|d| d.read_health.verdict == v).count();
    let (silent, below, learning) = (
        count(ReadVerdict::Silent),
        count(ReadVerdict::BelowNormal),
        count(ReadVerdict::Learning),
    );
    Ok(layout(&user, "/reports/device-health", "Reader health", html! {
        p { "Each scanner's and portal's reads in the last " (cfg.window_hours) " whole hours, against its norm: the median of its reads in the same clock hours on each of the previous "
            (cfg.history_days) " days. " strong { "Silent" } " (no read for " (cfg.silent_after_hours) " hours or more when it normally reads then) and "
            strong { "below normal" } " (under " (format!("{:.0}", cfg.below_normal_ratio * 100.0)) "% of its norm) mean someone should look: the reader's power, its antenna cable and tuning, whether it was moved, whether a handheld scanner is charged and in use. A new device is "
            strong { "learning" } " for its first " (cfg.min_history_days) " days." }
        p { strong { (silent) } " silent, " strong { (below) } " below normal, " (learning) " learning, of " (list.len()) " device(s). "
            a.button.secondary href="/reports/device-health?format=csv" { "Download CSV" } }
        @if list.is_empty() { p { "No bridge has reported yet." } }
        @else { div.table-wrap { table {
            thead { tr { th { "Device" } th { "Bridge" } th { "State" } th { "Read rate" } th { "Last read" } th { "Reader errors" } th { "Last report" } } }
            tbody { @for d in &list { tr {
                td { (d.device_id) br; span.hint { (d.description) } }
                td { (d.bridge_id) }
                td { @if d.online { span.tag.ok { "online" } } @else { span.tag.bad { "offline" } } }
                td { (read_health_tag(&d.read_health)) }
                td { (d.last_read_at.as_deref().map(time_text).unwrap_or_else(|| "never".into())) }
                td { (d.reader_errors) @if let Some(e) = &d.last_error { br; span.hint { (e) } } }
                td { (time_text(&d.last_heartbeat)) }
            } } }
        } } }
    }).into_response())
}

pub async fn users(State(s): State<AppState>, user: WebUser) -> Result<Markup, WebError> {
    user.who.require(Permission::ManageUsers)?;
    let list = s.db.read(user_list).await?;
    Ok(users_page(&user, &list, None))
}

/// The users, with the family name and work locations the privacy report uses.
type UserList = (
    Vec<auth::UserRow>,
    std::collections::BTreeMap<String, crate::ledger::staff::Profile>,
);

fn user_list(c: &rusqlite::Connection) -> crate::Result<UserList> {
    Ok((auth::list_users(c)?, crate::ledger::staff::profiles(c)?))
}

pub(crate) fn users_page(
    user: &WebUser,
    (list, profiles): &UserList,
    message: Option<(&str, String)>,
) -> Markup {
    layout(
        user,
        "/admin/users",
        "Users",
        html! {
            @if let Some((kind, m)) = &message { div class=(if *kind == "ok" { "card" } else { "error-summary" }) role="alert" { p { (m) } } }
            table {
                thead { tr { th { "User name" } th { "Name" } th { "Role" } th { "Family name" } th { "Works at" } th { "Active" } th { "Change" } } }
                tbody { @for u in list { @let prof = profiles.get(&u.username); tr {
                    td { (u.username) } td { (u.display_name) } td { (u.role.replace('_', " ")) }
                    td { (prof.and_then(|p| p.family_name.clone()).unwrap_or_else(|| "not recorded".into())) }
                    td { @match prof.map(|p| p.locations.join(", ")).filter(|l| !l.is_empty()) { Some(l) => { (l) }, None => { "not recorded" } } }
                    td { @if u.active { "yes" } @else { span.tag.bad { "disabled" } } }
                    td {
                        details {
                            summary { "Change " (u.username) }
                            @if u.active {
                                form method="post" action=(format!("/admin/users/{}/disable", u.username)) {
                                    input type="hidden" name="csrf" value=(user.csrf);
                                    label for=(format!("reason-{}", u.username)) { "Why disable (for the audit log)" }
                                    input type="text" id=(format!("reason-{}", u.username)) name="reason" required;
                                    button type="submit" { "Disable and sign out now" }
                                }
                            } @else {
                                form method="post" action=(format!("/admin/users/{}/enable", u.username)) {
                                    input type="hidden" name="csrf" value=(user.csrf);
                                    button type="submit" { "Enable" }
                                }
                            }
                            form method="post" action=(format!("/admin/users/{}/password", u.username)) {
                                input type="hidden" name="csrf" value=(user.csrf);
                                label for=(format!("pw-{}", u.username)) { "New password (at least 8 characters)" }
                                input type="password" id=(format!("pw-{}", u.username)) name="password" autocomplete="new-password" required;
                                button type="submit" { "Reset password" }
                            }
                            form method="post" action=(format!("/admin/users/{}/role", u.username)) {
                                input type="hidden" name="csrf" value=(user.csrf);
                                label for=(format!("role-{}", u.username)) { "Role" }
                                select id=(format!("role-{}", u.username)) name="role" { @for r in [Role::Porter, Role::Library, Role::Clinician, Role::RecordsManager, Role::Admin] { option value=(r.as_str()) selected[r.as_str() == u.role] { (r.as_str().replace('_', " ")) } } }
                                button type="submit" { "Change role" }
                            }
                            form method="post" action=(format!("/admin/users/{}/profile", u.username)) {
                                input type="hidden" name="csrf" value=(user.csrf);
                                p.hint { "For the privacy report: the user's family name (lookups of patients sharing it are listed) and the locations they work at (lookups of patients with no request, appointment or admission there are listed)." }
                                label for=(format!("family-{}", u.username)) { "Family name" }
                                input type="text" id=(format!("family-{}", u.username)) name="family_name" value=(prof.and_then(|p| p.family_name.clone()).unwrap_or_default());
                                label for=(format!("locations-{}", u.username)) { "Works at (location codes, separated by commas)" }
                                input type="text" id=(format!("locations-{}", u.username)) name="locations" value=(prof.map(|p| p.locations.join(", ")).unwrap_or_default());
                                button type="submit" { "Save family name and locations" }
                            }
                        }
                    }
                } } }
            }
            p { a href="/admin/tokens" { "API tokens of bridges and printers" } }
            form.card method="post" action="/admin/users" {
                h2 { "Add a user" }
                input type="hidden" name="csrf" value=(user.csrf);
                label for="username" { "User name" } input type="text" id="username" name="username" required;
                label for="display_name" { "Full name" } input type="text" id="display_name" name="display_name" required;
                label for="role" { "Role" }
                select id="role" name="role" { @for r in [Role::Porter, Role::Library, Role::Clinician, Role::RecordsManager, Role::Admin] { option value=(r.as_str()) { (r.as_str().replace('_', " ")) } } }
                label for="password" { "First password (at least 8 characters)" } input type="password" id="password" name="password" autocomplete="new-password" required;
                div { button type="submit" { "Add user" } }
            }
        },
    )
}

pub async fn add_user(
    State(s): State<AppState>,
    user: WebUser,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::ManageUsers)?;
    let result: crate::Result<String> = async {
        let role = Role::parse(param(&f, "role").unwrap_or_default())?;
        let username = param(&f, "username").unwrap_or_default().to_string();
        let display = param(&f, "display_name")
            .ok_or_else(|| Error::invalid("display_name", "is required"))?
            .to_string();
        let new = users::NewUser {
            username: username.clone(),
            display_name: display,
            role,
            password: f.get("password").cloned().unwrap_or_default(),
        };
        users::add_user(&s.db, &user.who, new).await?;
        Ok(username)
    }
    .await;
    let list = s.db.read(user_list).await?;
    Ok(match result {
        Ok(u) => users_page(&user, &list, Some(("ok", format!("User {u} added.")))).into_response(),
        Err(e @ (Error::Invalid { .. } | Error::Conflict { .. })) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            users_page(&user, &list, Some(("error", e.to_string()))),
        )
            .into_response(),
        Err(e) => return Err(e.into()),
    })
}

/// Disable, enable, reset the password of, or change the role of a user (the buttons of the
/// users page); the same use case as the API and the CLI.
pub async fn change_user(
    State(s): State<AppState>,
    user: WebUser,
    Path((username, action)): Path<(String, String)>,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::ManageUsers)?;
    let result: crate::Result<String> = async {
        if action == "profile" {
            let locations = param(&f, "locations")
                .unwrap_or_default()
                .split(',')
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect();
            let family = param(&f, "family_name").map(str::to_string);
            users::set_profile(&s.db, &user.who, &username, family, locations).await?;
            return Ok(format!(
                "User {username}: family name and work locations saved."
            ));
        }
        let change = match action.as_str() {
            "disable" => users::AccountChange::Disable {
                reason: param(&f, "reason").unwrap_or_default().to_string(),
            },
            "enable" => users::AccountChange::Enable,
            "password" => users::AccountChange::ResetPassword {
                password: f.get("password").cloned().unwrap_or_default(),
            },
            "role" => users::AccountChange::SetRole {
                role: Role::parse(param(&f, "role").unwrap_or_default())?,
            },
            _ => return Err(Error::not_found(format!("user action {action}"))),
        };
        let done = change.describe();
        users::change_account(&s.db, &user.who, &username, change).await?;
        Ok(format!("User {username}: {done}."))
    }
    .await;
    let list = s.db.read(user_list).await?;
    account_answer(result, |m| users_page(&user, &list, Some(m)))
}

/// The page after an account form: with the confirmation, or with the refusal (422) when the
/// change was refused or named no such user or token; other errors are the server's.
fn account_answer(
    result: crate::Result<String>,
    page: impl Fn((&str, String)) -> Markup,
) -> Result<Response, WebError> {
    Ok(match result {
        Ok(m) => page(("ok", m)).into_response(),
        Err(e @ (Error::Invalid { .. } | Error::Conflict { .. } | Error::NotFound { .. })) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            page(("error", e.to_string())),
        )
            .into_response(),
        Err(e) => return Err(e.into()),
    })
}

pub async fn tokens(State(s): State<AppState>, user: WebUser) -> Result<Markup, WebError> {
    user.who.require(Permission::ManageUsers)?;
    let list = s.db.read(users::list_tokens).await?;
    Ok(tokens_page(&user, &list, None))
}

fn tokens_page(
    user: &WebUser,
    list: &[users::TokenSummary],
    message: Option<(&str, String)>,
) -> Markup {
    layout(
        user,
        "/admin/users",
        "API tokens",
        html! {
            @if let Some((kind, m)) = &message { div class=(if *kind == "ok" { "card" } else { "error-summary" }) role="alert" { p { (m) } } }
            p { "Tokens let bridges and printers send to the server. A revoked token stops working on its next request. New tokens are made with " code { "tracker-server token create" } "." }
            table {
                thead { tr { th { "Name" } th { "Role" } th { "Created" } th { "State" } } }
                tbody { @for t in list { tr {
                    td { (t.name) } td { (t.role.as_str().replace('_', " ")) } td { (time_text(&t.created_at)) }
                    td {
                        @if let Some(r) = &t.revoked_at { span.tag.bad { "revoked " (time_text(r)) } }
                        @else {
                            form method="post" action=(format!("/admin/tokens/{}/revoke", t.name)) {
                                input type="hidden" name="csrf" value=(user.csrf);
                                label for=(format!("why-{}", t.name)) { "Why revoke" }
                                input type="text" id=(format!("why-{}", t.name)) name="reason" required;
                                button type="submit" { "Revoke " (t.name) }
                            }
                        }
                    }
                } } }
            }
        },
    )
}

pub async fn revoke_token(
    State(s): State<AppState>,
    user: WebUser,
    Path(name): Path<String>,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    let result = users::revoke_token(
        &s.db,
        &user.who,
        &name,
        param(&f, "reason").unwrap_or_default(),
    )
    .await;
    let list = s.db.read(users::list_tokens).await?;
    let result = result.map(|()| format!("Token {name} revoked."));
    account_answer(result, |m| tokens_page(&user, &list, Some(m)))
}

pub async fn locations(State(s): State<AppState>, user: WebUser) -> Result<Markup, WebError> {
    user.who.require(Permission::ManageLocations)?;
    let list = s.db.read(locations::list).await?;
    Ok(locations_page(&user, &list, None))
}

pub(crate) fn locations_page(
    user: &WebUser,
    list: &[locations::Location],
    message: Option<(&str, String)>,
) -> Markup {
    layout(
        user,
        "/admin/locations",
        "Locations",
        html! {
            @if let Some((kind, m)) = &message { div class=(if *kind == "ok" { "card" } else { "error-summary" }) role="alert" { p { (m) } } }
            table {
                thead { tr { th { "Code" } th { "Name" } th { "Kind" } th { "GLN" } th { "Part of" } th { "Preparation area" } th { "Terminal-digit range" } } }
                tbody { @for l in list { tr { td { (l.code) } td { (l.name) } td { (l.kind.as_str().replace('_', " ")) } td { (l.gln.as_deref().unwrap_or("-")) } td { (l.parent.as_deref().unwrap_or("-")) } td { (l.preparation_area.as_deref().unwrap_or("-")) } td { (l.filing_range.as_deref().unwrap_or("-")) } } } }
            }
            form.card method="post" action="/admin/locations" {
                h2 { "Add a location" }
                input type="hidden" name="csrf" value=(user.csrf);
                label for="code" { "Code" } p.hint { "Starts with L, letters and digits only, e.g. LWARD12" } input type="text" id="code" name="code" required;
                label for="name" { "Name" } input type="text" id="name" name="name" required;
                label for="kind" { "Kind" } select id="kind" name="kind" { @for k in locations::KINDS { option value=(k) { (k.replace('_', " ")) } } }
                label for="gln" { "GS1 GLN (optional)" } input type="text" id="gln" name="gln";
                label for="parent" { "Part of (code, optional)" } input type="text" id="parent" name="parent";
                label for="preparation_area" { "Preparation area (clinics only; code, optional)" } p.hint { "Where the clinic's notes are made ready: notes scanned there before the clinic starts count as available." } input type="text" id="preparation_area" name="preparation_area";
                label for="filing_range" { "Terminal-digit range (shelves and bays, optional)" }
                p.hint { "The primary digits the shelf holds, e.g. 00-09, or primary/secondary, e.g. 71/00-71/49. A shelf audit then expects these folders here." }
                input type="text" id="filing_range" name="filing_range";
                div { button type="submit" { "Add location" } }
            }
            form.card method="post" action="/admin/locations/preparation-area" {
                h2 { "Set a clinic's preparation area" }
                p.hint { "Notes scanned into the preparation area before the clinic starts count as available at the clinic. Leave the area empty to remove it." }
                input type="hidden" name="csrf" value=(user.csrf);
                label for="prep-clinic" { "Clinic (code)" } input type="text" id="prep-clinic" name="clinic" required;
                label for="prep-area" { "Preparation area (code)" } input type="text" id="prep-area" name="preparation_area";
                div { button type="submit" { "Set preparation area" } }
            }
        },
    )
}

pub async fn set_preparation_area(
    State(s): State<AppState>,
    user: WebUser,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::ManageLocations)?;
    let clinic = param(&f, "clinic").unwrap_or_default().to_string();
    let area = param(&f, "preparation_area").map(String::from);
    let who = user.who.clone();
    let result =
        s.db.write(move |c| {
            let l = locations::set_preparation_area(c, &clinic, area.as_deref())?;
            audit::record(
                c,
                &who,
                "location.preparation_area",
                None,
                None,
                &format!(
                    "{}: preparation area {}",
                    l.code,
                    l.preparation_area.as_deref().unwrap_or("none")
                ),
            )?;
            Ok(l)
        })
        .await;
    let list = s.db.read(locations::list).await?;
    Ok(match result {
        Ok(l) => locations_page(
            &user,
            &list,
            Some((
                "ok",
                match &l.preparation_area {
                    Some(a) => format!("{} now has preparation area {a}.", l.code),
                    None => format!("{} has no preparation area now.", l.code),
                },
            )),
        )
        .into_response(),
        Err(e @ (Error::Invalid { .. } | Error::Conflict { .. } | Error::NotFound { .. })) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            locations_page(&user, &list, Some(("error", e.to_string()))),
        )
            .into_response(),
        Err(e) => return Err(e.into()),
    })
}

pub async fn add_location(
    State(s): State<AppState>,
    user: WebUser,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::ManageLocations)?;
    let n = locations::NewLocation {
        code: param(&f, "code").unwrap_or_default().to_string(),
        name: param(&f, "name").unwrap_or_default().to_string(),
        kind: param(&f, "kind").unwrap_or_default().to_string(),
        gln: param(&f, "gln").map(String::from),
        parent: param(&f, "parent").map(String::from),
        preparation_area: param(&f, "preparation_area").map(String::from),
        filing_range: param(&f, "filing_range").map(String::from),
    };
    let prefix = s.cfg.identifiers.location_prefix.clone();
    let who = user.who.clone();
    let result =
        s.db.write(move |c| {
            let l = locations::create(c, &n, &prefix)?;
            audit::record(c, &who, "location.create", None, None, &l.code)?;
            Ok(l)
        })
        .await;
    let list = s.db.read(locations::list).await?;
    Ok(match result {
        Ok(l) => locations_page(
            &user,
            &list,
            Some(("ok", format!("Location {} added.", l.code))),
        )
        .into_response(),
        Err(e @ (Error::Invalid { .. } | Error::Conflict { .. })) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            locations_page(&user, &list, Some(("error", e.to_string()))),
        )
            .into_response(),
        Err(e) => return Err(e.into()),
    })
}
