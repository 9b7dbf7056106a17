//! SVG output for previews: one `<svg>` per label, sized in millimetres with a viewBox in dots.
//! Text uses a monospace font stretched with `textLength` to the width layout measured.

use super::RenderError;
use crate::barcode::datamatrix;
use crate::layout::{line_height, text_width, Layout, Primitive};
use std::fmt::Write;

/// Escape text for XML content and attribute values.
pub fn xml_escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
}

/// Render a layout as a standalone SVG document.
pub fn to_svg(layout: &Layout) -> Result<String, RenderError> {
    let mut s = String::with_capacity(8192);
    let _ = write!(
        s,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" \
         width=\"{}mm\" height=\"{}mm\" viewBox=\"0 0 {} {}\" shape-rendering=\"crispEdges\">\n\
         <rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#fff\"/>\n",
        layout.stock.width_mm,
        layout.stock.height_mm,
        layout.width,
        layout.height,
        layout.width,
        layout.height
    );
    for p in &layout.primitives {
        match p {
            Primitive::Text(t) => {
                let fill = if t.reverse { "#fff" } else { "#000" };
                for (i, line) in t.lines.iter().enumerate() {
                    let top = t.y + i as u32 * line_height(t.size);
                    let baseline = top + t.size * 7 / 8;
                    let _ = write!(
                        s,
                        "<text x=\"{}\" y=\"{}\" font-family=\"DejaVu Sans Mono, Liberation Mono, Courier New, monospace\" \
                         font-size=\"{}\" textLength=\"{}\" lengthAdjust=\"spacingAndGlyphs\" fill=\"{}\">",
                        t.line_x(i),
                        baseline,
                        t.size,
                        text_width(line, t.size),
                        fill
                    );
                    xml_escape(line, &mut s);
                    s.push_str("</text>\n");
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
                    let _ = writeln!(
                        s,
                        "<rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" fill=\"#000\"/>"
                    );
                } else {
                    let t = (*thickness).max(1);
                    let _ = writeln!(
                        s,
                        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#000\" stroke-width=\"{t}\"/>",
                        *x as f32 + t as f32 / 2.0,
                        *y as f32 + t as f32 / 2.0,
                        w.saturating_sub(t),
                        h.saturating_sub(t)
                    );
                }
            }
            Primitive::Code128 {
                x,
                y,
                module,
                height,
                code,
            } => {
                s.push_str("<path fill=\"#000\" d=\"");
                for (start, len) in super::bar_runs(&code.modules()?) {
                    let _ = write!(
                        s,
                        "M{} {}h{}v{}h-{}z",
                        x + start * module,
                        y,
                        len * module,
                        height,
                        len * module
                    );
                }
                s.push_str("\"/>\n");
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
                s.push_str("<path fill=\"#000\" d=\"");
                for my in 0..m.height {
                    for mx in 0..m.width {
                        if m.get(mx, my) {
                            let _ = write!(
                                s,
                                "M{} {}h{}v{}h-{}z",
                                x + mx as u32 * module,
                                y + my as u32 * module,
                                module,
                                module,
                                module
                            );
                        }
                    }
                }
                s.push_str("\"/>\n");
            }
        }
    }
    s.push_str("</svg>\n");
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::{sample_folder_label, LabelStock};
    use crate::layout::layout_folder;

    /// A minimal XML well-formedness check: tags balance, attributes quoted, no raw `&`/`<`.
    pub(crate) fn check_xml(doc: &str) -> Result<usize, String> {
        let body = doc
            .strip_prefix("<?xml")
            .and_then(|r| r.split_once("?>"))
            .map(|(_, b)| b)
            .ok_or("no XML declaration")?;
        let mut stack: Vec<String> = Vec::new();
        let mut elements = 0;
        let mut rest = body;
        while let Some(lt) = rest.find('<') {
            let text = &rest[..lt];
            check_text(text)?;
            let gt = rest[lt..].find('>').ok_or("unclosed tag")? + lt;
            let tag = &rest[lt + 1..gt];
            if let Some(name) = tag.strip_prefix('/') {
                let open = stack.pop().ok_or("close without open")?;
                if open != name.trim() {
                    return Err(format!("</{name}> closes <{open}>"));
                }
            } else {
                let self_closing = tag.ends_with('/');
                let tag = tag.trim_end_matches('/');
                let name = tag
                    .split_whitespace()
                    .next()
                    .ok_or("empty tag")?
                    .to_string();
                // attributes: name="value" pairs
                let attrs = tag[name.len()..].trim();
                if attrs.matches('"').count() % 2 != 0 {
                    return Err(format!("unbalanced quotes in <{name}>"));
                }
                for part in attrs.split('"').step_by(2) {
                    let p = part.trim();
                    if !p.is_empty() && !p.ends_with('=') {
                        return Err(format!("bad attribute syntax {p:?} in <{name}>"));
                    }
                }
                elements += 1;
                if !self_closing {
                    stack.push(name);
                }
            }
            rest = &rest[gt + 1..];
        }
        check_text(rest)?;
        if !stack.is_empty() {
            return Err(format!("unclosed elements {stack:?}"));
        }
        Ok(elements)
    }

    fn check_text(t: &str) -> Result<(), String> {
        for (i, _) in t.match_indices('&') {
            let ent = &t[i..];
            if !["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                .iter()
                .any(|e| ent.starts_with(e))
            {
                return Err(format!("raw & in {t:?}"));
            }
        }
        if t.contains('>') {
            return Err(format!("raw > in {t:?}"));
        }
        Ok(())
    }

    #[test]
    fn svg_is_well_formed_and_escaped() {
        let mut f = sample_folder_label();
        f.patient_name = "O'Neill & <Smith>".into();
        let l = layout_folder(&f, &LabelStock::default()).unwrap();
        let svg = to_svg(&l).unwrap();
        let n = check_xml(&svg).unwrap();
        assert!(n > 8, "{n}");
        assert!(svg.contains("O&apos;Neill &amp; &lt;Smith&gt;"));
        assert!(svg.contains("viewBox=\"0 0 799 400\""));
        assert!(svg.contains("width=\"100mm\""));
        assert!(check_xml("<?xml?><svg><text>a & b</text></svg>").is_err());
        assert!(check_xml("<?xml?><svg><g></svg>").is_err());
    }
}
