//! Throughput measurement used by `label-printer bench`: lay out and render N distinct folder
//! labels in one format on the current thread.

use crate::labels::{sample_folder_label, FolderLabel, LabelStock};
use crate::layout::layout_folder;
use crate::output::{pdf, png, svg, zpl, Format};
use crate::RenderAnyError;
use casenote_core::identifiers::{FilingNumber, FolderIdScheme};
use std::time::Instant;

/// One measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchResult {
    pub format: Format,
    pub labels: usize,
    pub seconds: f64,
    /// Total output size.
    pub bytes: usize,
}

impl BenchResult {
    pub fn labels_per_second(&self) -> f64 {
        self.labels as f64 / self.seconds.max(1e-9)
    }
}

/// `n` distinct, valid folder labels (different ids, filing numbers, GIAIs, EPC-less).
pub fn bench_labels(n: usize) -> Vec<FolderLabel> {
    let scheme = FolderIdScheme::default();
    let base = sample_folder_label();
    (0..n as u64)
        .map(|i| {
            let serial = 10_000 + i * 7919;
            let mut f = base.clone();
            f.folder_id = scheme.format(serial).text;
            f.filing_number = FilingNumber::from_serial(serial);
            f.gs1_giai = Some(format!("80040614141{serial}"));
            f.volume = 1 + (i % 3) as u32;
            f.reprint = (i % 4) as u32;
            f
        })
        .collect()
}

/// Lay out and render every label in `format`; PDF renders them as one multi-page sheet.
pub fn bench_format(
    format: Format,
    labels: &[FolderLabel],
    stock: &LabelStock,
) -> Result<BenchResult, RenderAnyError> {
    let start = Instant::now();
    let mut bytes = 0usize;
    match format {
        Format::Zpl => {
            let mut buf = String::with_capacity(2048);
            for f in labels {
                buf.clear();
                zpl::write_zpl(&layout_folder(f, stock)?, 1, &mut buf);
                bytes += buf.len();
            }
        }
        Format::Png => {
            for f in labels {
                bytes += png::to_png(&layout_folder(f, stock)?)?.len();
            }
        }
        Format::Svg => {
            for f in labels {
                bytes += svg::to_svg(&layout_folder(f, stock)?)?.len();
            }
        }
        Format::Pdf => {
            let layouts = labels
                .iter()
                .map(|f| layout_folder(f, stock))
                .collect::<Result<Vec<_>, _>>()?;
            bytes += pdf::to_pdf(&layouts, &pdf::Sheet::default())?.len();
        }
    }
    Ok(BenchResult {
        format,
        labels: labels.len(),
        seconds: start.elapsed().as_secs_f64(),
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_runs_every_format() {
        let labels = bench_labels(5);
        assert_ne!(labels[0].folder_id, labels[1].folder_id);
        for f in [Format::Zpl, Format::Png, Format::Svg, Format::Pdf] {
            let r = bench_format(f, &labels, &LabelStock::default()).unwrap();
            assert_eq!(r.labels, 5);
            assert!(r.bytes > 0 && r.labels_per_second() > 0.0);
        }
    }
}
