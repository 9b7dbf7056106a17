//! Reader health: each device's read rate against its own recent norm, so that a detuned
//! antenna, a reader knocked out of line or a scanner left in a drawer is noticed in hours, not
//! months.
//!
//! Bridges report each device's reads since the bridge started in every heartbeat. The server
//! adds the increase since the previous heartbeat to the device's count for the hour
//! ([`record_reads`], table `device_read_hours`, hours since the Unix epoch, kept
//! [`KEEP_DAYS`] days). [`verdict`] compares the reads of the last `window_hours` whole hours
//! with the median of the same local clock hours on each of the previous `history_days` days,
//! so a ward door that is quiet every night is not flagged at night, also in the week after the
//! clocks change.

use crate::Result;
use chrono::{Duration, TimeZone, Utc};
use chrono_tz::Tz;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Hourly counts older than this are deleted.
pub const KEEP_DAYS: i64 = 60;

/// Settings (`[device_health]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceHealthConfig {
    /// Whole hours of recent reads compared with the norm (1-24).
    /// Env: CASENOTE_DEVICE_HEALTH_WINDOW_HOURS.
    pub window_hours: u32,
    /// Recent reads below this share of the norm are "below normal" (more than 0, less than 1).
    /// Env: CASENOTE_DEVICE_HEALTH_BELOW_NORMAL_RATIO.
    pub below_normal_ratio: f64,
    /// No read for this many whole hours, when the device normally reads in those hours, is
    /// "silent" (1-24). Env: CASENOTE_DEVICE_HEALTH_SILENT_AFTER_HOURS.
    pub silent_after_hours: u32,
    /// Days of history needed before a verdict; until then "learning".
    /// Env: CASENOTE_DEVICE_HEALTH_MIN_HISTORY_DAYS.
    pub min_history_days: u32,
    /// Days the norm is taken from (1-56). Env: CASENOTE_DEVICE_HEALTH_HISTORY_DAYS.
    pub history_days: u32,
    /// A norm below this many reads is too small to judge: never "below normal" or "silent".
    /// Env: CASENOTE_DEVICE_HEALTH_MIN_NORM_READS.
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

impl DeviceHealthConfig {
    /// Check the values make sense; the error names the setting.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if !(1..=24).contains(&self.window_hours) {
            return Err("window_hours must be 1-24".into());
        }
        if !(self.below_normal_ratio > 0.0 && self.below_normal_ratio < 1.0) {
            return Err("below_normal_ratio must be more than 0 and less than 1".into());
        }
        if !(1..=24).contains(&self.silent_after_hours) {
            return Err("silent_after_hours must be 1-24".into());
        }
        // the norm needs the history days plus a day of span within the kept hours
        let most = KEEP_DAYS as u32 - 4;
        if !(1..=most).contains(&self.history_days) {
            return Err(format!("history_days must be 1-{most}"));
        }
        if !(1..=self.history_days).contains(&self.min_history_days) {
            return Err("min_history_days must be 1 to history_days".into());
        }
        if self.min_norm_reads < 1 {
            return Err("min_norm_reads must be at least 1".into());
        }
        Ok(())
    }
}

crate::vocabulary! {
    /// How a device's reads compare with its own norm.
    pub enum ReadVerdict {
        /// Too little history yet to know the device's norm.
        Learning = "learning",
        /// Reads as usual for these hours (or too few usually to judge).
        Normal = "normal",
        /// Reads in the last window well below the norm for the same hours.
        BelowNormal = "below_normal",
        /// No read for hours in which the device normally reads.
        Silent = "silent",
    }
}

impl ReadVerdict {
    /// Whether someone should look at the device.
    pub fn flagged(self) -> bool {
        matches!(self, Self::BelowNormal | Self::Silent)
    }

    /// Order for lists: silent first, then below normal, learning, normal.
    pub fn urgency_rank(self) -> u8 {
        match self {
            Self::Silent => 0,
            Self::BelowNormal => 1,
            Self::Learning => 2,
            Self::Normal => 3,
        }
    }
}

/// A device's read rate against its norm at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadHealth {
    pub verdict: ReadVerdict,
    /// The hours compared (`window_hours`).
    pub window_hours: u32,
    /// Reads in the last `window_hours` whole hours (the hour now running is not counted).
    pub recent: i64,
    /// The median of the reads in the same clock hours on each earlier day; none while learning.
    pub norm: Option<i64>,
    /// Earlier days the norm was taken from (at most `history_days`).
    pub history_days: u32,
    /// When silent: whole hours since the last read.
    pub silent_hours: Option<i64>,
    /// When silent: the usual reads in those hours before the silence began (in a day, for a
    /// silence of a day or more).
    pub usual_when_silent: Option<i64>,
    /// In words, for people: "below normal: 210 in 6 h, norm 1,300".
    pub summary: String,
}

impl ReadHealth {
    pub fn flagged(&self) -> bool {
        self.verdict.flagged()
    }
}

/// `1240` as "1,240".
pub fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

/// Hours since the Unix epoch (UTC).
pub fn hour_of(ms: i64) -> i64 {
    ms.div_euclid(3_600_000)
}

/// The reads a heartbeat adds: the increase of the device's counter since the previous
/// heartbeat. A smaller value than before means the bridge restarted and counts from zero
/// again: all of it is new. The first report of a device counts whole.
pub fn reads_since(previous: Option<i64>, reads: i64) -> i64 {
    match previous {
        Some(p) if reads >= p => reads - p,
        _ => reads.max(0),
    }
}

/// Add a heartbeat's reads (see [`reads_since`]) to the device's count for the hour of
/// `now_ms`, and drop the device's counts older than [`KEEP_DAYS`]. Returns the reads added.
pub fn record_reads(
    c: &Connection,
    device_id: &str,
    previous: Option<i64>,
    now_ms: i64,
    reads: i64,
) -> Result<i64> {
    let delta = reads_since(previous, reads);
    if let Some(p) = previous.filter(|p| reads < *p) {
        tracing::info!(
            device_id,
            previous = p,
            reads,
            "device's read counter went down (its bridge restarted): counting from zero again"
        );
    }
    let hour = hour_of(now_ms);
    c.prepare_cached(
        "INSERT INTO device_read_hours(device_id, hour, reads) VALUES (?1, ?2, ?3)
         ON CONFLICT(device_id, hour) DO UPDATE SET reads = reads + excluded.reads",
    )?
    .execute(params![device_id, hour, delta])?;
    c.prepare_cached("DELETE FROM device_read_hours WHERE device_id = ?1 AND hour < ?2")?
        .execute(params![device_id, hour - KEEP_DAYS * 24])?;
    Ok(delta)
}

/// A device's reads per hour (hour since the epoch -> reads) from `from_hour` on. An hour
/// with an entry is an hour its bridge reported in (zero reads or more).
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

/// The first hour [`verdict`] looks at, for a verdict at `now_ms`.
pub fn first_hour_needed(now_ms: i64, cfg: &DeviceHealthConfig) -> i64 {
    // every earlier day, a span of up to 24 hours, and a clock change's hour
    hour_of(now_ms) - 24 * (i64::from(cfg.history_days) + 1) - 2
}

/// A device's verdict at `now_ms`, read from the database. For a device silent for days, the
/// hours before its silence are read too (its norm is from before it fell silent).
pub fn health_of(
    c: &Connection,
    device_id: &str,
    now_ms: i64,
    cfg: &DeviceHealthConfig,
    tz: Tz,
) -> Result<ReadHealth> {
    let last_read: Option<i64> = c
        .prepare_cached(
            "SELECT hour FROM device_read_hours WHERE device_id = ?1 AND reads > 0
             ORDER BY hour DESC LIMIT 1",
        )?
        .query_row([device_id], |r| r.get(0))
        .optional()?;
    let mut from = first_hour_needed(now_ms, cfg);
    if let Some(last) = last_read {
        from = from.min(last + 1 - 24 * (i64::from(cfg.history_days) + 1) - 2);
    }
    let h = hours(c, device_id, from)?;
    Ok(verdict(&h, now_ms, cfg, tz))
}

/// The hour that starts at the same local clock time `days` days before the hour `hour`
/// (23, 24 or 25 hours a day across a clock change).
fn same_hour_days_before(hour: i64, days: i64, tz: Tz) -> i64 {
    let plain = hour - 24 * days;
    let Some(t) = Utc.timestamp_opt(hour * 3600, 0).single() else {
        return plain;
    };
    let local = t.with_timezone(&tz).naive_local() - Duration::days(days);
    // a time in the hour skipped in spring is read one hour on
    let at = tz.from_local_datetime(&local).earliest().or_else(|| {
        tz.from_local_datetime(&(local + Duration::hours(1)))
            .earliest()
    });
    at.map_or(plain, |t| hour_of(t.timestamp_millis()))
}

fn median(mut v: Vec<i64>) -> i64 {
    v.sort_unstable();
    match v.len() {
        0 => 0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2,
    }
}

/// The verdict at `now_ms` from a device's reads per hour (`hours`, as [`hours`] returns
/// them; hours with no entry count as no reads), with days in the time zone `tz`.
///
/// - **learning**: fewer than `min_history_days` earlier days have the window's hours in the
///   device's history.
/// - **silent**: no read in the hour now running nor in the `silent_after_hours` whole hours
///   before it (or more), while the median of the reads in the same hours on the earlier days
///   before the silence began (whole days, for a silence of a day or more) is at least
///   `min_norm_reads`. A silent device therefore stays silent until it reads again, however
///   long that takes (within the [`KEEP_DAYS`] kept).
/// - **below normal**: the reads of the last `window_hours` whole hours are below
///   `below_normal_ratio` × the norm, the median of the same hours on earlier days, and that
///   norm is at least `min_norm_reads`.
/// - **normal** otherwise.
pub fn verdict(
    hours: &BTreeMap<i64, i64>,
    now_ms: i64,
    cfg: &DeviceHealthConfig,
    tz: Tz,
) -> ReadHealth {
    let now = hour_of(now_ms);
    let w = i64::from(cfg.window_hours.max(1));
    let sum = |from: i64, to: i64| -> i64 { hours.range(from..to).map(|(_, r)| *r).sum() };
    let recent = sum(now - w, now);
    let first = hours.keys().next().copied().unwrap_or(now);
    // The same window on each earlier day the device was already heard on.
    let days: Vec<i64> = (1..=i64::from(cfg.history_days.max(1)))
        .map(|d| same_hour_days_before(now, d, tz))
        .filter(|end| end - w >= first)
        .collect();
    let mut health = ReadHealth {
        verdict: ReadVerdict::Learning,
        window_hours: cfg.window_hours,
        recent,
        norm: None,
        history_days: days.len() as u32,
        silent_hours: None,
        usual_when_silent: None,
        summary: String::new(),
    };
    let window = format!("{} in {w} h", grouped(recent));
    if (days.len() as u32) < cfg.min_history_days.max(1) {
        health.summary = format!(
            "learning ({} of {} days of history)",
            days.len(),
            cfg.min_history_days
        );
        return health;
    }
    let norm = median(days.iter().map(|e| sum(e - w, *e)).collect());
    health.norm = Some(norm);

    let last_read = hours
        .range(..=now)
        .rev()
        .find(|(_, r)| **r > 0)
        .map(|(h, _)| *h);
    if last_read != Some(now) {
        // whole hours without a read since the last one (or since the device was first heard)
        let silent_from = last_read.map_or(first, |h| h + 1);
        let quiet = now - silent_from;
        if quiet >= i64::from(cfg.silent_after_hours.max(1)) {
            // the same hours on earlier days from before the silence began (for a silence of a
            // day or more: whole days)
            let span = quiet.min(24);
            let before: Vec<i64> = (1..=i64::from(cfg.history_days.max(1)) + quiet / 24)
                .map(|d| same_hour_days_before(now, d, tz))
                .filter(|end| *end <= silent_from && end - span >= first)
                .take(cfg.history_days.max(1) as usize)
                .collect();
            let usual = median(before.iter().map(|e| sum(e - span, *e)).collect());
            if before.len() as u32 >= cfg.min_history_days.max(1) && usual >= cfg.min_norm_reads {
                health.verdict = ReadVerdict::Silent;
                health.silent_hours = Some(quiet);
                health.usual_when_silent = Some(usual);
                let usual = grouped(usual);
                health.summary = match quiet {
                    ..24 => format!("silent for {quiet} h (usually {usual} reads in those hours)"),
                    24..48 => format!("silent for {quiet} h (usually {usual} reads a day)"),
                    _ => format!(
                        "silent for {} days (usually {usual} reads a day)",
                        quiet / 24
                    ),
                };
                return health;
            }
        }
    }
    if norm >= cfg.min_norm_reads && (recent as f64) < cfg.below_normal_ratio * norm as f64 {
        health.verdict = ReadVerdict::BelowNormal;
        health.summary = format!("below normal: {window}, norm {}", grouped(norm));
    } else {
        health.verdict = ReadVerdict::Normal;
        health.summary = format!("normal ({window}, norm {})", grouped(norm));
    }
    health
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use chrono_tz::{Europe::London, UTC};

    const HOUR: i64 = 3_600_000;

    /// The time `hh:mm` UTC on a date.
    fn at(date: (i32, u32, u32), hh: u32, mm: u32) -> i64 {
        NaiveDate::from_ymd_opt(date.0, date.1, date.2)
            .and_then(|d| d.and_hms_opt(hh, mm, 0))
            .map(|t| t.and_utc().timestamp_millis())
            .expect("a real time")
    }

    /// Reads like a ward door: `busy` an hour from 08:00 to 20:00 local time (`tz`), none at
    /// night, for every hour from `days` days before `now` up to the hour now running.
    fn door(days: i64, now: i64, busy: i64, tz: Tz) -> BTreeMap<i64, i64> {
        let now_h = hour_of(now);
        ((now_h - 24 * days)..=now_h)
            .map(|h| {
                let local = Utc
                    .timestamp_opt(h * 3600, 0)
                    .unwrap()
                    .with_timezone(&tz)
                    .format("%H")
                    .to_string();
                let local: u32 = local.parse().unwrap();
                (h, if (8..20).contains(&local) { busy } else { 0 })
            })
            .collect()
    }

    /// A Wednesday in November (no clock change near), 12:20 UTC = local.
    fn noon() -> i64 {
        at((2026, 11, 18), 12, 20)
    }

    #[test]
    fn an_ordinary_day_is_normal_against_the_median_of_the_same_hours() {
        let cfg = DeviceHealthConfig::default();
        let h = door(10, noon(), 100, London);
        let v = verdict(&h, noon(), &cfg, London);
        // 06:00-12:00: two quiet hours and four busy ones, today and on each earlier day
        assert_eq!(v.verdict, ReadVerdict::Normal, "{v:?}");
        // (ten days heard: the same six hours are there on nine earlier days)
        assert_eq!((v.recent, v.norm, v.history_days), (400, Some(400), 9));
        assert_eq!(v.summary, "normal (400 in 6 h, norm 400)");
        assert!(!v.flagged());
        // one unusual earlier day does not move the median
        let mut odd = h.clone();
        for hr in (hour_of(noon()) - 24 - 6)..(hour_of(noon()) - 24) {
            odd.insert(hr, 5_000);
        }
        assert_eq!(verdict(&odd, noon(), &cfg, London).norm, Some(400));
    }

    #[test]
    fn too_little_history_is_learning() {
        let cfg = DeviceHealthConfig::default();
        let v = verdict(&BTreeMap::new(), noon(), &cfg, London);
        assert_eq!((v.verdict, v.norm), (ReadVerdict::Learning, None));
        // three days heard: the six hours before now are there two and one days ago, not
        // three days ago (the device was first heard at 12:00 that day)
        let v = verdict(&door(3, noon(), 100, London), noon(), &cfg, London);
        assert_eq!(v.verdict, ReadVerdict::Learning, "{v:?}");
        assert_eq!(v.summary, "learning (2 of 3 days of history)");
        // even a dead reader is not flagged while learning
        let mut dead = door(3, noon(), 100, London);
        for hr in (hour_of(noon()) - 10)..=hour_of(noon()) {
            dead.insert(hr, 0);
        }
        assert_eq!(
            verdict(&dead, noon(), &cfg, London).verdict,
            ReadVerdict::Learning
        );
        // a day more: a verdict
        let v = verdict(&door(4, noon(), 100, London), noon(), &cfg, London);
        assert_eq!((v.verdict, v.history_days), (ReadVerdict::Normal, 3));
    }

    #[test]
    fn a_detuned_antenna_reads_below_normal() {
        let cfg = DeviceHealthConfig::default();
        let mut h = door(10, noon(), 1_000, London);
        // since 08:00 a tenth of the usual reads (a detuned antenna still reads close tags)
        for hr in (hour_of(noon()) - 4)..=hour_of(noon()) {
            h.insert(hr, 100);
        }
        let v = verdict(&h, noon(), &cfg, London);
        assert_eq!(v.verdict, ReadVerdict::BelowNormal, "{v:?}");
        assert_eq!((v.recent, v.norm), (400, Some(4_000)));
        assert_eq!(v.summary, "below normal: 400 in 6 h, norm 4,000");
        assert!(v.flagged());
        // a third of the usual reads is above the 0.3 ratio: normal
        for hr in (hour_of(noon()) - 4)..hour_of(noon()) {
            h.insert(hr, 340);
        }
        let v = verdict(&h, noon(), &cfg, London);
        assert_eq!((v.verdict, v.recent), (ReadVerdict::Normal, 1_360));
        // a device that normally reads very little is not judged on it
        let mut few = door(10, noon(), 3, London);
        for hr in (hour_of(noon()) - 4)..hour_of(noon()) {
            few.insert(hr, 0);
        }
        few.insert(hour_of(noon()), 1);
        let v = verdict(&few, noon(), &cfg, London);
        assert_eq!((v.verdict, v.norm), (ReadVerdict::Normal, Some(12)));
    }

    #[test]
    fn a_silent_reader_is_silent_but_a_quiet_night_is_not() {
        let cfg = DeviceHealthConfig::default();
        let mut h = door(10, noon(), 100, London);
        // nothing since 08:00 (and the night before is quiet anyway)
        for hr in (hour_of(noon()) - 4)..=hour_of(noon()) {
            h.insert(hr, 0);
        }
        let v = verdict(&h, noon(), &cfg, London);
        assert_eq!(v.verdict, ReadVerdict::Silent, "{v:?}");
        // the last read was 19:00-20:00 yesterday: 20:00 to 12:00 is 16 whole hours
        assert_eq!(v.silent_hours, Some(16));
        assert_eq!(v.usual_when_silent, Some(400));
        assert_eq!(
            v.summary,
            "silent for 16 h (usually 400 reads in those hours)"
        );
        assert!(v.flagged());
        // a read in the hour now running: not silent (and the window is below normal)
        h.insert(hour_of(noon()), 1);
        assert_eq!(
            verdict(&h, noon(), &cfg, London).verdict,
            ReadVerdict::BelowNormal
        );
        // a scanner used three times an hour is not called silent after a quiet morning
        let mut few = door(10, noon(), 3, London);
        for hr in (hour_of(noon()) - 4)..=hour_of(noon()) {
            few.insert(hr, 0);
        }
        let v = verdict(&few, noon(), &cfg, London);
        assert_eq!(
            (v.verdict, v.norm),
            (ReadVerdict::Normal, Some(12)),
            "{v:?}"
        );
        // 04:20: nothing since 20:00, as every night
        let four = noon() - 8 * HOUR;
        let night = door(10, four, 100, London);
        let v = verdict(&night, four, &cfg, London);
        assert_eq!(v.verdict, ReadVerdict::Normal, "{v:?}");
        assert_eq!((v.recent, v.norm), (0, Some(0)));
        // 09:20 with nothing since 20:00: one busy hour missed is enough
        let nine = noon() - 3 * HOUR;
        let mut morning = door(10, nine, 100, London);
        morning.insert(hour_of(nine) - 1, 0);
        morning.insert(hour_of(nine), 0);
        let v = verdict(&morning, nine, &cfg, London);
        assert_eq!(
            (v.verdict, v.silent_hours, v.usual_when_silent),
            (ReadVerdict::Silent, Some(13), Some(100))
        );
        // silent for days: the usual reads of the last 24 hours are given
        let mut gone = door(12, noon(), 100, London);
        for hr in (hour_of(noon()) - 50)..=hour_of(noon()) {
            gone.insert(hr, 0);
        }
        let v = verdict(&gone, noon(), &cfg, London);
        assert_eq!(
            (v.verdict, v.silent_hours, v.usual_when_silent),
            (ReadVerdict::Silent, Some(50), Some(1_200))
        );
        assert_eq!(v.summary, "silent for 2 days (usually 1,200 reads a day)");
    }

    /// A reader off for three weeks is still silent: its norm comes from before the silence,
    /// not from the silent days themselves (which would make silence the norm in a week).
    #[test]
    fn a_long_silence_stays_flagged() {
        let cfg = DeviceHealthConfig::default();
        let dir = tempfile::tempdir().unwrap();
        let db = crate::storage::Db::open(&dir.path().join("t.db"), 1).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let now = noon();
        let history = door(40, now, 100, London);
        let got = rt
            .block_on(db.write(move |c| {
                // heartbeats every hour; for the last 21 days the reader read nothing
                for (&h, &reads) in &history {
                    let reads = if h >= hour_of(now) - 21 * 24 {
                        0
                    } else {
                        reads
                    };
                    record_reads(c, "door", None, h * HOUR + 60_000, reads)?;
                }
                health_of(c, "door", now, &cfg, London)
            }))
            .unwrap();
        assert_eq!(got.verdict, ReadVerdict::Silent, "{got:?}");
        // the last read was 11:00-12:00 21 days ago
        assert_eq!(got.silent_hours, Some(21 * 24));
        assert_eq!(got.usual_when_silent, Some(1_200));
        assert_eq!(
            got.summary,
            "silent for 21 days (usually 1,200 reads a day)"
        );
        // the window's own norm has learnt the silence
        assert_eq!(got.norm, Some(0));
    }

    /// The clocks went forward at 01:00 UTC on Sunday 29 March 2026. The door keeps its local
    /// hours, so in UTC it opens an hour earlier from then on; a norm from the same UTC hours
    /// would call it silent every evening that week.
    #[test]
    fn the_same_clock_hours_across_a_clock_change() {
        let cfg = DeviceHealthConfig::default();
        // 00:20 BST on Wednesday 1 April = 23:20 UTC on 31 March; last read 19:00-20:00 BST
        let now = at((2026, 3, 31), 23, 20);
        let h = door(14, now, 100, London);
        let v = verdict(&h, now, &cfg, London);
        assert_eq!(v.verdict, ReadVerdict::Normal, "{v:?}");
        // 18:00-24:00 BST: two busy hours, today and on every earlier day
        assert_eq!((v.recent, v.norm), (200, Some(200)));
        // counted in UTC days, 19:00-20:00 UTC was a busy hour before the change
        let v = verdict(&h, now, &cfg, UTC);
        assert_eq!(v.verdict, ReadVerdict::Silent, "{v:?}");
        // the day of the change itself has 23 hours
        assert_eq!(
            same_hour_days_before(hour_of(at((2026, 3, 30), 12, 0)), 2, London),
            hour_of(at((2026, 3, 28), 13, 0))
        );
        assert_eq!(
            same_hour_days_before(hour_of(at((2026, 3, 30), 12, 0)), 1, London),
            hour_of(at((2026, 3, 29), 12, 0))
        );
    }

    #[test]
    fn counter_resets_count_the_new_reads() {
        assert_eq!(reads_since(None, 120), 120, "first report");
        assert_eq!(reads_since(Some(100), 150), 50);
        assert_eq!(reads_since(Some(150), 150), 0);
        assert_eq!(
            reads_since(Some(150), 30),
            30,
            "the bridge restarted: counting from zero again"
        );
        assert_eq!(reads_since(Some(150), 0), 0);
        // into the hour's count, through the table
        let dir = tempfile::tempdir().unwrap();
        let db = crate::storage::Db::open(&dir.path().join("t.db"), 1).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let t = noon();
        let got = rt
            .block_on(db.write(move |c| {
                record_reads(c, "door", None, t, 100)?;
                record_reads(c, "door", Some(100), t + 60_000, 150)?;
                record_reads(c, "door", Some(150), t + 120_000, 30)?;
                // the next hour, and a count from 61 days ago that is dropped
                record_reads(c, "door", Some(30), t + HOUR, 35)?;
                c.execute(
                    "INSERT INTO device_read_hours(device_id, hour, reads) VALUES ('door', ?1, 9)",
                    [hour_of(t) - 61 * 24],
                )?;
                record_reads(c, "door", Some(35), t + HOUR, 35)?;
                hours(c, "door", 0)
            }))
            .unwrap();
        let want: BTreeMap<i64, i64> = [(hour_of(t), 180), (hour_of(t) + 1, 5)].into();
        assert_eq!(got, want);
    }

    #[test]
    fn numbers_are_grouped_and_settings_checked() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_240), "1,240");
        assert_eq!(grouped(-1_234_567), "-1,234,567");
        assert!(DeviceHealthConfig::default().validate().is_ok());
        for bad in [
            DeviceHealthConfig {
                window_hours: 0,
                ..Default::default()
            },
            DeviceHealthConfig {
                below_normal_ratio: 1.5,
                ..Default::default()
            },
            DeviceHealthConfig {
                min_history_days: 20,
                ..Default::default()
            },
            DeviceHealthConfig {
                history_days: 60,
                ..Default::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
