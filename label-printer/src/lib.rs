//! Identifiers, label templates and printer transports for Casenote Tracker.
//!
//! The path from a folder to a printed label:
//!
//! 1. [`labels`]: the content ([`labels::FolderLabel`], [`labels::LocationCard`],
//!    [`labels::StaffBadge`]) and the stock ([`labels::LabelStock`]: mm and 203/300 dpi).
//! 2. [`layout`]: positions text, bars and modules in printer dots, shrinking and wrapping text
//!    and refusing what does not fit (never cutting it).
//! 3. [`barcode`]: Code 128 / GS1-128, Data Matrix ECC200 / GS1 DataMatrix and QR symbols.
//! 4. [`output`]: ZPL II for the printer, PNG / SVG previews, PDF sheets.
//! 5. [`printers`]: transports (TCP 9100, USB printer class, `lp`, file) and `~HS` status.
//! 6. [`job`]: [`job::print_job`] checks the printer status, sends, and reports errors so the
//!    caller can keep the job for retry.
//!
//! [`batch`] reads many folders from CSV; [`bench`] measures rendering throughput.
#![forbid(unsafe_code)]

pub mod barcode;
pub mod batch;
pub mod bench;
pub mod job;
pub mod labels;
pub mod layout;
pub mod output;
pub mod printers;

pub use job::{print_job, JobReport};
pub use labels::{
    ContainerLabel, FolderLabel, Label, LabelStock, LocationCard, PatientNumber, StaffBadge,
};
pub use layout::{layout, Layout, LayoutError};
pub use output::{Format, RenderError};
pub use printers::{
    open_printer, parse_host_status, PrintError, PrinterStatus, PrinterTransport, PrinterUrl,
};

/// Lay out and render one label to bytes in `format` (PDF: one label on an A4 sheet).
pub fn render(
    label: &Label,
    stock: &LabelStock,
    format: Format,
    copies: u32,
) -> Result<Vec<u8>, RenderAnyError> {
    let l = layout(label, stock)?;
    Ok(match format {
        Format::Zpl => output::zpl::to_zpl(&l, copies).into_bytes(),
        Format::Png => output::png::to_png(&l)?,
        Format::Svg => output::svg::to_svg(&l)?.into_bytes(),
        Format::Pdf => output::pdf::to_pdf(&[l], &output::pdf::Sheet::default())?,
    })
}

/// Layout or rendering failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderAnyError {
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    Render(#[from] RenderError),
}
