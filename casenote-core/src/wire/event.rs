//! One scan event: a folder read by a device (or typed by a person) at a place.

use crate::identifiers::scan::Symbology;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// Most events accepted in one `POST /api/v1/events`.
pub const MAX_BATCH: usize = 5000;

/// How the folder was identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Barcode,
    Rfid,
    Manual,
    /// Scanned on a shelf during a shelf audit (stock-take): the server adds the scan to the
    /// open audit of `location`. Added after the first release; bridges that never send it
    /// keep working unchanged.
    Audit,
}

impl Method {
    pub const ALL: [Self; 4] = [Self::Barcode, Self::Rfid, Self::Manual, Self::Audit];

    /// The word on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Barcode => "barcode",
            Self::Rfid => "rfid",
            Self::Manual => "manual",
            Self::Audit => "audit",
        }
    }
}

/// What happened to the folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Seen at `location` (audit, stock check).
    #[default]
    Seen,
    /// Left `location` (towards `destination`).
    Dispatch,
    /// Arrived at `location`.
    Receive,
}

impl Action {
    pub const ALL: [Self; 3] = [Self::Seen, Self::Dispatch, Self::Receive];

    /// The word on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Seen => "seen",
            Self::Dispatch => "dispatch",
            Self::Receive => "receive",
        }
    }
}

/// Display, and (with the `sqlite` feature) SQLite storage, as the same words as on the wire.
macro_rules! words {
    ($t:ty) => {
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $t {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                Self::ALL
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| format!("{s:?} is not a {}", stringify!($t).to_lowercase()))
            }
        }

        #[cfg(feature = "sqlite")]
        impl rusqlite::types::ToSql for $t {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(rusqlite::types::ToSqlOutput::from(self.as_str()))
            }
        }

        #[cfg(feature = "sqlite")]
        impl rusqlite::types::FromSql for $t {
            fn column_result(
                v: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                v.as_str()?
                    .parse()
                    .map_err(|e: String| rusqlite::types::FromSqlError::Other(e.into()))
            }
        }
    };
}

words!(Method);
words!(Action);

/// Whose clock `read_at` comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadClock {
    /// The reader's own time stamp (LLRP FirstSeenTimestampUTC), within the allowed skew of
    /// the bridge's clock.
    Reader,
    /// The bridge's clock when the read arrived (the reader sent no time, or its clock was
    /// too far from the bridge's to trust).
    Bridge,
}

/// One event, exactly as posted to `POST /api/v1/events`. The `event_id` is made when the read
/// happens (UUID version 7), so a replay after a crash or an outage is recognised by the server
/// and stored once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanEvent {
    #[serde(deserialize_with = "event_id")]
    pub event_id: Uuid,
    /// The device that read it (or `web:<user>` for the scan page).
    pub device_id: String,
    /// The staff badge of whoever carried the folder, when known.
    #[serde(default)]
    pub staff_id: Option<String>,
    /// When the device read the barcode or tag (RFC 3339; sent with milliseconds and `Z`).
    #[serde(serialize_with = "rfc3339_millis", deserialize_with = "rfc3339")]
    pub read_at: DateTime<Utc>,
    /// The payload as read: AIM identifier included for barcodes, EPC as hex for RFID.
    pub raw: String,
    /// The symbology; the server infers it from the AIM identifier when absent.
    #[serde(default)]
    pub symbology: Option<Symbology>,
    pub method: Method,
    /// Code or GLN of the place the folder was seen at (or moved into). Always present: a read
    /// with no known place is never sent.
    pub location: String,
    #[serde(default)]
    pub action: Action,
    /// Where a dispatched folder is going (required with `dispatch`).
    #[serde(default)]
    pub destination: Option<String>,
    /// Whose clock `read_at` is from, when the sender says (RFID portals do).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<ReadClock>,
    /// A folder scanned onto a container (trolley, bag, crate) rather than at a place: the
    /// container's GRAI (the value of AI 8003) or its registered name. The folder goes onto
    /// the container; its place changes when the container is next scanned at a place. Absent
    /// (and not sent) for every other scan, so bridges that never load containers send
    /// exactly what they always sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

fn rfc3339_millis<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn rfc3339<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let s = String::deserialize(d)?;
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            serde::de::Error::custom("must be an RFC 3339 time, e.g. 2026-11-25T08:00:00Z")
        })
}

fn event_id<'de, D: Deserializer<'de>>(d: D) -> Result<Uuid, D::Error> {
    let s = String::deserialize(d)?;
    Uuid::parse_str(s.trim())
        .map_err(|_| serde::de::Error::custom("must be a UUID made by the sender"))
}

impl ScanEvent {
    /// A new event with a fresh UUID version 7 (random, but time-ordered, so the server's
    /// duplicate index grows at its end instead of at random places).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        device_id: &str,
        staff_id: Option<String>,
        read_at: DateTime<Utc>,
        raw: String,
        symbology: Symbology,
        method: Method,
        location: String,
        action: Action,
        destination: Option<String>,
    ) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            device_id: device_id.to_string(),
            staff_id,
            read_at,
            raw,
            symbology: Some(symbology),
            method,
            location,
            action,
            destination,
            clock: None,
            container: None,
        }
    }

    /// The same scan, as a folder loaded onto the container `grai` (see [`ScanEvent::container`]).
    pub fn onto(mut self, grai: impl Into<String>) -> Self {
        self.container = Some(grai.into());
        self
    }

    /// The JSON object for this event.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    #[test]
    fn json_matches_contract() {
        let t = Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0).unwrap()
            + chrono::Duration::milliseconds(123);
        let e = ScanEvent::new(
            "ward5-portal",
            Some("S00042".into()),
            t,
            "]C0F0000123457".into(),
            Symbology::Gs1_128,
            Method::Barcode,
            "LWARD5".into(),
            Action::Receive,
            None,
        );
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(v["read_at"], "2026-11-25T08:00:00.123Z");
        assert_eq!(v["symbology"], "gs1_128");
        assert_eq!(v["method"], "barcode");
        assert_eq!(v["action"], "receive");
        assert_eq!(v["location"], "LWARD5");
        assert_eq!(v["destination"], serde_json::Value::Null);
        assert_eq!(v["staff_id"], "S00042");
        let id = Uuid::parse_str(v["event_id"].as_str().unwrap()).unwrap();
        assert_eq!(id.get_version_num(), 7);
        assert_eq!(
            serde_json::to_value(Symbology::Gs1DataMatrix).unwrap(),
            "gs1_data_matrix"
        );
        assert_eq!(serde_json::to_value(Symbology::Code39).unwrap(), "code39");
        // and back
        let back: ScanEvent = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }

    /// An event with no container serialises without the field (old servers accept it); one
    /// with a container carries it, and old events without it still parse.
    #[test]
    fn the_container_field_is_optional_both_ways() {
        let t = Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0).unwrap();
        let e = ScanEvent::new(
            "hh1",
            None,
            t,
            "]C0F0000123457".into(),
            Symbology::Code128,
            Method::Barcode,
            "LLIB".into(),
            Action::Seen,
            None,
        );
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert!(v.get("container").is_none(), "{v}");
        let loaded = e.clone().onto("006141410000123");
        let v: serde_json::Value = serde_json::from_str(&loaded.to_json()).unwrap();
        assert_eq!(v["container"], "006141410000123");
        assert_eq!(serde_json::from_value::<ScanEvent>(v).unwrap(), loaded);
    }

    #[test]
    fn words_parse_back() {
        for m in Method::ALL {
            assert_eq!(m.to_string().parse::<Method>(), Ok(m));
        }
        for a in Action::ALL {
            assert_eq!(a.as_str().parse::<Action>(), Ok(a));
        }
        assert!("teleport".parse::<Action>().is_err());
    }

    #[test]
    fn audit_is_a_method_on_the_wire_and_the_old_words_still_read() {
        let base = json!({
            "event_id": "0192f0c1-0000-7000-8000-000000000001",
            "device_id": "d", "read_at": "2026-11-25T08:00:00Z",
            "raw": "F0000123457", "method": "audit", "location": "LSHELF1"
        });
        let e: ScanEvent = serde_json::from_value(base.clone()).unwrap();
        assert_eq!(e.method, Method::Audit);
        assert_eq!(serde_json::to_value(Method::Audit).unwrap(), "audit");
        for old in ["barcode", "rfid", "manual"] {
            let mut v = base.clone();
            v["method"] = json!(old);
            let e: ScanEvent = serde_json::from_value(v).unwrap();
            assert_eq!(e.method.as_str(), old);
        }
    }

    #[test]
    fn optional_fields_take_their_defaults() {
        let e: ScanEvent = serde_json::from_value(json!({
            "event_id": "0192f0c1-0000-7000-8000-000000000001",
            "device_id": "d", "read_at": "2026-11-25T08:00:00+01:00",
            "raw": "F0000123457", "method": "manual", "location": "LWARD5"
        }))
        .unwrap();
        assert_eq!(e.action, Action::Seen);
        assert_eq!(e.symbology, None);
        assert_eq!(e.staff_id, None);
        assert_eq!(
            e.read_at,
            Utc.with_ymd_and_hms(2026, 11, 25, 7, 0, 0).unwrap()
        );
    }

    #[test]
    fn refusals_say_what_is_expected() {
        let base = json!({
            "event_id": "0192f0c1-0000-7000-8000-000000000001",
            "device_id": "d", "read_at": "2026-11-25T08:00:00Z",
            "raw": "F0000123457", "method": "barcode", "location": "LWARD5"
        });
        let mut bad = base.clone();
        bad["read_at"] = json!("yesterday");
        let e = serde_json::from_value::<ScanEvent>(bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains("must be an RFC 3339 time"), "{e}");
        let mut bad = base.clone();
        bad["event_id"] = json!("42");
        let e = serde_json::from_value::<ScanEvent>(bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains("must be a UUID made by the sender"), "{e}");
        let mut bad = base.clone();
        bad["location"] = serde_json::Value::Null;
        assert!(serde_json::from_value::<ScanEvent>(bad).is_err());
        let mut bad = base;
        bad["colour"] = json!("red");
        assert!(serde_json::from_value::<ScanEvent>(bad).is_err());
    }
}
