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

mod batches;
mod jobs;
mod printers;
mod sending;
pub use batches::*;
pub use jobs::*;
pub use printers::*;
pub use sending::*;

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
use casenote_core::identifiers::{
    gs1::{encode_element_string, ElementString},
    scan::ScanConfig,
    FilingNumber, Giai96,
};
use chrono::NaiveDate;
use label_printer::{
    ContainerLabel, FolderLabel, Format, Label, LabelStock, LocationCard, PrintError, PrinterUrl,
    StaffBadge,
};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Most labels in one batch.
pub const MAX_BATCH: usize = 10_000;
/// Most copies of one label per job.
pub const MAX_COPIES: u32 = 100;
