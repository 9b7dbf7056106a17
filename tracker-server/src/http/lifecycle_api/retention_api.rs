//! Retention.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeathBody {
    date_of_death: String,
}

pub(crate) async fn record_death(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<DeathBody>,
) -> ApiResult<Json<Value>> {
    who.require(Permission::EditRecords)?;
    let d = b.date_of_death.clone();
    s.db.write(move |c| retention::record_death(c, &who, &id, &d))
        .await?;
    Ok(Json(json!({"date_of_death": b.date_of_death.trim()})))
}

pub(crate) async fn retention_rules(
    Caller(who): Caller,
    State(s): State<AppState>,
) -> ApiResult<Json<Value>> {
    who.require(Permission::ManageRetention)?;
    Ok(Json(json!({"rules": s.cfg.retention.rules})))
}

pub(crate) async fn retention_due(
    State(s): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<Params>,
) -> ApiResult<Response> {
    who.require(Permission::ManageRetention)?;
    let as_of = day_param(&q, "as_of")?.unwrap_or_else(today);
    let rules = s.cfg.retention.rules.clone();
    let list =
        s.db.read(move |c| retention::due(c, &rules, as_of, 100_000))
            .await?;
    audit_reads(
        &s,
        &who,
        "retention.due",
        list.iter()
            .map(|d| (Some(d.patient_id), Some(d.folder_id)))
            .collect(),
        format!("retention due as of {as_of}"),
    )
    .await?;
    if q.get("format").map(String::as_str) == Some("csv") {
        let mut w = crate::csv_export::Writer::new();
        let _ = w.write_record([
            "barcode",
            "folder_type",
            "last_entry",
            "rule",
            "action",
            "due_on",
            "rule_confirmed",
            "legal_hold",
            "pending_destruction",
        ]);
        for d in &list {
            let _ = w.write_record([
                d.barcode.clone(),
                d.folder_type.clone(),
                d.last_entry.clone(),
                d.rule.clone(),
                d.action.as_str().to_string(),
                d.due_on.clone(),
                d.rule_confirmed.to_string(),
                d.legal_hold.to_string(),
                d.pending_destruction
                    .map(|x| x.to_string())
                    .unwrap_or_default(),
            ]);
        }
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"retention-due.csv\"",
                ),
            ],
            w.into_inner().unwrap_or_default(),
        )
            .into_response());
    }
    Ok(
        Json(json!({"as_of": as_of.to_string(), "count": list.len(), "folders": list}))
            .into_response(),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HoldBody {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

pub(crate) async fn folder_id(s: &AppState, barcode: String) -> ApiResult<folders::Folder> {
    let scheme = s.cfg.identifiers.folder.clone();
    Ok(s.db
        .read(move |c| folders::by_barcode(c, &scheme, &barcode))
        .await?)
}

pub(crate) async fn place_hold(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(barcode): Path<String>,
    ApiJson(b): ApiJson<HoldBody>,
) -> ApiResult<(StatusCode, Json<retention::Hold>)> {
    who.require(Permission::ManageRetention)?;
    let f = folder_id(&s, barcode).await?;
    let h = s
        .db
        .write(move |c| retention::place_hold(c, &who, f.id, b.reason.as_deref().unwrap_or("")))
        .await?;
    Ok((StatusCode::CREATED, Json(h)))
}

pub(crate) async fn release_hold(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(barcode): Path<String>,
    ApiJson(b): ApiJson<HoldBody>,
) -> ApiResult<Json<retention::Hold>> {
    who.require(Permission::ManageRetention)?;
    let f = folder_id(&s, barcode).await?;
    Ok(Json(
        s.db.write(move |c| {
            retention::release_hold(c, &who, f.id, b.note.as_deref().unwrap_or(""))
        })
        .await?,
    ))
}

pub(crate) async fn get_tombstone(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(barcode): Path<String>,
) -> ApiResult<Json<retention::Tombstone>> {
    who.require(Permission::ManageRetention)?;
    let f = folder_id(&s, barcode).await?;
    let fid = f.id;
    let t =
        s.db.read(move |c| retention::tombstone(c, fid))
            .await?
            .ok_or_else(|| Error::not_found(format!("tombstone for folder {}", f.barcode)))?;
    audit_reads(
        &s,
        &who,
        "retention.tombstone.read",
        vec![(Some(f.patient_id), Some(f.id))],
        f.barcode.clone(),
    )
    .await?;
    Ok(Json(t))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DestructionBody {
    folder: String,
    reason: String,
}

pub(crate) async fn request_destruction(
    State(s): State<AppState>,
    Caller(who): Caller,
    ApiJson(b): ApiJson<DestructionBody>,
) -> ApiResult<(StatusCode, Json<retention::Destruction>)> {
    who.require(Permission::ManageRetention)?;
    let scheme = s.cfg.identifiers.folder.clone();
    let rules = s.cfg.retention.rules.clone();
    let d =
        s.db.write(move |c| {
            retention::request_destruction_of(
                c,
                &who,
                &rules,
                &scheme,
                &b.folder,
                &b.reason,
                today(),
            )
        })
        .await?;
    Ok((StatusCode::CREATED, Json(d)))
}

pub(crate) async fn list_destructions(
    State(s): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<Params>,
) -> ApiResult<Json<Vec<retention::Destruction>>> {
    who.require(Permission::ManageRetention)?;
    let st = q.get("status").cloned();
    Ok(Json(
        s.db.read(move |c| retention::list_destructions(c, st.as_deref()))
            .await?,
    ))
}

pub(crate) async fn get_destruction(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<retention::Destruction>> {
    who.require(Permission::ManageRetention)?;
    Ok(Json(
        s.db.read(move |c| retention::get_destruction(c, id))
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DecisionBody {
    #[serde(default)]
    note: Option<String>,
}

pub(crate) async fn approve_destruction(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<DecisionBody>,
) -> ApiResult<Json<retention::Destruction>> {
    decide_destruction(s, who, id, true, b).await
}

pub(crate) async fn reject_destruction(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<DecisionBody>,
) -> ApiResult<Json<retention::Destruction>> {
    decide_destruction(s, who, id, false, b).await
}

/// The second person's decision on a proposed destruction.
pub(crate) async fn decide_destruction(
    s: AppState,
    who: crate::auth::Principal,
    id: i64,
    approve: bool,
    b: DecisionBody,
) -> ApiResult<Json<retention::Destruction>> {
    who.require(Permission::ManageRetention)?;
    Ok(Json(
        s.db.write(move |c| {
            retention::decide_destruction(c, &who, id, approve, b.note.as_deref().unwrap_or(""))
        })
        .await?,
    ))
}

pub(crate) async fn destruction_certificate(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    who.require(Permission::ManageRetention)?;
    let (cert, sha) = s.db.read(move |c| retention::certificate(c, id)).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/plain; charset=utf-8".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"destruction-{id}.txt\""),
            ),
            (
                header::HeaderName::from_static("x-certificate-sha256"),
                sha.clone(),
            ),
        ],
        format!("{cert}SHA-256 of the text above: {sha}\n"),
    )
        .into_response())
}
