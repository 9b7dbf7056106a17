//! Reader health: each device's read rate against its own recent norm, so a detuned antenna, a
//! reader knocked out of line or a scanner left in a drawer is noticed in hours, not months.
//!
//! Bridges report a device's cumulative reads in every heartbeat; the server keeps the reads
//! per device per hour ([`record_reads`]). The verdict ([`verdict`]) compares the reads of the
//! last `window_hours` with the median of the same clock hours on each of the previous
//! `history_days` days, so a ward door that is quiet every night is not flagged at night.

use crate::Result;
use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Settings (`[device_health]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceHealthConfig {
    /// Hours of recent reads compared with the norm. Env: CASENOTE_DEVICE_HEALTH_WINDOW_HOURS.
    pub window_hours: u32,
    /// Recent reads below this share of the norm are "reads below normal".
    /// Env: CASENOTE_DEVICE_HEALTH_BELOW_NORMAL_RATIO.
    pub below_normal_ratio: f64,
    /// No read for this many hours, when the norm says there would have been some, is
    /// "silent". Env: CASENOTE_DEVICE_HEALTH_SILENT_AFTER_HOURS.
    pub silent_after_hours: u32,
    /// Days of history needed before a verdict (before that: "learning").
    /// Env: CASENOTE_DEVICE_HEALTH_MIN_HISTORY_DAYS.
    pub min_history_days: u32,
    /// Days of history the norm is taken from. Env: CASENOTE_DEVICE_HEALTH_HISTORY_DAYS.
    pub history_days: u32,
    /// Norms below this many reads per window are too small to judge (never "below normal").
    pub min_norm_reads: i64,
}

impl Default for DeviceHealthConfig {
    fn default() -> Self {
        Self {
            window_hours: 6,
            below_normal_ratio: 0.3,
            silent_after_hours: 4,
            min_history_days: 3,
            history_days: 14,
            min_norm_reads: 20,
        }
    }
}

/// How a device's reads compare with its norm.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum ReadHealth {
    /// Not enough history yet.
    Learning,
    Normal {
        recent: i64,
        norm: i64,
    },
    /// Reads in the window well below the norm for the same hours (a detuned antenna).
    BelowNormal {
        recent: i64,
        norm: i64,
    },
    /// No read for `hours` hours although the norm says there would have been.
    Silent {
        hours: i64,
        norm: i64,
    },
}

impl ReadHealth {
    /// Whether someone should look at the device.
    pub fn flagged(&self) -> bool {
        matches!(self, Self::BelowNormal { .. } | Self::Silent { .. })
    }

    /// In words, for pages and CSVs.
    pub fn text(&self, window_hours: u32) -> String {
        match self {
            Self::Learning => "learning (less history than needed)".into(),
            Self::Normal { recent, norm } => {
                format!("normal: {recent} reads in {window_hours} h, norm {norm}")
            }
            Self::BelowNormal { recent, norm } => {
                format!("reads below normal: {recent} in {window_hours} h, norm {norm}")
            }
            Self::Silent { hours, norm } => {
                format!("silent for {hours} h (norm {norm} reads in that time)")
            }
        }
    }
}

/// Hours since the Unix epoch.
pub fn hour_of(ms: i64) -> i64 {
    ms.div_euclid(3_600_000)
}

/// Add a heartbeat's reads: the increase of the cumulative counter since the last heartbeat
/// (a smaller value means the bridge restarted: all of it is new), into the current hour.
pub fn record_reads(
    c: &Connection,
    device_id: &str,
    previous: Option<i64>,
    now_ms: i64,
    reads: i64,
) -> Result<()> {
    let delta = match previous {
        Some(p) if reads >= p => reads - p,
        _ => reads,
    };
    let hour = hour_of(now_ms);
    c.prepare_cached(
        "INSERT INTO device_read_hours(device_id, hour, reads) VALUES (?1, ?2, ?3)
         ON CONFLICT(device_id, hour) DO UPDATE SET reads = reads + excluded.reads",
    )?
    .execute(params![device_id, hour, delta])?;
    // keep 60 days
    c.prepare_cached("DELETE FROM device_read_hours WHERE device_id = ?1 AND hour < ?2")?
        .execute(params![device_id, hour - 60 * 24])?;
    Ok(())
}

/// A device's reads per hour (hour -> reads) since `from_hour`.
pub fn hours(c: &Connection, device_id: &str, from_hour: i64) -> Result<BTreeMap<i64, i64>> {
    let mut st = c.prepare_cached(
        "SELECT hour, reads FROM device_read_hours WHERE device_id = ?1 AND hour >= ?2",
    )?;
    let m = st
        .query_map(params![device_id, from_hour], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<rusqlite::Result<BTreeMap<i64, i64>>>()?;
    Ok(m)
}

fn median(mut v: Vec<i64>) -> i64 {
    v.sort_unstable();
    match v.len() {
        0 => 0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2,
    }
}

/// The verdict at `now_hour` from a device's hourly reads (`hours`, since it was first heard:
/// hours with no entry are hours the bridge reported no reads, or did not report).
pub fn verdict(hours: &BTreeMap<i64, i64>, now_hour: i64, cfg: &DeviceHealthConfig) -> ReadHealth {
    let Some(&first) = hours.keys().next() else {
        return ReadHealth::Learning;
    };
    let sum = |from: i64, to: i64| -> i64 { hours.range(from..=to).map(|(_, r)| *r).sum() };
    let w = i64::from(cfg.window_hours.max(1));
    // The same clock hours on each earlier day within the device's history.
    let days: Vec<i64> = (1..=i64::from(cfg.history_days.max(1)))
        .filter(|d| now_hour - 24 * d - w + 1 >= first)
        .collect();
    if (days.len() as u32) < cfg.min_history_days.max(1) {
        return ReadHealth::Learning;
    }
    let norm_of = |span: i64| {
        median(
            days.iter()
                .map(|d| sum(now_hour - 24 * d - span + 1, now_hour - 24 * d))
                .collect(),
        )
    };
    let last_read = hours.iter().rev().find(|(_, r)| **r > 0).map(|(h, _)| *h);
    let quiet = now_hour - last_read.unwrap_or(first - 1);
    let s = i64::from(cfg.silent_after_hours.max(1));
    if quiet >= s {
        let norm = norm_of(quiet.min(24 * 7));
        if norm > 0 {
            return ReadHealth::Silent { hours: quiet, norm };
        }
    }
    let recent = sum(now_hour - w + 1, now_hour);
    let norm = norm_of(w);
    if norm >= cfg.min_norm_reads && (recent as f64) < cfg.below_normal_ratio * norm as f64 {
        ReadHealth::BelowNormal { recent, norm }
    } else {
        ReadHealth::Normal { recent, norm }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads like a ward door: busy 08:00-20:00, quiet at night, for `days` days up to `now`.
    fn door(days: i64, now: i64, busy: i64) -> BTreeMap<i64, i64> {
        ((now - 24 * days)..=now)
            .map(|h| {
                (
                    h,
                    if (8..20).contains(&h.rem_euclid(24)) {
                        busy
                    } else {
                        0
                    },
                )
            })
            .collect()
    }

    const NOON: i64 = 490_000 * 24 + 12; // some day, 12:00 UTC

    #[test]
    fn a_normal_day_is_normal_and_history_is_needed() {
        let cfg = DeviceHealthConfig::default();
        assert_eq!(
            verdict(&door(1, NOON, 100), NOON, &cfg),
            ReadHealth::Learning
        );
        assert_eq!(verdict(&BTreeMap::new(), NOON, &cfg), ReadHealth::Learning);
        match verdict(&door(10, NOON, 100), NOON, &cfg) {
            ReadHealth::Normal { recent, norm } => assert_eq!((recent, norm), (500, 500)),
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn a_detuned_antenna_reads_below_normal() {
        let cfg = DeviceHealthConfig::default();
        let mut h = door(10, NOON, 100);
        for hour in (NOON - 5)..=NOON {
            h.insert(hour, 10); // a tenth of the usual reads since 07:00
        }
        match verdict(&h, NOON, &cfg) {
            ReadHealth::BelowNormal { recent, norm } => assert_eq!((recent, norm), (60, 500)),
            v => panic!("{v:?}"),
        }
        assert!(verdict(&h, NOON, &cfg).flagged());
    }

    #[test]
    fn a_silent_reader_is_silent_but_a_quiet_night_is_not() {
        let cfg = DeviceHealthConfig::default();
        let mut h = door(10, NOON, 100);
        for hour in (NOON - 4)..=NOON {
            h.insert(hour, 0);
        }
        match verdict(&h, NOON, &cfg) {
            ReadHealth::Silent { hours, norm } => {
                // nothing since 19:00 yesterday (07:00 is quiet anyway)
                assert_eq!(hours, 17);
                assert!(norm > 0);
            }
            v => panic!("{v:?}"),
        }
        // 04:00: nothing since 20:00 yesterday, as every night
        let four = NOON - 8;
        let night = door(10, four, 100);
        assert!(
            matches!(verdict(&night, four, &cfg), ReadHealth::Normal { .. }),
            "{:?}",
            verdict(&night, four, &cfg)
        );
    }

    #[test]
    fn counter_resets_count_the_new_reads() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::storage::Db::open(&dir.path().join("t.db"), 1).unwrap();
        let got = record_three_heartbeats(&db);
        assert_eq!(got, vec![(hour_of(3_600_000 * 5), 180)]);
    }

    fn record_three_heartbeats(db: &crate::storage::Db) -> Vec<(i64, i64)> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(db.write(|c| {
            let t = 3_600_000 * 5 + 10;
            record_reads(c, "door", None, t, 100)?; // first report: 100
            record_reads(c, "door", Some(100), t, 150)?; // +50
            record_reads(c, "door", Some(150), t, 30)?; // the bridge restarted: +30
            Ok(hours(c, "door", 0)?.into_iter().collect())
        }))
        .unwrap()
    }
}
