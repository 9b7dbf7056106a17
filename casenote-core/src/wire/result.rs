//! What the server answers for a batch of events.

use serde::{Deserialize, Serialize};

/// What happened to one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// Kept in the ledger (now, for the first time).
    Stored,
    /// Kept before: the same `event_id` was stored earlier (a resend). Nothing changed.
    Duplicate,
    /// Refused: `field` and `message` say why. Sending it again will not help.
    Rejected,
}

impl EventStatus {
    pub const ALL: [Self; 3] = [Self::Stored, Self::Duplicate, Self::Rejected];
}

/// Why an event was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectCode {
    /// A field is missing or wrong (including an unknown location).
    InvalidField,
}

impl RejectCode {
    pub const ALL: [Self; 1] = [Self::InvalidField];
}

/// The server's answer for one event, in the order the events were sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventResult {
    /// As sent (text, so that an event with a malformed id can still be answered).
    pub event_id: String,
    pub status: EventStatus,
    /// For stored events: false when no folder has that id yet (kept, listed as unmatched).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<RejectCode>,
    /// The field a rejection is about, e.g. `read_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl EventResult {
    /// A stored event; `matched` says whether a registered folder has this id.
    pub fn stored(event_id: String, matched: bool) -> Self {
        Self {
            event_id,
            status: EventStatus::Stored,
            matched: Some(matched),
            code: None,
            field: None,
            message: (!matched).then(|| "no folder has this id yet; kept as unmatched".into()),
        }
    }

    /// An event stored before.
    pub fn duplicate(event_id: String) -> Self {
        Self {
            event_id,
            status: EventStatus::Duplicate,
            matched: None,
            code: None,
            field: None,
            message: None,
        }
    }

    /// A refused event, naming the field and the reason.
    pub fn rejected(event_id: String, field: &str, message: impl Into<String>) -> Self {
        Self {
            event_id,
            status: EventStatus::Rejected,
            matched: None,
            code: Some(RejectCode::InvalidField),
            field: Some(field.to_string()),
            message: Some(message.into()),
        }
    }
}

/// The answer to `POST /api/v1/events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchResult {
    pub results: Vec<EventResult>,
    pub stored: usize,
    pub duplicates: usize,
    pub rejected: usize,
}

impl BatchResult {
    /// The answer for these results, with the counts made from them.
    pub fn new(results: Vec<EventResult>) -> Self {
        let count = |st: EventStatus| results.iter().filter(|r| r.status == st).count();
        Self {
            stored: count(EventStatus::Stored),
            duplicates: count(EventStatus::Duplicate),
            rejected: count(EventStatus::Rejected),
            results,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_serialise_as_the_server_sends_them() {
        let b = BatchResult::new(vec![
            EventResult::stored("a".into(), true),
            EventResult::stored("b".into(), false),
            EventResult::duplicate("c".into()),
            EventResult::rejected("d".into(), "location", "no location with code or GLN \"X\""),
        ]);
        assert_eq!(
            serde_json::to_value(&b).unwrap(),
            json!({
                "results": [
                    {"event_id": "a", "status": "stored", "matched": true},
                    {"event_id": "b", "status": "stored", "matched": false,
                     "message": "no folder has this id yet; kept as unmatched"},
                    {"event_id": "c", "status": "duplicate"},
                    {"event_id": "d", "status": "rejected", "code": "invalid_field",
                     "field": "location", "message": "no location with code or GLN \"X\""}
                ],
                "stored": 2, "duplicates": 1, "rejected": 1
            })
        );
        let back: BatchResult = serde_json::from_value(serde_json::to_value(&b).unwrap()).unwrap();
        assert_eq!(back, b);
    }
}
