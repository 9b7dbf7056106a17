//! The coding queue: episodes awaiting coding, oldest first, with where each patient's notes
//! are now; recording an episode by hand; coding one episode.

use super::*;
use crate::ledger::patients::{self, Patient};
use crate::lifecycle::coding::{self, Episode, NotesPlace};

/// One queue row: the episode, its patient (for those who may read patients) and the notes.
struct Row {
    e: Episode,
    patient: Option<Patient>,
    notes: Vec<NotesPlace>,
}

fn patient_text(p: &Option<Patient>, id: i64) -> Markup {
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

fn notes_cell(notes: &[NotesPlace], coding_location: &str) -> Markup {
    html! {
        @if notes.is_empty() { "no folder registered" }
        ul.plain {
            @for n in notes {
                li {
                    a href={"/whereis?q=" (n.barcode)} { (n.barcode) } " vol " (n.volume) "/" (n.volume_count) ": "
                    @match &n.place {
                        Some(p) if n.in_transit => { span.tag.warn { "in transit from " (p) } }
                        Some(p) if n.code.as_deref() == Some(coding_location) => { span.tag.ok { "at coding: " (p) } }
                        Some(p) => { span.tag.info { (p) } }
                        None => { "never scanned (expected at " (n.home) ")" }
                    }
                    @if let Some(since) = &n.since { br; span.hint { "since " (time_text(since)) } }
                }
            }
        }
    }
}

fn done_text(q: &Params) -> Option<Note> {
    match param(q, "done")? {
        "recorded" => Some(Note::Ok(
            "Episode recorded; it is in the coding queue.".into(),
        )),
        "coded" => Some(Note::Ok(
            "Episode coded; it has left the coding queue.".into(),
        )),
        _ => None,
    }
}

async fn queue_page(
    s: &AppState,
    user: &WebUser,
    note: Option<Note>,
    f: &Params,
) -> Result<Markup, WebError> {
    let cfg = s.cfg.clone();
    let who = user.who.clone();
    let with_patient = user.who.can(Permission::ReadPatient);
    let today = crate::util::site_today();
    let (new_from_adt, rows, backlog) =
        s.db.write(move |c| {
            let (n, list) = coding::queue_audited(
                c,
                &who,
                &cfg.requests.coding_location,
                &cfg.coding.backlog_weeks,
                today,
                2000,
            )?;
            let backlog = coding::backlog(c, &cfg.coding.backlog_weeks, today)?;
            let mut rows = Vec::with_capacity(list.len());
            for e in list {
                let patient = if with_patient {
                    Some(patients::get(c, e.patient_id)?)
                } else {
                    None
                };
                let notes = coding::notes_whereabouts(c, e.patient_id)?;
                rows.push(Row { e, patient, notes });
            }
            Ok((n, rows, backlog))
        })
        .await?;
    let v = |k: &str| f.get(k).cloned().unwrap_or_default();
    let coding_location = s.cfg.requests.coding_location.clone();
    Ok(layout(
        user,
        "/coding",
        "Coding queue",
        html! {
            (note_box(&note))
            p { strong id="queue-count" { (rows.len()) } " episode(s) awaiting coding, oldest discharge first."
                @if new_from_adt > 0 { " " (new_from_adt) " new from the patient administration system." } }
            h2 { "Backlog by weeks after the month of discharge" }
            div.table-wrap { table id="backlog" {
                thead { tr { @for (label, _) in &backlog.bands { th { (label) } } } }
                tbody { tr { @for (_, n) in &backlog.bands { td { (n) } } } }
            } }
            h2 { "Episodes awaiting coding" }
            @if rows.is_empty() { p { "Nothing is waiting to be coded." } } @else {
                div.table-wrap { table id="coding-queue" {
                    caption.visually-hidden { "Episodes awaiting coding, oldest discharge first" }
                    thead { tr { th { "Discharged" } th { "Age" } th { "Patient" } th { "Where the notes are now" } th { "Notes request" } th { span.visually-hidden { "Actions" } } } }
                    tbody { @for r in &rows {
                        tr id={"episode-" (r.e.id)} {
                            td { (time_text(&r.e.discharged_at)) }
                            td { (r.e.backlog_band) }
                            td { (patient_text(&r.patient, r.e.patient_id)) }
                            td { (notes_cell(&r.notes, &coding_location)) }
                            td { (r.e.notes_request_state.as_deref().map(words).unwrap_or_else(|| "none".into())) }
                            td { a.button.small href={"/coding/episodes/" (r.e.id)} aria-label={"Code episode " (r.e.id)} { "Code" } }
                        }
                    } }
                } }
            }
            @if user.who.can(Permission::ManageCodeLists) {
                form.card method="post" action="/coding/code-lists" {
                    h2 { "Load a code list" }
                    p.hint { "Paste the list as CSV or tab-separated text, one code and its description per line. It replaces the list loaded before; once a list is loaded, codes not on it are refused." }
                    input type="hidden" name="csrf" value=(user.csrf);
                    label for="scheme" { "Classification" }
                    select id="scheme" name="scheme" {
                        @for sch in coding::Scheme::ALL { option value=(sch.as_str()) { (sch.title()) } }
                    }
                    label for="code-list" { "Codes" }
                    textarea id="code-list" name="list" rows="4" required {}
                    div { button.secondary type="submit" { "Load code list" } }
                }
            }
            form.card method="post" action="/coding/episodes" {
                h2 { "Record an episode by hand" }
                p.hint { "For a discharge the patient administration system did not send." }
                input type="hidden" name="csrf" value=(user.csrf);
                label for="patient" { "Patient (CHI or NHS number)" }
                input type="text" id="patient" name="patient" inputmode="numeric" autocomplete="off" required value=(v("patient"));
                label for="admitted_at" { "Admitted (optional)" }
                input type="datetime-local" id="admitted_at" name="admitted_at" value=(v("admitted_at"));
                label for="discharged_at" { "Discharged" }
                input type="datetime-local" id="discharged_at" name="discharged_at" required value=(v("discharged_at"));
                label for="encounter" { "Encounter number (optional)" }
                input type="text" id="encounter" name="encounter" autocomplete="off" value=(v("encounter"));
                div { button type="submit" { "Record episode" } }
            }
        },
    ))
}

/// `GET /coding`.
pub async fn coding_queue(
    State(s): State<AppState>,
    user: WebUser,
    Query(q): Query<Params>,
) -> Result<Markup, WebError> {
    user.who.require(Permission::CodeEpisodes)?;
    queue_page(&s, &user, done_text(&q), &Params::new()).await
}

/// `POST /coding/episodes`: record an episode by hand.
pub async fn create_episode(
    State(s): State<AppState>,
    user: WebUser,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::CodeEpisodes)?;
    let made = match (
        local_time_field(&f, "admitted_at"),
        local_time_field(&f, "discharged_at"),
    ) {
        (Err(e), _) | (_, Err(e)) => Err(e),
        (Ok(_), Ok(None)) => Err(Error::invalid("discharged_at", "enter a date and time")),
        (Ok(admitted_at), Ok(Some(discharged_at))) => {
            let n = coding::NewEpisode {
                patient: param(&f, "patient").unwrap_or_default().to_string(),
                admitted_at,
                discharged_at,
                encounter: param(&f, "encounter").map(String::from),
            };
            let who = user.who.clone();
            s.db.write(move |c| coding::create_episode(c, &who, &n))
                .await
        }
    };
    match made {
        Ok(_) => Ok(done("/coding", "recorded")),
        Err(e) => {
            let (status, note) = refusal(e)?;
            Ok(page_with(
                status,
                queue_page(&s, &user, Some(note), &f).await?,
            ))
        }
    }
}

async fn episode_page(
    s: &AppState,
    user: &WebUser,
    id: i64,
    note: Option<Note>,
    f: &Params,
) -> Result<Markup, WebError> {
    let cfg = s.cfg.clone();
    let with_patient = user.who.can(Permission::ReadPatient);
    let (e, patient, notes) =
        s.db.read(move |c| {
            let e = coding::get(
                c,
                &cfg.requests.coding_location,
                &cfg.coding.backlog_weeks,
                id,
            )?;
            let p = if with_patient {
                Some(patients::get(c, e.patient_id)?)
            } else {
                None
            };
            let notes = coding::notes_whereabouts(c, e.patient_id)?;
            Ok((e, p, notes))
        })
        .await?;
    audit_read(
        s,
        &user.who,
        "episode.read",
        vec![(Some(e.patient_id), None)],
        format!("episode {id}"),
    )
    .await?;
    let lines = |k: &str, have: Vec<String>| f.get(k).cloned().unwrap_or_else(|| have.join("\n"));
    let diagnoses = lines(
        "diagnoses",
        e.diagnoses
            .iter()
            .map(|d| match &d.asterisk {
                Some(a) => format!("{}\u{2020} {a}*", d.code),
                None => d.code.clone(),
            })
            .collect(),
    );
    let procedures = lines("procedures", e.procedures.clone());
    Ok(layout(
        user,
        "/coding",
        &format!("Episode {id}"),
        html! {
            (note_box(&note))
            dl.summary {
                dt { "Patient" } dd { (patient_text(&patient, e.patient_id)) }
                @if let Some(a) = &e.admitted_at { dt { "Admitted" } dd { (time_text(a)) } }
                dt { "Discharged" } dd { (time_text(&e.discharged_at)) }
                dt { "Age" } dd { (e.backlog_band) " (" (e.weeks_after_month_end) " weeks after the month of discharge)" }
                dt { "Status" } dd { strong { (words(&e.status)) } }
                @if let Some(at) = &e.coded_at { dt { "Coded" } dd { (time_text(at)) " by " (e.coded_by.as_deref().unwrap_or("")) } }
                dt { "Where the notes are now" } dd { (notes_cell(&notes, &s.cfg.requests.coding_location)) }
            }
            form.card method="post" action={"/coding/episodes/" (id) "/codes"} {
                h2 { "Codes" }
                p.hint { "Coding again replaces the earlier codes." }
                input type="hidden" name="csrf" value=(user.csrf);
                label for="diagnoses" { "Diagnoses (ICD-10), primary first" }
                p.hint { "One code per line, for example J18.9, or A17.0\u{2020} G01* for a dagger and asterisk pair." }
                textarea id="diagnoses" name="diagnoses" rows="4" required { (diagnoses) }
                label for="procedures" { "Procedures (OPCS-4), main procedure first (optional)" }
                p.hint { "One code per line, for example W37.1." }
                textarea id="procedures" name="procedures" rows="3" { (procedures) }
                div { button type="submit" { "Save codes" } a.button.secondary href="/coding" { "Back to the queue" } }
            }
        },
    ))
}

/// `GET /coding/episodes/{id}`.
pub async fn episode(
    State(s): State<AppState>,
    user: WebUser,
    Path(id): Path<i64>,
) -> Result<Markup, WebError> {
    user.who.require(Permission::CodeEpisodes)?;
    episode_page(&s, &user, id, None, &Params::new()).await
}

fn code_lines(f: &Params, k: &str) -> Vec<String> {
    f.get(k)
        .map(String::as_str)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// `POST /coding/episodes/{id}/codes`.
pub async fn code_episode(
    State(s): State<AppState>,
    user: WebUser,
    Path(id): Path<i64>,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::CodeEpisodes)?;
    let k = coding::Coding {
        diagnoses: code_lines(&f, "diagnoses"),
        procedures: code_lines(&f, "procedures"),
    };
    let who = user.who.clone();
    match s
        .db
        .write(move |c| coding::code_episode(c, &who, id, &k))
        .await
    {
        Ok(()) => Ok(done("/coding", "coded")),
        Err(e) => {
            let (status, note) = refusal(e)?;
            Ok(page_with(
                status,
                episode_page(&s, &user, id, Some(note), &f).await?,
            ))
        }
    }
}

/// `POST /coding/code-lists`: replace the ICD-10 or OPCS-4 code list (as the API's
/// `POST /api/v1/coding/code-lists/{scheme}`).
pub async fn load_code_list(
    State(s): State<AppState>,
    user: WebUser,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    user.who.require(Permission::ManageCodeLists)?;
    let scheme = param(&f, "scheme").unwrap_or_default().to_string();
    let list = f.get("list").cloned().unwrap_or_default();
    let who = user.who.clone();
    let note = match s
        .db
        .write(move |c| coding::load_code_list(c, &who, &scheme, &list))
        .await
    {
        Ok(l) => {
            let title = l
                .scheme
                .parse::<coding::Scheme>()
                .map(|s| s.title())
                .unwrap_or("");
            (
                StatusCode::OK,
                Note::Ok(format!("Loaded {} {title} codes.", l.entries)),
            )
        }
        Err(e) => refusal(e)?,
    };
    Ok(page_with(
        note.0,
        queue_page(&s, &user, Some(note.1), &Params::new()).await?,
    ))
}
