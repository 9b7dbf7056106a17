//! HTTP layer: thin handlers over the domain modules. JSON in and out; every error is
//! `{"error": {"code", "field", "message"}}` with a stable code.

pub mod api;
pub mod audits_api;
pub mod containers_api;
pub mod headers;
pub mod lifecycle_api;
pub mod openapi;
pub mod print;
pub mod privacy_api;
pub mod requests_api;

use crate::{
    app::AppState,
    audit,
    auth::{self, Principal},
    error::ErrorKind,
    Error,
};
use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
    http::{request::Parts, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::de::DeserializeOwned;
use std::collections::HashMap;

/// An error as sent to the client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub field: Option<String>,
    pub message: String,
    /// For internal errors: the whole cause, logged by [`log_errors`] and never sent.
    pub cause: Option<String>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        field: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            field,
            message: message.into(),
            cause: None,
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let kind = e.kind();
        let mut api = Self::new(
            kind.status(),
            kind.code(),
            e.field().map(String::from),
            e.public_message(),
        );
        if kind == ErrorKind::Internal {
            api.cause = Some(e.chain());
        }
        api
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": { "code": self.code, "field": self.field, "message": self.message }
        });
        let mut res = (self.status, Json(body)).into_response();
        if let Some(cause) = self.cause {
            res.extensions_mut()
                .insert(crate::error::InternalCause(cause));
        }
        res
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// JSON body extractor whose errors name the offending field (`events[3].read_at`).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json_ct = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !json_ct {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                None,
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", None, "the request body is larger than the server accepts (server.max_body_bytes); send smaller batches")
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, "bad_body", None, e.body_text())
            }
        })?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(de)
            .map(ApiJson)
            .map_err(|e| {
                let path = e.path().to_string();
                let field = (path != ".").then_some(path);
                let inner = e.into_inner();
                let msg = inner.to_string();
                let code = if inner.is_syntax() || inner.is_eof() {
                    "malformed_json"
                } else {
                    "invalid_field"
                };
                ApiError::new(StatusCode::BAD_REQUEST, code, field, msg)
            })
    }
}

/// The authenticated caller (session token or API token, as `Authorization: Bearer ...`).
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_string())
            .ok_or_else(|| ApiError::from(Error::Unauthorized))?;
        let p = state.db.read_quick(|c| auth::authenticate(c, &token))?;
        Ok(Caller(p))
    }
}

/// Write one audit row per patient/folder read (see [`audit::record_reads`]).
pub(crate) async fn audit_reads(
    s: &AppState,
    who: &Principal,
    action: &'static str,
    rows: Vec<(Option<i64>, Option<i64>)>,
    detail: String,
) -> ApiResult<()> {
    Ok(audit::record_reads(&s.db, who, action, rows, detail).await?)
}

/// A whole-number query parameter within `range`, or `default` when absent.
pub(crate) fn query_i64(
    q: &HashMap<String, String>,
    name: &str,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> ApiResult<i64> {
    match q.get(name) {
        None => Ok(default),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| {
                Error::invalid(
                    name,
                    format!(
                        "must be a whole number from {} to {}",
                        range.start(),
                        range.end()
                    ),
                )
                .into()
            }),
    }
}

/// The JSON API's routes.
pub fn routes() -> axum::Router<AppState> {
    api::routes()
        .merge(requests_api::routes())
        .merge(audits_api::routes())
        .merge(lifecycle_api::routes())
        .merge(privacy_api::routes())
        .merge(containers_api::routes())
}
