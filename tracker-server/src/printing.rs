//! Label printing: the printer registry, print jobs and batches.
//!
//! A print request becomes a `print_jobs` row in the same write as its audit row: the label is
//! rendered to ZPL there and the ZPL is kept, so a job that fails (paper out, head open, a
//! timeout) is stored as `failed` with the reason and can be retried byte for byte. Talking to
//! the printer (network I/O) never happens inside a database write: [`send`] runs
//! [`label_printer::print_job`] on a blocking thread, and the outcome is recorded afterwards
//! with [`record_outcome`]. One job at a time goes to each printer ([`PrinterLocks`]).
//!
//! Folder labels carry the patient's name, CHI and date of birth as text, the volume
//! ("Vol 2 of 3"), folder type, filing number, a Code 128 of the opaque folder barcode, a GS1
//! DataMatrix GIAI (8004 + company prefix + folder serial) when a GS1 company prefix is
//! configured, and the GIAI-96 EPC when the printer is an RFID printer. The reprint number is the
//! count of earlier print jobs for that folder.

use crate::{
    audit,
    auth::Principal,
    config::PrintingConfig,
    ledger::folders::{self, Folder},
    ledger::locations,
    ledger::patients,
    storage::Db,
    util::{now_rfc3339, parse_rfc3339_ms},
    Error, Result,
};
use chrono::NaiveDate;
use label_printer::identifiers::{
    gs1::{encode_element_string, ElementString},
    scan::ScanConfig,
    FilingNumber, Giai96,
};
use label_printer::{
    FolderLabel, Format, Label, LabelStock, LocationCard, PrintError, PrinterUrl, StaffBadge,
};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Most labels in one batch.
pub const MAX_BATCH: usize = 10_000;
/// Most copies of one label per job.
pub const MAX_COPIES: u32 = 100;

// ---------- printers ----------

/// A registered label printer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Printer {
    pub id: i64,
    pub name: String,
    pub url: String,
    /// Label size in mm, e.g. `100x50`.
    pub stock: String,
    pub dpi: u32,
    /// Writes the EPC to the label's RFID inlay while printing.
    pub rfid: bool,
    pub active: bool,
    pub created_at: String,
}

impl Printer {
    pub fn label_stock(&self) -> Result<LabelStock> {
        LabelStock::parse(&self.stock, self.dpi).map_err(|e| Error::invalid("stock", e.to_string()))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPrinter {
    /// Short unique name people choose from, e.g. `library-zebra-1`.
    pub name: String,
    /// `tcp://host[:9100]`, `lp://queue`, `usb://[vid[:pid]]` (or `file://` when allowed).
    pub url: String,
    #[serde(default)]
    pub stock: Option<String>,
    #[serde(default)]
    pub dpi: Option<u32>,
    #[serde(default)]
    pub rfid: bool,
}

const PRINTER_COLS: &str = "id, name, url, stock, dpi, rfid, active, created_at";

fn printer_row(r: &rusqlite::Row) -> rusqlite::Result<Printer> {
    Ok(Printer {
        id: r.get(0)?,
        name: r.get(1)?,
        url: r.get(2)?,
        stock: r.get(3)?,
        dpi: r.get(4)?,
        rfid: r.get(5)?,
        active: r.get(6)?,
        created_at: r.get(7)?,
    })
}

/// Register a printer (audited as `printer.create`); every refusal names the field.
pub fn create_printer(
    c: &Connection,
    cfg: &PrintingConfig,
    who: &Principal,
    n: &NewPrinter,
) -> Result<Printer> {
    let name = n.name.trim();
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_. ".contains(ch))
    {
        return Err(Error::invalid(
            "name",
            "must be 1-64 letters, digits, spaces, - _ or .",
        ));
    }
    let url = check_url(cfg, &n.url)?;
    let stock = n
        .stock
        .as_deref()
        .map(str::trim)
        .unwrap_or(&cfg.default_stock)
        .to_string();
    let dpi = n.dpi.unwrap_or(cfg.default_dpi);
    check_stock(&stock, dpi)?;
    let exists: bool = c.query_row(
        "SELECT EXISTS(SELECT 1 FROM printers WHERE name=?1)",
        [name],
        |r| r.get(0),
    )?;
    if exists {
        return Err(Error::Conflict(format!(
            "a printer named {name:?} is already registered"
        )));
    }
    c.execute(
        "INSERT INTO printers(name, url, stock, dpi, rfid, active, created_at) VALUES (?1,?2,?3,?4,?5,1,?6)",
        params![name, url.to_string(), stock, dpi, n.rfid, now_rfc3339()],
    )?;
    let p = printer_by_id(c, c.last_insert_rowid())?;
    audit::record(
        c,
        who,
        "printer.create",
        None,
        None,
        &format!(
            "printer {} at {} ({} @ {} dpi)",
            p.name, p.url, p.stock, p.dpi
        ),
    )?;
    Ok(p)
}

fn check_url(cfg: &PrintingConfig, url: &str) -> Result<PrinterUrl> {
    let url = PrinterUrl::parse(url.trim()).map_err(|e| Error::invalid("url", e.to_string()))?;
    if matches!(url, PrinterUrl::File(_)) && !cfg.allow_file_printers {
        return Err(Error::invalid(
            "url",
            "file:// printers are switched off (printing.allow_file_printers); use tcp://, lp:// or usb://",
        ));
    }
    Ok(url)
}

fn check_stock(stock: &str, dpi: u32) -> Result<()> {
    if dpi != 203 && dpi != 300 {
        return Err(Error::invalid("dpi", "must be 203 or 300"));
    }
    LabelStock::parse(stock, dpi).map_err(|e| Error::invalid("stock", e.to_string()))?;
    Ok(())
}

/// Changes to a registered printer: only the fields given change. The name stays, so print
/// jobs and people's habits keep pointing at the same printer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrinterChange {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub stock: Option<String>,
    #[serde(default)]
    pub dpi: Option<u32>,
    #[serde(default)]
    pub rfid: Option<bool>,
    /// false takes the printer out of use (it is kept, with its jobs); true brings it back.
    #[serde(default)]
    pub active: Option<bool>,
}

/// Change a printer (moved to a new address, new label stock, switched off or on). Every
/// refusal names the field; nothing changes unless all of it is valid. Audited as
/// `printer.update`.
pub fn update_printer(
    c: &Connection,
    cfg: &PrintingConfig,
    who: &Principal,
    id: i64,
    ch: &PrinterChange,
) -> Result<Printer> {
    let old = printer_by_id(c, id)?;
    let url = match &ch.url {
        Some(u) => check_url(cfg, u)?.to_string(),
        None => old.url.clone(),
    };
    let stock = ch
        .stock
        .as_deref()
        .map(str::trim)
        .map(String::from)
        .unwrap_or(old.stock.clone());
    let dpi = ch.dpi.unwrap_or(old.dpi);
    check_stock(&stock, dpi)?;
    c.execute(
        "UPDATE printers SET url=?1, stock=?2, dpi=?3, rfid=?4, active=?5 WHERE id=?6",
        params![
            url,
            stock,
            dpi,
            ch.rfid.unwrap_or(old.rfid),
            ch.active.unwrap_or(old.active),
            id
        ],
    )?;
    let p = printer_by_id(c, id)?;
    audit::record(
        c,
        who,
        "printer.update",
        None,
        None,
        &format!(
            "printer {} at {} ({} @ {} dpi, rfid {}, {})",
            p.name,
            p.url,
            p.stock,
            p.dpi,
            p.rfid,
            if p.active { "in use" } else { "switched off" }
        ),
    )?;
    Ok(p)
}

pub fn list_printers(c: &Connection) -> Result<Vec<Printer>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {PRINTER_COLS} FROM printers ORDER BY name"
    ))?;
    let v = st
        .query_map([], printer_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(v)
}

pub fn printer_by_id(c: &Connection, id: i64) -> Result<Printer> {
    c.prepare_cached(&format!("SELECT {PRINTER_COLS} FROM printers WHERE id=?1"))?
        .query_row([id], printer_row)
        .optional()?
        .ok_or_else(|| Error::not_found(format!("printer {id}")))
}

/// An active printer by name (the `printer` field of print requests).
pub fn printer_by_name(c: &Connection, name: &str) -> Result<Printer> {
    let p = c
        .prepare_cached(&format!(
            "SELECT {PRINTER_COLS} FROM printers WHERE name=?1"
        ))?
        .query_row([name.trim()], printer_row)
        .optional()?
        .ok_or_else(|| {
            Error::invalid(
                "printer",
                format!("no printer named {name:?}; see GET /api/v1/printers"),
            )
        })?;
    if !p.active {
        return Err(Error::invalid(
            "printer",
            format!("printer {:?} is switched off in the registry", p.name),
        ));
    }
    Ok(p)
}

// ---------- jobs ----------

/// A print job as served by the API (the ZPL is kept in the database, not served here).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Job {
    pub id: i64,
    pub printer: String,
    /// folder, location or badge.
    pub template: String,
    /// Folder barcode, location code or staff badge.
    pub subject: String,
    pub copies: u32,
    /// 0 on the first print of a folder label; n = n earlier jobs for that folder.
    pub reprint_number: u32,
    /// queued, sent or failed.
    pub status: String,
    pub error: Option<String>,
    pub requested_by: String,
    pub created_at: String,
    pub sent_at: Option<String>,
    pub attempts: u32,
    pub batch_id: Option<i64>,
}

const JOB_SELECT: &str =
    "SELECT j.id, p.name, j.template, j.subject, j.copies, j.reprint_number, j.status, j.error,
  j.requested_by, j.created_at, j.sent_at, j.attempts, j.batch_id
  FROM print_jobs j JOIN printers p ON p.id = j.printer_id";

fn job_row(r: &rusqlite::Row) -> rusqlite::Result<Job> {
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

pub const JOB_STATUSES: &[&str] = &["queued", "sent", "failed"];

/// Jobs, newest first.
pub fn list_jobs(c: &Connection, f: &JobFilter) -> Result<Vec<Job>> {
    if let Some(s) = &f.status {
        if !JOB_STATUSES.contains(&s.as_str()) {
            return Err(Error::invalid(
                "status",
                format!("must be one of {}", JOB_STATUSES.join(", ")),
            ));
        }
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

fn check_copies(copies: u32) -> Result<()> {
    if !(1..=MAX_COPIES).contains(&copies) {
        return Err(Error::invalid(
            "copies",
            format!("must be 1 to {MAX_COPIES}"),
        ));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn insert_job(
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
    let status = if error.is_some() { "failed" } else { "queued" };
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

fn render_zpl(label: &Label, stock: &LabelStock, copies: u32, field: &str) -> Result<String> {
    let bytes = label_printer::render(label, stock, Format::Zpl, copies)
        .map_err(|e| Error::invalid(field, format!("the label cannot be made: {e}")))?;
    String::from_utf8(bytes).map_err(|e| Error::internal(format!("ZPL is not UTF-8: {e}")))
}

/// Folder type as printed: `mental_health` -> `Mental health`, `xray` -> `X-ray`.
pub fn folder_type_text(t: &str) -> String {
    if t == "xray" {
        return "X-ray".into();
    }
    let s = t.replace('_', " ");
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
    let chi = p.chi.clone().ok_or_else(|| {
        Error::invalid(
            "barcode",
            "the patient has no CHI number; folder labels print the CHI, so add it to the patient first",
        )
    })?;
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
        dob: dob_text(&p.dob),
        volume: f.volume as u32,
        volume_count: f.volume_count as u32,
        folder_type: folder_type_text(&f.folder_type),
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

fn one() -> u32 {
    1
}

/// The badge number of a user: staff prefix + user id in five digits, e.g. `S00042`.
pub fn user_badge(staff_prefix: &str, user_id: i64) -> String {
    format!("{staff_prefix}{user_id:05}")
}

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
    let row: Option<(i64, String, String, Option<i64>, String)> = c
        .query_row(
            "SELECT printer_id, status, zpl, folder_id, subject FROM print_jobs WHERE id=?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?;
    let (printer_id, status, zpl, folder_id, subject) =
        row.ok_or_else(|| Error::not_found(format!("print job {id}")))?;
    if status != "failed" {
        return Err(Error::Conflict(format!(
            "print job {id} is {status}; only failed jobs can be retried"
        )));
    }
    if zpl.is_empty() {
        return Err(Error::Conflict(format!(
            "print job {id} has no label: it could not be made (see its error); fix that and print again"
        )));
    }
    let printer = printer_by_id(c, printer_id)?;
    if !printer.active {
        return Err(Error::Conflict(format!(
            "printer {:?} is switched off in the registry; print again on another printer",
            printer.name
        )));
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
fn record_skipped(c: &Connection, id: i64, why: &str) -> Result<()> {
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

// ---------- sending ----------

/// One job at a time per printer (Zebra printers serve one connection at a time).
#[derive(Default)]
pub struct PrinterLocks(Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>);

impl PrinterLocks {
    pub fn of(&self, printer_id: i64) -> Arc<tokio::sync::Mutex<()>> {
        self.0
            .lock()
            .expect("printer locks")
            .entry(printer_id)
            .or_default()
            .clone()
    }
}

fn send_blocking(
    url: &str,
    timeouts: label_printer::printers::Timeouts,
    zpl: &str,
    copies: u32,
) -> std::result::Result<(), String> {
    let url = PrinterUrl::parse(url).map_err(|e| describe_print_error(&e))?;
    let mut t =
        label_printer::open_printer(&url, timeouts).map_err(|e| describe_print_error(&e))?;
    label_printer::print_job(&mut t, zpl, copies)
        .map(|_| ())
        .map_err(|e| describe_print_error(&e))
}

/// Send one job's ZPL to its printer off the async threads; `Err` is the message to store.
pub async fn send(
    cfg: &PrintingConfig,
    locks: &PrinterLocks,
    printer: &Printer,
    zpl: String,
    copies: u32,
) -> std::result::Result<(), String> {
    let lock = locks.of(printer.id);
    let _held = lock.lock().await;
    let (url, timeouts) = (printer.url.clone(), cfg.timeouts());
    tokio::task::spawn_blocking(move || send_blocking(&url, timeouts, &zpl, copies))
        .await
        .unwrap_or_else(|e| Err(format!("print task failed: {e}")))
}

/// Send a stored job and record the outcome.
pub async fn send_and_record(
    db: &Db,
    cfg: &PrintingConfig,
    locks: &PrinterLocks,
    r: Ready,
) -> Result<Job> {
    let outcome = send(cfg, locks, &r.printer, r.zpl, r.job.copies).await;
    if let Err(e) = &outcome {
        tracing::warn!(job = r.job.id, printer = %r.printer.name, error = %e, "print job failed");
    }
    let id = r.job.id;
    db.write(move |c| record_outcome(c, id, &outcome)).await
}

// ---------- batches ----------

/// A batch of folder labels printed in the background.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Batch {
    pub id: i64,
    pub description: String,
    pub total: i64,
    pub done: i64,
    pub failed: i64,
    /// running or finished.
    pub status: String,
    pub created_by: String,
    pub created_at: String,
}

pub fn get_batch(c: &Connection, id: i64) -> Result<Batch> {
    c.query_row(
        "SELECT id, description, total, done, failed, status, created_by, created_at FROM print_batches WHERE id=?1",
        [id],
        |r| {
            Ok(Batch {
                id: r.get(0)?,
                description: r.get(1)?,
                total: r.get(2)?,
                done: r.get(3)?,
                failed: r.get(4)?,
                status: r.get(5)?,
                created_by: r.get(6)?,
                created_at: r.get(7)?,
            })
        },
    )
    .optional()?
    .ok_or_else(|| Error::not_found(format!("print batch {id}")))
}

/// Recount a batch's progress from its jobs.
pub fn refresh_batch(c: &Connection, id: i64) -> Result<()> {
    c.prepare_cached(
        "UPDATE print_batches SET
           done = (SELECT count(*) FROM print_jobs WHERE batch_id=?1 AND status='sent'),
           failed = (SELECT count(*) FROM print_jobs WHERE batch_id=?1 AND status='failed')
         WHERE id=?1",
    )?
    .execute([id])?;
    Ok(())
}

/// Which folders a batch prints.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum BatchFolders {
    /// Folder barcodes.
    List(Vec<String>),
    /// Every folder registered at or after this time (RFC 3339).
    Since { created_since: String },
}

/// Resolve the folders of a batch (read only); every refusal names the field.
pub fn batch_folders(
    c: &Connection,
    ids: &ScanConfig,
    which: &BatchFolders,
) -> Result<(Vec<Folder>, String)> {
    let (list, description) = match which {
        BatchFolders::List(barcodes) => {
            let mut v = Vec::with_capacity(barcodes.len());
            for (i, b) in barcodes.iter().enumerate() {
                let f = folders::by_barcode(c, &ids.folder, b)
                    .map_err(|e| Error::invalid(format!("folders[{i}]"), e.to_string()))?;
                v.push(f);
            }
            let n = v.len();
            (v, format!("{n} folder(s) by barcode"))
        }
        BatchFolders::Since { created_since } => {
            let ms = parse_rfc3339_ms(created_since).ok_or_else(|| {
                Error::invalid(
                    "folders.created_since",
                    "must be an RFC 3339 time, e.g. 2026-11-20T00:00:00Z",
                )
            })?;
            let since = crate::util::ms_to_rfc3339(ms);
            let mut st =
                c.prepare("SELECT id FROM folders WHERE created_at >= ?1 ORDER BY id LIMIT ?2")?;
            let ids_found = st
                .query_map(params![since, MAX_BATCH as i64 + 1], |r| r.get::<_, i64>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let v = ids_found
                .into_iter()
                .map(|id| folders::get(c, id))
                .collect::<Result<Vec<_>>>()?;
            (v, format!("folders registered since {since}"))
        }
    };
    if list.is_empty() {
        return Err(Error::invalid("folders", "no folders to print"));
    }
    if list.len() > MAX_BATCH {
        return Err(Error::invalid(
            "folders",
            format!("at most {MAX_BATCH} folders per batch; split it"),
        ));
    }
    Ok((list, description))
}

pub fn create_batch(
    c: &Connection,
    description: &str,
    total: usize,
    who: &Principal,
) -> Result<i64> {
    c.execute(
        "INSERT INTO print_batches(description, total, done, failed, status, created_by, created_at)
         VALUES (?1,?2,0,0,'running',?3,?4)",
        params![description, total as i64, who.actor, now_rfc3339()],
    )?;
    Ok(c.last_insert_rowid())
}

/// Claim a finished batch's failed jobs for a retry; returns the jobs' ids.
pub fn claim_batch_retry(c: &Connection, id: i64, who: &Principal) -> Result<(Printer, Vec<i64>)> {
    let b = get_batch(c, id)?;
    if b.status != "finished" {
        return Err(Error::Conflict(format!(
            "print batch {id} is still running; wait for it to finish"
        )));
    }
    let rows: Vec<(i64, i64)> = c
        .prepare(
            "SELECT id, printer_id FROM print_jobs WHERE batch_id=?1 AND status='failed' AND zpl != '' ORDER BY id",
        )?
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let Some(&(_, printer_id)) = rows.first() else {
        return Err(Error::Conflict(format!(
            "print batch {id} has no failed jobs that can be retried"
        )));
    };
    let printer = printer_by_id(c, printer_id)?;
    if !printer.active {
        return Err(Error::Conflict(format!(
            "printer {:?} is switched off in the registry",
            printer.name
        )));
    }
    let ids: Vec<i64> = rows.into_iter().map(|(j, _)| j).collect();
    for j in &ids {
        c.execute(
            "UPDATE print_jobs SET status='queued' WHERE id=?1 AND status='failed'",
            [j],
        )?;
    }
    c.execute(
        "UPDATE print_batches SET status='running' WHERE id=?1",
        [id],
    )?;
    refresh_batch(c, id)?;
    audit::record(
        c,
        who,
        "label.print",
        None,
        None,
        &format!("retry of {} failed job(s) of batch {id}", ids.len()),
    )?;
    Ok((printer, ids))
}

/// Send a batch's jobs (exactly the given ids, which this task owns) in chunks, recording
/// progress after each chunk. After a printer failure the rest are stored as failed without
/// being sent (they keep their ZPL and can be retried), so a printer out of labels does not
/// make every remaining label wait for a timeout.
pub async fn run_batch(
    db: Db,
    cfg: PrintingConfig,
    locks: Arc<PrinterLocks>,
    batch_id: i64,
    printer: Printer,
    job_ids: Vec<i64>,
) {
    let mut stopped: Option<String> = None;
    for chunk in job_ids.chunks(cfg.batch_chunk.max(1)) {
        let ids = chunk.to_vec();
        if let Some(why) = &stopped {
            let why = why.clone();
            if let Err(e) = db
                .write(move |c| {
                    for id in ids {
                        record_skipped(c, id, &why)?;
                    }
                    refresh_batch(c, batch_id)
                })
                .await
            {
                tracing::error!(batch_id, error = %e, "cannot record batch progress");
            }
            continue;
        }
        let jobs = match db
            .read(move |c| {
                let mut st = c.prepare_cached(
                    "SELECT id, zpl, copies FROM print_jobs WHERE id=?1 AND status='queued'",
                )?;
                let mut v = Vec::new();
                for id in ids {
                    if let Some(j) = st
                        .query_row([id], |r| {
                            Ok((
                                r.get::<_, i64>(0)?,
                                r.get::<_, String>(1)?,
                                r.get::<_, u32>(2)?,
                            ))
                        })
                        .optional()?
                    {
                        v.push(j);
                    }
                }
                Ok(v)
            })
            .await
        {
            Ok(j) => j,
            Err(e) => {
                tracing::error!(batch_id, error = %e, "cannot read batch jobs");
                break;
            }
        };
        let lock = locks.of(printer.id);
        let held = lock.lock().await;
        let (url, timeouts) = (printer.url.clone(), cfg.timeouts());
        let outcomes = tokio::task::spawn_blocking(move || {
            let mut out = Vec::with_capacity(jobs.len());
            let mut failed: Option<String> = None;
            for (id, zpl, copies) in jobs {
                match &failed {
                    Some(why) => out.push((id, None, why.clone())),
                    None => match send_blocking(&url, timeouts, &zpl, copies) {
                        Ok(()) => out.push((id, Some(Ok(())), String::new())),
                        Err(e) => {
                            failed =
                                Some(format!("not sent: the printer failed on job {id} ({e})"));
                            out.push((id, Some(Err(e)), String::new()));
                        }
                    },
                }
            }
            (out, failed)
        })
        .await;
        drop(held);
        let (outcomes, failed) = match outcomes {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(batch_id, error = %e, "print task failed");
                break;
            }
        };
        if let Some(f) = failed {
            tracing::warn!(batch_id, error = %f, "printer failed; the rest of the batch is kept as failed");
            stopped = Some(f);
        }
        if let Err(e) = db
            .write(move |c| {
                for (id, outcome, why) in outcomes {
                    match outcome {
                        Some(o) => {
                            record_outcome(c, id, &o)?;
                        }
                        None => record_skipped(c, id, &why)?,
                    }
                }
                refresh_batch(c, batch_id)
            })
            .await
        {
            tracing::error!(batch_id, error = %e, "cannot record batch progress");
        }
    }
    if let Err(e) = db
        .write(move |c| {
            // Anything this task could not get to stays retryable as failed.
            c.execute(
                "UPDATE print_jobs SET status='failed', error='interrupted: the batch stopped before this job was sent'
                 WHERE batch_id=?1 AND status='queued'",
                [batch_id],
            )?;
            refresh_batch(c, batch_id)?;
            c.execute(
                "UPDATE print_batches SET status='finished' WHERE id=?1",
                [batch_id],
            )?;
            Ok(())
        })
        .await
    {
        tracing::error!(batch_id, error = %e, "cannot finish batch");
    }
}

/// At start-up: jobs left queued by a stopped server become failed (retryable), running
/// batches become finished. Returns (jobs, batches) changed.
pub fn recover_interrupted(c: &Connection) -> Result<(usize, usize)> {
    let jobs = c.execute(
        "UPDATE print_jobs SET status='failed', error='interrupted: the server stopped before this job was sent; retry it'
         WHERE status='queued'",
        [],
    )?;
    let ids: Vec<i64> = c
        .prepare("SELECT id FROM print_batches WHERE status='running'")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for id in &ids {
        refresh_batch(c, *id)?;
        c.execute(
            "UPDATE print_batches SET status='finished' WHERE id=?1",
            [id],
        )?;
    }
    Ok((jobs, ids.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_text() {
        assert_eq!(folder_type_text("mental_health"), "Mental health");
        assert_eq!(folder_type_text("xray"), "X-ray");
        assert_eq!(folder_type_text("main"), "Main");
        assert_eq!(dob_text("1985-04-19"), "19-Apr-1985");
        assert_eq!(user_badge("S", 42), "S00042");
    }

    #[test]
    fn batch_folders_accepts_both_shapes() {
        let a: BatchFolders = serde_json::from_str(r#"["F1","F2"]"#).unwrap();
        assert!(matches!(a, BatchFolders::List(v) if v.len() == 2));
        let b: BatchFolders =
            serde_json::from_str(r#"{"created_since":"2026-01-01T00:00:00Z"}"#).unwrap();
        assert!(matches!(b, BatchFolders::Since { .. }));
    }
}
