//! The audit log: who read or changed what, about which patient, and when. Rows are chained
//! with SHA-256 (each row's hash covers the previous hash), so an edit or deletion is detectable.

use crate::{auth::Principal, util::now_rfc3339, Error, Result};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Hash of a row: the previous row's hash, then every field, separated by 0x1f.
fn row_hash(prev: &str, fields: [&str; 7]) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    for part in fields {
        h.update([0x1f]);
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

fn fmt_opt(v: Option<i64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// Append one audit row. Must run on the writer connection.
pub fn record(
    c: &Connection,
    who: &Principal,
    action: &str,
    patient_id: Option<i64>,
    folder_id: Option<i64>,
    detail: &str,
) -> Result<()> {
    let prev: String = c
        .query_row(
            "SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or_else(|| GENESIS.to_string());
    let at = now_rfc3339();
    let role = who.role.as_str();
    let hash = row_hash(
        &prev,
        [
            &at,
            &who.actor,
            role,
            action,
            &fmt_opt(patient_id),
            &fmt_opt(folder_id),
            detail,
        ],
    );
    c.prepare_cached("INSERT INTO audit_log(at, actor, role, action, patient_id, folder_id, detail, prev_hash, hash)
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)")?.execute(
        params![at, who.actor, role, action, patient_id, folder_id, detail, prev, hash],
    )?;
    Ok(())
}

/// Record reads of patient data (one row per patient/folder pair) through the writer; callers
/// answer only once this has succeeded, so no read goes unrecorded.
pub async fn record_reads(
    db: &crate::storage::Db,
    who: &Principal,
    action: &'static str,
    rows: Vec<(Option<i64>, Option<i64>)>,
    detail: String,
) -> Result<()> {
    let who = who.clone();
    db.write(move |c| {
        for (p, f) in rows {
            record(c, &who, action, p, f, &detail)?;
        }
        Ok(())
    })
    .await
}

/// One audit row as served by the API.
#[derive(Debug, Serialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub role: String,
    pub action: String,
    pub patient_id: Option<i64>,
    pub folder_id: Option<i64>,
    pub detail: String,
}

pub fn list(c: &Connection, patient_id: Option<i64>, limit: i64) -> Result<Vec<AuditRow>> {
    let mut st = c.prepare(
        "SELECT id, at, actor, role, action, patient_id, folder_id, detail FROM audit_log
         WHERE (?1 IS NULL OR patient_id = ?1) ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = st
        .query_map(params![patient_id, limit], |r| {
            Ok(AuditRow {
                id: r.get(0)?,
                at: r.get(1)?,
                actor: r.get(2)?,
                role: r.get(3)?,
                action: r.get(4)?,
                patient_id: r.get(5)?,
                folder_id: r.get(6)?,
                detail: r.get(7)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Walk the whole chain; returns the number of rows checked or the first broken row.
pub fn verify(c: &Connection) -> Result<u64> {
    let mut st = c.prepare(
        "SELECT id, at, actor, role, action, patient_id, folder_id, detail, prev_hash, hash FROM audit_log ORDER BY id",
    )?;
    let mut rows = st.query([])?;
    let mut prev = GENESIS.to_string();
    let mut n = 0;
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let stored_prev: String = r.get(8)?;
        let stored: String = r.get(9)?;
        let texts: Vec<String> = [1, 2, 3, 4, 7]
            .iter()
            .map(|&i| r.get(i))
            .collect::<rusqlite::Result<_>>()?;
        let (p, f): (Option<i64>, Option<i64>) = (r.get(5)?, r.get(6)?);
        let h = row_hash(
            &prev,
            [
                &texts[0],
                &texts[1],
                &texts[2],
                &texts[3],
                &fmt_opt(p),
                &fmt_opt(f),
                &texts[4],
            ],
        );
        if stored_prev != prev || stored != h {
            return Err(Error::conflict(
                "audit_log",
                format!(
                    "audit log broken at row {id}: it was changed, or a row before it was removed"
                ),
            ));
        }
        prev = stored;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Db;

    #[test]
    fn tampering_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.db");
        let db = Db::open(&p, 1).unwrap();
        db.write_blocking(|c| {
            for i in 0..5 {
                record(c, &Principal::system(), "test", Some(i), None, "detail")?;
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(db.read_blocking(verify).unwrap(), 5);
        let raw = Connection::open(&p).unwrap();
        raw.execute(
            "UPDATE audit_log SET actor='user:someone-else' WHERE id=3",
            [],
        )
        .unwrap();
        let e = db.read_blocking(verify).unwrap_err().to_string();
        assert!(e.contains("row 3"), "{e}");
        raw.execute("UPDATE audit_log SET actor='system:cli' WHERE id=3", [])
            .unwrap();
        assert_eq!(db.read_blocking(verify).unwrap(), 5);
        raw.execute("DELETE FROM audit_log WHERE id=2", []).unwrap();
        assert!(db
            .read_blocking(verify)
            .unwrap_err()
            .to_string()
            .contains("row 3"));
    }
}
