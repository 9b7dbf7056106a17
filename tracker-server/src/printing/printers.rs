//! The printer registry: adding, changing and finding label printers.

use super::*;

/// A registered label printer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Printer {
    pub id: i64,
    pub name: String,
    pub url: String,
    /// Label size in mm, e.g. `100x50`.
    pub stock: String,
    pub dpi: u32,
    /// Writes the EPC to the label's RFID inlay while printing.
    pub rfid: bool,
    pub active: bool,
    pub created_at: String,
}

impl Printer {
    pub fn label_stock(&self) -> Result<LabelStock> {
        LabelStock::parse(&self.stock, self.dpi).map_err(|e| Error::invalid("stock", e.to_string()))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPrinter {
    /// Short unique name people choose from, e.g. `library-zebra-1`.
    pub name: String,
    /// `tcp://host[:9100]`, `lp://queue`, `usb://[vid[:pid]]` (or `file://` when allowed).
    pub url: String,
    #[serde(default)]
    pub stock: Option<String>,
    #[serde(default)]
    pub dpi: Option<u32>,
    #[serde(default)]
    pub rfid: bool,
}

pub(crate) const PRINTER_COLS: &str = "id, name, url, stock, dpi, rfid, active, created_at";

pub(crate) fn printer_row(r: &rusqlite::Row) -> rusqlite::Result<Printer> {
    Ok(Printer {
        id: r.get(0)?,
        name: r.get(1)?,
        url: r.get(2)?,
        stock: r.get(3)?,
        dpi: r.get(4)?,
        rfid: r.get(5)?,
        active: r.get(6)?,
        created_at: r.get(7)?,
    })
}

/// Register a printer (audited as `printer.create`); every refusal names the field.
pub fn create_printer(
    c: &Connection,
    cfg: &PrintingConfig,
    who: &Principal,
    n: &NewPrinter,
) -> Result<Printer> {
    let name = n.name.trim();
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_. ".contains(ch))
    {
        return Err(Error::invalid(
            "name",
            "must be 1-64 letters, digits, spaces, - _ or .",
        ));
    }
    let url = check_url(cfg, &n.url)?;
    let stock = n
        .stock
        .as_deref()
        .map(str::trim)
        .unwrap_or(&cfg.default_stock)
        .to_string();
    let dpi = n.dpi.unwrap_or(cfg.default_dpi);
    check_stock(&stock, dpi)?;
    let exists: bool = c.query_row(
        "SELECT EXISTS(SELECT 1 FROM printers WHERE name=?1)",
        [name],
        |r| r.get(0),
    )?;
    if exists {
        return Err(Error::conflict(
            "name",
            format!("a printer named {name:?} is already registered"),
        ));
    }
    c.execute(
        "INSERT INTO printers(name, url, stock, dpi, rfid, active, created_at) VALUES (?1,?2,?3,?4,?5,1,?6)",
        params![name, url.to_string(), stock, dpi, n.rfid, now_rfc3339()],
    )?;
    let p = printer_by_id(c, c.last_insert_rowid())?;
    audit::record(
        c,
        who,
        "printer.create",
        None,
        None,
        &format!(
            "printer {} at {} ({} @ {} dpi)",
            p.name, p.url, p.stock, p.dpi
        ),
    )?;
    Ok(p)
}

pub(crate) fn check_url(cfg: &PrintingConfig, url: &str) -> Result<PrinterUrl> {
    let url = PrinterUrl::parse(url.trim()).map_err(|e| Error::invalid("url", e.to_string()))?;
    if matches!(url, PrinterUrl::File(_)) && !cfg.allow_file_printers {
        return Err(Error::invalid(
            "url",
            "file:// printers are switched off (printing.allow_file_printers); use tcp://, lp:// or usb://",
        ));
    }
    Ok(url)
}

pub(crate) fn check_stock(stock: &str, dpi: u32) -> Result<()> {
    if dpi != 203 && dpi != 300 {
        return Err(Error::invalid("dpi", "must be 203 or 300"));
    }
    LabelStock::parse(stock, dpi).map_err(|e| Error::invalid("stock", e.to_string()))?;
    Ok(())
}

/// Changes to a registered printer: only the fields given change. The name stays, so print
/// jobs and people's habits keep pointing at the same printer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrinterChange {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub stock: Option<String>,
    #[serde(default)]
    pub dpi: Option<u32>,
    #[serde(default)]
    pub rfid: Option<bool>,
    /// false takes the printer out of use (it is kept, with its jobs); true brings it back.
    #[serde(default)]
    pub active: Option<bool>,
}

/// Change a printer (moved to a new address, new label stock, switched off or on). Every
/// refusal names the field; nothing changes unless all of it is valid. Audited as
/// `printer.update`.
pub fn update_printer(
    c: &Connection,
    cfg: &PrintingConfig,
    who: &Principal,
    id: i64,
    ch: &PrinterChange,
) -> Result<Printer> {
    let old = printer_by_id(c, id)?;
    let url = match &ch.url {
        Some(u) => check_url(cfg, u)?.to_string(),
        None => old.url.clone(),
    };
    let stock = ch
        .stock
        .as_deref()
        .map(str::trim)
        .map(String::from)
        .unwrap_or(old.stock.clone());
    let dpi = ch.dpi.unwrap_or(old.dpi);
    check_stock(&stock, dpi)?;
    c.execute(
        "UPDATE printers SET url=?1, stock=?2, dpi=?3, rfid=?4, active=?5 WHERE id=?6",
        params![
            url,
            stock,
            dpi,
            ch.rfid.unwrap_or(old.rfid),
            ch.active.unwrap_or(old.active),
            id
        ],
    )?;
    let p = printer_by_id(c, id)?;
    audit::record(
        c,
        who,
        "printer.update",
        None,
        None,
        &format!(
            "printer {} at {} ({} @ {} dpi, rfid {}, {})",
            p.name,
            p.url,
            p.stock,
            p.dpi,
            p.rfid,
            if p.active { "in use" } else { "switched off" }
        ),
    )?;
    Ok(p)
}

pub fn list_printers(c: &Connection) -> Result<Vec<Printer>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {PRINTER_COLS} FROM printers ORDER BY name"
    ))?;
    let v = st
        .query_map([], printer_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(v)
}

pub fn printer_by_id(c: &Connection, id: i64) -> Result<Printer> {
    c.prepare_cached(&format!("SELECT {PRINTER_COLS} FROM printers WHERE id=?1"))?
        .query_row([id], printer_row)
        .optional()?
        .ok_or_else(|| Error::not_found(format!("printer {id}")))
}

/// An active printer by name (the `printer` field of print requests).
pub fn printer_by_name(c: &Connection, name: &str) -> Result<Printer> {
    let p = c
        .prepare_cached(&format!(
            "SELECT {PRINTER_COLS} FROM printers WHERE name=?1"
        ))?
        .query_row([name.trim()], printer_row)
        .optional()?
        .ok_or_else(|| {
            Error::invalid(
                "printer",
                format!("no printer named {name:?}; see GET /api/v1/printers"),
            )
        })?;
    if !p.active {
        return Err(Error::invalid(
            "printer",
            format!("printer {:?} is switched off in the registry", p.name),
        ));
    }
    Ok(p)
}
