//! Batches: many folder labels stored at once and sent in the background.

use super::*;

crate::vocabulary! {
    /// A print batch is running (jobs being sent) until every job is sent or failed.
    pub enum BatchStatus {
        Running = "running",
        Finished = "finished",
    }
}

/// A batch of folder labels printed in the background.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Batch {
    pub id: i64,
    pub description: String,
    pub total: i64,
    pub done: i64,
    pub failed: i64,
    /// running or finished.
    pub status: BatchStatus,
    pub created_by: String,
    pub created_at: String,
}

pub fn get_batch(c: &Connection, id: i64) -> Result<Batch> {
    c.query_row(
        "SELECT id, description, total, done, failed, status, created_by, created_at FROM print_batches WHERE id=?1",
        [id],
        |r| {
            Ok(Batch {
                id: r.get(0)?,
                description: r.get(1)?,
                total: r.get(2)?,
                done: r.get(3)?,
                failed: r.get(4)?,
                status: r.get(5)?,
                created_by: r.get(6)?,
                created_at: r.get(7)?,
            })
        },
    )
    .optional()?
    .ok_or_else(|| Error::not_found(format!("print batch {id}")))
}

/// Recount a batch's progress from its jobs.
pub fn refresh_batch(c: &Connection, id: i64) -> Result<()> {
    c.prepare_cached(
        "UPDATE print_batches SET
           done = (SELECT count(*) FROM print_jobs WHERE batch_id=?1 AND status='sent'),
           failed = (SELECT count(*) FROM print_jobs WHERE batch_id=?1 AND status='failed')
         WHERE id=?1",
    )?
    .execute([id])?;
    Ok(())
}

/// Which folders a batch prints.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum BatchFolders {
    /// Folder barcodes.
    List(Vec<String>),
    /// Every folder registered at or after this time (RFC 3339).
    Since { created_since: String },
}

/// Resolve the folders of a batch (read only); every refusal names the field.
pub fn batch_folders(
    c: &Connection,
    ids: &ScanConfig,
    which: &BatchFolders,
) -> Result<(Vec<Folder>, String)> {
    let (list, description) = match which {
        BatchFolders::List(barcodes) => {
            let mut v = Vec::with_capacity(barcodes.len());
            for (i, b) in barcodes.iter().enumerate() {
                let f = folders::by_barcode(c, &ids.folder, b)
                    .map_err(|e| Error::invalid(format!("folders[{i}]"), e.to_string()))?;
                v.push(f);
            }
            let n = v.len();
            (v, format!("{n} folder(s) by barcode"))
        }
        BatchFolders::Since { created_since } => {
            let ms = parse_rfc3339_ms(created_since).ok_or_else(|| {
                Error::invalid(
                    "folders.created_since",
                    "must be an RFC 3339 time, e.g. 2026-11-20T00:00:00Z",
                )
            })?;
            let since = crate::util::ms_to_rfc3339(ms);
            let mut st =
                c.prepare("SELECT id FROM folders WHERE created_at >= ?1 ORDER BY id LIMIT ?2")?;
            let ids_found = st
                .query_map(params![since, MAX_BATCH as i64 + 1], |r| r.get::<_, i64>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let v = ids_found
                .into_iter()
                .map(|id| folders::get(c, id))
                .collect::<Result<Vec<_>>>()?;
            (v, format!("folders registered since {since}"))
        }
    };
    if list.is_empty() {
        return Err(Error::invalid("folders", "no folders to print"));
    }
    if list.len() > MAX_BATCH {
        return Err(Error::invalid(
            "folders",
            format!("at most {MAX_BATCH} folders per batch; split it"),
        ));
    }
    Ok((list, description))
}

pub fn create_batch(
    c: &Connection,
    description: &str,
    total: usize,
    who: &Principal,
) -> Result<i64> {
    c.execute(
        "INSERT INTO print_batches(description, total, done, failed, status, created_by, created_at)
         VALUES (?1,?2,0,0,'running',?3,?4)",
        params![description, total as i64, who.actor, now_rfc3339()],
    )?;
    Ok(c.last_insert_rowid())
}

/// Claim a finished batch's failed jobs for a retry; returns the jobs' ids.
pub fn claim_batch_retry(c: &Connection, id: i64, who: &Principal) -> Result<(Printer, Vec<i64>)> {
    let b = get_batch(c, id)?;
    if b.status != BatchStatus::Finished {
        return Err(Error::conflict(
            "batch",
            format!("print batch {id} is still running; wait for it to finish"),
        ));
    }
    let rows: Vec<(i64, i64)> = c
        .prepare(
            "SELECT id, printer_id FROM print_jobs WHERE batch_id=?1 AND status='failed' AND zpl != '' ORDER BY id",
        )?
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let Some(&(_, printer_id)) = rows.first() else {
        return Err(Error::conflict(
            "batch",
            format!("print batch {id} has no failed jobs that can be retried"),
        ));
    };
    let printer = printer_by_id(c, printer_id)?;
    if !printer.active {
        return Err(Error::conflict(
            "printer",
            format!("printer {:?} is switched off in the registry", printer.name),
        ));
    }
    let ids: Vec<i64> = rows.into_iter().map(|(j, _)| j).collect();
    for j in &ids {
        c.execute(
            "UPDATE print_jobs SET status='queued' WHERE id=?1 AND status='failed'",
            [j],
        )?;
    }
    c.execute(
        "UPDATE print_batches SET status='running' WHERE id=?1",
        [id],
    )?;
    refresh_batch(c, id)?;
    audit::record(
        c,
        who,
        "label.print",
        None,
        None,
        &format!("retry of {} failed job(s) of batch {id}", ids.len()),
    )?;
    Ok((printer, ids))
}

/// Send a batch's jobs (exactly the given ids, which this task owns) in chunks, recording
/// progress after each chunk. After a printer failure the rest are stored as failed without
/// being sent (they keep their ZPL and can be retried), so a printer out of labels does not
/// make every remaining label wait for a timeout.
pub async fn run_batch(
    db: Db,
    cfg: PrintingConfig,
    locks: Arc<PrinterLocks>,
    batch_id: i64,
    printer: Printer,
    job_ids: Vec<i64>,
) {
    let mut stopped: Option<String> = None;
    for chunk in job_ids.chunks(cfg.batch_chunk.max(1)) {
        let ids = chunk.to_vec();
        if let Some(why) = &stopped {
            let why = why.clone();
            if let Err(e) = db
                .write(move |c| {
                    for id in ids {
                        record_skipped(c, id, &why)?;
                    }
                    refresh_batch(c, batch_id)
                })
                .await
            {
                tracing::error!(batch_id, error = %e, "cannot record batch progress");
            }
            continue;
        }
        let jobs = match db
            .read(move |c| {
                let mut st = c.prepare_cached(
                    "SELECT id, zpl, copies FROM print_jobs WHERE id=?1 AND status='queued'",
                )?;
                let mut v = Vec::new();
                for id in ids {
                    if let Some(j) = st
                        .query_row([id], |r| {
                            Ok((
                                r.get::<_, i64>(0)?,
                                r.get::<_, String>(1)?,
                                r.get::<_, u32>(2)?,
                            ))
                        })
                        .optional()?
                    {
                        v.push(j);
                    }
                }
                Ok(v)
            })
            .await
        {
            Ok(j) => j,
            Err(e) => {
                tracing::error!(batch_id, error = %e, "cannot read batch jobs");
                break;
            }
        };
        let lock = locks.of(printer.id);
        let held = lock.lock().await;
        let (url, timeouts) = (printer.url.clone(), cfg.timeouts());
        let outcomes = tokio::task::spawn_blocking(move || {
            let mut out = Vec::with_capacity(jobs.len());
            let mut failed: Option<String> = None;
            for (id, zpl, copies) in jobs {
                match &failed {
                    Some(why) => out.push((id, None, why.clone())),
                    None => match send_blocking(&url, timeouts, &zpl, copies) {
                        Ok(()) => out.push((id, Some(Ok(())), String::new())),
                        Err(e) => {
                            failed =
                                Some(format!("not sent: the printer failed on job {id} ({e})"));
                            out.push((id, Some(Err(e)), String::new()));
                        }
                    },
                }
            }
            (out, failed)
        })
        .await;
        drop(held);
        let (outcomes, failed) = match outcomes {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(batch_id, error = %e, "print task failed");
                break;
            }
        };
        if let Some(f) = failed {
            tracing::warn!(batch_id, error = %f, "printer failed; the rest of the batch is kept as failed");
            stopped = Some(f);
        }
        if let Err(e) = db
            .write(move |c| {
                for (id, outcome, why) in outcomes {
                    match outcome {
                        Some(o) => {
                            record_outcome(c, id, &o)?;
                        }
                        None => record_skipped(c, id, &why)?,
                    }
                }
                refresh_batch(c, batch_id)
            })
            .await
        {
            tracing::error!(batch_id, error = %e, "cannot record batch progress");
        }
    }
    if let Err(e) = db
        .write(move |c| {
            // Anything this task could not get to stays retryable as failed.
            c.execute(
                "UPDATE print_jobs SET status='failed', error='interrupted: the batch stopped before this job was sent'
                 WHERE batch_id=?1 AND status='queued'",
                [batch_id],
            )?;
            refresh_batch(c, batch_id)?;
            c.execute(
                "UPDATE print_batches SET status='finished' WHERE id=?1",
                [batch_id],
            )?;
            Ok(())
        })
        .await
    {
        tracing::error!(batch_id, error = %e, "cannot finish batch");
    }
}

/// At start-up: jobs left queued by a stopped server become failed (retryable), running
/// batches become finished. Returns (jobs, batches) changed.
pub fn recover_interrupted(c: &Connection) -> Result<(usize, usize)> {
    let jobs = c.execute(
        "UPDATE print_jobs SET status='failed', error='interrupted: the server stopped before this job was sent; retry it'
         WHERE status='queued'",
        [],
    )?;
    let ids: Vec<i64> = c
        .prepare("SELECT id FROM print_batches WHERE status='running'")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for id in &ids {
        refresh_batch(c, *id)?;
        c.execute(
            "UPDATE print_batches SET status='finished' WHERE id=?1",
            [id],
        )?;
    }
    Ok((jobs, ids.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_text() {
        assert_eq!(
            folder_type_text("mental_health".parse().unwrap()),
            "Mental health"
        );
        assert_eq!(folder_type_text("xray".parse().unwrap()), "X-ray");
        assert_eq!(folder_type_text("main".parse().unwrap()), "Main");
        assert_eq!(dob_text("1985-04-19"), "19-Apr-1985");
        assert_eq!(user_badge("S", 42), "S00042");
    }

    #[test]
    fn batch_folders_accepts_both_shapes() {
        let a: BatchFolders = serde_json::from_str(r#"["F1","F2"]"#).unwrap();
        assert!(matches!(a, BatchFolders::List(v) if v.len() == 2));
        let b: BatchFolders =
            serde_json::from_str(r#"{"created_since":"2026-01-01T00:00:00Z"}"#).unwrap();
        assert!(matches!(b, BatchFolders::Since { .. }));
    }
}
