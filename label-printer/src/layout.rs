//! Layout: turns a [`Label`] and a [`LabelStock`] into a device-independent list of
//! [`Primitive`]s positioned in printer dots (origin top-left, y down).
//!
//! Text uses one fixed metric for every output: each character advances `0.6 x size` dots and a
//! line takes `1.2 x size` dots. The raster output draws its bitmap font into exactly that cell,
//! SVG stretches to the measured length, PDF scales Helvetica down when it would be wider, and
//! ZPL uses font 0 with a field block of the measured width.
//!
//! Text that does not fit its box is first shrunk (down to a minimum size per field), then
//! wrapped onto two lines at spaces; if it still does not fit, layout fails with
//! [`LayoutError::TextDoesNotFit`]. Nothing is ever cut off silently.

use crate::barcode::{datamatrix_side, BarcodeError, Code128Data};
use crate::labels::{
    ContainerLabel, FolderLabel, Label, LabelError, LabelStock, LocationCard, StaffBadge,
};

/// Why a label could not be laid out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error(transparent)]
    Label(#[from] LabelError),
    #[error(transparent)]
    Barcode(#[from] BarcodeError),
    #[error("{field} {text:?} does not fit on the label even at the smallest size on two lines")]
    TextDoesNotFit { field: &'static str, text: String },
    #[error("{what} barcode needs {needed} dots but only {available} are free on this stock")]
    BarcodeTooWide {
        what: &'static str,
        needed: u32,
        available: u32,
    },
    #[error("label stock too small for the {0} template")]
    StockTooSmall(&'static str),
}

/// Horizontal alignment of text inside its box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Center,
    Right,
}

/// One or two lines of text in a box `width` dots wide, top-left at (`x`, `y`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextRun {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    /// Character height in dots.
    pub size: u32,
    pub lines: Vec<String>,
    pub align: Align,
    /// White text (drawn over a filled [`Primitive::Rect`]).
    pub reverse: bool,
}

impl TextRun {
    /// Height of the run in dots.
    pub fn height(&self) -> u32 {
        line_height(self.size) * self.lines.len() as u32
    }

    /// Left edge of line `i` after alignment.
    pub fn line_x(&self, i: usize) -> u32 {
        let w = text_width(&self.lines[i], self.size).min(self.width);
        match self.align {
            Align::Left => self.x,
            Align::Center => self.x + (self.width - w) / 2,
            Align::Right => self.x + self.width - w,
        }
    }
}

/// A drawing primitive in dots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Primitive {
    Text(TextRun),
    /// A filled rectangle (bars, reverse boxes) when `filled`, else an outline `thickness` wide.
    Rect {
        x: u32,
        y: u32,
        w: u32,
        h: u32,
        filled: bool,
        thickness: u32,
    },
    /// Code 128 / GS1-128 bars, `module` dots per module, without the human-readable line
    /// (that is a separate [`TextRun`]).
    Code128 {
        x: u32,
        y: u32,
        module: u32,
        height: u32,
        code: Code128Data,
    },
    /// A square Data Matrix (ECC200) of `side` x `side` modules; GS1 DataMatrix when `gs1`.
    DataMatrix {
        x: u32,
        y: u32,
        module: u32,
        side: u32,
        data: String,
        gs1: bool,
    },
}

/// A laid-out label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub stock: LabelStock,
    pub width: u32,
    pub height: u32,
    pub primitives: Vec<Primitive>,
    /// EPC to write to the RFID inlay while printing, if any.
    pub epc_hex: Option<String>,
}

/// Advance of one character at `size` dots (0.6 x size, rounded up).
pub fn char_advance(size: u32) -> u32 {
    (size * 3).div_ceil(5)
}

/// Height taken by one line at `size` dots.
pub fn line_height(size: u32) -> u32 {
    size + size.div_ceil(5)
}

/// Width in dots of `text` at `size` in the layout metric.
pub fn text_width(text: &str, size: u32) -> u32 {
    text.chars().count() as u32 * char_advance(size)
}

/// Break `text` into at most `max_lines` lines of at most `max_chars` characters, at spaces.
fn wrap(text: &str, max_chars: usize, max_lines: usize) -> Option<Vec<String>> {
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut cur_len = 0;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let wl = word.chars().count();
        if wl > max_chars {
            return None;
        }
        if cur_len == 0 {
            cur.push_str(word);
            cur_len = wl;
        } else if cur_len + 1 + wl <= max_chars {
            cur.push(' ');
            cur.push_str(word);
            cur_len += 1 + wl;
        } else {
            lines.push(std::mem::take(&mut cur));
            if lines.len() == max_lines {
                return None;
            }
            cur.push_str(word);
            cur_len = wl;
        }
    }
    if cur_len > 0 {
        lines.push(cur);
    }
    (lines.len() <= max_lines).then_some(lines)
}

/// Where a text field may go and how large it may be.
#[derive(Debug, Clone, Copy)]
pub struct TextBox {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    pub max_size: u32,
    pub min_size: u32,
    pub align: Align,
}

/// Fit `text` into `b`: the largest size on one line, else shrunk to `min_size`, else the
/// largest size on two lines, else [`LayoutError::TextDoesNotFit`].
pub fn fit_text(field: &'static str, text: &str, b: TextBox) -> Result<TextRun, LayoutError> {
    let text = text.trim();
    let run = |size: u32, lines: Vec<String>| TextRun {
        x: b.x,
        y: b.y,
        width: b.width,
        size,
        lines,
        align: b.align,
        reverse: false,
    };
    let chars = text.chars().count() as u32;
    let min = b.min_size.max(1);
    let max = b.max_size.max(min);
    // One line: the largest size whose width and height fit.
    let mut size = max;
    while size >= min {
        if chars * char_advance(size) <= b.width && line_height(size) <= b.height {
            return Ok(run(size, vec![text.to_string()]));
        }
        size -= 1;
    }
    // Two lines, wrapped at spaces.
    let mut size = max;
    while size >= min {
        if 2 * line_height(size) <= b.height {
            let max_chars = (b.width / char_advance(size)) as usize;
            if let Some(lines) = wrap(text, max_chars, 2) {
                return Ok(run(size, lines));
            }
        }
        size -= 1;
    }
    Err(LayoutError::TextDoesNotFit {
        field,
        text: text.to_string(),
    })
}

/// Lay out any label.
pub fn layout(label: &Label, stock: &LabelStock) -> Result<Layout, LayoutError> {
    match label {
        Label::Folder(f) => layout_folder(f, stock),
        Label::Location(l) => layout_location(l, stock),
        Label::Badge(b) => layout_badge(b, stock),
        Label::Container(k) => layout_container(k, stock),
    }
}

/// Largest module width in [min, max] dots for which `code` plus 10-module quiet zones fits
/// `available` dots.
fn pick_module(
    what: &'static str,
    code: &Code128Data,
    available: u32,
    stock: &LabelStock,
) -> Result<u32, LayoutError> {
    let min = stock.dots(0.25).max(1);
    let max = stock.dots(0.375).max(min);
    let modules = code.module_count() + 20;
    (min..=max)
        .rev()
        .find(|m| modules * m <= available)
        .ok_or(LayoutError::BarcodeTooWide {
            what,
            needed: modules * min,
            available,
        })
}

/// Code 128 bars with the human-readable line under them, horizontally centred in
/// [x, x + width) or left-aligned after the quiet zone. Returns the primitives.
#[allow(clippy::too_many_arguments)]
fn barcode_block(
    out: &mut Vec<Primitive>,
    what: &'static str,
    code: Code128Data,
    stock: &LabelStock,
    x: u32,
    width: u32,
    y: u32,
    bar_height: u32,
    hri_size: u32,
    centre: bool,
) -> Result<(), LayoutError> {
    let module = pick_module(what, &code, width, stock)?;
    let bars_w = code.module_count() * module;
    let bx = if centre {
        x + (width - bars_w) / 2
    } else {
        x + 10 * module
    };
    let hri = fit_text(
        "barcode text",
        &code.hri,
        TextBox {
            x: bx,
            y: y + bar_height + stock.dots(0.5),
            width: bars_w.max(text_width(&code.hri, hri_size)).min(width),
            height: line_height(hri_size),
            max_size: hri_size,
            min_size: stock.dots(1.8),
            align: Align::Center,
        },
    )?;
    out.push(Primitive::Code128 {
        x: bx,
        y,
        module,
        height: bar_height,
        code,
    });
    let mut hri = hri;
    if hri.width > bars_w {
        // Centre a wider text line under the bars, kept inside the block.
        let extra = hri.width - bars_w;
        hri.x = bx.saturating_sub(extra / 2).max(x);
    }
    out.push(Primitive::Text(hri));
    Ok(())
}

/// Folder label: name, CHI and DOB, volume/type/reprint, Data Matrix top right, Code 128 with
/// its text bottom left, filing number bottom right with the primary block reversed.
pub fn layout_folder(f: &FolderLabel, stock: &LabelStock) -> Result<Layout, LayoutError> {
    f.validate()?;
    stock.validate()?;
    let (w, h) = (stock.width_dots(), stock.height_dots());
    let m = stock.dots(2.0);
    let gap = stock.dots(1.5);
    let inner_w = w - 2 * m;
    let inner_h = h - 2 * m;
    let mut p = Vec::with_capacity(12);

    // Data Matrix, top right: GS1 GIAI if given, else the folder id.
    let (dm_data, gs1) = match &f.gs1_giai {
        Some(g) => (g.clone(), true),
        None => (f.folder_id.clone(), false),
    };
    let side = datamatrix_side(&dm_data, gs1)? as u32;
    let mut dm_module = stock.dots(0.6).max(2);
    while dm_module > 2 && side * dm_module > inner_h / 2 {
        dm_module -= 1;
    }
    let dm_px = side * dm_module;
    if dm_px + gap >= inner_w / 2 || dm_px > inner_h / 2 {
        return Err(LayoutError::StockTooSmall("folder"));
    }
    p.push(Primitive::DataMatrix {
        x: w - m - dm_px,
        y: m,
        module: dm_module,
        side,
        data: dm_data,
        gs1,
    });

    // Bottom band: Code 128 + text on the left, filing number on the right.
    let hri_size = stock.dots(2.5);
    let bar_h = (inner_h * 22 / 100).max(stock.dots(6.0));
    let bottom_h = bar_h + stock.dots(0.5) + line_height(hri_size);
    if bottom_h + stock.dots(12.0) > inner_h {
        return Err(LayoutError::StockTooSmall("folder"));
    }
    let bar_y = h - m - bottom_h;

    let fs = (bottom_h * 45 / 100).min(stock.dots(6.0));
    let pad = (fs / 6).max(2);
    let lead = format!(
        "{:02}-{:02}-",
        f.filing_number.tertiary, f.filing_number.secondary
    );
    let primary = format!("{:02}", f.filing_number.primary);
    let lead_w = text_width(&lead, fs);
    let prim_w = text_width(&primary, fs) + 2 * pad;
    let filing_w = lead_w + prim_w;
    let fy = h - m - line_height(fs) - pad;
    let fx = w - m - filing_w;
    p.push(Primitive::Text(TextRun {
        x: fx,
        y: fy + pad,
        width: lead_w,
        size: fs,
        lines: vec![lead],
        align: Align::Left,
        reverse: false,
    }));
    p.push(Primitive::Rect {
        x: fx + lead_w,
        y: fy,
        w: prim_w,
        h: line_height(fs) + pad,
        filled: true,
        thickness: 0,
    });
    p.push(Primitive::Text(TextRun {
        x: fx + lead_w + pad,
        y: fy + pad,
        width: prim_w - 2 * pad,
        size: fs,
        lines: vec![primary],
        align: Align::Left,
        reverse: true,
    }));

    let code = Code128Data::new(&f.folder_id)?;
    let bc_w = fx.saturating_sub(gap);
    barcode_block(
        &mut p,
        "folder id",
        code,
        stock,
        0,
        bc_w,
        bar_y,
        bar_h,
        hri_size,
        false,
    )?;

    // Text rows, left of the Data Matrix.
    let tw = inner_w - dm_px - gap;
    let top_h = bar_y.saturating_sub(gap + m);
    let row_a = top_h * 46 / 100;
    let row_b = top_h * 27 / 100;
    let row_c = top_h - row_a - row_b;
    let min_size = stock.dots(2.2);
    let name = fit_text(
        "patient name",
        &f.patient_name,
        TextBox {
            x: m,
            y: m,
            width: tw,
            height: row_a,
            max_size: stock.dots(6.0),
            min_size: stock.dots(2.5),
            align: Align::Left,
        },
    )?;
    p.push(Primitive::Text(name));
    let number = match f.number_kind {
        crate::labels::PatientNumber::Chi => format!("CHI {}", f.chi.trim()),
        crate::labels::PatientNumber::NhsNumber => format!("NHS {}", nhs_spaced(f.chi.trim())),
    };
    let ids = format!("{number}   DOB {}", f.dob.trim());
    p.push(Primitive::Text(fit_text(
        "CHI/DOB",
        &ids,
        TextBox {
            x: m,
            y: m + row_a,
            width: tw,
            height: row_b,
            max_size: stock.dots(4.5),
            min_size,
            align: Align::Left,
        },
    )?));
    let mut vol = format!(
        "Vol {} of {}   {}",
        f.volume,
        f.volume_count,
        f.folder_type.trim()
    );
    if f.reprint > 0 {
        vol.push_str(&format!("   Reprint {}", f.reprint));
    }
    p.push(Primitive::Text(fit_text(
        "volume line",
        &vol,
        TextBox {
            x: m,
            y: m + row_a + row_b,
            width: tw,
            height: row_c,
            max_size: stock.dots(4.5),
            min_size,
            align: Align::Left,
        },
    )?));

    Ok(Layout {
        stock: *stock,
        width: w,
        height: h,
        primitives: p,
        epc_hex: f.epc_hex.clone(),
    })
}

/// Location card: name large across the top, Code 128 (or GS1-128 for a GLN) centred below.
pub fn layout_location(l: &LocationCard, stock: &LabelStock) -> Result<Layout, LayoutError> {
    l.validate()?;
    stock.validate()?;
    let code = if l.is_gln() {
        Code128Data::gs1_numeric(&format!("414{}", l.code), &format!("(414){}", l.code))?
    } else {
        // code, '/', check character: a scanner cannot take another label for this card
        Code128Data::new(&l.payload())?
    };
    two_part("location", &l.name, None, code, stock)
}

/// Staff badge: name and role, Code 128 of the badge number with its check character.
pub fn layout_badge(b: &StaffBadge, stock: &LabelStock) -> Result<Layout, LayoutError> {
    b.validate()?;
    stock.validate()?;
    let code = Code128Data::new(&b.payload())?;
    two_part("badge", &b.name, Some(&b.role), code, stock)
}

/// Container label: name large, GS1-128 of its GRAI `(8003)...` below; the RFID inlay gets
/// its GRAI-96 EPC.
pub fn layout_container(k: &ContainerLabel, stock: &LabelStock) -> Result<Layout, LayoutError> {
    k.validate()?;
    stock.validate()?;
    let code = Code128Data::gs1_element(&k.element_string(), &format!("(8003){}", k.grai))?;
    let mut l = two_part("container", &k.name, k.note.as_deref(), code, stock)?;
    l.epc_hex = k.epc_hex.clone();
    Ok(l)
}

fn two_part(
    what: &'static str,
    title: &str,
    subtitle: Option<&str>,
    code: Code128Data,
    stock: &LabelStock,
) -> Result<Layout, LayoutError> {
    let (w, h) = (stock.width_dots(), stock.height_dots());
    let m = stock.dots(2.0);
    let inner_w = w - 2 * m;
    let inner_h = h - 2 * m;
    let hri_size = stock.dots(2.8);
    let bar_h = (inner_h * 30 / 100).max(stock.dots(6.0));
    let bottom_h = bar_h + stock.dots(0.5) + line_height(hri_size);
    if bottom_h + stock.dots(8.0) > inner_h {
        return Err(LayoutError::StockTooSmall(what));
    }
    let bar_y = h - m - bottom_h;
    let top_h = bar_y - m - stock.dots(1.5);
    let mut p = Vec::with_capacity(4);
    let (title_h, sub_h) = match subtitle {
        Some(_) => (top_h * 62 / 100, top_h * 38 / 100),
        None => (top_h, 0),
    };
    p.push(Primitive::Text(fit_text(
        if what == "badge" {
            "staff name"
        } else {
            "location name"
        },
        title,
        TextBox {
            x: m,
            y: m,
            width: inner_w,
            height: title_h,
            max_size: stock.dots(10.0),
            min_size: stock.dots(3.0),
            align: Align::Center,
        },
    )?));
    if let Some(s) = subtitle {
        p.push(Primitive::Text(fit_text(
            "role",
            s,
            TextBox {
                x: m,
                y: m + title_h,
                width: inner_w,
                height: sub_h,
                max_size: stock.dots(5.0),
                min_size: stock.dots(2.2),
                align: Align::Center,
            },
        )?));
    }
    barcode_block(
        &mut p, what, code, stock, 0, w, bar_y, bar_h, hri_size, true,
    )?;
    Ok(Layout {
        stock: *stock,
        width: w,
        height: h,
        primitives: p,
        epc_hex: None,
    })
}

/// An NHS number as it is written for people: `943 476 5919`.
fn nhs_spaced(n: &str) -> String {
    if n.len() == 10 && n.bytes().all(|b| b.is_ascii_digit()) {
        format!("{} {} {}", &n[..3], &n[3..6], &n[6..])
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::sample_folder_label;

    fn bx(width: u32, height: u32) -> TextBox {
        TextBox {
            x: 0,
            y: 0,
            width,
            height,
            max_size: 40,
            min_size: 20,
            align: Align::Left,
        }
    }

    #[test]
    fn fits_at_max_size_when_short() {
        let r = fit_text("t", "SMITH", bx(400, 100)).unwrap();
        assert_eq!(r.size, 40);
        assert_eq!(r.lines, ["SMITH"]);
    }

    #[test]
    fn shrinks_before_wrapping() {
        // 20 chars: at 40 dots -> 480 wide; box 300 -> shrink to 25 (adv 15 -> 300).
        let r = fit_text("t", "ABCDEFGHIJ KLMNOPQRS", bx(300, 100)).unwrap();
        assert_eq!(r.lines.len(), 1);
        assert_eq!(r.size, 25);
        assert!(text_width(&r.lines[0], r.size) <= 300);
    }

    #[test]
    fn wraps_to_two_lines_below_minimum() {
        // 41 chars at min 20 (adv 12) = 492 > 300: must wrap.
        let t = "MACDONALD-FRASER, Morag Elizabeth Anne Jo";
        let r = fit_text("t", t, bx(300, 100)).unwrap();
        assert_eq!(r.lines.len(), 2);
        for l in &r.lines {
            assert!(text_width(l, r.size) <= 300, "{l}");
        }
        assert_eq!(r.lines.join(" "), t);
        assert!(r.height() <= 100);
    }

    #[test]
    fn refuses_instead_of_cutting() {
        let t = "A VERY LONG NAME THAT CANNOT POSSIBLY FIT ON TWO SHORT LINES AT ALL EVER";
        let e = fit_text("patient name", t, bx(300, 100)).unwrap_err();
        assert!(matches!(
            e,
            LayoutError::TextDoesNotFit {
                field: "patient name",
                ..
            }
        ));
        // A single unbreakable word longer than a line is refused too.
        assert!(fit_text("t", &"W".repeat(30), bx(300, 100)).is_err());
        // Box too low for two lines: no wrapping allowed.
        assert!(fit_text("t", "ABCDEFGHIJKL MNOPQRSTUVWXYZ", bx(300, 30)).is_err());
    }

    fn texts(l: &Layout) -> Vec<String> {
        l.primitives
            .iter()
            .filter_map(|p| match p {
                Primitive::Text(t) => Some(t.lines.join("/")),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn folder_layout_content_and_bounds() {
        for dpi in [203, 300] {
            let stock = LabelStock::parse("100x50", dpi).unwrap();
            let mut f = sample_folder_label();
            f.reprint = 2;
            let l = layout_folder(&f, &stock).unwrap();
            let t = texts(&l);
            assert!(
                t.contains(&"Vol 2 of 3   Main   Reprint 2".to_string()),
                "{t:?}"
            );
            assert!(t.contains(&"CHI 1904851231   DOB 19-Apr-1985".to_string()));
            assert!(t.contains(&"34-63-".to_string()) && t.contains(&"71".to_string()));
            assert!(t.contains(&"F000012345X".to_string()));
            // The primary block is reversed (white on a filled box).
            assert!(l
                .primitives
                .iter()
                .any(|p| matches!(p, Primitive::Text(r) if r.reverse && r.lines == ["71"])));
            // Everything inside the label.
            for p in &l.primitives {
                let (x, y, w, h) = match p {
                    Primitive::Text(r) => (r.x, r.y, r.width, r.height()),
                    Primitive::Rect { x, y, w, h, .. } => (*x, *y, *w, *h),
                    Primitive::Code128 {
                        x,
                        y,
                        module,
                        height,
                        code,
                    } => (*x, *y, code.module_count() * module, *height),
                    Primitive::DataMatrix {
                        x, y, module, side, ..
                    } => (*x, *y, side * module, side * module),
                };
                assert!(
                    x + w <= l.width && y + h <= l.height,
                    "{p:?} outside {}x{}",
                    l.width,
                    l.height
                );
            }
        }
    }

    #[test]
    fn nhs_number_only_patient_prints_the_nhs_number() {
        let mut f = sample_folder_label();
        f.number_kind = crate::labels::PatientNumber::NhsNumber;
        f.chi = "9434765919".into();
        let l = layout_folder(&f, &LabelStock::default()).unwrap();
        let t = texts(&l);
        assert!(
            t.contains(&"NHS 943 476 5919   DOB 19-Apr-1985".to_string()),
            "{t:?}"
        );
        assert!(!t.iter().any(|x| x.contains("CHI")), "{t:?}");
    }

    #[test]
    fn no_reprint_text_on_first_print() {
        let l = layout_folder(&sample_folder_label(), &LabelStock::default()).unwrap();
        assert!(!texts(&l).iter().any(|t| t.contains("Reprint")));
    }

    #[test]
    fn long_name_wraps_on_label_and_absurd_name_is_refused() {
        let mut f = sample_folder_label();
        f.patient_name = "MACDONALD-FRASER-WILLIAMSON, Morag Elizabeth Anne Catriona".into();
        let l = layout_folder(&f, &LabelStock::default()).unwrap();
        let name = l.primitives.iter().find_map(|p| match p {
            Primitive::Text(t) if t.lines.join(" ") == f.patient_name => Some(t.clone()),
            _ => None,
        });
        assert_eq!(name.expect("name present").lines.len(), 2);
        f.patient_name = "X ".repeat(120);
        let e = layout_folder(&f, &LabelStock::default()).unwrap_err();
        assert!(
            matches!(
                e,
                LayoutError::TextDoesNotFit {
                    field: "patient name",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn location_uses_gs1_128_for_gln() {
        let l = layout_location(
            &LocationCard {
                name: "Ward 5 (Surgical)".into(),
                code: "0614141000005".into(),
            },
            &LabelStock::default(),
        )
        .unwrap();
        let code = l.primitives.iter().find_map(|p| match p {
            Primitive::Code128 { code, .. } => Some(code.clone()),
            _ => None,
        });
        assert_eq!(code.unwrap().barcoders_input(), "ĆŹ4140614141000005");
        assert!(texts(&l).contains(&"(414)0614141000005".to_string()));
    }

    #[test]
    fn badge_layout() {
        let l = layout_badge(
            &StaffBadge {
                name: "Jean Brown".into(),
                role: "Medical Records Officer".into(),
                badge: "S004512".into(),
            },
            &LabelStock::parse("86x54", 300).unwrap(),
        )
        .unwrap();
        assert_eq!(
            texts(&l),
            // the human-readable line under the bars shows the whole payload
            ["Jean Brown", "Medical Records Officer", "S004512/4"]
        );
    }
}
