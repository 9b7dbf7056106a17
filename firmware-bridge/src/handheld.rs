//! Handheld scanner sessions: scan a location card (or ward door label), optionally a staff
//! badge, then folders. Folder scans become events; location and badge scans change the
//! session. The session is forgotten after `session_timeout_s` without a scan.
//!
//! Containers (trolleys, bags, crates; their GRAI label): scanning one starts loading it, so
//! the folders scanned next are sent as loaded onto it (`container` in the event), until a
//! location card, another container or the session's end. Scanned after a location card, the
//! container is also sent as an event at that place: the server moves every folder on it
//! there. So a porter scans "library card, trolley, folders..." to load, "Ward 5 card,
//! trolley" on arrival, and "Ward 5 card, folder" to take one folder off at the ward.
//!
//! This is the pure logic; the device thread keeps the session and held scans durable in the
//! queue's database ([`crate::handheld_store`]) so that a bridge restart loses neither.

use crate::config::{HandheldConfig, WithoutLocation};
use crate::frames::BarcodeRead;
use crate::handheld_store::SessionState;
use casenote_core::identifiers::scan::{classify, ScanConfig, ScanTarget};
use casenote_core::wire::{Action, Method, ScanEvent};
use chrono::{DateTime, Utc};

/// What a scan did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandheldOutcome {
    /// A folder scan: queue this event.
    Event(ScanEvent),
    LocationSet(String),
    StaffSet(String),
    /// A container label with no location known yet: the next folders are loaded onto it
    /// (its GRAI). With a location known, a container scan is an [`HandheldOutcome::Event`].
    ContainerSet(String),
    /// The same payload again within the repeat window.
    Repeat,
    /// Not a folder, place or badge. The reason never contains the payload.
    Ignored(String),
    /// A folder scanned before any location card (and no default location), with
    /// `without_location = "refuse"`: not queued, since the server cannot place it. The porter
    /// is told to scan a location card first.
    NoLocation,
    /// A folder scanned before any location card, with `without_location = "hold"`: this
    /// event (its `location` empty) is to be held until the next location card.
    Held(ScanEvent),
}

#[derive(Debug)]
pub struct Handheld {
    device_id: String,
    cfg: HandheldConfig,
    location: Option<String>,
    staff: Option<String>,
    /// The container being loaded (its GRAI), if any.
    container: Option<String>,
    last_scan: Option<DateTime<Utc>>,
    last_payload: Option<(String, DateTime<Utc>)>,
}

impl Handheld {
    pub fn new(device_id: &str, cfg: HandheldConfig) -> Self {
        Self {
            device_id: device_id.into(),
            cfg,
            location: None,
            staff: None,
            container: None,
            last_scan: None,
            last_payload: None,
        }
    }

    /// The container being loaded (its GRAI), if any.
    pub fn container(&self) -> Option<&str> {
        self.container.as_deref()
    }

    pub fn location(&self) -> Option<&str> {
        self.location
            .as_deref()
            .or(self.cfg.default_location.as_deref())
    }

    pub fn staff(&self) -> Option<&str> {
        self.staff.as_deref()
    }

    /// The session, to be stored.
    pub fn session(&self) -> SessionState {
        SessionState {
            location: self.location.clone(),
            staff: self.staff.clone(),
            container: self.container.clone(),
            last_scan: self.last_scan,
        }
    }

    /// Take up a stored session (after a restart), unless it has expired by `now`.
    pub fn restore(&mut self, s: SessionState, now: DateTime<Utc>) {
        self.location = s.location;
        self.staff = s.staff;
        self.container = s.container;
        self.last_scan = s.last_scan;
        self.expire(now);
    }

    /// Whether the session has a location or badge that `now` is past the timeout of.
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        (self.location.is_some() || self.staff.is_some() || self.container.is_some())
            && self.last_scan.is_some_and(|last| {
                (now - last).num_milliseconds() > (self.cfg.session_timeout_s * 1000) as i64
            })
    }

    /// How long a session lasts without a scan.
    pub fn timeout(&self) -> chrono::Duration {
        chrono::Duration::seconds(self.cfg.session_timeout_s as i64)
    }

    fn expire(&mut self, now: DateTime<Utc>) {
        if self.expired(now) {
            self.location = None;
            self.staff = None;
            self.container = None;
        }
    }

    /// Handle one barcode read at `now`.
    pub fn on_scan(
        &mut self,
        read: &BarcodeRead,
        now: DateTime<Utc>,
        scan: &ScanConfig,
    ) -> HandheldOutcome {
        self.expire(now);
        if let Some((p, t)) = &self.last_payload {
            if *p == read.raw && (now - *t).num_milliseconds() < self.cfg.repeat_suppress_ms as i64
            {
                return HandheldOutcome::Repeat;
            }
        }
        self.last_payload = Some((read.raw.clone(), now));
        let outcome = match classify(&read.raw, scan) {
            ScanTarget::Folder { .. } => {
                // A stock-take scanner sends shelf audit scans: the folder was seen on the shelf.
                let (method, action) = if self.cfg.audit {
                    (Method::Audit, Action::Seen)
                } else {
                    (Method::Barcode, self.cfg.action)
                };
                let event = |location: &str| {
                    let e = ScanEvent::new(
                        &self.device_id,
                        self.staff.clone(),
                        now,
                        read.raw.clone(),
                        read.symbology,
                        method,
                        location.to_string(),
                        action,
                        None,
                    );
                    match &self.container {
                        Some(grai) => e.onto(grai.clone()),
                        None => e,
                    }
                };
                match (self.location(), self.cfg.without_location) {
                    (Some(location), _) => HandheldOutcome::Event(event(location)),
                    (None, WithoutLocation::Hold) => HandheldOutcome::Held(event("")),
                    (None, WithoutLocation::Refuse) => HandheldOutcome::NoLocation,
                }
            }
            ScanTarget::Location { code } => {
                self.location = Some(code.clone());
                self.container = None;
                HandheldOutcome::LocationSet(code)
            }
            ScanTarget::LocationGln { gln } => {
                self.location = Some(gln.clone());
                self.container = None;
                HandheldOutcome::LocationSet(gln)
            }
            // A stock-take scanner counts folders on a shelf: a trolley's label is not loaded.
            ScanTarget::Container { .. } if self.cfg.audit => HandheldOutcome::Ignored(
                "a container label on a stock-take scanner (shelf audits count folders)".into(),
            ),
            ScanTarget::Container { grai } => {
                self.container = Some(grai.clone());
                match self.location() {
                    Some(location) => HandheldOutcome::Event(ScanEvent::new(
                        &self.device_id,
                        self.staff.clone(),
                        now,
                        read.raw.clone(),
                        read.symbology,
                        Method::Barcode,
                        location.to_string(),
                        self.cfg.action,
                        None,
                    )),
                    None => HandheldOutcome::ContainerSet(grai),
                }
            }
            ScanTarget::Staff { badge } => {
                self.staff = Some(badge.clone());
                HandheldOutcome::StaffSet(badge)
            }
            ScanTarget::Unknown { reason } => {
                // The reason may quote the payload: keep only a generic category.
                let kind = reason.split(':').next().unwrap_or("unknown").to_string();
                return HandheldOutcome::Ignored(kind);
            }
        };
        self.last_scan = Some(now);
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use casenote_core::identifiers::scan::Symbology;

    fn read(s: &str) -> BarcodeRead {
        BarcodeRead::from_bytes(s.as_bytes(), Symbology::Unknown)
    }

    /// A location card or badge as printed: code, '/', check character.
    fn card(code: &str) -> String {
        casenote_core::identifiers::card_payload(code).unwrap()
    }

    fn scan_cfg() -> ScanConfig {
        ScanConfig {
            gs1_company_prefix: Some("0614141".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_folder_before_any_location_is_held_or_refused_never_sent_without_one() {
        let sc = scan_cfg();
        let folder = sc.folder.format(7).text;
        let mut h = Handheld::new("hh1", HandheldConfig::default());
        let t0 = Utc::now();
        let HandheldOutcome::Held(e) = h.on_scan(&read(&format!("]C0{folder}")), t0, &sc) else {
            panic!("held by default")
        };
        assert_eq!(e.location, "", "no location yet: held, not sent");
        let mut h = Handheld::new(
            "hh1",
            HandheldConfig {
                without_location: WithoutLocation::Refuse,
                ..Default::default()
            },
        );
        let t0 = Utc::now();
        assert_eq!(
            h.on_scan(&read(&format!("]C0{folder}")), t0, &sc),
            HandheldOutcome::NoLocation
        );
        h.on_scan(&read(&format!("]C0{}", card("LWARD5"))), t0, &sc);
        let t1 = t0 + chrono::Duration::seconds(1);
        let HandheldOutcome::Event(e) = h.on_scan(&read(&format!("]C0{folder}")), t1, &sc) else {
            panic!("a folder after a location card is an event")
        };
        assert_eq!(e.location, "LWARD5");
    }

    #[test]
    fn location_badge_then_folders() {
        let sc = scan_cfg();
        let folder = sc.folder.format(123).text;
        let mut h = Handheld::new("hh1", HandheldConfig::default());
        let t0 = Utc::now();
        assert_eq!(
            h.on_scan(&read(&format!("]C0{}", card("LWARD5"))), t0, &sc),
            HandheldOutcome::LocationSet("LWARD5".into())
        );
        assert_eq!(
            h.on_scan(&read(&card("S00042")), t0, &sc),
            HandheldOutcome::StaffSet("S00042".into())
        );
        let HandheldOutcome::Event(e) = h.on_scan(&read(&format!("]C0{folder}")), t0, &sc) else {
            panic!()
        };
        assert_eq!(e.location, "LWARD5");
        assert_eq!(e.staff_id.as_deref(), Some("S00042"));
        assert_eq!(e.action, Action::Receive);
        assert_eq!(e.symbology, Some(Symbology::Code128));
        assert_eq!(e.raw, format!("]C0{folder}"));
        // double read suppressed, a later read is a new event
        assert_eq!(
            h.on_scan(&read(&format!("]C0{folder}")), t0, &sc),
            HandheldOutcome::Repeat
        );
        let t1 = t0 + chrono::Duration::seconds(5);
        assert!(matches!(
            h.on_scan(&read(&format!("]C0{folder}")), t1, &sc),
            HandheldOutcome::Event(_)
        ));
        // GS1 location (GLN) and GIAI folder
        assert_eq!(
            h.on_scan(&read("]C14140614141000005"), t1, &sc),
            HandheldOutcome::LocationSet("0614141000005".into())
        );
        let HandheldOutcome::Event(e) = h.on_scan(&read("]d2800406141411234"), t1, &sc) else {
            panic!()
        };
        assert_eq!(e.location, "0614141000005");
        assert_eq!(e.symbology, Some(Symbology::Gs1DataMatrix));
    }

    /// A drug or lab label starting with L or S read between the ward card and the folders
    /// does not replace the location or badge: it is ignored, and the folder goes to the ward.
    #[test]
    fn a_lab_label_is_not_a_location_card() {
        let sc = scan_cfg();
        let folder = sc.folder.format(11).text;
        let mut h = Handheld::new("hh1", HandheldConfig::default());
        let t0 = Utc::now();
        h.on_scan(&read(&format!("]C0{}", card("LWARD5"))), t0, &sc);
        h.on_scan(&read(&format!("]C0{}", card("S00042"))), t0, &sc);
        for label in ["]C0LOT2024A", "]C0SAMPLE7", "]C0LWARD9"] {
            assert!(
                matches!(
                    h.on_scan(&read(label), t0, &sc),
                    HandheldOutcome::Ignored(_)
                ),
                "{label}"
            );
        }
        let HandheldOutcome::Event(e) = h.on_scan(&read(&format!("]C0{folder}")), t0, &sc) else {
            panic!()
        };
        assert_eq!(e.location, "LWARD5");
        assert_eq!(e.staff_id.as_deref(), Some("S00042"));
    }

    #[test]
    fn a_restored_session_keeps_its_location_until_it_expires() {
        let sc = scan_cfg();
        let folder = sc.folder.format(5).text;
        let t0 = Utc::now();
        let mut h = Handheld::new("hh1", HandheldConfig::default());
        h.on_scan(&read(&format!("]C0{}", card("LWARD5"))), t0, &sc);
        let stored = h.session();
        // the bridge restarts a minute later: same location
        let mut h = Handheld::new("hh1", HandheldConfig::default());
        h.restore(stored.clone(), t0 + chrono::Duration::seconds(60));
        assert_eq!(h.location(), Some("LWARD5"));
        let t1 = t0 + chrono::Duration::seconds(61);
        let HandheldOutcome::Event(e) = h.on_scan(&read(&format!("]C0{folder}")), t1, &sc) else {
            panic!()
        };
        assert_eq!(e.location, "LWARD5");
        // restarted after the session time: forgotten
        let mut h = Handheld::new("hh1", HandheldConfig::default());
        h.restore(stored, t0 + chrono::Duration::seconds(301));
        assert_eq!(h.location(), None);
    }

    /// Library card, trolley, folders: loads. Ward card, trolley: the trolley's event at the
    /// ward. Ward card again, folder: an ordinary scan (the server takes it off the trolley).
    #[test]
    fn trolley_loading_arrival_and_unloading() {
        let sc = scan_cfg();
        let trolley = casenote_core::identifiers::Grai::new("0614141", "00001", "3").unwrap();
        let label = format!("]C18003{}", trolley.ai_value());
        let folders: Vec<String> = (1..=3)
            .map(|n| format!("]C0{}", sc.folder.format(n).text))
            .collect();
        let mut h = Handheld::new("hh1", HandheldConfig::default());
        let t0 = Utc::now();
        // no place yet: the trolley only starts loading
        assert_eq!(
            h.on_scan(&read(&label), t0, &sc),
            HandheldOutcome::ContainerSet(trolley.ai_value())
        );
        h.on_scan(&read(&card("LLIB")), t0, &sc);
        assert_eq!(h.container(), None, "a location card ends loading");
        let t1 = t0 + chrono::Duration::seconds(2);
        let HandheldOutcome::Event(e) = h.on_scan(&read(&label), t1, &sc) else {
            panic!("the trolley at the library is an event there")
        };
        assert_eq!(
            (e.location.as_str(), e.container.as_deref()),
            ("LLIB", None)
        );
        assert_eq!(e.raw, label);
        for (i, f) in folders.iter().enumerate() {
            let t = t1 + chrono::Duration::seconds(i as i64 + 1);
            let HandheldOutcome::Event(e) = h.on_scan(&read(f), t, &sc) else {
                panic!()
            };
            assert_eq!(e.container.as_deref(), Some(trolley.ai_value().as_str()));
            assert_eq!(e.location, "LLIB");
        }
        // the session, container included, survives a restart
        let stored = h.session();
        assert_eq!(
            stored.container.as_deref(),
            Some(trolley.ai_value().as_str())
        );
        let mut h = Handheld::new("hh1", HandheldConfig::default());
        h.restore(stored, t1 + chrono::Duration::seconds(30));
        assert_eq!(h.container(), Some(trolley.ai_value().as_str()));
        // at the ward: card, then trolley
        let t2 = t1 + chrono::Duration::seconds(60);
        h.on_scan(&read(&card("LWARD5")), t2, &sc);
        let HandheldOutcome::Event(e) = h.on_scan(&read(&label), t2, &sc) else {
            panic!()
        };
        assert_eq!(
            (e.location.as_str(), e.container.as_deref()),
            ("LWARD5", None)
        );
        // card again, then a folder: a plain scan at the ward
        let t3 = t2 + chrono::Duration::seconds(5);
        h.on_scan(&read(&card("LWARD5")), t3, &sc);
        let HandheldOutcome::Event(e) = h.on_scan(&read(&folders[0]), t3, &sc) else {
            panic!()
        };
        assert_eq!(
            (e.location.as_str(), e.container.as_deref()),
            ("LWARD5", None)
        );
        // a trolley's RFID tag number scanned as a barcode is the trolley too
        let tag = trolley.to_epc(0).unwrap().to_hex().unwrap();
        let t4 = t3 + chrono::Duration::seconds(5);
        assert!(matches!(
            h.on_scan(&read(&tag), t4, &sc),
            HandheldOutcome::Event(_)
        ));
        assert_eq!(h.container(), Some(trolley.ai_value().as_str()));
    }

    #[test]
    fn session_timeout_and_default_location() {
        let sc = scan_cfg();
        let folder = sc.folder.format(9).text;
        let mut h = Handheld::new(
            "hh1",
            HandheldConfig {
                session_timeout_s: 60,
                default_location: Some("LDESK".into()),
                ..Default::default()
            },
        );
        let t0 = Utc::now();
        h.on_scan(&read(&card("LWARD5")), t0, &sc);
        h.on_scan(&read(&card("S1")), t0, &sc);
        let later = t0 + chrono::Duration::seconds(61);
        let HandheldOutcome::Event(e) = h.on_scan(&read(&folder), later, &sc) else {
            panic!()
        };
        assert_eq!(e.location, "LDESK");
        assert_eq!(e.staff_id, None);
        // unknown payloads are ignored without quoting them
        match h.on_scan(&read("0101201234"), later, &sc) {
            HandheldOutcome::Ignored(r) => assert!(!r.contains("0101201234")),
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn a_stock_take_scanner_sends_audit_scans_at_the_shelf() {
        let sc = scan_cfg();
        let folder = sc.folder.format(77).text;
        let mut h = Handheld::new(
            "library-audit",
            HandheldConfig {
                audit: true,
                ..Default::default()
            },
        );
        let t0 = Utc::now();
        assert_eq!(
            h.on_scan(&read(&format!("]C0{}", card("LSHELF1"))), t0, &sc),
            HandheldOutcome::LocationSet("LSHELF1".into())
        );
        let HandheldOutcome::Event(e) = h.on_scan(&read(&format!("]C0{folder}")), t0, &sc) else {
            panic!("a folder after the shelf card is an event")
        };
        assert_eq!(e.method, Method::Audit);
        assert_eq!(e.action, Action::Seen, "not the configured receive");
        assert_eq!(e.location, "LSHELF1");
        // a trolley's label is not loaded (nor sent) by a stock-take scanner: the next folder
        // is still an audit scan of the shelf, not a load
        let trolley = casenote_core::identifiers::Grai::new("0614141", "00001", "3").unwrap();
        let label = format!("]C18003{}", trolley.ai_value());
        assert!(matches!(
            h.on_scan(&read(&label), t0, &sc),
            HandheldOutcome::Ignored(_)
        ));
        assert_eq!(h.container(), None);
        let other = sc.folder.format(78).text;
        let HandheldOutcome::Event(e) = h.on_scan(&read(&format!("]C0{other}")), t0, &sc) else {
            panic!("a folder after the label is still an audit scan")
        };
        assert_eq!((e.method, e.container.as_deref()), (Method::Audit, None));
        // an ordinary handheld still sends barcode scans
        let mut h = Handheld::new("porter", HandheldConfig::default());
        h.on_scan(&read(&format!("]C0{}", card("LWARD5"))), t0, &sc);
        let HandheldOutcome::Event(e) = h.on_scan(&read(&format!("]C0{folder}")), t0, &sc) else {
            panic!()
        };
        assert_eq!(e.method, Method::Barcode);
    }
}
