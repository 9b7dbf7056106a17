//! Digitisation: folders sent to the scanning bureau in batches (tracked there by the movement
//! ledger like any other place, with status `sent_for_scanning`), scanned documents uploaded
//! (PDF or TIFF, checked by their first bytes, size-limited) and stored content-addressed by
//! SHA-256 under `[digitisation] storage_dir`, QA sign-off, and what then happens to the paper.
//!
//! The client's file name is never used: a document's path is derived only from its hash, and
//! a hash is accepted only as 64 hexadecimal characters.

use crate::{
    audit,
    auth::Principal,
    ledger::folders,
    ledger::locations,
    util::{ms_to_rfc3339, now_ms},
    Error, Result,
};
use casenote_core::identifiers::FolderIdScheme;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

crate::vocabulary! {
    /// What happens to the paper once a folder has been scanned.
    pub enum Disposition {
        /// Back to the library.
        Returned = "returned",
        /// Kept by the scanning bureau.
        Retained = "retained",
        /// Destroyed (through the two-person destruction approval).
        Destroyed = "destroyed",
    }
}

pub const DISPOSITIONS: &[&str] = Disposition::WORDS;

crate::vocabulary! {
    /// The quality check of a folder's scans.
    pub enum QaResult {
        Passed = "passed",
        Failed = "failed",
    }
}

/// `[digitisation]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DigitisationConfig {
    /// Directory scanned documents are stored in (created if missing), as `ab/abcdef...` by
    /// SHA-256. Back it up with the database.
    pub storage_dir: PathBuf,
    /// Largest document accepted, in bytes.
    pub max_upload_bytes: usize,
    /// What may happen to the paper after scanning: any of returned, retained, destroyed.
    pub allowed_dispositions: Vec<String>,
    /// The paper's disposition may be recorded only after the folder passed QA.
    pub require_qa_before_disposition: bool,
}

impl Default for DigitisationConfig {
    fn default() -> Self {
        Self {
            storage_dir: PathBuf::from("scans"),
            max_upload_bytes: 50 * 1024 * 1024,
            allowed_dispositions: vec!["returned".into(), "retained".into(), "destroyed".into()],
            require_qa_before_disposition: true,
        }
    }
}

/// The media type of a document from its first bytes, or None for anything else.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        Some("image/tiff")
    } else {
        None
    }
}

/// Check a hash given by a client: exactly 64 lower-case hexadecimal characters.
pub fn check_sha(s: &str) -> Result<String> {
    let s = s.to_ascii_lowercase();
    if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(s)
    } else {
        Err(Error::invalid(
            "sha256",
            "must be 64 hexadecimal characters",
        ))
    }
}

/// Where a document with this (checked) hash lives.
pub fn path_for(dir: &Path, sha: &str) -> Result<PathBuf> {
    let sha = check_sha(sha)?;
    Ok(dir.join(&sha[..2]).join(&sha))
}

/// Store bytes content-addressed (write to a temporary file, then rename). Returns the hash.
pub fn store_bytes(dir: &Path, bytes: &[u8]) -> Result<String> {
    let sha = hex::encode(Sha256::digest(bytes));
    let dest = path_for(dir, &sha)?;
    if dest.exists() {
        return Ok(sha);
    }
    let sub = dest.parent().expect("has a parent");
    let io = |e: std::io::Error| Error::internal_from("cannot store the document", e);
    std::fs::create_dir_all(sub).map_err(io)?;
    let tmp = sub.join(format!(".{sha}.{}.tmp", uuid::Uuid::new_v4()));
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, &dest).map_err(io)?;
    Ok(sha)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewBatch {
    /// Location code of the scanning bureau (kind scanning_bureau).
    pub bureau: String,
    /// Barcodes of the folders sent.
    pub folders: Vec<String>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct BatchFolder {
    pub barcode: String,
    pub folder_status: String,
    /// Where the folder was last scanned (the movement ledger).
    pub current_location: Option<String>,
    pub documents: i64,
    pub qa_status: String,
    pub qa_by: Option<String>,
    pub disposition: Option<String>,
    pub disposition_by: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Batch {
    pub id: i64,
    pub bureau: String,
    pub status: String,
    pub note: String,
    pub created_by: String,
    pub created_at: String,
    pub completed_at: Option<String>,
    pub folders: Vec<BatchFolder>,
}

pub fn create_batch(
    c: &Connection,
    who: &Principal,
    scheme: &FolderIdScheme,
    n: &NewBatch,
) -> Result<i64> {
    let bureau = locations::resolve(c, &n.bureau)?
        .ok_or_else(|| Error::invalid("bureau", format!("no location with code {:?}", n.bureau)))?;
    if bureau.kind != locations::LocationKind::ScanningBureau {
        return Err(Error::invalid(
            "bureau",
            format!(
                "{} is a {}, not a scanning_bureau location",
                bureau.code, bureau.kind
            ),
        ));
    }
    if n.folders.is_empty() || n.folders.len() > 5000 {
        return Err(Error::invalid("folders", "list 1-5000 folder barcodes"));
    }
    c.execute(
        "INSERT INTO scanning_batches(bureau_location_id, status, note, created_by, created_at) VALUES (?1,'sent',?2,?3,?4)",
        params![bureau.id, n.note.as_deref().unwrap_or("").trim(), who.actor, now_ms()],
    )?;
    let id = c.last_insert_rowid();
    for (i, bc) in n.folders.iter().enumerate() {
        let field = format!("folders[{i}]");
        let f = folders::by_barcode(c, scheme, bc).map_err(|e| match e {
            Error::Invalid { message, .. } => Error::invalid(&field, message),
            Error::NotFound { what } => Error::invalid(&field, format!("{what} not found")),
            e => e,
        })?;
        if !matches!(
            f.status,
            folders::FolderStatus::Active | folders::FolderStatus::Closed
        ) {
            return Err(Error::invalid(
                &field,
                format!(
                    "{} is {}; only active or closed folders can be sent for scanning",
                    f.barcode, f.status
                ),
            ));
        }
        c.execute(
            "INSERT INTO scanning_batch_folders(batch_id, folder_id, previous_status) VALUES (?1,?2,?3)",
            params![id, f.id, f.status],
        )
        .map_err(|_| Error::invalid(&field, format!("{} is listed twice", f.barcode)))?;
        folders::set_status(c, f.id, "sent_for_scanning")?;
        audit::record(
            c,
            who,
            "digitisation.batch.add",
            Some(f.patient_id),
            Some(f.id),
            &format!("batch {id} to {}", bureau.code),
        )?;
    }
    Ok(id)
}

pub fn get_batch(c: &Connection, id: i64) -> Result<Batch> {
    let mut b = c
        .query_row(
            "SELECT b.id, l.code, b.status, b.note, b.created_by, b.created_at, b.completed_at
             FROM scanning_batches b JOIN locations l ON l.id = b.bureau_location_id WHERE b.id=?1",
            [id],
            |r| {
                Ok(Batch {
                    id: r.get(0)?,
                    bureau: r.get(1)?,
                    status: r.get(2)?,
                    note: r.get(3)?,
                    created_by: r.get(4)?,
                    created_at: ms_to_rfc3339(r.get(5)?),
                    completed_at: r.get::<_, Option<i64>>(6)?.map(ms_to_rfc3339),
                    folders: Vec::new(),
                })
            },
        )
        .optional()?
        .ok_or_else(|| Error::not_found(format!("scanning batch {id}")))?;
    b.folders = c
        .prepare_cached(
            "SELECT f.barcode, f.status, l.code,
                (SELECT count(*) FROM scanned_documents d WHERE d.folder_id = f.id AND d.batch_id = bf.batch_id),
                bf.qa_status, bf.qa_by, bf.disposition, bf.disposition_by
             FROM scanning_batch_folders bf JOIN folders f ON f.id = bf.folder_id
             LEFT JOIN locations l ON l.id = f.cur_location_id
             WHERE bf.batch_id=?1 ORDER BY f.barcode",
        )?
        .query_map([id], |r| {
            Ok(BatchFolder {
                barcode: r.get(0)?,
                folder_status: r.get(1)?,
                current_location: r.get(2)?,
                documents: r.get(3)?,
                qa_status: r.get(4)?,
                qa_by: r.get(5)?,
                disposition: r.get(6)?,
                disposition_by: r.get(7)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(b)
}

/// One line of the list of scanning batches.
#[derive(Debug, Serialize)]
pub struct BatchSummary {
    pub id: i64,
    /// "Scanning bureau (LBUREAU)".
    pub bureau: String,
    pub status: String,
    pub created_by: String,
    pub created_at: String,
    pub folders: i64,
    pub qa_passed: i64,
    pub disposed: i64,
}

/// Scanning batches, newest first.
pub fn list_batches(c: &Connection, limit: i64) -> Result<Vec<BatchSummary>> {
    let v = c
        .prepare_cached(
            "SELECT b.id, l.name, l.code, b.status, b.created_by, b.created_at,
                (SELECT count(*) FROM scanning_batch_folders bf WHERE bf.batch_id = b.id),
                (SELECT count(*) FROM scanning_batch_folders bf WHERE bf.batch_id = b.id AND bf.qa_status = 'passed'),
                (SELECT count(*) FROM scanning_batch_folders bf WHERE bf.batch_id = b.id AND bf.disposition IS NOT NULL)
             FROM scanning_batches b JOIN locations l ON l.id = b.bureau_location_id
             ORDER BY b.id DESC LIMIT ?1",
        )?
        .query_map([limit], |r| {
            Ok(BatchSummary {
                id: r.get(0)?,
                bureau: format!("{} ({})", r.get::<_, String>(1)?, r.get::<_, String>(2)?),
                status: r.get(3)?,
                created_by: r.get(4)?,
                created_at: ms_to_rfc3339(r.get(5)?),
                folders: r.get(6)?,
                qa_passed: r.get(7)?,
                disposed: r.get(8)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

/// The batch a folder is in (the latest one).
fn batch_of(c: &Connection, folder_id: i64) -> Result<Option<i64>> {
    Ok(c.query_row(
        "SELECT max(batch_id) FROM scanning_batch_folders WHERE folder_id=?1",
        [folder_id],
        |r| r.get(0),
    )?)
}

#[derive(Debug, Serialize)]
pub struct Document {
    pub id: i64,
    pub barcode: String,
    pub batch_id: Option<i64>,
    pub sha256: String,
    pub media_type: String,
    pub bytes: i64,
    pub uploaded_by: String,
    pub uploaded_at: String,
}

/// Register a stored document against a folder (the bytes are already stored under `sha`).
pub fn register_document(
    c: &Connection,
    who: &Principal,
    folder_id: i64,
    sha: &str,
    media_type: &str,
    bytes: i64,
) -> Result<Document> {
    let f = folders::get(c, folder_id)?;
    if f.status == folders::FolderStatus::Destroyed {
        return Err(Error::conflict("folder", "the folder has been destroyed"));
    }
    let batch = batch_of(c, folder_id)?;
    c.execute(
        "INSERT INTO scanned_documents(folder_id, batch_id, sha256, media_type, bytes, uploaded_by, uploaded_at)
         VALUES (?1,?2,?3,?4,?5,?6,?7) ON CONFLICT(folder_id, sha256) DO NOTHING",
        params![folder_id, batch, sha, media_type, bytes, who.actor, now_ms()],
    )?;
    let id: i64 = c.query_row(
        "SELECT id FROM scanned_documents WHERE folder_id=?1 AND sha256=?2",
        params![folder_id, sha],
        |r| r.get(0),
    )?;
    audit::record(
        c,
        who,
        "document.upload",
        Some(f.patient_id),
        Some(f.id),
        &format!("document {id} sha256 {sha} ({media_type}, {bytes} bytes)"),
    )?;
    get_document(c, id)
}

pub fn get_document(c: &Connection, id: i64) -> Result<Document> {
    c.query_row(
        "SELECT d.id, f.barcode, d.batch_id, d.sha256, d.media_type, d.bytes, d.uploaded_by, d.uploaded_at
         FROM scanned_documents d JOIN folders f ON f.id = d.folder_id WHERE d.id=?1",
        [id],
        |r| {
            Ok(Document {
                id: r.get(0)?,
                barcode: r.get(1)?,
                batch_id: r.get(2)?,
                sha256: r.get(3)?,
                media_type: r.get(4)?,
                bytes: r.get(5)?,
                uploaded_by: r.get(6)?,
                uploaded_at: ms_to_rfc3339(r.get(7)?),
            })
        },
    )
    .optional()?
    .ok_or_else(|| Error::not_found(format!("document {id}")))
}

/// A document by id with its folder's patient (for auditing a view).
pub fn document_for_view(c: &Connection, id: i64) -> Result<(Document, i64, i64)> {
    let d = get_document(c, id)?;
    let (fid, pid): (i64, i64) = c.query_row(
        "SELECT f.id, f.patient_id FROM scanned_documents d JOIN folders f ON f.id = d.folder_id WHERE d.id=?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok((d, fid, pid))
}

pub fn documents_of(c: &Connection, folder_id: i64) -> Result<Vec<Document>> {
    let ids: Vec<i64> = c
        .prepare_cached("SELECT id FROM scanned_documents WHERE folder_id=?1 ORDER BY id")?
        .query_map([folder_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    ids.into_iter().map(|i| get_document(c, i)).collect()
}

fn batch_folder(
    c: &Connection,
    scheme: &FolderIdScheme,
    batch: i64,
    barcode: &str,
) -> Result<folders::Folder> {
    let f = folders::by_barcode(c, scheme, barcode)?;
    let found: bool = c.query_row(
        "SELECT EXISTS(SELECT 1 FROM scanning_batch_folders WHERE batch_id=?1 AND folder_id=?2)",
        params![batch, f.id],
        |r| r.get(0),
    )?;
    if !found {
        return Err(Error::invalid(
            "barcode",
            format!("{} is not in batch {batch}", f.barcode),
        ));
    }
    Ok(f)
}

/// QA sign-off of one folder of a batch: the scans are complete and legible (passed) or not.
pub fn qa(
    c: &Connection,
    who: &Principal,
    scheme: &FolderIdScheme,
    batch: i64,
    barcode: &str,
    result: &str,
    note: &str,
) -> Result<()> {
    let result: QaResult = result
        .parse()
        .map_err(|_| Error::invalid("result", "must be passed or failed"))?;
    let f = batch_folder(c, scheme, batch, barcode)?;
    let docs: i64 = c.query_row(
        "SELECT count(*) FROM scanned_documents WHERE folder_id=?1",
        [f.id],
        |r| r.get(0),
    )?;
    if result == QaResult::Passed && docs == 0 {
        return Err(Error::invalid(
            "result",
            "no scanned document has been uploaded for this folder",
        ));
    }
    if result == QaResult::Failed && note.trim().is_empty() {
        return Err(Error::invalid("note", "say what is wrong with the scans"));
    }
    c.execute(
        "UPDATE scanning_batch_folders SET qa_status=?3, qa_by=?4, qa_at=?5, qa_note=?6 WHERE batch_id=?1 AND folder_id=?2",
        params![batch, f.id, result, who.actor, now_ms(), note.trim()],
    )?;
    audit::record(
        c,
        who,
        "digitisation.qa",
        Some(f.patient_id),
        Some(f.id),
        &format!("batch {batch}: QA {result}"),
    )?;
    Ok(())
}

/// What happens to the paper: returned (to the library, active again), retained (kept, status
/// closed) or destroyed (a destruction request is raised; a second person must approve it).
/// Returns the destruction request id when one was raised.
#[allow(clippy::too_many_arguments)]
pub fn dispose(
    c: &Connection,
    who: &Principal,
    cfg: &DigitisationConfig,
    scheme: &FolderIdScheme,
    batch: i64,
    barcode: &str,
    disposition: &str,
    note: &str,
) -> Result<Option<i64>> {
    let disposition: Disposition = disposition
        .parse()
        .map_err(|_| Error::invalid("disposition", "must be returned, retained or destroyed"))?;
    if !cfg
        .allowed_dispositions
        .iter()
        .any(|d| d == disposition.as_str())
    {
        return Err(Error::invalid(
            "disposition",
            format!("{disposition} is not allowed by policy ([digitisation] allowed_dispositions)"),
        ));
    }
    let f = batch_folder(c, scheme, batch, barcode)?;
    let (qa, done, prev): (String, Option<String>, String) = c.query_row(
        "SELECT qa_status, disposition, previous_status FROM scanning_batch_folders WHERE batch_id=?1 AND folder_id=?2",
        params![batch, f.id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    if let Some(d) = done {
        return Err(Error::conflict(
            "disposition",
            format!("the paper's disposition is already recorded: {d}"),
        ));
    }
    if qa != "passed"
        && (cfg.require_qa_before_disposition || disposition == Disposition::Destroyed)
    {
        return Err(Error::invalid(
            "disposition",
            format!("the folder's scans have not passed QA (QA is {qa})"),
        ));
    }
    let mut destruction = None;
    match disposition {
        Disposition::Returned => {
            folders::set_status(c, f.id, &prev)?;
        }
        Disposition::Retained => {
            folders::set_status(c, f.id, folders::FolderStatus::Closed.as_str())?;
        }
        Disposition::Destroyed => {
            let reason = format!(
                "paper of folder scanned in batch {batch} and QA passed; {}",
                note.trim()
            );
            let d = crate::lifecycle::retention::request_destruction(
                c,
                who,
                &[],
                f.id,
                &reason,
                Some("digitised"),
                crate::util::site_today(),
            )?;
            destruction = Some(d.id);
        }
    }
    c.execute(
        "UPDATE scanning_batch_folders SET disposition=?3, disposition_by=?4, disposition_at=?5 WHERE batch_id=?1 AND folder_id=?2",
        params![batch, f.id, disposition, who.actor, now_ms()],
    )?;
    let open: i64 = c.query_row(
        "SELECT count(*) FROM scanning_batch_folders WHERE batch_id=?1 AND disposition IS NULL",
        [batch],
        |r| r.get(0),
    )?;
    if open == 0 {
        c.execute(
            "UPDATE scanning_batches SET status='completed', completed_at=?2 WHERE id=?1",
            params![batch, now_ms()],
        )?;
    }
    audit::record(
        c,
        who,
        "digitisation.disposition",
        Some(f.patient_id),
        Some(f.id),
        &format!("batch {batch}: paper {disposition}"),
    )?;
    Ok(destruction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_and_hash_paths() {
        assert_eq!(sniff(b"%PDF-1.7\n"), Some("application/pdf"));
        assert_eq!(sniff(b"II*\0rest"), Some("image/tiff"));
        assert_eq!(sniff(b"MM\0*rest"), Some("image/tiff"));
        assert_eq!(sniff(b"<html>"), None);
        assert!(path_for(Path::new("/x"), "../../etc/passwd").is_err());
        let sha = "a".repeat(64);
        assert_eq!(
            path_for(Path::new("/x"), &sha).unwrap(),
            Path::new("/x/aa").join(&sha)
        );
    }
}
