//! Sending a stored job to its printer and recording the outcome.

use super::*;

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

pub(crate) fn send_blocking(
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
