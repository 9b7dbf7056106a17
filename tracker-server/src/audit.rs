//! The audit log: who read or changed what, about which patient, and when.
//!
//! Rows are chained: each row's hash covers the previous row's hash and every field. The hash
//! is an **HMAC-SHA-256 under a key kept outside the database** ([`AuditKey`], a file readable
//! only by the service account), so someone holding the database but not the key cannot
//! rewrite rows and recompute the chain. The chain head is **anchored**: written regularly to
//! an append-only file and to the service log ([`anchor`]), so a rewrite is detected even by
//! someone who also holds the key, as long as they cannot rewrite the anchors. Rows written
//! before the key existed (older releases) are plain SHA-256 and are sealed by the first keyed
//! row, which covers their last hash.

use crate::{auth::Principal, util::now_rfc3339, Error, Result};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The bytes a row's hash covers: the previous row's hash, then every field, separated by 0x1f.
fn row_message(prev: &str, fields: [&str; 7]) -> Vec<u8> {
    let mut m = prev.as_bytes().to_vec();
    for part in fields {
        m.push(0x1f);
        m.extend_from_slice(part.as_bytes());
    }
    m
}

/// Unkeyed hash of a row (rows written before the audit key existed).
fn row_hash(prev: &str, fields: [&str; 7]) -> String {
    hex::encode(Sha256::digest(row_message(prev, fields)))
}

pub use crate::audit_key::{hmac_sha256, use_key_on_this_thread, AuditKey};

/// The keyed hash of a row.
fn mac(key: &AuditKey, prev: &str, fields: [&str; 7]) -> String {
    key.mac_hex(&row_message(prev, fields))
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
        .prepare_cached("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()?
        .unwrap_or_else(|| GENESIS.to_string());
    let at = now_rfc3339();
    let role = who.role.as_str();
    let fields = [
        at.as_str(),
        &who.actor,
        role,
        action,
        &fmt_opt(patient_id),
        &fmt_opt(folder_id),
        detail,
    ];
    let (hash, key_id) = crate::audit_key::with_writer_key(|k| match k {
        Some(key) => (mac(key, &prev, fields), Some(key.id.clone())),
        // (only connections outside the server's writer, such as unit tests in memory)
        None => (row_hash(&prev, fields), None),
    });
    c.prepare_cached("INSERT INTO audit_log(at, actor, role, action, patient_id, folder_id, detail, prev_hash, hash, key_id)
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)")?.execute(
        params![at, who.actor, role, action, patient_id, folder_id, detail, prev, hash, key_id],
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
    // One statement per case: `(?1 IS NULL OR patient_id = ?1)` cannot use the patient index,
    // and one patient's rows were looked for by reading the whole log backwards.
    let mut st = c.prepare_cached(if patient_id.is_some() {
        "SELECT id, at, actor, role, action, patient_id, folder_id, detail FROM audit_log
         WHERE patient_id = ?1 ORDER BY id DESC LIMIT ?2"
    } else {
        "SELECT id, at, actor, role, action, patient_id, folder_id, detail FROM audit_log
         WHERE ?1 IS NULL ORDER BY id DESC LIMIT ?2"
    })?;
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

/// What `audit-verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub rows: u64,
    /// Rows from before the audit key existed (plain SHA-256), all at the start of the chain.
    pub unkeyed: u64,
    pub anchors: u64,
}

fn broken(id: i64, why: &str) -> Error {
    Error::conflict("audit_log", format!("audit log broken at row {id}: {why}"))
}

/// Walk the whole chain with the given keys (the current one and any old ones); returns the
/// rows checked, or the first broken row. Unkeyed rows are accepted only before the first
/// keyed row, so keyed rows cannot be turned back into unkeyed ones.
pub fn verify(c: &Connection, keys: &[AuditKey]) -> Result<Verified> {
    let mut st = c.prepare(
        "SELECT id, at, actor, role, action, patient_id, folder_id, detail, prev_hash, hash, key_id FROM audit_log ORDER BY id",
    )?;
    let mut rows = st.query([])?;
    let mut prev = GENESIS.to_string();
    let (mut n, mut unkeyed, mut keyed_seen) = (0, 0, false);
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let stored_prev: String = r.get(8)?;
        let stored: String = r.get(9)?;
        let key_id: Option<String> = r.get(10)?;
        let texts: Vec<String> = [1, 2, 3, 4, 7]
            .iter()
            .map(|&i| r.get(i))
            .collect::<rusqlite::Result<_>>()?;
        let (p, f): (Option<i64>, Option<i64>) = (r.get(5)?, r.get(6)?);
        let (ps, fs) = (fmt_opt(p), fmt_opt(f));
        let fields = [
            texts[0].as_str(),
            &texts[1],
            &texts[2],
            &texts[3],
            &ps,
            &fs,
            &texts[4],
        ];
        let h = match &key_id {
            None if keyed_seen => {
                return Err(broken(
                    id,
                    "an unkeyed row after keyed rows (rows were rewritten)",
                ))
            }
            None => {
                unkeyed += 1;
                row_hash(&prev, fields)
            }
            Some(kid) => {
                keyed_seen = true;
                let key = keys.iter().find(|k| &k.id == kid).ok_or_else(|| {
                    Error::invalid(
                        "audit.key_file",
                        format!("row {id} was written with audit key {kid}, which was not given (list old keys in [audit] old_key_files)"),
                    )
                })?;
                mac(key, &prev, fields)
            }
        };
        if stored_prev != prev || stored != h {
            return Err(broken(id, "it was changed, or a row before it was removed"));
        }
        prev = stored;
        n += 1;
    }
    Ok(Verified {
        rows: n,
        unkeyed,
        anchors: 0,
    })
}

/// One line of the anchor file: `<time> row=<id> hash=<hex> key=<key id>`.
pub fn anchor_line(at: &str, id: i64, hash: &str, key_id: &str) -> String {
    format!("{at} row={id} hash={hash} key={key_id}")
}

/// The chain head (last row id and hash), if any row exists.
pub fn head(c: &Connection) -> Result<Option<(i64, String, Option<String>)>> {
    Ok(
        c.prepare_cached("SELECT id, hash, key_id FROM audit_log ORDER BY id DESC LIMIT 1")?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?,
    )
}

/// Append the chain head to the anchor file (opened for appending only) and to the service
/// log (`audit anchor`), unless it is the same as `last`. Returns the head written.
pub fn anchor(c: &Connection, file: &std::path::Path, last: Option<i64>) -> Result<Option<i64>> {
    let Some((id, hash, key_id)) = head(c)? else {
        return Ok(last);
    };
    if last == Some(id) {
        return Ok(last);
    }
    let line = anchor_line(&now_rfc3339(), id, &hash, key_id.as_deref().unwrap_or("-"));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(file)
        .map_err(|e| {
            Error::internal_from(
                format!("cannot open the audit anchor file {}", file.display()),
                e,
            )
        })?;
    std::io::Write::write_all(&mut f, format!("{line}\n").as_bytes())
        .and_then(|_| f.sync_data())
        .map_err(|e| Error::internal_from("cannot write the audit anchor", e))?;
    tracing::info!(target: "audit_anchor", row = id, hash = %hash, "audit chain head");
    Ok(Some(id))
}

/// Check every anchor line against the database: each anchored row must still exist with the
/// same hash. Returns the number of anchors checked.
pub fn check_anchors(c: &Connection, text: &str) -> Result<u64> {
    let mut n = 0;
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let get = |k: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(k))
                .map(str::to_string)
        };
        let (Some(id), Some(hash)) = (
            get("row=").and_then(|v| v.parse::<i64>().ok()),
            get("hash="),
        ) else {
            return Err(Error::invalid(
                "audit.anchor_file",
                format!("line {} is not an anchor: {line:?}", i + 1),
            ));
        };
        let stored: Option<String> = c
            .prepare_cached("SELECT hash FROM audit_log WHERE id=?1")?
            .query_row([id], |r| r.get(0))
            .optional()?;
        match stored {
            Some(h) if h == hash => n += 1,
            Some(_) => {
                return Err(broken(
                    id,
                    &format!(
                        "its hash differs from the one anchored on {}",
                        line.split_whitespace().next().unwrap_or("?")
                    ),
                ))
            }
            None => {
                return Err(broken(
                    id,
                    "this anchored row no longer exists (rows were removed)",
                ))
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Db;

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231, test case 2
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // test case 6: a key longer than the block
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    fn five_rows() -> (tempfile::TempDir, std::path::PathBuf, Db, AuditKey) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.db");
        let db = Db::open(&p, 1).unwrap();
        let key = AuditKey::load(&crate::storage::default_audit_key_path(&p)).unwrap();
        db.write_blocking(|c| {
            for i in 0..5 {
                record(c, &Principal::system(), "test", Some(i), None, "detail")?;
            }
            Ok(())
        })
        .unwrap();
        (dir, p, db, key)
    }

    #[test]
    fn tampering_is_detected() {
        let (_d, p, db, key) = five_rows();
        let keys = vec![key];
        let k = keys.clone();
        assert_eq!(db.read_blocking(move |c| verify(c, &k)).unwrap().rows, 5);
        let raw = Connection::open(&p).unwrap();
        raw.execute(
            "UPDATE audit_log SET actor='user:someone-else' WHERE id=3",
            [],
        )
        .unwrap();
        let k = keys.clone();
        let e = db
            .read_blocking(move |c| verify(c, &k))
            .unwrap_err()
            .to_string();
        assert!(e.contains("row 3"), "{e}");
        raw.execute("UPDATE audit_log SET actor='system:cli' WHERE id=3", [])
            .unwrap();
        let k = keys.clone();
        assert_eq!(db.read_blocking(move |c| verify(c, &k)).unwrap().rows, 5);
        raw.execute("DELETE FROM audit_log WHERE id=2", []).unwrap();
        let k = keys.clone();
        assert!(db
            .read_blocking(move |c| verify(c, &k))
            .unwrap_err()
            .to_string()
            .contains("row 3"));
    }

    /// Recompute `prev_hash`, `hash` and `key_id` of rows `from`..end with `hash`, as someone
    /// editing the database file would.
    fn rechain_from(
        raw: &Connection,
        from: i64,
        hash: impl Fn(&str, [&str; 7]) -> (String, Option<String>),
    ) {
        let mut prev: String = raw
            .query_row("SELECT hash FROM audit_log WHERE id=?1", [from - 1], |r| {
                r.get(0)
            })
            .unwrap();
        let last: i64 = raw
            .query_row("SELECT max(id) FROM audit_log", [], |r| r.get(0))
            .unwrap();
        for id in from..=last {
            let (at, actor, role, action, pid, detail): (
                String,
                String,
                String,
                String,
                Option<i64>,
                String,
            ) = raw
                .query_row(
                    "SELECT at, actor, role, action, patient_id, detail FROM audit_log WHERE id=?1",
                    [id],
                    |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                        ))
                    },
                )
                .unwrap();
            let ps = fmt_opt(pid);
            let (h, kid) = hash(
                &prev,
                [at.as_str(), &actor, &role, &action, &ps, "", &detail],
            );
            raw.execute(
                "UPDATE audit_log SET prev_hash=?2, hash=?3, key_id=?4 WHERE id=?1",
                rusqlite::params![id, prev, h, kid],
            )
            .unwrap();
            prev = h;
        }
    }

    /// Without the key, editing a row and recomputing every later hash (as plain SHA-256, or
    /// with a guessed key) is detected; turning keyed rows back into unkeyed ones too.
    #[test]
    fn a_rewrite_without_the_key_is_detected() {
        let (_d, p, db, key) = five_rows();
        let raw = Connection::open(&p).unwrap();
        // rewrite row 2 and re-chain rows 2..5 as an attacker without the key would
        let guess = AuditKey::from_secret(vec![7; 32]);
        let rechain = |as_unkeyed: bool| {
            raw.execute(
                "UPDATE audit_log SET detail='nothing to see' WHERE id=2",
                [],
            )
            .unwrap();
            rechain_from(&raw, 2, |prev, fields| {
                if as_unkeyed {
                    (row_hash(prev, fields), None)
                } else {
                    (mac(&guess, prev, fields), Some(key.id.clone()))
                }
            });
        };
        rechain(false);
        let k = vec![key.clone()];
        let e = db
            .read_blocking(move |c| verify(c, &k))
            .unwrap_err()
            .to_string();
        assert!(e.contains("row 2"), "{e}");
        rechain(true);
        let k = vec![key.clone()];
        let e = db
            .read_blocking(move |c| verify(c, &k))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unkeyed row after keyed rows"), "{e}");
    }

    /// Anchors: a rewrite by someone who holds the key too is caught by the anchored head.
    #[test]
    fn anchors_catch_a_rewrite_with_the_key() {
        let (d, p, db, key) = five_rows();
        let file = d.path().join("anchors");
        let f2 = file.clone();
        assert_eq!(
            db.read_blocking(move |c| anchor(c, &f2, None)).unwrap(),
            Some(5)
        );
        let f2 = file.clone();
        assert_eq!(
            db.read_blocking(move |c| anchor(c, &f2, Some(5))).unwrap(),
            Some(5)
        );
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            text.lines().count(),
            1,
            "an unchanged head is not written again"
        );
        let t = text.clone();
        assert_eq!(db.read_blocking(move |c| check_anchors(c, &t)).unwrap(), 1);
        // with the key: rewrite row 4 and re-chain 4..5 properly; the chain verifies...
        let raw = Connection::open(&p).unwrap();
        raw.execute("UPDATE audit_log SET detail='rewritten' WHERE id=4", [])
            .unwrap();
        rechain_from(&raw, 4, |prev, fields| {
            (mac(&key, prev, fields), Some(key.id.clone()))
        });
        let k = vec![key.clone()];
        assert_eq!(db.read_blocking(move |c| verify(c, &k)).unwrap().rows, 5);
        // ...but not the anchor written before
        let e = db
            .read_blocking(move |c| check_anchors(c, &text))
            .unwrap_err()
            .to_string();
        assert!(e.contains("row 5"), "{e}");
    }
}
