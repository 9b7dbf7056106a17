//! Printing labels: the same steps for the API, the web labels page and batch printing. Each
//! use case checks the caller's role, stores the job with its ZPL and audit row in one write,
//! and returns it ready to send ([`crate::printing::send_and_record`] sends it outside the write).

use super::AppState;
use crate::{
    auth::{Permission, Principal},
    ledger::folders,
    printing::{self, BadgeRequest, BatchFolders, Ready},
    Error, Result,
};

/// A folder label for the folder with `barcode`, on the printer called `printer`.
pub async fn folder(
    s: &AppState,
    who: &Principal,
    barcode: String,
    printer: String,
    copies: u32,
) -> Result<Ready> {
    who.require(Permission::PrintLabels)?;
    let (ids, who) = (s.cfg.identifiers.clone(), who.clone());
    s.db.write(move |c| {
        let printer = printing::printer_by_name(c, &printer)?;
        let f = folders::by_barcode(c, &ids.folder, &barcode)?;
        printing::folder_job(c, &ids, &printer, &f, copies, &who, None)
    })
    .await
}

/// A location card for the location with `code`, on the printer called `printer`.
pub async fn location(
    s: &AppState,
    who: &Principal,
    code: String,
    printer: String,
    copies: u32,
) -> Result<Ready> {
    who.require(Permission::PrintLabels)?;
    let who = who.clone();
    s.db.write(move |c| {
        let printer = printing::printer_by_name(c, &printer)?;
        printing::location_job(c, &printer, &code, copies, &who)
    })
    .await
}

/// A staff badge, on the printer the request names.
pub async fn badge(s: &AppState, who: &Principal, b: BadgeRequest) -> Result<Ready> {
    who.require(Permission::PrintLabels)?;
    let (ids, who) = (s.cfg.identifiers.clone(), who.clone());
    s.db.write(move |c| {
        let printer = printing::printer_by_name(c, &b.printer)?;
        printing::badge_job(c, &ids, &printer, &b, &who)
    })
    .await
}

/// A batch that has been stored and is being sent in the background.
pub struct StartedBatch {
    pub batch_id: i64,
    pub total: usize,
    pub printer: String,
    pub description: String,
}

/// Store every job of a batch, then send them in a background task. Shared by the API and the
/// web labels page.
pub async fn start_batch(
    s: &AppState,
    who: Principal,
    folders: BatchFolders,
    printer: String,
    copies: u32,
) -> Result<StartedBatch> {
    who.require(Permission::PrintLabels)?;
    if !(1..=printing::MAX_COPIES).contains(&copies) {
        return Err(Error::invalid(
            "copies",
            format!("must be 1 to {}", printing::MAX_COPIES),
        ));
    }
    let ids = s.cfg.identifiers.clone();
    let (printer, list, description) = {
        let (ids, name, which) = (ids.clone(), printer, folders);
        s.db.read(move |c| {
            let p = printing::printer_by_name(c, &name)?;
            let (list, d) = printing::batch_folders(c, &ids, &which)?;
            Ok((p, list, d))
        })
        .await?
    };
    let total = list.len();
    let batch_id = {
        let (who, d) = (who.clone(), description.clone());
        s.db.write(move |c| printing::create_batch(c, &d, total, &who))
            .await?
    };
    // Every job is stored (with its ZPL and audit row) before answering, in chunks so scan
    // ingest is not held up; then a background task sends them.
    let mut job_ids = Vec::with_capacity(total);
    let mut stored = Ok(());
    for chunk in list.chunks(s.cfg.printing.batch_chunk.max(1)) {
        let (chunk, ids, printer, who) =
            (chunk.to_vec(), ids.clone(), printer.clone(), who.clone());
        let r =
            s.db.write(move |c| {
                let mut v = Vec::with_capacity(chunk.len());
                for f in &chunk {
                    let r =
                        printing::folder_job(c, &ids, &printer, f, copies, &who, Some(batch_id))?;
                    if r.job.status == printing::JobStatus::Queued {
                        v.push(r.job.id);
                    }
                }
                printing::refresh_batch(c, batch_id)?;
                Ok(v)
            })
            .await;
        match r {
            Ok(v) => job_ids.extend(v),
            Err(e) => {
                stored = Err(e);
                break;
            }
        }
    }
    let task = printing::run_batch(
        s.db.clone(),
        s.cfg.printing.clone(),
        s.printer_locks.clone(),
        batch_id,
        printer.clone(),
        job_ids,
    );
    tokio::spawn(task);
    stored?;
    Ok(StartedBatch {
        batch_id,
        total,
        printer: printer.name,
        description,
    })
}

/// Folder labels for a patient known by an NHS number (England, Wales, Isle of Man patients
/// have no CHI): the number's Mod-11 check digit is checked first, then one label job is
/// stored for each volume still in use, on the printer called `printer`. Labels print the CHI
/// when the patient has one, else the NHS number.
pub async fn folders_by_nhs_number(
    s: &AppState,
    who: &Principal,
    nhs_number: String,
    printer: String,
) -> Result<Vec<Ready>> {
    who.require(Permission::PrintLabels)?;
    let nhs = casenote_core::identifiers::validate_nhs_number(nhs_number.trim())
        .map_err(|e| Error::invalid("nhs_number", e.to_string()))?;
    let (ids, who) = (s.cfg.identifiers.clone(), who.clone());
    s.db.write(move |c| {
        let printer = printing::printer_by_name(c, &printer)?;
        let p = crate::ledger::patients::find_by_nhs_number(c, &nhs)?.ok_or_else(|| {
            Error::invalid(
                "nhs_number",
                "no patient with this NHS number is registered; register the patient first",
            )
        })?;
        let list: Vec<folders::Folder> = folders::for_patient(c, p.id)?
            .into_iter()
            .filter(|f| f.status.in_use())
            .collect();
        if list.is_empty() {
            return Err(Error::invalid(
                "nhs_number",
                "the patient has no folder in use; register a folder first",
            ));
        }
        list.iter()
            .map(|f| printing::folder_job(c, &ids, &printer, f, 1, &who, None))
            .collect()
    })
    .await
}
