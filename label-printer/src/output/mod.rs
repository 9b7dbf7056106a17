//! Outputs: the same [`Layout`](crate::layout::Layout) written as ZPL II (for the printer),
//! PNG (raster at the stock's dpi, previews and decode tests), SVG (browser previews) and PDF
//! (A4 sheets of labels for laser printers during downtime).

pub mod pdf;
pub mod png;
pub mod svg;
pub mod zpl;

use crate::barcode::BarcodeError;

/// Why an output could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(transparent)]
    Barcode(#[from] BarcodeError),
    #[error("PNG encoding failed: {0}")]
    Png(String),
    #[error("label {w_mm}x{h_mm} mm does not fit on an A4 sheet")]
    SheetTooSmall { w_mm: u32, h_mm: u32 },
}

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Zpl,
    Png,
    Svg,
    Pdf,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "zpl" => Ok(Self::Zpl),
            "png" => Ok(Self::Png),
            "svg" => Ok(Self::Svg),
            "pdf" => Ok(Self::Pdf),
            _ => Err(format!("unknown format {s:?} (zpl, png, svg, pdf)")),
        }
    }
}

impl Format {
    /// File extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Zpl => "zpl",
            Self::Png => "png",
            Self::Svg => "svg",
            Self::Pdf => "pdf",
        }
    }
}

/// Split a Code 128 module pattern into runs of bars: (first module, width in modules).
pub(crate) fn bar_runs(modules: &[bool]) -> Vec<(u32, u32)> {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < modules.len() {
        if modules[i] {
            let start = i;
            while i < modules.len() && modules[i] {
                i += 1;
            }
            runs.push((start as u32, (i - start) as u32));
        } else {
            i += 1;
        }
    }
    runs
}
