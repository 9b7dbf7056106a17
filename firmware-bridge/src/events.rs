//! Scan events: what the bridge sends to the tracking server, one per folder read/movement.

use chrono::{DateTime, SecondsFormat, Utc};
use casenote_core::identifiers::scan::Symbology;
use serde::{Deserialize, Serialize, Serializer};
use uuid::Uuid;

/// How the folder was identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Barcode,
    Rfid,
    Manual,
}

/// What happened to the folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Seen at `location` (audit, stock check).
    #[default]
    Seen,
    /// Left `location` (towards `destination` if known).
    Dispatch,
    /// Arrived at `location`.
    Receive,
}

/// One event, exactly as posted to `POST /api/v1/events`. The `event_id` is made when the
/// read happens, so a replay after a crash or an outage is recognised by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanEvent {
    pub event_id: Uuid,
    pub device_id: String,
    pub staff_id: Option<String>,
    #[serde(serialize_with = "rfc3339_millis")]
    pub read_at: DateTime<Utc>,
    /// Payload as read (AIM identifier included for barcodes, EPC hex for RFID).
    pub raw: String,
    pub symbology: Symbology,
    pub method: Method,
    pub location: Option<String>,
    pub action: Action,
    pub destination: Option<String>,
}

fn rfc3339_millis<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

impl ScanEvent {
    /// A new event with a fresh UUID v4.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        device_id: &str,
        staff_id: Option<String>,
        read_at: DateTime<Utc>,
        raw: String,
        symbology: Symbology,
        method: Method,
        location: Option<String>,
        action: Action,
        destination: Option<String>,
    ) -> Self {
        Self {
            // Version 7: random but time-ordered, so the server's duplicate index grows at its
            // end instead of at random places (much less write amplification at scale).
            event_id: Uuid::now_v7(),
            device_id: device_id.to_string(),
            staff_id,
            read_at,
            raw,
            symbology,
            method,
            location,
            action,
            destination,
        }
    }

    /// The JSON object for this event.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a scan event always serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

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
            Some("LWARD5".into()),
            Action::Receive,
            None,
        );
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(v["read_at"], "2026-11-25T08:00:00.123Z");
        assert_eq!(v["symbology"], "gs1_128");
        assert_eq!(v["method"], "barcode");
        assert_eq!(v["action"], "receive");
        assert_eq!(v["destination"], serde_json::Value::Null);
        assert_eq!(v["staff_id"], "S00042");
        let id = Uuid::parse_str(v["event_id"].as_str().unwrap()).unwrap();
        // time-ordered ids keep the server's duplicate index append-only
        assert_eq!(id.get_version_num(), 7);
        assert_eq!(
            serde_json::to_value(Symbology::Gs1DataMatrix).unwrap(),
            "gs1_data_matrix"
        );
        assert_eq!(serde_json::to_value(Symbology::Code39).unwrap(), "code39");
    }
}
