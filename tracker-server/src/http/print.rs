//! Label printing handlers: the printer registry, printing, reprints, retries, batches and
//! label previews. Each handler authorises, stores the job with its audit row in one write,
//! sends to the printer outside the write, then records the outcome.

use super::{audit_reads, query_i64, ApiJson, ApiResult, AppState, Caller};
use crate::{
    app::labels,
    auth::Permission,
    ledger::folders,
    printing::{self, BadgeRequest, BatchFolders, NewPrinter, PrinterChange},
    Error,
};
use axum::{
    extract::{Path, Query, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post, put},
    Json, Router,
};
use label_printer::{Format, Label, LabelStock};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/printers", get(list_printers).post(create_printer))
        .route("/api/v1/printers/{id}", put(update_printer))
        .route("/api/v1/print/folder", post(print_folder))
        .route("/api/v1/print/location", post(print_location))
        .route("/api/v1/print/badge", post(print_badge))
        .route("/api/v1/print/jobs", get(list_jobs))
        .route("/api/v1/print/jobs/{id}/retry", post(retry_job))
        .route("/api/v1/print/batch", post(create_batch))
        .route("/api/v1/print/batches/{id}", get(get_batch))
        .route("/api/v1/print/batches/{id}/retry", post(retry_batch))
        .route("/api/v1/labels/folder/{file}", get(preview_folder))
}

fn path_id(what: &str, v: &str) -> ApiResult<i64> {
    v.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| Error::not_found(format!("{what} {v}")).into())
}

/// 201 with the job when the printer took it; 502 with the error and the (kept) job when not.
fn job_response(job: printing::Job) -> Response {
    if job.status == printing::JobStatus::Sent {
        return (StatusCode::CREATED, Json(json!({ "job": job }))).into_response();
    }
    let message = format!(
        "{}; the job is kept as failed: fix the printer, then POST /api/v1/print/jobs/{}/retry",
        job.error
            .as_deref()
            .unwrap_or("the printer did not take the job"),
        job.id
    );
    (
        StatusCode::BAD_GATEWAY,
        Json(json!({
            "error": {"code": "print_failed", "field": "printer", "message": message},
            "job": job,
        })),
    )
        .into_response()
}

async fn send(s: &AppState, r: printing::Ready) -> ApiResult<Response> {
    let job = printing::send_and_record(&s.db, &s.cfg.printing, &s.printer_locks, r).await?;
    Ok(job_response(job))
}

// ---------- printers ----------

async fn list_printers(
    State(s): State<AppState>,
    Caller(who): Caller,
) -> ApiResult<Json<Vec<printing::Printer>>> {
    who.require(Permission::PrintLabels)?;
    Ok(Json(s.db.read(printing::list_printers).await?))
}

async fn create_printer(
    State(s): State<AppState>,
    Caller(who): Caller,
    ApiJson(n): ApiJson<NewPrinter>,
) -> ApiResult<(StatusCode, Json<printing::Printer>)> {
    who.require(Permission::ManagePrinters)?;
    let cfg = s.cfg.printing.clone();
    let p =
        s.db.write(move |c| printing::create_printer(c, &cfg, &who, &n))
            .await?;
    Ok((StatusCode::CREATED, Json(p)))
}

async fn update_printer(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    ApiJson(ch): ApiJson<PrinterChange>,
) -> ApiResult<Json<printing::Printer>> {
    who.require(Permission::ManagePrinters)?;
    let id = path_id("printer", &id)?;
    let cfg = s.cfg.printing.clone();
    let p =
        s.db.write(move |c| printing::update_printer(c, &cfg, &who, id, &ch))
            .await?;
    Ok(Json(p))
}

// ---------- printing ----------

fn one() -> u32 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrintFolder {
    barcode: String,
    printer: String,
    #[serde(default = "one")]
    copies: u32,
}

async fn print_folder(
    State(s): State<AppState>,
    Caller(who): Caller,
    ApiJson(b): ApiJson<PrintFolder>,
) -> ApiResult<Response> {
    who.require(Permission::PrintLabels)?;
    let ready = labels::folder(&s, &who, b.barcode, b.printer, b.copies).await?;
    send(&s, ready).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrintLocation {
    code: String,
    printer: String,
    #[serde(default = "one")]
    copies: u32,
}

async fn print_location(
    State(s): State<AppState>,
    Caller(who): Caller,
    ApiJson(b): ApiJson<PrintLocation>,
) -> ApiResult<Response> {
    who.require(Permission::PrintLabels)?;
    let ready = labels::location(&s, &who, b.code, b.printer, b.copies).await?;
    send(&s, ready).await
}

async fn print_badge(
    State(s): State<AppState>,
    Caller(who): Caller,
    ApiJson(b): ApiJson<BadgeRequest>,
) -> ApiResult<Response> {
    who.require(Permission::PrintLabels)?;
    let ready = labels::badge(&s, &who, b).await?;
    send(&s, ready).await
}

async fn list_jobs(
    State(s): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    who.require(Permission::PrintLabels)?;
    let filter = printing::JobFilter {
        status: q.get("status").cloned(),
        batch_id: match q.get("batch") {
            Some(_) => Some(query_i64(&q, "batch", 0, 1..=i64::MAX)?),
            None => None,
        },
        limit: query_i64(&q, "limit", 100, 1..=10_000)?,
    };
    let jobs = s.db.read(move |c| printing::list_jobs(c, &filter)).await?;
    Ok(Json(json!({"count": jobs.len(), "jobs": jobs})))
}

async fn retry_job(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    who.require(Permission::PrintLabels)?;
    let id = path_id("print job", &id)?;
    let ready =
        s.db.write(move |c| printing::claim_retry(c, id, &who))
            .await?;
    send(&s, ready).await
}

// ---------- batches ----------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBatch {
    folders: BatchFolders,
    printer: String,
    #[serde(default = "one")]
    copies: u32,
}

async fn create_batch(
    State(s): State<AppState>,
    Caller(who): Caller,
    ApiJson(b): ApiJson<NewBatch>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    who.require(Permission::PrintLabels)?;
    let st = labels::start_batch(&s, who, b.folders, b.printer, b.copies).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "batch_id": st.batch_id,
            "total": st.total,
            "printer": st.printer,
            "description": st.description,
            "progress": format!("/api/v1/print/batches/{}", st.batch_id),
        })),
    ))
}

async fn get_batch(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<printing::Batch>> {
    who.require(Permission::PrintLabels)?;
    let id = path_id("print batch", &id)?;
    Ok(Json(s.db.read(move |c| printing::get_batch(c, id)).await?))
}

async fn retry_batch(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    who.require(Permission::PrintLabels)?;
    let id = path_id("print batch", &id)?;
    let (printer, jobs) =
        s.db.write(move |c| printing::claim_batch_retry(c, id, &who))
            .await?;
    let n = jobs.len();
    tokio::spawn(printing::run_batch(
        s.db.clone(),
        s.cfg.printing.clone(),
        s.printer_locks.clone(),
        id,
        printer,
        jobs,
    ));
    Ok((
        StatusCode::ACCEPTED,
        Json(
            json!({"batch_id": id, "retrying": n, "progress": format!("/api/v1/print/batches/{id}")}),
        ),
    ))
}

// ---------- preview ----------

/// `GET /api/v1/labels/folder/{barcode}.{png|svg|pdf|zpl}`: the label as it would print next
/// (with the next reprint number), on the stock of `?printer=` or the configured default.
async fn preview_folder(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(file): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    who.require(Permission::PrintLabels)?;
    let (barcode, ext) = file
        .rsplit_once('.')
        .ok_or_else(|| Error::invalid("format", "end the path with .png, .svg, .pdf or .zpl"))?;
    let format: Format = ext
        .parse()
        .map_err(|m: String| Error::invalid("format", m))?;
    let (barcode, printer) = (barcode.to_string(), q.get("printer").cloned());
    let ids = s.cfg.identifiers.clone();
    let pcfg = s.cfg.printing.clone();
    let (bytes, patient_id, folder_id, barcode) =
        s.db.read(move |c| {
            let (stock, rfid) = match printer {
                Some(name) => {
                    let p = printing::printer_by_name(c, &name)?;
                    (p.label_stock()?, p.rfid)
                }
                None => (
                    LabelStock::parse(&pcfg.default_stock, pcfg.default_dpi)
                        .map_err(|e| Error::invalid("stock", e.to_string()))?,
                    false,
                ),
            };
            let f = folders::by_barcode(c, &ids.folder, &barcode)?;
            let reprint = printing::earlier_prints(c, &f.barcode)?;
            let label = printing::folder_label(c, &ids, &f, rfid, reprint)?;
            let bytes = label_printer::render(&Label::Folder(label), &stock, format, 1)
                .map_err(|e| Error::invalid("barcode", format!("the label cannot be made: {e}")))?;
            Ok((bytes, f.patient_id, f.id, f.barcode))
        })
        .await?;
    audit_reads(
        &s,
        &who,
        "label.preview",
        vec![(Some(patient_id), Some(folder_id))],
        format!("{barcode}.{}", format.extension()),
    )
    .await?;
    let ct = match format {
        Format::Png => "image/png",
        Format::Svg => "image/svg+xml",
        Format::Pdf => "application/pdf",
        Format::Zpl => "text/plain; charset=utf-8",
    };
    Ok(([(header::CONTENT_TYPE, ct)], bytes).into_response())
}
