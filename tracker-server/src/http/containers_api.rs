//! Containers (trolleys, bags, crates) over the JSON API: register, list, see what is on one,
//! take everything off. Thin handlers over [`crate::app::containers`].

use super::{ApiJson, ApiResult, AppState, Caller};
use crate::{app::containers, ledger::containers::NewContainer};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    routing::{get, post},
    Json, Router,
};
use serde_json::{json, Value};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/containers", get(list).post(create))
        .route("/api/v1/containers/{id}", get(detail))
        .route("/api/v1/containers/{id}/unload", post(unload))
}

async fn list(State(s): State<AppState>, Caller(who): Caller) -> ApiResult<Json<Value>> {
    Ok(Json(json!(containers::list(&s, &who).await?)))
}

async fn create(
    State(s): State<AppState>,
    Caller(who): Caller,
    ApiJson(n): ApiJson<NewContainer>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let k = containers::create(&s, &who, n).await?;
    Ok((StatusCode::CREATED, Json(json!(k))))
}

async fn detail(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let (k, on) = containers::detail(&s, &who, id).await?;
    Ok(Json(json!({"container": k, "folders": on})))
}

async fn unload(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let n = containers::unload_all(&s, &who, id).await?;
    Ok(Json(json!({"unloaded": n})))
}
