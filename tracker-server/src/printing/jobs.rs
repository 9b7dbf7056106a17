//! Print jobs: labels made as ZPL and stored with their audit rows before anything is sent.

use super::*;

/// A print job as served by the API (the ZPL is kept in the database, not served here).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Job {
    pub id: i64,
    pub printer: String,
    /// folder, location, badge or container.
    pub template: String,
    /// Folder barcode, location code or staff badge.
    pub subject: String,
    pub copies: u32,
    /// 0 on the first print of a folder label; n = n earlier jobs for that folder.
    pub reprint_number: u32,
    /// queued, sent or failed.
    pub status: JobStatus,
    pub error: Option<String>,
    pub requested_by: String,
    pub created_at: String,
    pub sent_at: Option<String>,
    pub attempts: u32,
    pub batch_id: Option<i64>,
}

pub(crate) const JOB_SELECT: &str =
    "SELECT j.id, p.name, j.template, j.subject, j.copies, j.reprint_number, j.status, j.error,
  j.requested_by, j.created_at, j.sent_at, j.attempts, j.batch_id
  FROM print_jobs j JOIN printers p ON p.id = j.printer_id";

pub(crate) fn job_row(r: &rusqlite::Row) -> rusqlite::Result<Job> {
    Ok(Job {
        id: r.get(0)?,
        printer: r.get(1)?,
        template: r.get(2)?,
        subject: r.get(3)?,
        copies: r.get(4)?,
        reprint_number: r.get(5)?,
        status: r.get(6)?,
        error: r.get(7)?,
        requested_by: r.get(8)?,
        created_at: r.get(9)?,
        sent_at: r.get(10)?,
        attempts: r.get(11)?,
        batch_id: r.get(12)?,
    })
}

pub fn get_job(c: &Connection, id: i64) -> Result<Job> {
    c.prepare_cached(&format!("{JOB_SELECT} WHERE j.id=?1"))?
        .query_row([id], job_row)
        .optional()?
        .ok_or_else(|| Error::not_found(format!("print job {id}")))
}

/// Filter for [`list_jobs`].
#[derive(Debug, Default, Clone)]
pub struct JobFilter {
    pub status: Option<String>,
    pub batch_id: Option<i64>,
    pub limit: i64,
}

crate::vocabulary! {
    /// Where a print job stands: stored and waiting, sent to the printer, or failed (and can be
    /// retried).
    pub enum JobStatus {
        Queued = "queued",
        Sent = "sent",
        Failed = "failed",
    }
}

pub const JOB_STATUSES: &[&str] = JobStatus::WORDS;

/// Jobs, newest first.
pub fn list_jobs(c: &Connection, f: &JobFilter) -> Result<Vec<Job>> {
    if let Some(s) = &f.status {
        JobStatus::parse_field("status", s)?;
    }
    let mut st = c.prepare_cached(&format!(
        "{JOB_SELECT} WHERE (?1 IS NULL OR j.status=?1) AND (?2 IS NULL OR j.batch_id=?2)
         ORDER BY j.id DESC LIMIT ?3"
    ))?;
    let v = st
        .query_map(params![f.status, f.batch_id, f.limit], job_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(v)
}

/// What to print and what to send: a stored job plus the bytes and the printer.
#[derive(Debug, Clone)]
pub struct Ready {
    pub job: Job,
    pub printer: Printer,
    pub zpl: String,
}

pub(crate) fn check_copies(copies: u32) -> Result<()> {
    if !(1..=MAX_COPIES).contains(&copies) {
        return Err(Error::invalid(
            "copies",
            format!("must be 1 to {MAX_COPIES}"),
        ));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn insert_job(
    c: &Connection,
    printer: &Printer,
    template: &str,
    subject: &str,
    folder_id: Option<i64>,
    copies: u32,
    reprint: u32,
    who: &Principal,
    zpl: &str,
    batch_id: Option<i64>,
    error: Option<&str>,
) -> Result<i64> {
    let status = match error {
        Some(_) => JobStatus::Failed,
        None => JobStatus::Queued,
    };
    c.prepare_cached(
        "INSERT INTO print_jobs(printer_id, template, subject, folder_id, copies, reprint_number, status, error,
           requested_by, created_at, attempts, zpl, batch_id)
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,0,?11,?12)",
    )?
    .execute(params![
        printer.id,
        template,
        subject,
        folder_id,
        copies,
        reprint,
        status,
        error,
        who.actor,
        now_rfc3339(),
        zpl,
        batch_id
    ])?;
    Ok(c.last_insert_rowid())
}

pub(crate) fn render_zpl(
    label: &Label,
    stock: &LabelStock,
    copies: u32,
    field: &str,
) -> Result<String> {
    let bytes = label_printer::render(label, stock, Format::Zpl, copies)
        .map_err(|e| Error::invalid(field, format!("the label cannot be made: {e}")))?;
    String::from_utf8(bytes).map_err(|e| Error::internal(format!("ZPL is not UTF-8: {e}")))
}

/// Folder type as printed: `mental_health` -> `Mental health`, `xray` -> `X-ray`.
pub fn folder_type_text(t: crate::ledger::folders::FolderType) -> String {
    if t == crate::ledger::folders::FolderType::Xray {
        return "X-ray".into();
    }
    let s = t.as_str().replace('_', " ");
    let mut ch = s.chars();
    match ch.next() {
        Some(f) => f.to_uppercase().chain(ch).collect(),
        None => s,
    }
}

/// Date of birth as printed: `1985-04-19` -> `19-Apr-1985`.
pub fn dob_text(dob: &str) -> String {
    NaiveDate::parse_from_str(dob, "%Y-%m-%d")
        .map(|d| d.format("%d-%b-%Y").to_string())
        .unwrap_or_else(|_| dob.to_string())
}

/// Earlier print jobs of a folder's label (every attempt counts: a reprint is never unmarked).
pub fn earlier_prints(c: &Connection, barcode: &str) -> Result<u32> {
    Ok(
        c.prepare_cached("SELECT count(*) FROM print_jobs WHERE template='folder' AND subject=?1")?
            .query_row([barcode], |r| r.get(0))?,
    )
}

/// The label of a folder, with patient details from the patients table.
pub fn folder_label(
    c: &Connection,
    ids: &ScanConfig,
    f: &Folder,
    rfid: bool,
    reprint: u32,
) -> Result<FolderLabel> {
    let p = patients::get(c, f.patient_id)?;
    // The CHI; for a patient known only by an NHS number, the NHS number.
    let (chi, number_kind) = match (&p.chi, &p.nhs_number) {
        (Some(chi), _) => (chi.clone(), label_printer::PatientNumber::Chi),
        (None, Some(nhs)) => (nhs.clone(), label_printer::PatientNumber::NhsNumber),
        (None, None) => {
            return Err(Error::invalid(
                "barcode",
                "the patient has neither a CHI nor an NHS number; folder labels print one, so add it to the patient first",
            ))
        }
    };
    let filing = match &f.filing_number {
        Some(s) => {
            FilingNumber::parse(s).map_err(|e| Error::invalid("filing_number", e.to_string()))?
        }
        None => FilingNumber::from_serial(f.id as u64),
    };
    let gs1_giai = ids.gs1_company_prefix.as_ref().map(|prefix| {
        encode_element_string(&[ElementString {
            ai: "8004".into(),
            value: format!("{prefix}{}", f.id),
        }])
    });
    let epc_hex = if rfid {
        let prefix = ids.gs1_company_prefix.clone().ok_or_else(|| {
            Error::invalid(
                "printer",
                "is an RFID printer, but no GS1 company prefix is configured (identifiers.gs1_company_prefix) for the GIAI-96 EPC",
            )
        })?;
        let g = Giai96 {
            filter: 0,
            company_prefix: prefix,
            asset_reference: f.id as u64,
        };
        Some(
            g.to_hex()
                .map_err(|e| Error::invalid("printer", format!("EPC: {e}")))?,
        )
    } else {
        None
    };
    Ok(FolderLabel {
        patient_name: format!(
            "{}, {}",
            p.family_name.trim().to_uppercase(),
            p.given_name.trim()
        ),
        chi,
        number_kind,
        dob: dob_text(&p.dob),
        volume: f.volume as u32,
        volume_count: f.volume_count as u32,
        folder_type: folder_type_text(f.folder_type),
        filing_number: filing,
        folder_id: f.barcode.clone(),
        gs1_giai,
        epc_hex,
        reprint,
    })
}

/// Store a folder-label job (and its audit row) for `folder`; the ZPL is rendered here.
///
/// In a batch (`batch_id` set) a label that cannot be made is stored as a failed job with the
/// reason instead of refusing the whole batch.
pub fn folder_job(
    c: &Connection,
    ids: &ScanConfig,
    printer: &Printer,
    f: &Folder,
    copies: u32,
    who: &Principal,
    batch_id: Option<i64>,
) -> Result<Ready> {
    check_copies(copies)?;
    let reprint = earlier_prints(c, &f.barcode)?;
    let stock = printer.label_stock()?;
    let made = folder_label(c, ids, f, printer.rfid, reprint)
        .and_then(|l| render_zpl(&Label::Folder(l), &stock, copies, "barcode"));
    let (zpl, error) = match made {
        Ok(z) => (z, None),
        Err(e) if batch_id.is_some() => (String::new(), Some(e.to_string())),
        Err(e) => return Err(e),
    };
    let id = insert_job(
        c,
        printer,
        "folder",
        &f.barcode,
        Some(f.id),
        copies,
        reprint,
        who,
        &zpl,
        batch_id,
        error.as_deref(),
    )?;
    let detail = match (reprint, batch_id) {
        (0, None) => format!("folder label {} on {} (job {id})", f.barcode, printer.name),
        (n, None) => format!(
            "folder label {} on {} (job {id}, reprint {n})",
            f.barcode, printer.name
        ),
        (n, Some(b)) => format!(
            "folder label {} on {} (job {id}, reprint {n}, batch {b})",
            f.barcode, printer.name
        ),
    };
    audit::record(
        c,
        who,
        "label.print",
        Some(f.patient_id),
        Some(f.id),
        &detail,
    )?;
    Ok(Ready {
        job: get_job(c, id)?,
        printer: printer.clone(),
        zpl,
    })
}

/// Store a location-card job. A location with a GLN gets the GLN as GS1-128 (414).
pub fn location_job(
    c: &Connection,
    printer: &Printer,
    code: &str,
    copies: u32,
    who: &Principal,
) -> Result<Ready> {
    check_copies(copies)?;
    let l = locations::resolve(c, code)?
        .ok_or_else(|| Error::invalid("code", format!("no location with code {code:?}")))?;
    let card = LocationCard {
        name: l.name.clone(),
        code: l.gln.clone().unwrap_or_else(|| l.code.clone()),
    };
    let zpl = render_zpl(
        &Label::Location(card),
        &printer.label_stock()?,
        copies,
        "code",
    )?;
    let id = insert_job(
        c, printer, "location", &l.code, None, copies, 0, who, &zpl, None, None,
    )?;
    audit::record(
        c,
        who,
        "label.print",
        None,
        None,
        &format!("location card {} on {} (job {id})", l.code, printer.name),
    )?;
    Ok(Ready {
        job: get_job(c, id)?,
        printer: printer.clone(),
        zpl,
    })
}

/// Store a test print for a printer: a card naming the printer (its bars carry `TESTPRINT`,
/// which is not a location code, so scanning it moves nothing).
pub fn test_job(c: &Connection, printer: &Printer, who: &Principal) -> Result<Ready> {
    let card = LocationCard {
        name: format!("Test print: {}", printer.name),
        code: "TESTPRINT".into(),
    };
    let zpl = render_zpl(&Label::Location(card), &printer.label_stock()?, 1, "stock")?;
    let id = insert_job(
        c,
        printer,
        "location",
        "TESTPRINT",
        None,
        1,
        0,
        who,
        &zpl,
        None,
        None,
    )?;
    audit::record(
        c,
        who,
        "label.print",
        None,
        None,
        &format!("test print on {} (job {id})", printer.name),
    )?;
    Ok(Ready {
        job: get_job(c, id)?,
        printer: printer.clone(),
        zpl,
    })
}

/// Store a container-label job: the container's name, its GRAI as GS1-128 `(8003)...`, and on
/// an RFID printer its GRAI-96 EPC written to the tag. Template `container`.
pub fn container_job(
    c: &Connection,
    printer: &Printer,
    id: i64,
    copies: u32,
    who: &Principal,
) -> Result<Ready> {
    check_copies(copies)?;
    let k = crate::ledger::containers::get(c, id)?;
    let epc_hex = match (&k.epc, printer.rfid) {
        (Some(e), true) => Some(e.clone()),
        (None, true) => {
            return Err(Error::invalid(
                "printer",
                "is an RFID printer, but this container's GRAI has no GRAI-96 form (not this organisation's company prefix, or a serial with letters); use a printer without RFID",
            ))
        }
        (_, false) => None,
    };
    let mut title = k.title();
    if let Some(f) = title.get_mut(..1) {
        f.make_ascii_uppercase();
    }
    let label = ContainerLabel {
        name: title,
        note: Some("Case notes".into()),
        grai: k.grai.clone(),
        epc_hex,
    };
    let zpl = render_zpl(
        &Label::Container(label),
        &printer.label_stock()?,
        copies,
        "grai",
    )?;
    let job = insert_job(
        c,
        printer,
        "container",
        &k.name,
        None,
        copies,
        0,
        who,
        &zpl,
        None,
        None,
    )?;
    audit::record(
        c,
        who,
        "label.print",
        None,
        None,
        &format!("{} label on {} (job {job})", k.title(), printer.name),
    )?;
    Ok(Ready {
        job: get_job(c, job)?,
        printer: printer.clone(),
        zpl,
    })
}

/// A staff badge request: a user name (name, role and badge number from the user), or a badge
/// number with name and role.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BadgeRequest {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub badge: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
    pub printer: String,
    #[serde(default = "one")]
    pub copies: u32,
}

pub(crate) fn one() -> u32 {
    1
}

pub use crate::ledger::staff::user_badge;

/// Store a staff-badge job.
pub fn badge_job(
    c: &Connection,
    ids: &ScanConfig,
    printer: &Printer,
    b: &BadgeRequest,
    who: &Principal,
) -> Result<Ready> {
    check_copies(b.copies)?;
    let text = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let badge = match (text(&b.username), text(&b.badge)) {
        (Some(u), None) => {
            let (id, display, role): (i64, String, String) = c
                .query_row(
                    "SELECT id, display_name, role FROM users WHERE username=?1 AND active=1",
                    [&u],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?
                .ok_or_else(|| Error::invalid("username", format!("no active user {u:?}")))?;
            StaffBadge {
                name: text(&b.name).unwrap_or(display),
                role: text(&b.role).unwrap_or_else(|| role.replace('_', " ")),
                badge: user_badge(&ids.staff_prefix, id),
            }
        }
        (None, Some(badge)) => {
            let badge = badge.to_ascii_uppercase();
            if !badge.starts_with(&ids.staff_prefix)
                || badge.len() <= ids.staff_prefix.len()
                || badge.len() > 32
                || !badge.bytes().all(|ch| ch.is_ascii_alphanumeric())
            {
                return Err(Error::invalid(
                    "badge",
                    format!(
                        "must be {:?} followed by letters or digits (at most 32 in all)",
                        ids.staff_prefix
                    ),
                ));
            }
            // A badge printed by number is a known badge from now on (scans may name it).
            let holder = text(&b.name)
                .ok_or_else(|| Error::invalid("name", "is required with a badge number"))?;
            crate::ledger::staff::register(c, &badge, &holder)?;
            StaffBadge {
                name: text(&b.name)
                    .ok_or_else(|| Error::invalid("name", "is required with a badge number"))?,
                role: text(&b.role)
                    .ok_or_else(|| Error::invalid("role", "is required with a badge number"))?,
                badge,
            }
        }
        _ => {
            return Err(Error::invalid(
                "username",
                "give either a username or a badge number (with name and role)",
            ))
        }
    };
    let subject = badge.badge.clone();
    let zpl = render_zpl(
        &Label::Badge(badge),
        &printer.label_stock()?,
        b.copies,
        "badge",
    )?;
    let id = insert_job(
        c, printer, "badge", &subject, None, b.copies, 0, who, &zpl, None, None,
    )?;
    audit::record(
        c,
        who,
        "label.print",
        None,
        None,
        &format!("staff badge {subject} on {} (job {id})", printer.name),
    )?;
    Ok(Ready {
        job: get_job(c, id)?,
        printer: printer.clone(),
        zpl,
    })
}

/// Claim a failed job for a retry (failed -> queued, so two retries cannot both send it) and
/// write its audit row.
pub fn claim_retry(c: &Connection, id: i64, who: &Principal) -> Result<Ready> {
    let row: Option<(i64, JobStatus, String, Option<i64>, String)> = c
        .query_row(
            "SELECT printer_id, status, zpl, folder_id, subject FROM print_jobs WHERE id=?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?;
    let (printer_id, status, zpl, folder_id, subject) =
        row.ok_or_else(|| Error::not_found(format!("print job {id}")))?;
    if status != JobStatus::Failed {
        return Err(Error::conflict(
            "job",
            format!("print job {id} is {status}; only failed jobs can be retried"),
        ));
    }
    if zpl.is_empty() {
        return Err(Error::conflict("job", format!(
            "print job {id} has no label: it could not be made (see its error); fix that and print again"
        )));
    }
    let printer = printer_by_id(c, printer_id)?;
    if !printer.active {
        return Err(Error::conflict(
            "printer",
            format!(
                "printer {:?} is switched off in the registry; print again on another printer",
                printer.name
            ),
        ));
    }
    c.execute(
        "UPDATE print_jobs SET status='queued' WHERE id=?1 AND status='failed'",
        [id],
    )?;
    let patient_id = match folder_id {
        Some(f) => Some(folders::get(c, f)?.patient_id),
        None => None,
    };
    audit::record(
        c,
        who,
        "label.print",
        patient_id,
        folder_id,
        &format!("retry of job {id} ({subject}) on {}", printer.name),
    )?;
    Ok(Ready {
        job: get_job(c, id)?,
        printer,
        zpl,
    })
}

/// Record what happened when a job was sent; updates its batch's progress.
pub fn record_outcome(
    c: &Connection,
    id: i64,
    outcome: &std::result::Result<(), String>,
) -> Result<Job> {
    match outcome {
        Ok(()) => c.execute(
            "UPDATE print_jobs SET status='sent', error=NULL, sent_at=?2, attempts=attempts+1 WHERE id=?1",
            params![id, now_rfc3339()],
        )?,
        Err(e) => c.execute(
            "UPDATE print_jobs SET status='failed', error=?2, attempts=attempts+1 WHERE id=?1",
            params![id, e],
        )?,
    };
    let job = get_job(c, id)?;
    if let Some(b) = job.batch_id {
        refresh_batch(c, b)?;
    }
    Ok(job)
}

/// Mark a job failed without sending it (the printer already failed earlier in its batch).
pub(crate) fn record_skipped(c: &Connection, id: i64, why: &str) -> Result<()> {
    c.execute(
        "UPDATE print_jobs SET status='failed', error=?2 WHERE id=?1 AND status='queued'",
        params![id, why],
    )?;
    Ok(())
}

/// The message stored for a failed send: the kind first (`timeout: ...`, `printer not ready:
/// paper out (no labels)`), then the detail.
pub fn describe_print_error(e: &PrintError) -> String {
    match e {
        PrintError::Timeout(_) => format!("timeout: {e}"),
        _ => e.to_string(),
    }
}
