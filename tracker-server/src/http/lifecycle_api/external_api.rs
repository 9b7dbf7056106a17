//! External requests.

use super::*;

pub(crate) async fn create_external(
    State(s): State<AppState>,
    Caller(who): Caller,
    ApiJson(n): ApiJson<external_requests::NewExternalRequest>,
) -> ApiResult<(StatusCode, Json<external_requests::ExternalRequest>)> {
    who.require(Permission::ManageExternalRequests)?;
    let cfg = s.cfg.clone();
    let r = s
        .db
        .write(move |c| external_requests::create(c, &who, &cfg.external_requests, &n, today()))
        .await?;
    Ok((StatusCode::CREATED, Json(r)))
}

pub(crate) async fn list_external(
    State(s): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<Params>,
) -> ApiResult<Json<Value>> {
    who.require(Permission::ManageExternalRequests)?;
    let open = q.get("open").map(String::as_str) == Some("true");
    let overdue = q.get("overdue").map(String::as_str) == Some("true");
    let kind = q.get("kind").cloned();
    let as_of = day_param(&q, "as_of")?.unwrap_or_else(today);
    let list =
        s.db.read(move |c| external_requests::list(c, as_of, open, overdue, kind.as_deref()))
            .await?;
    audit_reads(
        &s,
        &who,
        "external_request.list",
        list.iter()
            .map(|r| (Some(r.patient_id), None))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect(),
        "external requests".into(),
    )
    .await?;
    let n_overdue = list.iter().filter(|r| r.overdue).count();
    Ok(Json(
        json!({"count": list.len(), "overdue": n_overdue, "requests": list}),
    ))
}

pub(crate) async fn get_external(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
    Query(q): Query<Params>,
) -> ApiResult<Json<external_requests::ExternalRequest>> {
    who.require(Permission::ManageExternalRequests)?;
    let as_of = day_param(&q, "as_of")?.unwrap_or_else(today);
    let r =
        s.db.read(move |c| external_requests::get(c, id, as_of))
            .await?;
    audit_reads(
        &s,
        &who,
        "external_request.read",
        vec![(Some(r.patient_id), None)],
        format!("{} {id}", r.kind),
    )
    .await?;
    Ok(Json(r))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExtendBody {
    months: u32,
    reason: String,
}

pub(crate) async fn extend_external(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<ExtendBody>,
) -> ApiResult<Json<external_requests::ExternalRequest>> {
    who.require(Permission::ManageExternalRequests)?;
    let cfg = s.cfg.clone();
    Ok(Json(
        s.db.write(move |c| {
            external_requests::extend(
                c,
                &who,
                &cfg.external_requests,
                id,
                b.months,
                &b.reason,
                today(),
            )
        })
        .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExtStatusBody {
    status: String,
    #[serde(default)]
    note: Option<String>,
}

pub(crate) async fn status_external(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<ExtStatusBody>,
) -> ApiResult<Json<external_requests::ExternalRequest>> {
    who.require(Permission::ManageExternalRequests)?;
    Ok(Json(
        s.db.write(move |c| {
            external_requests::set_status(
                c,
                &who,
                id,
                &b.status,
                b.note.as_deref().unwrap_or(""),
                today(),
            )
        })
        .await?,
    ))
}
