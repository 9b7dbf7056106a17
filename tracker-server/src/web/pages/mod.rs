//! Page handlers. Each one authorises by role, calls the domain layer, audits reads of patient
//! data, and renders HTML (maud escapes every value, so names with markup are harmless).

mod admin;
mod home;
mod reports;
mod scan;
mod session;
mod where_is;
pub(crate) use admin::*;
pub(crate) use home::*;
pub(crate) use reports::*;
pub(crate) use scan::*;
pub(crate) use session::*;
pub(crate) use where_is::*;

use super::{layout, svg, WebError, WebUser, SESSION_COOKIE};
use crate::{
    app::{search, users, AppState},
    audit,
    auth::{self, Permission, Principal, Role},
    ledger::devices,
    ledger::folders,
    ledger::locations,
    util::now_ms,
    workflow::whereis::{self, WhereIs},
    Error,
};
use axum::{
    extract::{Form, Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    Json,
};
use casenote_core::identifiers::{classify, ScanTarget};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

pub(super) type Params = HashMap<String, String>;

pub(super) fn param<'a>(p: &'a Params, k: &str) -> Option<&'a str> {
    p.get(k).map(|s| s.trim()).filter(|s| !s.is_empty())
}

pub(super) async fn audit_read(
    s: &AppState,
    who: &Principal,
    action: &'static str,
    rows: Vec<(Option<i64>, Option<i64>)>,
    detail: String,
) -> Result<(), WebError> {
    Ok(audit::record_reads(&s.db, who, action, rows, detail).await?)
}
