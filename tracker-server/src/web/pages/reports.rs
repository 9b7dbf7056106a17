//! Reports.

use super::*;

/// A bar chart as SVG: one bar per (label, value).
pub fn bar_chart(title: &str, bars: &[(String, i64)]) -> String {
    let max = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let (w, bh, gap, left) = (640, 28, 10, 140);
    let h = bars.len() as i64 * (bh + gap) + 40;
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" aria-label="{}"><title>{}</title>"#,
        esc(title),
        esc(title)
    );
    for (i, (label, v)) in bars.iter().enumerate() {
        let y = 20 + i as i64 * (bh + gap);
        let bw = (w - left - 60) * v / max;
        out += &format!(
            r##"<text x="{}" y="{}" text-anchor="end" font-size="14" fill="#212b32">{}</text><rect x="{left}" y="{y}" width="{bw}" height="{bh}" fill="#005eb8"/><text x="{}" y="{}" font-size="14" fill="#212b32">{v}</text>"##,
            left - 8,
            y + 19,
            esc(label),
            left + bw + 6,
            y + 19
        );
    }
    out + "</svg>"
}

pub async fn out_of_library(
    State(s): State<AppState>,
    user: WebUser,
    Query(q): Query<Params>,
) -> Result<Response, WebError> {
    user.who.require(Permission::ReadReports)?;
    let days: i64 = match param(&q, "days") {
        Some(d) => d
            .parse()
            .ok()
            .filter(|d| (0..=3650).contains(d))
            .ok_or_else(|| Error::invalid("days", "must be a whole number from 0 to 3650"))?,
        None => s.cfg.reports.out_of_library_days,
    };
    let list =
        s.db.read(move |c| folders::out_of_library(c, days, now_ms(), 100_000))
            .await?;
    if param(&q, "format") == Some("csv") {
        let mut w = crate::csv_export::Writer::new();
        let _ = w.write_record([
            "barcode",
            "folder_type",
            "volume",
            "volume_count",
            "location",
            "since",
            "days_out",
        ]);
        for f in &list {
            let _ = w.write_record([
                f.barcode.clone(),
                f.folder_type.clone(),
                f.volume.to_string(),
                f.volume_count.to_string(),
                f.location.clone(),
                crate::util::local_rfc3339(&f.since),
                f.days_out.unwrap_or(0).to_string(),
            ]);
        }
        let body = w.into_inner().unwrap_or_default();
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"out-of-library.csv\"",
                ),
            ],
            body,
        )
            .into_response());
    }
    let bars = crate::ledger::folders::by_days_out(&list);
    let mut by_loc: std::collections::BTreeMap<&str, i64> = Default::default();
    for f in &list {
        *by_loc.entry(f.location.as_str()).or_default() += 1;
    }
    let loc_bars: Vec<(String, i64)> = by_loc
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    Ok(layout(&user, "/reports/out-of-library", "Folders out of the library", html! {
        form.card method="get" {
            label for="days" { "Out for more than (days)" }
            input type="number" id="days" name="days" min="0" max="3650" value=(days);
            div { button type="submit" { "Show" } a.button.secondary href={"/reports/out-of-library?format=csv&days=" (days)} { "Download CSV" } }
        }
        p { strong { (list.len()) } " folder(s) out for more than " (days) " day(s)." }
        div.row {
            div.card.chart { h2 { "How long" } (svg(bar_chart("Folders by days out", &bars))) }
            div.card.chart { h2 { "Where" } (svg(bar_chart("Folders by location", &loc_bars))) }
        }
        table {
            thead { tr { th { "Folder" } th { "Type" } th { "Volume" } th { "Where" } th { "Since" } th { "Days out" } } }
            tbody { @for f in list.iter().take(500) {
                tr { td { a href={"/whereis?q=" (f.barcode)} { (f.barcode) } } td { (f.folder_type) } td { (f.volume) " of " (f.volume_count) } td { (f.location) } td { (time_text(&f.since)) } td { (f.days_out.unwrap_or(0)) } }
            } }
        }
    }).into_response())
}
