//! The wire contract between the devices' side (firmware bridges, the web scan page) and the
//! tracking server, as JSON:
//!
//! - `POST /api/v1/events` takes `{"events": [ScanEvent, ...]}` (at most 5,000) and answers a
//!   [`BatchResult`] with one [`EventResult`] per event, in order. An event is checked on its
//!   own: one bad event is rejected naming its field, the others are stored.
//! - `POST /api/v1/devices/heartbeat` takes a [`Heartbeat`].

mod event;
mod heartbeat;
mod result;

pub use event::{Action, Method, ReadClock, ScanEvent, MAX_BATCH};
pub use heartbeat::{DeviceReport, Heartbeat};
pub use result::{BatchResult, EventResult, EventStatus, RejectCode};
