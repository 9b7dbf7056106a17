//! Coding.

use super::*;

pub(crate) async fn load_code_list(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(scheme): Path<String>,
    body: String,
) -> ApiResult<Json<coding::CodeListLoaded>> {
    who.require(Permission::ManageCodeLists)?;
    Ok(Json(
        s.db.write(move |c| coding::load_code_list(c, &who, &scheme, &body))
            .await?,
    ))
}

pub(crate) async fn coding_queue(
    State(s): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<Params>,
) -> ApiResult<Json<Value>> {
    who.require(Permission::CodeEpisodes)?;
    let cfg = s.cfg.clone();
    let as_of = day_param(&q, "as_of")?.unwrap_or_else(today);
    let (created, list) =
        s.db.write(move |c| {
            coding::queue_audited(
                c,
                &who,
                &cfg.requests.coding_location,
                &cfg.coding.backlog_weeks,
                as_of,
                5000,
            )
        })
        .await?;
    Ok(Json(
        json!({"count": list.len(), "new_from_adt": created, "episodes": list}),
    ))
}

pub(crate) async fn coding_backlog(
    State(s): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<Params>,
) -> ApiResult<Json<coding::Backlog>> {
    who.require(Permission::CodeEpisodes)?;
    let as_of = day_param(&q, "as_of")?.unwrap_or_else(today);
    let bands = s.cfg.coding.backlog_weeks.clone();
    Ok(Json(
        s.db.write(move |c| {
            coding::sync_from_adt(c)?;
            coding::backlog(c, &bands, as_of)
        })
        .await?,
    ))
}

pub(crate) async fn create_episode(
    State(s): State<AppState>,
    Caller(who): Caller,
    ApiJson(n): ApiJson<coding::NewEpisode>,
) -> ApiResult<(StatusCode, Json<coding::Episode>)> {
    who.require(Permission::CodeEpisodes)?;
    let cfg = s.cfg.clone();
    let e =
        s.db.write(move |c| {
            let id = coding::create_episode(c, &who, &n)?;
            coding::get(
                c,
                &cfg.requests.coding_location,
                &cfg.coding.backlog_weeks,
                id,
            )
        })
        .await?;
    Ok((StatusCode::CREATED, Json(e)))
}

pub(crate) async fn get_episode(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<coding::Episode>> {
    who.require(Permission::CodeEpisodes)?;
    let cfg = s.cfg.clone();
    let e =
        s.db.read(move |c| {
            coding::get(
                c,
                &cfg.requests.coding_location,
                &cfg.coding.backlog_weeks,
                id,
            )
        })
        .await?;
    audit_reads(
        &s,
        &who,
        "episode.read",
        vec![(Some(e.patient_id), None)],
        format!("episode {id}"),
    )
    .await?;
    Ok(Json(e))
}

pub(crate) async fn code_episode(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
    ApiJson(k): ApiJson<coding::Coding>,
) -> ApiResult<Json<coding::Episode>> {
    who.require(Permission::CodeEpisodes)?;
    let cfg = s.cfg.clone();
    Ok(Json(
        s.db.write(move |c| {
            coding::code_episode(c, &who, id, &k)?;
            coding::get(
                c,
                &cfg.requests.coding_location,
                &cfg.coding.backlog_weeks,
                id,
            )
        })
        .await?,
    ))
}
