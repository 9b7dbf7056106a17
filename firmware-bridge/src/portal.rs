//! RFID portal logic: from a torrent of tag reads to one movement per folder passage.
//!
//! Reads are filtered to GIAI-96 EPCs (folders) and GRAI-96 EPCs (containers: trolleys, bags,
//! crates) of the organisation's company prefix (the decision is cached per EPC, so the hot
//! path is one hash lookup). A passage starts at the first read of
//! a tag and ends when the tag has not been read for `exit_gap_ms` (or after
//! `max_passage_ms`). Its direction comes from antenna zones: the zone of the first and of the
//! last read (`antenna_order`) or which zone's RSSI peaked first (`rssi_peak`). After a
//! movement, reads within `dwell_ms` extend a quiet period instead of starting a new passage,
//! which stops a folder left by the door from ping-ponging in and out.
//!
//! Time: a movement's `read_at` is the reader's own time stamp of the first read when the
//! reader sends one (LLRP FirstSeenTimestampUTC) and it is within `reader_clock_max_skew_ms`
//! of the bridge's clock; otherwise the bridge's clock. The event says which (`clock`).
//! Passages end by the bridge's clock either way.

use crate::config::{DirectionMethod, PortalConfig, Undetermined};
use crate::frames::TagRead;
use casenote_core::identifiers::grai::GRAI96_HEADER;
use casenote_core::identifiers::scan::Symbology;
use casenote_core::identifiers::{Giai96, Grai96};
use casenote_core::wire::{Action, Method, ReadClock, ScanEvent};
use chrono::{DateTime, TimeZone, Utc};
use std::collections::HashMap;

/// Side of the door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    Outside,
    Inside,
}

/// Direction of a passage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
    Unknown,
}

#[derive(Debug, Clone)]
struct Passage {
    /// Time of the first read (reader's or bridge's clock, see `clock`).
    first_ms: i64,
    clock: ReadClock,
    /// Bridge time of the last read (passages end by the bridge's clock).
    last_ms: i64,
    first_zone: Option<Zone>,
    last_zone: Option<Zone>,
    reads: u32,
    /// (peak dBm, time of peak) per zone: [outside, inside].
    peak: [Option<(i16, i64)>; 2],
}

#[derive(Debug, Clone)]
enum TagState {
    /// Not one of ours: ignored.
    Foreign,
    Ours {
        passage: Option<Passage>,
        /// End of the quiet period after the last movement.
        quiet_until: i64,
    },
}

/// Counters for health and the bench.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortalStats {
    pub reads: u64,
    pub foreign_reads: u64,
    pub weak_reads: u64,
    pub passages: u64,
    pub movements: u64,
    pub suppressed: u64,
    /// Reads whose reader time stamp was further than the allowed skew from the bridge's
    /// clock (the bridge's clock was used).
    pub reader_clock_off: u64,
    /// The last such difference, reader minus bridge, in ms.
    pub reader_clock_off_ms: i64,
}

pub struct Portal {
    device_id: String,
    cfg: PortalConfig,
    company_prefix: Option<String>,
    tags: HashMap<[u8; 12], TagState>,
    pub stats: PortalStats,
}

fn zone_index(z: Zone) -> usize {
    match z {
        Zone::Outside => 0,
        Zone::Inside => 1,
    }
}

impl Portal {
    /// `company_prefix`: the GS1 prefix folder EPCs must carry (from `scan.gs1_company_prefix`).
    pub fn new(device_id: &str, cfg: PortalConfig, company_prefix: Option<String>) -> Self {
        Self {
            device_id: device_id.into(),
            cfg,
            company_prefix,
            tags: HashMap::new(),
            stats: PortalStats::default(),
        }
    }

    fn zone(&self, antenna: u16) -> Option<Zone> {
        if self.cfg.outside_antennas.contains(&antenna) {
            Some(Zone::Outside)
        } else if self.cfg.inside_antennas.contains(&antenna) {
            Some(Zone::Inside)
        } else {
            None
        }
    }

    /// A folder's GIAI-96 or a container's GRAI-96 (trolley, bag, crate) of this
    /// organisation's company prefix. A container's passage is sent like a folder's; the
    /// server moves every folder on it.
    fn is_ours(&self, epc: &[u8; 12]) -> bool {
        let Some(p) = &self.company_prefix else {
            return false;
        };
        match epc[0] {
            GRAI96_HEADER => Grai96::decode(epc).is_ok_and(|g| &g.company_prefix == p),
            _ => Giai96::decode(epc).is_ok_and(|g| &g.company_prefix == p),
        }
    }

    /// The time of a read and whose clock it is: the reader's, when it sent one within the
    /// allowed skew of `now_ms`, else `now_ms`.
    fn read_time(&mut self, read: &TagRead, now_ms: i64) -> (i64, ReadClock) {
        let Some(us) = read.seen_at_us else {
            return (now_ms, ReadClock::Bridge);
        };
        let at = i64::try_from(us / 1000).unwrap_or(i64::MAX);
        let max = i64::try_from(self.cfg.reader_clock_max_skew_ms).unwrap_or(i64::MAX);
        if max > 0 && at.abs_diff(now_ms) <= max.unsigned_abs() {
            (at, ReadClock::Reader)
        } else {
            self.stats.reader_clock_off += 1;
            self.stats.reader_clock_off_ms = at.saturating_sub(now_ms);
            (now_ms, ReadClock::Bridge)
        }
    }

    /// Record one read arriving at `now_ms` (milliseconds since the Unix epoch, bridge clock).
    /// Movements come out of [`Portal::tick`].
    pub fn on_read(&mut self, read: &TagRead, now_ms: i64) {
        self.stats.reads += 1;
        let (at, clock) = self.read_time(read, now_ms);
        let Ok(key) = <[u8; 12]>::try_from(read.epc.as_slice()) else {
            self.stats.foreign_reads += 1;
            return;
        };
        if let (Some(min), Some(r)) = (self.cfg.min_rssi_dbm, read.rssi_dbm) {
            if r < min {
                self.stats.weak_reads += 1;
                return;
            }
        }
        let zone = self.zone(read.antenna);
        if !self.tags.contains_key(&key) {
            if self.tags.len() > 100_000 {
                self.tags.retain(|_, s| !matches!(s, TagState::Foreign));
            }
            let st = if self.is_ours(&key) {
                TagState::Ours {
                    passage: None,
                    quiet_until: i64::MIN,
                }
            } else {
                TagState::Foreign
            };
            self.tags.insert(key, st);
        }
        let dwell = self.cfg.dwell_ms as i64;
        match self.tags.get_mut(&key).expect("inserted above") {
            TagState::Foreign => self.stats.foreign_reads += 1,
            TagState::Ours {
                passage,
                quiet_until,
            } => {
                if passage.is_none() && now_ms < *quiet_until {
                    // Same visit as the last movement: stay quiet for longer.
                    *quiet_until = now_ms + dwell;
                    self.stats.suppressed += 1;
                    return;
                }
                let p = passage.get_or_insert_with(|| Passage {
                    first_ms: at,
                    clock,
                    last_ms: now_ms,
                    first_zone: None,
                    last_zone: None,
                    reads: 0,
                    peak: [None, None],
                });
                p.last_ms = now_ms;
                p.reads += 1;
                if let Some(z) = zone {
                    p.first_zone.get_or_insert(z);
                    p.last_zone = Some(z);
                    if let Some(r) = read.rssi_dbm {
                        let slot = &mut p.peak[zone_index(z)];
                        if slot.is_none_or(|(best, _)| r > best) {
                            *slot = Some((r, at));
                        }
                    }
                }
            }
        }
    }

    /// Close passages that have ended by `now_ms` and return their movements.
    pub fn tick(&mut self, now_ms: i64) -> Vec<ScanEvent> {
        let gap = self.cfg.exit_gap_ms as i64;
        let max = self.cfg.max_passage_ms as i64;
        let dwell = self.cfg.dwell_ms as i64;
        let mut closed = Vec::new();
        self.tags.retain(|epc, st| match st {
            TagState::Foreign => true,
            TagState::Ours {
                passage,
                quiet_until,
            } => {
                if let Some(p) = passage {
                    if now_ms - p.last_ms > gap || now_ms - p.first_ms > max {
                        *quiet_until = p.last_ms.max(now_ms - gap) + dwell;
                        closed.push((*epc, passage.take().expect("is some")));
                    }
                }
                // forget tags that are idle and past their quiet period
                passage.is_some() || now_ms < *quiet_until
            }
        });
        let mut out = Vec::new();
        for (epc, p) in closed {
            self.stats.passages += 1;
            if p.reads < self.cfg.min_reads {
                continue;
            }
            let dir = self.direction(&p);
            if let Some(e) = self.movement(&epc, &p, dir) {
                self.stats.movements += 1;
                out.push(e);
            }
        }
        out
    }

    fn direction(&self, p: &Passage) -> Direction {
        let from_zones = |a: Option<Zone>, b: Option<Zone>| match (a, b) {
            (Some(Zone::Outside), Some(Zone::Inside)) => Direction::In,
            (Some(Zone::Inside), Some(Zone::Outside)) => Direction::Out,
            _ => Direction::Unknown,
        };
        match self.cfg.direction {
            DirectionMethod::AntennaOrder => from_zones(p.first_zone, p.last_zone),
            DirectionMethod::RssiPeak => match (p.peak[0], p.peak[1]) {
                (Some((_, t_out)), Some((_, t_in))) if t_out < t_in => Direction::In,
                (Some((_, t_out)), Some((_, t_in))) if t_in < t_out => Direction::Out,
                // equal or missing RSSI: fall back to read order
                _ => from_zones(p.first_zone, p.last_zone),
            },
        }
    }

    fn movement(&self, epc: &[u8; 12], p: &Passage, dir: Direction) -> Option<ScanEvent> {
        let (action, destination) = match dir {
            Direction::In => (Action::Receive, None),
            Direction::Out => (Action::Dispatch, self.cfg.outside_location.clone()),
            Direction::Unknown => match self.cfg.undetermined {
                Undetermined::Seen => (Action::Seen, None),
                Undetermined::Ignore => return None,
            },
        };
        let read_at: DateTime<Utc> = Utc
            .timestamp_millis_opt(p.first_ms)
            .single()
            .unwrap_or_else(Utc::now);
        let mut e = ScanEvent::new(
            &self.device_id,
            None,
            read_at,
            hex::encode_upper(epc),
            Symbology::Rfid,
            Method::Rfid,
            self.cfg.location.clone(),
            action,
            destination,
        );
        e.clock = Some(p.clock);
        Some(e)
    }

    /// Tags currently tracked (ours, in a passage or quiet period).
    pub fn active_tags(&self) -> usize {
        self.tags
            .values()
            .filter(|s| matches!(s, TagState::Ours { .. }))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn epc(asset: u64) -> Vec<u8> {
        Giai96 {
            filter: 1,
            company_prefix: "0614141".into(),
            asset_reference: asset,
        }
        .encode()
        .unwrap()
        .to_vec()
    }

    fn cfg() -> PortalConfig {
        PortalConfig {
            location: "LWARD5".into(),
            outside_location: Some("LCORRIDOR".into()),
            ..Default::default()
        }
    }

    fn portal(c: PortalConfig) -> Portal {
        Portal::new("ward5-portal", c, Some("0614141".into()))
    }

    fn read(p: &mut Portal, asset: u64, ant: u16, rssi: i16, t: i64) {
        p.on_read(
            &TagRead {
                epc: epc(asset),
                antenna: ant,
                rssi_dbm: Some(rssi),
                seen_at_us: None,
            },
            t,
        );
    }

    /// The reader's time is used when it is close to the bridge's, and the event says so; a
    /// reader clock an hour out is not trusted.
    #[test]
    fn reader_time_when_sane_else_bridge_time() {
        let t0: i64 = 1_800_000_000_000;
        let pass = |skew_ms: i64| {
            let mut p = portal(cfg());
            for i in 0..10 {
                let arrive = t0 + i * 50;
                p.on_read(
                    &TagRead {
                        epc: epc(9),
                        antenna: if i < 5 { 1 } else { 2 },
                        rssi_dbm: Some(-60),
                        // the reader saw it 300 ms before the report reached the bridge
                        seen_at_us: Some(((arrive - 300 + skew_ms) * 1000) as u64),
                    },
                    arrive,
                );
            }
            let e = p.tick(t0 + 10_000).remove(0);
            (e, p.stats)
        };
        let (e, stats) = pass(0);
        assert_eq!(e.read_at.timestamp_millis(), t0 - 300);
        assert_eq!(e.clock, Some(ReadClock::Reader));
        assert_eq!(e.action, Action::Receive);
        assert_eq!(stats.reader_clock_off, 0);
        let (e, stats) = pass(3_600_000);
        assert_eq!(e.read_at.timestamp_millis(), t0, "the bridge's time");
        assert_eq!(e.clock, Some(ReadClock::Bridge));
        assert_eq!(stats.reader_clock_off, 10);
        assert_eq!(stats.reader_clock_off_ms, 3_600_000 - 300);
        // a reader that sends no time: the bridge's clock, and the event says so
        let mut p = portal(cfg());
        read(&mut p, 9, 1, -60, t0);
        read(&mut p, 9, 2, -60, t0 + 50);
        assert_eq!(p.tick(t0 + 10_000)[0].clock, Some(ReadClock::Bridge));
    }

    /// A folder carried from the corridor (antenna 1) into the ward (antenna 2), read
    /// hundreds of times, gives exactly one receive.
    #[test]
    fn one_movement_per_passage_inward() {
        let mut p = portal(cfg());
        let t0 = 1_800_000_000_000;
        let mut events = Vec::new();
        for i in 0..300 {
            let t = t0 + i * 5;
            let ant = if i < 120 {
                1
            } else if i < 180 {
                [1, 2][i as usize % 2]
            } else {
                2
            };
            read(&mut p, 7, ant, -60, t);
            events.extend(p.tick(t));
        }
        assert!(
            events.is_empty(),
            "no movement while the tag is still in the field"
        );
        events.extend(p.tick(t0 + 1500 + 2001));
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(e.action, Action::Receive);
        assert_eq!(e.location, "LWARD5");
        assert_eq!(e.raw, "3434257BF400000000000007");
        assert_eq!(e.symbology, Some(Symbology::Rfid));
        assert_eq!(e.read_at.timestamp_millis(), t0);
        assert!(p.tick(t0 + 100_000).is_empty());
    }

    #[test]
    fn outward_dispatch_and_foreign_filtered() {
        let mut p = portal(cfg());
        let t0 = 0;
        for i in 0..50 {
            read(&mut p, 8, if i < 25 { 2 } else { 1 }, -55, t0 + i * 10);
            // another organisation's tag and a non-GIAI tag in the same field
            p.on_read(
                &TagRead {
                    epc: hex::decode("341816E80000000000010015").unwrap(),
                    antenna: 1,
                    rssi_dbm: None,
                    seen_at_us: None,
                },
                t0 + i * 10,
            );
            p.on_read(
                &TagRead {
                    epc: hex::decode("E200301666130121155074EF").unwrap(),
                    antenna: 2,
                    rssi_dbm: None,
                    seen_at_us: None,
                },
                t0 + i * 10,
            );
        }
        let ev = p.tick(10_000);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].action, Action::Dispatch);
        assert_eq!(ev[0].destination.as_deref(), Some("LCORRIDOR"));
        assert_eq!(p.stats.foreign_reads, 100);
    }

    #[test]
    fn dwell_stops_ping_pong() {
        let mut p = portal(cfg());
        let mut events = Vec::new();
        // passage in
        for i in 0..20 {
            read(&mut p, 9, if i < 10 { 1 } else { 2 }, -60, i * 10);
        }
        events.extend(p.tick(3000));
        assert_eq!(events.len(), 1);
        // the folder is then left near the door and read on and off, alternating sides,
        // for a minute: no further movements
        let mut t = 3000;
        for k in 0..60 {
            for i in 0..5 {
                read(&mut p, 9, if k % 2 == 0 { 1 } else { 2 }, -70, t + i * 10);
            }
            t += 1000;
            events.extend(p.tick(t));
        }
        events.extend(p.tick(t + 3000));
        assert_eq!(
            events.len(),
            1,
            "{:?}",
            events.iter().map(|e| e.action).collect::<Vec<_>>()
        );
        // after the quiet period a real passage out is a new movement
        let t2 = t + 20_000;
        for i in 0..20 {
            read(&mut p, 9, if i < 10 { 2 } else { 1 }, -60, t2 + i * 10);
        }
        events.extend(p.tick(t2 + 5000));
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].action, Action::Dispatch);
    }

    #[test]
    fn rssi_peak_direction() {
        let mut c = cfg();
        c.direction = DirectionMethod::RssiPeak;
        let mut p = portal(c);
        // both antennas read throughout; outside peaks early, inside peaks late => in
        for i in 0..100i64 {
            let out_rssi = -40 - (i as i16 / 2);
            let in_rssi = -90 + (i as i16 / 2);
            read(&mut p, 10, 2, in_rssi, i * 10); // inside antenna read first each time
            read(&mut p, 10, 1, out_rssi, i * 10 + 1);
        }
        let ev = p.tick(10_000);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].action, Action::Receive);
    }

    #[test]
    fn undetermined_and_min_reads() {
        let mut p = portal(cfg());
        read(&mut p, 11, 2, -60, 0); // a single stray read: below min_reads
        assert!(p.tick(5000).is_empty());
        for i in 0..10 {
            read(&mut p, 12, 2, -60, 20_000 + i);
        }
        let ev = p.tick(30_000);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].action, Action::Seen);
        let mut c = cfg();
        c.undetermined = Undetermined::Ignore;
        let mut p = portal(c);
        for i in 0..10 {
            read(&mut p, 12, 2, -60, i);
        }
        assert!(p.tick(30_000).is_empty());
    }
}
