//! The shared core of Casenote Tracker, used by every other crate:
//!
//! - [`identifiers`]: CHI and NHS numbers, folder ids with their check character, GS1 element
//!   strings and GLNs, EPC GIAI-96 tag ids, containers' GRAIs and GRAI-96 tags, terminal-digit
//!   filing numbers, and the classification of a scanned code (folder, location card, staff
//!   badge, container, or neither).
//! - [`wire`]: what a bridge (or the scan page) sends to the server and what the server
//!   answers: scan events, per-event results, batch results and heartbeats. The server
//!   deserialises into these types and the bridge serialises them, so the two cannot drift;
//!   the server's OpenAPI document is checked against them by a test.
#![forbid(unsafe_code)]

pub mod identifiers;
pub mod wire;
