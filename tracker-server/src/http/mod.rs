//! HTTP layer: thin handlers over the domain modules. JSON in and out; every error is
//! `{"error": {"code", "field", "message"}}` with a stable code.

pub mod api;
pub mod lifecycle_api;
pub mod openapi;
pub mod print;
pub mod requests_api;

use crate::{
    auth::{self, LoginLimiter, Principal},
    config::Config,
    storage::Db,
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
use std::sync::Arc;

/// Shared state of the running server.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub cfg: Arc<Config>,
    pub limiter: Arc<LoginLimiter>,
    /// One print job at a time per printer.
    pub printer_locks: Arc<crate::printing::PrinterLocks>,
    /// New and overdue requests, published to the live desk view (server-sent events).
    pub desk: tokio::sync::broadcast::Sender<crate::workflow::requests::DeskEvent>,
    /// Where the HL7 MLLP listener is bound, once [`crate::serve`] has started it.
    pub hl7_addr: Arc<std::sync::OnceLock<std::net::SocketAddr>>,
}

impl AppState {
    pub fn new(db: Db, cfg: Config) -> Self {
        let limiter = LoginLimiter::new(cfg.auth.login_max_failures, cfg.auth.login_window_secs);
        let (desk, _) = tokio::sync::broadcast::channel(1024);
        Self {
            db,
            cfg: Arc::new(cfg),
            limiter: Arc::new(limiter),
            printer_locks: Arc::default(),
            desk,
            hl7_addr: Arc::new(std::sync::OnceLock::new()),
        }
    }
}

/// An error as sent to the client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub field: Option<String>,
    pub message: String,
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
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid { field, message } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                Some(field),
                message,
            ),
            Error::NotFound { .. } => {
                Self::new(StatusCode::NOT_FOUND, "not_found", None, e.to_string())
            }
            Error::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", None, m),
            Error::Unauthorized => Self::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                None,
                e.to_string(),
            ),
            Error::Forbidden { .. } => {
                Self::new(StatusCode::FORBIDDEN, "forbidden", None, e.to_string())
            }
            Error::RateLimited(_) => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                None,
                e.to_string(),
            ),
            Error::Storage(m) => {
                tracing::error!(error = %m, "storage error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "storage",
                    None,
                    "the database could not complete the request; nothing was changed",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": { "code": self.code, "field": self.field, "message": self.message }
        });
        (self.status, Json(body)).into_response()
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
        let p = state
            .db
            .read(move |c| auth::authenticate(c, &token))
            .await?;
        Ok(Caller(p))
    }
}

/// Build the router with all routes and limits.
pub fn router(state: AppState) -> axum::Router {
    let limit = state.cfg.server.max_body_bytes;
    api::routes()
        .merge(crate::web::routes())
        .merge(requests_api::routes())
        .merge(lifecycle_api::routes())
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}
