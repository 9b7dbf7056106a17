//! Identifiers, label templates and printer transports for Casenote Tracker.
#![forbid(unsafe_code)]

pub mod identifiers;
