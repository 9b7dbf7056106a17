//! A bridge's regular report on its devices and its queue.

use serde::{Deserialize, Serialize};

/// `POST /api/v1/devices/heartbeat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    pub bridge_id: String,
    pub devices: Vec<DeviceReport>,
}

/// One device of a bridge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceReport {
    pub device_id: String,
    #[serde(default)]
    pub description: String,
    pub online: bool,
    /// RFC 3339 time of the device's last read.
    #[serde(default)]
    pub last_read_at: Option<String>,
    /// Events in the bridge's queue, not yet stored by the server.
    #[serde(default)]
    pub queue_depth: i64,
    /// Age of the oldest queued event, in seconds.
    #[serde(default)]
    pub oldest_event_age_s: Option<i64>,
    /// Tag reads dropped because the EPC is not one of this board's folders (another
    /// system's tags, or a wrong GS1 company prefix), since the bridge started.
    #[serde(default)]
    pub foreign_reads: u64,
    /// Corrupt messages from the device, dropped, since the bridge started.
    #[serde(default)]
    pub corrupt_messages: u64,
    /// Folder scans refused at the device (no location scanned first), since the bridge started.
    #[serde(default)]
    pub refused_scans: u64,
    /// Reads (barcodes, or tag observations of a portal) since the bridge started. The server
    /// compares the rate with the device's own recent norm to notice a detuned antenna.
    #[serde(default)]
    pub reads: u64,
    /// Error replies from the reader (for example "antenna missing"), since the bridge started.
    #[serde(default)]
    pub reader_errors: u64,
    /// The device's last error in words (a reader error reply, a lost connection), if any.
    #[serde(default)]
    pub last_error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn optional_fields_may_be_left_out() {
        let h: Heartbeat = serde_json::from_value(json!({
            "bridge_id": "ward5-pc", "devices": [{"device_id": "door", "online": true}]
        }))
        .unwrap();
        assert_eq!(h.devices[0].queue_depth, 0);
        assert_eq!(h.devices[0].description, "");
        assert!(serde_json::from_value::<Heartbeat>(
            json!({"bridge_id": "x", "devices": [], "extra": 1})
        )
        .is_err());
    }
}
