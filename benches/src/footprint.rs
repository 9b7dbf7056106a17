//! Footprint: bytes on disk per movement and per folder (from SQLite's `dbstat` table, per
//! table and index), and the server's start-up time (spawn to listening). On a database at an
//! older schema it measures the database as it is, upgrades it by starting this build's server
//! on it (the start that migrates is timed), and measures it again.

use crate::{dedent, machine, rss_kb, spawn_server};
use anyhow::{bail, Result};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The tables a movement is kept in, before and after the compact ledger (schema 17).
const MOVEMENT_TABLES: [&str; 3] = ["movements", "movement_log", "movement_words"];

/// One table or index and the bytes of its pages.
struct Tree {
    name: String,
    table: String,
    bytes: u64,
}

/// A database's size and what it holds.
struct Layout {
    version: i64,
    file_bytes: u64,
    free_bytes: u64,
    folders: u64,
    movements: u64,
    trees: Vec<Tree>,
}

impl Layout {
    fn bytes_of(&self, tables: &[&str]) -> u64 {
        self.trees
            .iter()
            .filter(|t| tables.contains(&t.table.as_str()))
            .map(|t| t.bytes)
            .sum()
    }

    fn movement_trees(&self) -> impl Iterator<Item = &Tree> {
        self.trees
            .iter()
            .filter(|t| MOVEMENT_TABLES.contains(&t.table.as_str()))
    }

    fn per_movement(&self, bytes: u64) -> f64 {
        bytes as f64 / self.movements.max(1) as f64
    }

    fn per_folder(&self, bytes: u64) -> f64 {
        bytes as f64 / self.folders.max(1) as f64
    }
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// The database's `-wal` or `-journal` file.
fn beside(db: &Path, suffix: &str) -> PathBuf {
    let mut s = db.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// Copy the WAL back into the database and empty it, so that the file's size is the database's
/// and no start has a WAL to recover. A plain connection: it does not migrate.
fn checkpoint(db: &Path) -> Result<()> {
    let c = Connection::open(db)?;
    c.busy_timeout(Duration::from_secs(60))?;
    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(())
}

fn layout(db: &Path) -> Result<Layout> {
    checkpoint(db)?;
    let c = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let one = |sql: &str| -> Result<i64> { Ok(c.query_row(sql, [], |r| r.get(0))?) };
    let version = one("PRAGMA user_version")?;
    let free_bytes = (one("PRAGMA freelist_count")? * one("PRAGMA page_size")?) as u64;
    let folders = one("SELECT count(*) FROM folders")? as u64;
    let movements = one("SELECT count(*) FROM movements")? as u64;
    let mut st = c.prepare(
        "SELECT s.name, coalesce(m.tbl_name, s.name), sum(s.pgsize)
         FROM dbstat s LEFT JOIN sqlite_master m ON m.name = s.name
         GROUP BY s.name ORDER BY 3 DESC",
    )?;
    let trees = st
        .query_map([], |r| {
            Ok(Tree {
                name: r.get(0)?,
                table: r.get(1)?,
                bytes: r.get::<_, i64>(2)? as u64,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Layout {
        version,
        file_bytes: file_len(db),
        free_bytes,
        folders,
        movements,
        trees,
    })
}

/// Start the server `n` times on `db`; how long each took from the spawn to listening.
fn starts(exe: &Path, db: &Path, n: usize) -> Result<Vec<Duration>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        checkpoint(db)?;
        let (mut child, _, took) = spawn_server(exe, db, Duration::from_secs(120), &mut |_| {})?;
        let _ = child.kill();
        let _ = child.wait();
        out.push(took);
    }
    out.sort();
    Ok(out)
}

fn min_median_max(d: &[Duration]) -> String {
    if d.is_empty() {
        return "not measured".into();
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "{:.0} / {:.0} / {:.0} ms",
        ms(d[0]),
        ms(d[d.len() / 2]),
        ms(d[d.len() - 1])
    )
}

/// The upgrade as an operator meets it: the first start of this build on the older database.
struct Upgrade {
    /// Spawn to listening: the migration runs before the server listens.
    start: Duration,
    /// Until the server's background checkpoints had copied the migration's WAL (if it ran in
    /// WAL mode) back into the database, from the spawn.
    settled: Duration,
    /// The most the database and its WAL or rollback journal together grew, at any moment.
    peak_extra_disk: u64,
    /// The server's peak resident memory, which the migration sets.
    peak_rss_kb: u64,
    /// The most the server's temporary files (SQLite's sorts, in its temporary directory)
    /// took at any moment.
    peak_temp: u64,
}

/// The bytes of the deleted files process `pid` holds open: SQLite's temporary files (it
/// unlinks them as it opens them).
fn temp_files_of(pid: u32) -> u64 {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    fds.filter_map(|e| e.ok())
        .filter(|e| {
            std::fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy().ends_with(" (deleted)"))
        })
        .filter_map(|e| std::fs::metadata(e.path()).ok())
        .map(|m| m.len())
        .sum()
}

fn upgrade(db: &Path) -> Result<Upgrade> {
    checkpoint(db)?;
    let (wal, journal) = (beside(db, "-wal"), beside(db, "-journal"));
    let size = || file_len(db) + file_len(&wal) + file_len(&journal);
    let base = size();
    let mut peak = base;
    let mut peak_temp = 0u64;
    let t0 = Instant::now();
    let mut said = Duration::ZERO;
    let mut sample = |peak: &mut u64| {
        *peak = (*peak).max(size());
        if t0.elapsed() >= said + Duration::from_secs(5) {
            said = t0.elapsed();
            eprintln!(
                "  {:.0} s: database {}, WAL {}, rollback journal {}",
                said.as_secs_f64(),
                mb(file_len(db)),
                mb(file_len(&wal)),
                mb(file_len(&journal))
            );
        }
    };
    let (mut child, _, start) = spawn_server(
        &std::env::current_exe()?,
        db,
        Duration::from_secs(24 * 3600),
        &mut |pid| {
            peak_temp = peak_temp.max(temp_files_of(pid));
            sample(&mut peak)
        },
    )?;
    let peak_rss_kb = rss_kb(child.id(), "VmHWM:");
    // The server checkpoints in the background (PASSIVE, every half second); wait until the
    // WAL is all copied back. A passive checkpoint from here reports how far it is, and helps.
    let spawned = Instant::now() - start;
    let c = Connection::open(db)?;
    let deadline = Instant::now() + Duration::from_secs(3600);
    loop {
        sample(&mut peak);
        let (log, done): (i64, i64) = c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get(1)?, r.get(2)?))
        })?;
        // (a checkpoint grows the database to its new size first; the WAL keeps its size
        // until the next write starts it again)
        sample(&mut peak);
        if log >= 0 && log == done {
            break;
        }
        if Instant::now() > deadline {
            bail!("the WAL was not copied back within an hour");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let settled = spawned.elapsed();
    drop(c);
    let _ = child.kill();
    let _ = child.wait();
    checkpoint(db)?;
    Ok(Upgrade {
        start,
        settled,
        peak_extra_disk: peak.saturating_sub(base),
        peak_rss_kb,
        peak_temp,
    })
}

fn mb(b: u64) -> String {
    format!("{:.0} MB", b as f64 / 1e6)
}

/// Measure `db`; if it is at an older schema, upgrade it and measure it again. `before_exe` is
/// a server build of the database's own schema (the previous release's `casenote-bench`), to
/// time the starts before the upgrade with.
pub fn run(db: &Path, n_starts: usize, before_exe: Option<&Path>) -> Result<String> {
    let this = std::env::current_exe()?;
    let current = tracker_server::storage::migrations::CURRENT as i64;
    eprintln!("measuring {}", db.display());
    let first = layout(db)?;
    if first.version > current {
        bail!(
            "{} is at schema {}, newer than this build's {current}",
            db.display(),
            first.version
        );
    }
    let mut columns: Vec<(String, Layout, Vec<Duration>)> = Vec::new();
    let mut upgraded = None;
    if first.version < current {
        let before_starts = match before_exe {
            Some(exe) => {
                eprintln!("timing {n_starts} starts of {}", exe.display());
                starts(exe, db, n_starts)?
            }
            None => Vec::new(),
        };
        eprintln!(
            "upgrading from schema {} to {current} (the first start migrates)",
            first.version
        );
        let u = upgrade(db)?;
        eprintln!("upgraded: listening after {:.1} s", u.start.as_secs_f64());
        columns.push((
            format!("before (schema {})", first.version),
            first,
            before_starts,
        ));
        upgraded = Some(u);
        let after = layout(db)?;
        eprintln!("timing {n_starts} starts of this build");
        let after_starts = starts(&this, db, n_starts)?;
        columns.push((format!("after (schema {current})"), after, after_starts));
    } else {
        eprintln!("timing {n_starts} starts of this build");
        let s = starts(&this, db, n_starts)?;
        columns.push((format!("schema {current}"), first, s));
    }
    Ok(report(
        &columns,
        upgraded.as_ref(),
        n_starts,
        before_exe.is_some(),
    ))
}

fn report(
    columns: &[(String, Layout, Vec<Duration>)],
    upgraded: Option<&Upgrade>,
    n_starts: usize,
    before_exe: bool,
) -> String {
    let l0 = &columns[0].1;
    let header: String = columns.iter().map(|(h, ..)| format!(" {h} |")).collect();
    let rule: String = columns.iter().map(|_| "---|").collect();
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut row = |label: &str, f: &dyn Fn(&Layout, &[Duration]) -> String| {
        rows.push((
            label.to_string(),
            columns.iter().map(|(_, l, s)| f(l, s)).collect(),
        ));
    };
    row("folders / movements", &|l, _| {
        format!("{} / {}", l.folders, l.movements)
    });
    row("database file (of which free pages)", &|l, _| {
        format!("{} ({})", mb(l.file_bytes), mb(l.free_bytes))
    });
    row("whole file per folder", &|l, _| {
        format!("{:.0} B", l.per_folder(l.file_bytes))
    });
    row(
        "**movements: bytes per movement, tables and indexes**",
        &|l, _| format!("**{:.1} B**", l.per_movement(l.bytes_of(&MOVEMENT_TABLES))),
    );
    // every table and index of the ledger, before and after, by name
    let mut names: Vec<&str> = Vec::new();
    for (_, l, _) in columns {
        for t in l.movement_trees() {
            if !names.contains(&t.name.as_str()) {
                names.push(&t.name);
            }
        }
    }
    for name in names {
        row(&format!("- `{name}`"), &|l, _| {
            l.movement_trees()
                .find(|t| t.name == name)
                .map(|t| format!("{:.1} B", l.per_movement(t.bytes)))
                .unwrap_or_else(|| "-".into())
        });
    }
    row(
        "**folders: bytes per folder, table and indexes**",
        &|l, _| format!("**{:.1} B**", l.per_folder(l.bytes_of(&["folders"]))),
    );
    row(
        &format!("server start-up, spawn to listening, min / median / max of {n_starts}"),
        &|_, s| min_median_max(s),
    );
    let mut table = format!("| measure |{header}\n|---|{rule}\n");
    for (label, cells) in rows {
        table += &format!("| {label} | {} |\n", cells.join(" | "));
    }
    let upgrade = match upgraded {
        Some(u) => format!(
            "Upgrade: the first start of this build migrates the database before it listens: \
             **{:.1} s** for {} movements ({:.1} s per million); {:.1} s after the start \
             nothing of the migration was left in the WAL. At its largest the database and its \
             WAL or rollback journal took {} more than before, and SQLite's temporary sort \
             files {}; the server's peak memory was {} MB.\n\n",
            u.start.as_secs_f64(),
            l0.movements,
            u.start.as_secs_f64() / (l0.movements.max(1) as f64 / 1e6),
            u.settled.as_secs_f64(),
            mb(u.peak_extra_disk),
            mb(u.peak_temp),
            u.peak_rss_kb / 1024,
        ),
        None => String::new(),
    };
    let before_note = if upgraded.is_some() && !before_exe {
        "(No `--before-exe` was given, so the starts before the upgrade were not timed.)\n\n"
    } else {
        ""
    };
    dedent(format!(
        "## Footprint ({} folders, {} movements)\n\n\
         Machine: {}\n\n\
         Command: `cargo run --release -p casenote-bench -- footprint --db <database>{}`\n\n\
         Bytes are those of the pages of each table and index (SQLite's `dbstat`), over the \
         number of movements or folders; free pages are left out of them. Start-up is from \
         spawning the server to its listening socket, the database in the operating system's \
         cache.\n\n\
         {table}\n{upgrade}{before_note}",
        l0.folders,
        l0.movements,
        machine(),
        if before_exe {
            " --before-exe <casenote-bench of the release that wrote it>"
        } else {
            ""
        }
    ))
}
