//! Digitisation.

use super::*;

pub(crate) async fn create_batch(
    State(s): State<AppState>,
    Caller(who): Caller,
    ApiJson(n): ApiJson<digitisation::NewBatch>,
) -> ApiResult<(StatusCode, Json<digitisation::Batch>)> {
    who.require(Permission::ManageDigitisation)?;
    let scheme = s.cfg.identifiers.folder.clone();
    let b =
        s.db.write(move |c| {
            let id = digitisation::create_batch(c, &who, &scheme, &n)?;
            digitisation::get_batch(c, id)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(b)))
}

pub(crate) async fn get_batch(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<digitisation::Batch>> {
    who.require(Permission::ManageDigitisation)?;
    Ok(Json(
        s.db.read(move |c| digitisation::get_batch(c, id)).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct QaBody {
    result: String,
    #[serde(default)]
    note: Option<String>,
}

pub(crate) async fn qa_folder(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, barcode)): Path<(i64, String)>,
    ApiJson(b): ApiJson<QaBody>,
) -> ApiResult<Json<digitisation::Batch>> {
    who.require(Permission::ManageDigitisation)?;
    let scheme = s.cfg.identifiers.folder.clone();
    Ok(Json(
        s.db.write(move |c| {
            digitisation::qa(
                c,
                &who,
                &scheme,
                id,
                &barcode,
                &b.result,
                b.note.as_deref().unwrap_or(""),
            )?;
            digitisation::get_batch(c, id)
        })
        .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DisposeBody {
    disposition: String,
    #[serde(default)]
    note: Option<String>,
}

pub(crate) async fn dispose_folder(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, barcode)): Path<(i64, String)>,
    ApiJson(b): ApiJson<DisposeBody>,
) -> ApiResult<Json<Value>> {
    who.require(Permission::ManageDigitisation)?;
    if b.disposition.parse() == Ok(digitisation::Disposition::Destroyed) {
        who.require(Permission::ManageRetention)?;
    }
    let scheme = s.cfg.identifiers.folder.clone();
    let cfg = s.cfg.clone();
    let (d, batch) =
        s.db.write(move |c| {
            let d = digitisation::dispose(
                c,
                &who,
                &cfg.digitisation,
                &scheme,
                id,
                &barcode,
                &b.disposition,
                b.note.as_deref().unwrap_or(""),
            )?;
            Ok((d, digitisation::get_batch(c, id)?))
        })
        .await?;
    Ok(Json(json!({"destruction_id": d, "batch": batch})))
}

pub(crate) async fn upload_document(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(barcode): Path<String>,
    body: Body,
) -> ApiResult<(StatusCode, Json<digitisation::Document>)> {
    who.require(Permission::ManageDigitisation)?;
    let max = s.cfg.digitisation.max_upload_bytes;
    let bytes = to_bytes(body, max).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            Some("body".into()),
            format!("the document is larger than {max} bytes ([digitisation] max_upload_bytes)"),
        )
    })?;
    let media = digitisation::sniff(&bytes).ok_or_else(|| {
        ApiError::from(Error::invalid(
            "body",
            "is not a PDF or TIFF document (checked by its first bytes)",
        ))
    })?;
    let scheme = s.cfg.identifiers.folder.clone();
    let bc = barcode.clone();
    let folder =
        s.db.read(move |c| folders::by_barcode(c, &scheme, &bc))
            .await?;
    if folder.status == folders::FolderStatus::Destroyed {
        return Err(Error::conflict("folder", "the folder has been destroyed").into());
    }
    let dir = s.cfg.digitisation.storage_dir.clone();
    let len = bytes.len() as i64;
    let sha = tokio::task::spawn_blocking(move || digitisation::store_bytes(&dir, &bytes))
        .await
        .map_err(|e| ApiError::from(Error::from(e)))??;
    let d =
        s.db.write(move |c| digitisation::register_document(c, &who, folder.id, &sha, media, len))
            .await?;
    Ok((StatusCode::CREATED, Json(d)))
}

pub(crate) async fn list_documents(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(barcode): Path<String>,
) -> ApiResult<Json<Vec<digitisation::Document>>> {
    who.require(Permission::ViewScannedDocuments)?;
    let scheme = s.cfg.identifiers.folder.clone();
    let (f, docs) =
        s.db.read(move |c| {
            let f = folders::by_barcode(c, &scheme, &barcode)?;
            let d = digitisation::documents_of(c, f.id)?;
            Ok((f, d))
        })
        .await?;
    audit_reads(
        &s,
        &who,
        "document.list",
        vec![(Some(f.patient_id), Some(f.id))],
        f.barcode.clone(),
    )
    .await?;
    Ok(Json(docs))
}

pub(crate) async fn serve_document(
    s: AppState,
    who: crate::auth::Principal,
    id: i64,
) -> ApiResult<Response> {
    let (d, fid, pid) =
        s.db.read(move |c| digitisation::document_for_view(c, id))
            .await?;
    let path = digitisation::path_for(&s.cfg.digitisation.storage_dir, &d.sha256)?;
    let bytes = tokio::fs::read(&path).await.map_err(|e| {
        ApiError::from(Error::internal(format!(
            "document {id} cannot be read: {e}"
        )))
    })?;
    let w = who.clone();
    let detail = format!("document {id} sha256 {}", d.sha256);
    s.db.write(move |c| audit::record(c, &w, "document.view", Some(pid), Some(fid), &detail))
        .await?;
    let ext = if d.media_type == "application/pdf" {
        "pdf"
    } else {
        "tif"
    };
    Ok((
        [
            (header::CONTENT_TYPE, d.media_type.clone()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"document-{id}.{ext}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        bytes,
    )
        .into_response())
}

pub(crate) async fn view_document(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    who.require(Permission::ViewScannedDocuments)?;
    serve_document(s, who, id).await
}

pub(crate) async fn view_document_by_hash(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(sha): Path<String>,
) -> ApiResult<Response> {
    who.require(Permission::ViewScannedDocuments)?;
    let sha = digitisation::check_sha(&sha)?;
    let id: i64 =
        s.db.read(move |c| {
            use rusqlite::OptionalExtension;
            c.query_row(
                "SELECT min(id) FROM scanned_documents WHERE sha256=?1 HAVING count(*) > 0",
                [sha],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| Error::not_found("document with that sha256"))
        })
        .await?;
    serve_document(s, who, id).await
}
