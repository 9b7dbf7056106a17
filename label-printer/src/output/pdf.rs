//! PDF output: a hand-written PDF 1.4 of A4 pages, each a grid of labels (for sheet labels on an
//! office laser printer, e.g. during printer downtime or for a ward's location cards).
//!
//! Bars and Data Matrix modules are vector rectangles; text is the standard Helvetica font
//! (WinAnsiEncoding), horizontally condensed with `Tz` whenever its real width would be wider
//! than the box layout measured, so nothing overflows. Streams are uncompressed.

use super::RenderError;
use crate::barcode::datamatrix;
use crate::layout::{line_height, text_width, Layout, Primitive};
use std::fmt::Write;

const A4_W_MM: f32 = 210.0;
const A4_H_MM: f32 = 297.0;
const PT_PER_MM: f32 = 72.0 / 25.4;

/// Sheet geometry: page margins and the gap between labels, in millimetres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sheet {
    pub margin_mm: f32,
    pub gap_mm: f32,
}

impl Default for Sheet {
    fn default() -> Self {
        Self {
            margin_mm: 8.0,
            gap_mm: 2.0,
        }
    }
}

impl Sheet {
    /// Labels per row and per column for a label of `w` x `h` mm.
    pub fn grid(&self, w_mm: u32, h_mm: u32) -> (u32, u32) {
        let fit = |avail: f32, size: u32| {
            ((avail - 2.0 * self.margin_mm + self.gap_mm) / (size as f32 + self.gap_mm))
                .floor()
                .max(0.0) as u32
        };
        (fit(A4_W_MM, w_mm), fit(A4_H_MM, h_mm))
    }
}

/// Helvetica advance widths (1/1000 em) for ASCII 32..=126, from the standard AFM.
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // ' '../
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, // 0-9
    278, 278, 584, 584, 584, 556, 1015, // :;<=>?@
    667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, // A-M
    722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, // N-Z
    278, 278, 278, 469, 556, 333, // [\]^_`
    556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, // a-m
    556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, // n-z
    334, 260, 334, 584, // {|}~
];

/// Width of `s` in Helvetica at 1 unit font size (non-ASCII counted as a wide 0.667 em).
pub fn helvetica_width(s: &str) -> f32 {
    s.chars()
        .map(|c| match c as u32 {
            32..=126 => HELVETICA[(c as u32 - 32) as usize] as f32,
            _ => 667.0,
        })
        .sum::<f32>()
        / 1000.0
}

fn pdf_string(s: &str, out: &mut String) {
    out.push('(');
    for c in s.chars() {
        match c {
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 32 => out.push(' '),
            c if (c as u32) < 127 => out.push(c),
            // WinAnsi matches Latin-1 for U+00A0..U+00FF; written as octal escapes.
            c if (0xA0..=0xFF).contains(&(c as u32)) => {
                let _ = write!(out, "\\{:03o}", c as u32);
            }
            _ => out.push('?'),
        }
    }
    out.push(')');
}

/// Content stream operators for one label whose top-left corner is at (ox, oy_top) points.
fn label_ops(l: &Layout, ox: f32, oy_top: f32, out: &mut String) -> Result<(), RenderError> {
    let s = 72.0 / l.stock.dpi as f32; // points per dot
    let px = |x: u32| ox + x as f32 * s;
    let py = |y: u32| oy_top - y as f32 * s; // top edge y in PDF space
    let rect = |out: &mut String, x: u32, y: u32, w: u32, h: u32| {
        let _ = writeln!(
            out,
            "{:.2} {:.2} {:.2} {:.2} re f",
            px(x),
            py(y + h),
            w as f32 * s,
            h as f32 * s
        );
    };
    for p in &l.primitives {
        match p {
            Primitive::Text(t) => {
                if t.reverse {
                    out.push_str("1 g\n");
                }
                let size_pt = t.size as f32 * s;
                for (i, line) in t.lines.iter().enumerate() {
                    let box_w = text_width(line, t.size) as f32 * s;
                    let real = helvetica_width(line) * size_pt;
                    let tz = if real > box_w && real > 0.0 {
                        100.0 * box_w / real
                    } else {
                        100.0
                    };
                    let top = t.y + i as u32 * line_height(t.size);
                    let baseline = py(top) - size_pt * 0.8;
                    let _ = write!(
                        out,
                        "BT /F1 {:.2} Tf {:.1} Tz 1 0 0 1 {:.2} {:.2} Tm ",
                        size_pt,
                        tz,
                        px(t.line_x(i)),
                        baseline
                    );
                    pdf_string(line, out);
                    out.push_str(" Tj ET\n");
                }
                if t.reverse {
                    out.push_str("0 g\n");
                }
            }
            Primitive::Rect {
                x,
                y,
                w,
                h,
                filled,
                thickness,
            } => {
                if *filled {
                    rect(out, *x, *y, *w, *h);
                } else {
                    let t = (*thickness).max(1);
                    rect(out, *x, *y, *w, t);
                    rect(out, *x, (y + h).saturating_sub(t), *w, t);
                    rect(out, *x, *y, t, *h);
                    rect(out, (x + w).saturating_sub(t), *y, t, *h);
                }
            }
            Primitive::Code128 {
                x,
                y,
                module,
                height,
                code,
            } => {
                for (start, len) in super::bar_runs(&code.modules()?) {
                    rect(out, x + start * module, *y, len * module, *height);
                }
            }
            Primitive::DataMatrix {
                x,
                y,
                module,
                data,
                gs1,
                ..
            } => {
                let m = datamatrix(data, *gs1)?;
                for my in 0..m.height {
                    for mx in 0..m.width {
                        if m.get(mx, my) {
                            rect(
                                out,
                                x + mx as u32 * module,
                                y + my as u32 * module,
                                *module,
                                *module,
                            );
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Render labels onto as many A4 pages as needed, in a grid (left to right, top to bottom).
/// All labels should share one stock; the first label's stock sets the grid.
pub fn to_pdf(labels: &[Layout], sheet: &Sheet) -> Result<Vec<u8>, RenderError> {
    let (wmm, hmm) = labels
        .first()
        .map(|l| (l.stock.width_mm, l.stock.height_mm))
        .unwrap_or((100, 50));
    let (cols, rows) = sheet.grid(wmm, hmm);
    if cols == 0 || rows == 0 {
        return Err(RenderError::SheetTooSmall {
            w_mm: wmm,
            h_mm: hmm,
        });
    }
    let per_page = (cols * rows) as usize;
    let mut contents = Vec::new();
    for page in labels
        .chunks(per_page)
        .chain(labels.is_empty().then_some(&labels[..0]))
    {
        let mut ops = String::with_capacity(16 * 1024);
        ops.push_str("0 g\n");
        for (i, l) in page.iter().enumerate() {
            let (c, r) = (i as u32 % cols, i as u32 / cols);
            let ox = (sheet.margin_mm + c as f32 * (wmm as f32 + sheet.gap_mm)) * PT_PER_MM;
            let oy =
                (A4_H_MM - sheet.margin_mm - r as f32 * (hmm as f32 + sheet.gap_mm)) * PT_PER_MM;
            label_ops(l, ox, oy, &mut ops)?;
        }
        contents.push(ops);
    }

    // Objects: 1 catalog, 2 pages, 3 font, then per page: page object, content stream.
    let mut pdf: Vec<u8> =
        Vec::with_capacity(contents.iter().map(String::len).sum::<usize>() + 4096);
    let mut offsets: Vec<usize> = Vec::new();
    pdf.extend_from_slice(b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n");
    let n_pages = contents.len();
    let kids: Vec<String> = (0..n_pages).map(|i| format!("{} 0 R", 4 + 2 * i)).collect();
    let mut obj = |pdf: &mut Vec<u8>, body: &[u8]| {
        offsets.push(pdf.len());
        let n = offsets.len();
        pdf.extend_from_slice(format!("{n} 0 obj\n").as_bytes());
        pdf.extend_from_slice(body);
        pdf.extend_from_slice(b"\nendobj\n");
    };
    obj(&mut pdf, b"<< /Type /Catalog /Pages 2 0 R >>");
    obj(
        &mut pdf,
        format!(
            "<< /Type /Pages /Kids [{}] /Count {} >>",
            kids.join(" "),
            n_pages
        )
        .as_bytes(),
    );
    obj(
        &mut pdf,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    );
    for (i, c) in contents.iter().enumerate() {
        let page = format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {:.2} {:.2}] /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
            A4_W_MM * PT_PER_MM,
            A4_H_MM * PT_PER_MM,
            5 + 2 * i
        );
        obj(&mut pdf, page.as_bytes());
        let mut stream = format!("<< /Length {} >>\nstream\n", c.len()).into_bytes();
        stream.extend_from_slice(c.as_bytes());
        stream.extend_from_slice(b"\nendstream");
        obj(&mut pdf, &stream);
    }
    let xref = pdf.len();
    let mut x = format!("xref\n0 {}\n0000000000 65535 f \n", offsets.len() + 1);
    for o in &offsets {
        let _ = writeln!(x, "{o:010} 00000 n ");
    }
    let _ = write!(
        x,
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{}\n%%EOF\n",
        offsets.len() + 1,
        xref
    );
    pdf.extend_from_slice(x.as_bytes());
    Ok(pdf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::{sample_folder_label, LabelStock};
    use crate::layout::layout_folder;

    /// Minimal PDF reader: header, startxref, xref table entries point at `N 0 obj`, trailer
    /// names the root, stream lengths match. Returns the number of objects.
    pub(crate) fn check_pdf(pdf: &[u8]) -> Result<usize, String> {
        if !pdf.starts_with(b"%PDF-") {
            return Err("no %PDF- header".into());
        }
        let text = String::from_utf8_lossy(pdf);
        let sx = text.rfind("startxref").ok_or("no startxref")?;
        let off: usize = text[sx + 9..]
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or("bad startxref")?;
        if !text.trim_end().ends_with("%%EOF") {
            return Err("no %%EOF".into());
        }
        let xref = pdf.get(off..).ok_or("startxref beyond end")?;
        if !xref.starts_with(b"xref\n") {
            return Err("startxref does not point at xref".into());
        }
        let xs = String::from_utf8_lossy(xref);
        let mut lines = xs.lines().skip(1);
        let header = lines.next().ok_or("no subsection")?;
        let count: usize = header
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .ok_or("bad subsection")?;
        for n in 0..count {
            let e = lines.next().ok_or("xref truncated")?;
            if e.len() != 18 && e.len() != 19 && e.len() != 20 {
                return Err(format!("xref entry {n} has bad length: {e:?}"));
            }
            if n == 0 {
                continue;
            }
            let o: usize = e[..10].parse().map_err(|_| format!("bad offset {e:?}"))?;
            let want = format!("{n} 0 obj");
            if !pdf[o..].starts_with(want.as_bytes()) {
                return Err(format!("object {n} not at offset {o}"));
            }
        }
        let trailer = lines.next().ok_or("no trailer")?;
        if trailer != "trailer"
            || !xs.contains("/Root 1 0 R")
            || !xs.contains(&format!("/Size {count}"))
        {
            return Err("bad trailer".into());
        }
        // Stream lengths.
        let mut rest = &text[..];
        while let Some(i) = rest.find("/Length ") {
            let len: usize = rest[i + 8..]
                .split_whitespace()
                .next()
                .and_then(|v| v.parse().ok())
                .ok_or("bad length")?;
            let s = rest[i..].find("stream\n").ok_or("no stream")? + i + 7;
            if !rest[s + len..].starts_with("\nendstream") {
                return Err("stream length mismatch".into());
            }
            rest = &rest[s + len..];
        }
        Ok(count - 1)
    }

    #[test]
    fn pdf_sheet_is_well_formed() {
        let l = layout_folder(&sample_folder_label(), &LabelStock::default()).unwrap();
        let labels = vec![l; 23];
        let pdf = to_pdf(&labels, &Sheet::default()).unwrap();
        // 100x50 on A4 with 8 mm margins: 1 x 5 = 5 per page -> 5 pages.
        assert_eq!(Sheet::default().grid(100, 50), (1, 5));
        let objects = check_pdf(&pdf).unwrap();
        assert_eq!(objects, 3 + 2 * 5);
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains("/BaseFont /Helvetica"));
        assert!(text.contains("(MACDONALD, Morag Elizabeth) Tj"));
        assert!(text.contains(" re f"));
        assert!(text.contains("/Count 5"));
    }

    #[test]
    fn pdf_checker_catches_damage() {
        let l = layout_folder(
            &sample_folder_label(),
            &LabelStock::parse("80x40", 203).unwrap(),
        )
        .unwrap();
        let pdf = to_pdf(&[l.clone(), l], &Sheet::default()).unwrap();
        assert!(check_pdf(&pdf).is_ok());
        let mut broken = pdf.clone();
        broken.insert(20, b' ');
        assert!(check_pdf(&broken).is_err());
        assert!(check_pdf(&pdf[..pdf.len() - 30]).is_err());
        assert!(check_pdf(b"hello").is_err());
    }

    #[test]
    fn helvetica_widths_and_escape() {
        assert!((helvetica_width("W") - 0.944).abs() < 1e-6);
        assert!((helvetica_width("il") - 0.444).abs() < 1e-6);
        let mut s = String::new();
        pdf_string("a(b)\\ é", &mut s);
        assert_eq!(s, "(a\\(b\\)\\\\ \\351)");
    }
}
