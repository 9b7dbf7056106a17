//! Reports across the whole service: statistics for records managers (movements, clinic
//! case-note availability per session ([`availability`]), request turnaround, missing notes,
//! coding backlog, digitisation, retention due, external requests) and the monthly PDF; the
//! privacy (Caldicott) report of lookups ([`privacy`]). Reads from every domain folder; nothing
//! depends on it but the faces.

pub mod availability;
pub mod privacy;
pub mod statistics;
