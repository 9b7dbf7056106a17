//! Casenote Tracker server.
