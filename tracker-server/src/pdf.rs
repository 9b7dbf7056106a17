//! A minimal PDF 1.4 writer for plain-text documents (pull lists, reports, certificates):
//! pages of `BT ... Tj ET` text in the standard Courier font, no external dependencies.

/// Text for a PDF string literal: non-ASCII and control characters become `?`, and the
/// delimiters `(`, `)` and `\` are escaped.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        let ch = if ch.is_ascii() && !ch.is_control() {
            ch
        } else {
            '?'
        };
        if matches!(ch, '(' | ')' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// Assemble a document from page content streams; `media_box` is (width, height) in points
/// (A4 portrait is 595 x 842, landscape 842 x 595).
pub fn assemble(pages: &[String], media_box: (u32, u32)) -> Vec<u8> {
    // Objects: 1 catalog, 2 pages, 3 font, then (page, contents) pairs.
    let mut objs: Vec<String> = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".into(),
        String::new(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Courier /Encoding /WinAnsiEncoding >>".into(),
    ];
    let mut kids = Vec::new();
    let (w, h) = media_box;
    for content in pages {
        let page_no = objs.len() + 1;
        kids.push(format!("{page_no} 0 R"));
        objs.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {w} {h}] /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
            page_no + 1
        ));
        objs.push(format!(
            "<< /Length {} >>\nstream\n{content}endstream",
            content.len()
        ));
    }
    objs[1] = format!(
        "<< /Type /Pages /Kids [{}] /Count {} >>",
        kids.join(" "),
        kids.len()
    );
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::with_capacity(objs.len());
    for (i, o) in objs.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objs.len() + 1).as_bytes());
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objs.len() + 1
        )
        .as_bytes(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_offsets() {
        assert_eq!(text("a(b)c\\d é"), "a\\(b\\)c\\\\d ?");
        let pdf = assemble(&["BT /F1 9 Tf 40 800 Td (x) Tj ET\n".into()], (595, 842));
        let s = String::from_utf8(pdf).unwrap();
        assert!(s.starts_with("%PDF-1.4") && s.ends_with("%%EOF\n"));
        // every xref offset points at its "N 0 obj"
        let xref_at: usize = s
            .rsplit("startxref\n")
            .next()
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let table = &s[xref_at..];
        for (i, line) in table.lines().skip(3).take(5).enumerate() {
            let off: usize = line[..10].parse().unwrap();
            assert!(
                s[off..].starts_with(&format!("{} 0 obj", i + 1)),
                "object {}",
                i + 1
            );
        }
    }
}
