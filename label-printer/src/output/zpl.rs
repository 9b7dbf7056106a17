//! ZPL II output for Zebra (and ZPL-compatible) printers.
//!
//! One label is one format `^XA ... ^XZ`: `^CI28` (UTF-8), `^PW`/`^LL` (size in dots), then for
//! each primitive a field: text as `^A0N` scalable font in a `^FB` field block (alignment and the
//! two-line wrap decided by layout, lines joined by `\&`), reversed text with `^FR`, boxes with
//! `^GB`, Code 128 with `^BY`/`^BCN` using explicit subset invocation codes so the printer encodes
//! the same symbol characters as the raster outputs, Data Matrix with `^BXN,<module>,200` and a
//! fixed symbol size (GS1 DataMatrix via the `_1` FNC1 escape), and `^PQ` copies.
//! RFID printers also get `^RS8` and `^RFW,H^FD<EPC hex>^FS` to write the EPC while printing.
//!
//! Field data is escaped with `^FH_` when it contains `^`, `~` or `_`, so a name can never inject
//! ZPL commands.

use crate::layout::{Align, Layout, Primitive};
use std::fmt::Write;

fn push_u32(out: &mut String, v: u32) {
    // Hand-rolled integer formatting: noticeably faster than `write!` in the hot path.
    let mut buf = [0u8; 10];
    let mut i = buf.len();
    let mut v = v;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(b as char);
    }
}

fn fo(out: &mut String, x: u32, y: u32) {
    out.push_str("^FO");
    push_u32(out, x);
    out.push(',');
    push_u32(out, y);
}

fn needs_hex(s: &str) -> bool {
    s.bytes().any(|b| matches!(b, b'^' | b'~' | b'_'))
}

/// Append text as field data inside a `^FB` block (`\` doubled for the field block).
fn push_text(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '^' => out.push_str("_5E"),
            '~' => out.push_str("_7E"),
            '_' => out.push_str("_5F"),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
}

/// Append the ZPL for one label to `out`.
pub fn write_zpl(layout: &Layout, copies: u32, out: &mut String) {
    out.push_str("^XA\n^CI28\n^PW");
    push_u32(out, layout.width);
    out.push_str("\n^LL");
    push_u32(out, layout.height);
    out.push_str("\n^LH0,0\n");
    if let Some(epc) = &layout.epc_hex {
        out.push_str("^RS8\n^RFW,H^FD");
        out.push_str(epc);
        out.push_str("^FS\n");
    }
    for p in &layout.primitives {
        match p {
            Primitive::Text(t) => {
                fo(out, t.x, t.y);
                out.push_str("^A0N,");
                push_u32(out, t.size);
                out.push(',');
                push_u32(out, t.size);
                out.push_str("^FB");
                push_u32(out, t.width);
                out.push(',');
                push_u32(out, t.lines.len() as u32);
                out.push(',');
                push_u32(out, crate::layout::line_height(t.size) - t.size);
                out.push_str(match t.align {
                    Align::Left => ",L,0",
                    Align::Center => ",C,0",
                    Align::Right => ",R,0",
                });
                if t.reverse {
                    out.push_str("^FR");
                }
                if t.lines.iter().any(|l| needs_hex(l)) {
                    out.push_str("^FH_");
                }
                out.push_str("^FD");
                for (i, l) in t.lines.iter().enumerate() {
                    if i > 0 {
                        out.push_str("\\&");
                    }
                    push_text(out, l);
                }
                out.push_str("^FS\n");
            }
            Primitive::Rect {
                x,
                y,
                w,
                h,
                filled,
                thickness,
            } => {
                fo(out, *x, *y);
                out.push_str("^GB");
                push_u32(out, *w);
                out.push(',');
                push_u32(out, *h);
                out.push(',');
                push_u32(
                    out,
                    if *filled {
                        (*w).min(*h)
                    } else {
                        (*thickness).max(1)
                    },
                );
                out.push_str(",B,0^FS\n");
            }
            Primitive::Code128 {
                x,
                y,
                module,
                height,
                code,
            } => {
                fo(out, *x, *y);
                out.push_str("^BY");
                push_u32(out, *module);
                out.push_str("^BCN,");
                push_u32(out, *height);
                out.push_str(",N,N,N^FD");
                code.zpl_data(out);
                out.push_str("^FS\n");
            }
            Primitive::DataMatrix {
                x,
                y,
                module,
                side,
                data,
                gs1,
            } => {
                fo(out, *x, *y);
                out.push_str("^BXN,");
                push_u32(out, *module);
                out.push_str(",200,");
                push_u32(out, *side);
                out.push(',');
                push_u32(out, *side);
                if *gs1 {
                    out.push_str(",6,_^FD_1");
                    for c in data.chars() {
                        match c {
                            casenote_core::identifiers::gs1::GS => out.push_str("_1"),
                            '_' => out.push_str("__"),
                            c => out.push(c),
                        }
                    }
                } else {
                    out.push_str("^FD");
                    out.push_str(data);
                }
                out.push_str("^FS\n");
            }
        }
    }
    out.push_str("^PQ");
    push_u32(out, copies.max(1));
    out.push_str("\n^XZ\n");
}

/// The ZPL for one label, `copies` times (`^PQ`).
pub fn to_zpl(layout: &Layout, copies: u32) -> String {
    let mut s = String::with_capacity(1024);
    write_zpl(layout, copies, &mut s);
    s
}

/// Set the quantity of every format in `zpl` to `copies`: existing `^PQ<n>` are replaced and
/// formats without `^PQ` get one before their `^XZ`.
pub fn set_copies(zpl: &str, copies: u32) -> String {
    let copies = copies.max(1);
    let mut out = String::with_capacity(zpl.len() + 16);
    for (i, format) in zpl.split_inclusive("^XZ").enumerate() {
        let _ = i;
        let mut f = String::with_capacity(format.len() + 8);
        let mut rest = format;
        let mut had_pq = false;
        while let Some(pos) = rest.find("^PQ") {
            f.push_str(&rest[..pos]);
            let after = &rest[pos + 3..];
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            let _ = write!(f, "^PQ{copies}");
            rest = &after[digits..];
            had_pq = true;
        }
        f.push_str(rest);
        if !had_pq {
            if let Some(pos) = f.rfind("^XZ") {
                f.insert_str(pos, &format!("^PQ{copies}\n"));
            }
        }
        out.push_str(&f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::{sample_folder_label, LabelStock};
    use crate::layout::layout_folder;

    #[test]
    fn folder_zpl_has_the_commands() {
        let mut f = sample_folder_label();
        f.reprint = 2;
        let z = to_zpl(&layout_folder(&f, &LabelStock::default()).unwrap(), 3);
        assert!(z.starts_with("^XA\n^CI28\n^PW799\n^LL400\n"), "{z}");
        assert!(z.trim_end().ends_with("^PQ3\n^XZ"), "{z}");
        assert!(
            z.contains("^RS8\n^RFW,H^FD3434257BF400000000003039^FS"),
            "{z}"
        );
        assert!(
            z.contains("^BCN,") && z.contains("^FD>:F0>500012345>6X^FS"),
            "{z}"
        );
        assert!(z.contains("^BY"), "{z}");
        assert!(
            z.contains("^BXN,5,200,16,16,6,_^FD_180040614141000123^FS"),
            "{z}"
        );
        assert!(z.contains("^A0N,") && z.contains("^FB"), "{z}");
        assert!(z.contains("^FDMACDONALD, Morag Elizabeth^FS"), "{z}");
        assert!(z.contains("^FDCHI 1904851231   DOB 19-Apr-1985^FS"), "{z}");
        assert!(z.contains("^FDVol 2 of 3   Main   Reprint 2^FS"), "{z}");
        assert!(z.contains("^FR^FD71^FS"), "{z}");
        assert!(z.contains("^FD34-63-^FS"), "{z}");
        assert!(z.contains("^GB"), "{z}");
        // Every field closed, one format.
        assert_eq!(
            z.matches("^FO").count(),
            z.matches("^FS").count() - 1,
            "{z}"
        );
        assert_eq!(z.matches("^XA").count(), 1);
    }

    #[test]
    fn no_rfid_without_epc() {
        let mut f = sample_folder_label();
        f.epc_hex = None;
        let z = to_zpl(&layout_folder(&f, &LabelStock::default()).unwrap(), 1);
        assert!(!z.contains("^RS") && !z.contains("^RF"));
        assert!(z.contains("^PQ1\n"));
    }

    #[test]
    fn wrapped_name_uses_field_block_line_break_and_escapes() {
        let mut f = sample_folder_label();
        f.patient_name = "O'NEILL^XZ~JR_ MACDONALD-FRASER Morag Elizabeth Anne Catriona".into();
        let z = to_zpl(&layout_folder(&f, &LabelStock::default()).unwrap(), 1);
        assert!(z.contains(",2,"), "{z}");
        assert!(z.contains("\\&"), "{z}");
        assert!(z.contains("^FH_^FDO'NEILL_5EXZ_7EJR_5F"), "{z}");
        assert_eq!(z.matches("^XZ").count(), 1, "{z}");
    }

    #[test]
    fn copies_are_set_per_format() {
        let z = "^XA^FDa^FS^XZ^XA^FDb^FS^PQ4^XZ";
        assert_eq!(set_copies(z, 2), "^XA^FDa^FS^PQ2\n^XZ^XA^FDb^FS^PQ2^XZ");
    }
}
