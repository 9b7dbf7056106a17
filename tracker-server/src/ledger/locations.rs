//! Places: site > building > department (library, ward, clinic...) > optional shelf or bay.
//! Each has a scannable code: a local code (`LWARD5`) and, where configured, a GS1 GLN.

use crate::{util::now_rfc3339, Error, Result};
use casenote_core::identifiers::{validate_gln, ShelfRange};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

crate::vocabulary! {
    /// What a place is.
    pub enum LocationKind {
        Site = "site",
        Building = "building",
        Library = "library",
        Store = "store",
        Ward = "ward",
        Clinic = "clinic",
        Coding = "coding",
        ScanningBureau = "scanning_bureau",
        SecretaryOffice = "secretary_office",
        RecordsOffice = "records_office",
        Department = "department",
        Shelf = "shelf",
        Trolley = "trolley",
        External = "external",
    }
}

impl LocationKind {
    /// A folder here is "in the library" (filed, not out with anyone).
    pub fn is_library(self) -> bool {
        match self {
            Self::Library | Self::Store | Self::Shelf => true,
            Self::Site
            | Self::Building
            | Self::Ward
            | Self::Clinic
            | Self::Coding
            | Self::ScanningBureau
            | Self::SecretaryOffice
            | Self::RecordsOffice
            | Self::Department
            | Self::Trolley
            | Self::External => false,
        }
    }

    /// A site or a building: a container of places, not somewhere notes are sent.
    pub fn is_container(self) -> bool {
        matches!(self, Self::Site | Self::Building)
    }
}

pub const KINDS: &[&str] = LocationKind::WORDS;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewLocation {
    pub code: String,
    pub name: String,
    pub kind: String,
    #[serde(default)]
    pub gln: Option<String>,
    /// Code of the parent location.
    #[serde(default)]
    pub parent: Option<String>,
    /// For a clinic: the code of its preparation area (where notes are made ready before the
    /// clinic; notes scanned there before the start count as available).
    #[serde(default)]
    pub preparation_area: Option<String>,
    /// For a library shelf or bay filed by terminal digit: the range it holds (`00-09`, `71`,
    /// `71/00-71/49`), so a shelf audit knows which folders belong on it.
    #[serde(default)]
    pub filing_range: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Location {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub kind: LocationKind,
    pub gln: Option<String>,
    pub parent: Option<String>,
    /// For a clinic: the code of its preparation area, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preparation_area: Option<String>,
    /// The terminal-digit range a library shelf or bay holds, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filing_range: Option<String>,
}

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<Location> {
    Ok(Location {
        id: r.get(0)?,
        code: r.get(1)?,
        name: r.get(2)?,
        kind: r.get(3)?,
        gln: r.get(4)?,
        parent: r.get(5)?,
        preparation_area: r.get(6)?,
        filing_range: r.get(7)?,
    })
}

const SELECT: &str = "SELECT l.id, l.code, l.name, l.kind, l.gln, p.code, pa.code, l.filing_range FROM locations l LEFT JOIN locations p ON p.id = l.parent_id LEFT JOIN locations pa ON pa.id = l.preparation_area_id";

pub fn create(c: &Connection, n: &NewLocation, prefix: &str) -> Result<Location> {
    let code = n.code.trim().to_ascii_uppercase();
    if !code.starts_with(prefix)
        || code.len() <= prefix.len()
        || code.len() > 32
        || !code.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(Error::invalid(
            "code",
            format!("must be {prefix} followed by up to 31 letters or digits, e.g. {prefix}WARD5"),
        ));
    }
    if n.name.trim().is_empty() || n.name.len() > 200 {
        return Err(Error::invalid("name", "must be 1-200 characters"));
    }
    let kind = LocationKind::parse_field("kind", &n.kind)?;
    if let Some(g) = &n.gln {
        validate_gln(g).map_err(|e| Error::invalid("gln", e.to_string()))?;
    }
    let filing_range = n
        .filing_range
        .as_deref()
        .filter(|r| !r.trim().is_empty())
        .map(|r| filing_range_for(kind, r))
        .transpose()?;
    let parent_id = match &n.parent {
        Some(p) => Some(
            resolve(c, p)?
                .ok_or_else(|| Error::invalid("parent", format!("no location with code {p:?}")))?
                .id,
        ),
        None => None,
    };
    let taken: Option<i64> = c
        .query_row(
            "SELECT id FROM locations WHERE code=?1 OR (gln IS NOT NULL AND gln=?2)",
            params![code, n.gln],
            |r| r.get(0),
        )
        .optional()?;
    if taken.is_some() {
        return Err(Error::conflict(
            "code",
            format!("location code {code} or its GLN is already used"),
        ));
    }
    let prep = match n
        .preparation_area
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        Some(p) => Some(preparation_area_id(c, kind, &code, p)?),
        None => None,
    };
    c.execute(
        "INSERT INTO locations(code, gln, name, kind, parent_id, created_at, preparation_area_id, filing_range) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
        params![code, n.gln, n.name.trim(), kind, parent_id, now_rfc3339(), prep, filing_range],
    )?;
    get(c, c.last_insert_rowid())
}

/// The id of `area` as the preparation area of clinic `clinic_code` (of kind `kind`): refused
/// unless the location is a clinic and the area exists, is somewhere notes can be (not a site
/// or building) and is not the clinic itself.
fn preparation_area_id(
    c: &Connection,
    kind: LocationKind,
    clinic_code: &str,
    area: &str,
) -> Result<i64> {
    if kind != LocationKind::Clinic {
        return Err(Error::invalid(
            "preparation_area",
            format!("only a clinic has a preparation area; {clinic_code} is a {kind}"),
        ));
    }
    let a = resolve(c, area)?.ok_or_else(|| {
        Error::invalid(
            "preparation_area",
            format!("no location with code {area:?}"),
        )
    })?;
    if a.kind.is_container() || a.code == clinic_code {
        return Err(Error::invalid(
            "preparation_area",
            format!("{} cannot hold notes for a clinic", a.code),
        ));
    }
    Ok(a.id)
}

/// Set (or, with `None`, remove) the preparation area of clinic `clinic`.
pub fn set_preparation_area(c: &Connection, clinic: &str, area: Option<&str>) -> Result<Location> {
    let l = resolve(c, clinic)?.ok_or_else(|| Error::not_found(format!("location {clinic}")))?;
    let prep = match area.map(str::trim).filter(|a| !a.is_empty()) {
        Some(a) => Some(preparation_area_id(c, l.kind, &l.code, a)?),
        None => None,
    };
    c.execute(
        "UPDATE locations SET preparation_area_id=?2 WHERE id=?1",
        params![l.id, prep],
    )?;
    get(c, l.id)
}

/// Check a terminal-digit range for a location of `kind`; the range in its written form.
fn filing_range_for(kind: LocationKind, range: &str) -> Result<String> {
    if !kind.is_library() {
        return Err(Error::invalid(
            "filing_range",
            format!(
                "only a library, store or shelf holds a terminal-digit range, not a {}",
                kind.as_str().replace('_', " ")
            ),
        ));
    }
    ShelfRange::parse(range)
        .map(|r| r.text())
        .map_err(|e| Error::invalid("filing_range", e.to_string()))
}

/// Set (or with `None`, clear) the terminal-digit range a library shelf or bay holds.
pub fn set_filing_range(c: &Connection, code: &str, range: Option<&str>) -> Result<Location> {
    let l = resolve(c, code)?.ok_or_else(|| Error::not_found(format!("location {code}")))?;
    let range = range
        .filter(|r| !r.trim().is_empty())
        .map(|r| filing_range_for(l.kind, r))
        .transpose()?;
    c.execute(
        "UPDATE locations SET filing_range=?1 WHERE id=?2",
        params![range, l.id],
    )?;
    get(c, l.id)
}

pub fn get(c: &Connection, id: i64) -> Result<Location> {
    c.prepare_cached(&format!("{SELECT} WHERE l.id=?1"))?
        .query_row([id], from_row)
        .optional()?
        .ok_or_else(|| Error::not_found(format!("location {id}")))
}

/// Find a location by local code or 13-digit GLN.
pub fn resolve(c: &Connection, code_or_gln: &str) -> Result<Option<Location>> {
    let s = code_or_gln.trim();
    let sql = if s.len() == 13 && s.bytes().all(|b| b.is_ascii_digit()) {
        format!("{SELECT} WHERE l.gln=?1")
    } else {
        format!("{SELECT} WHERE l.code=upper(?1)")
    };
    Ok(c.prepare_cached(&sql)?
        .query_row([s], from_row)
        .optional()?)
}

/// Resolve to an id, cached statement; used on the ingest hot path.
pub fn resolve_id(c: &Connection, code_or_gln: &str) -> Result<Option<i64>> {
    let s = code_or_gln.trim();
    let id = if s.len() == 13 && s.bytes().all(|b| b.is_ascii_digit()) {
        c.prepare_cached("SELECT id FROM locations WHERE gln=?1")?
            .query_row([s], |r| r.get(0))
            .optional()?
    } else {
        c.prepare_cached("SELECT id FROM locations WHERE code=?1")?
            .query_row([s.to_ascii_uppercase()], |r| r.get(0))
            .optional()?
    };
    Ok(id)
}

pub fn list(c: &Connection) -> Result<Vec<Location>> {
    let mut st = c.prepare(&format!("{SELECT} ORDER BY l.code"))?;
    let v = st
        .query_map([], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(v)
}

/// A location in brief, as where-is answers and requests show it.
#[derive(Debug, Serialize, PartialEq)]
pub struct Place {
    pub code: String,
    pub name: String,
    pub kind: LocationKind,
}
