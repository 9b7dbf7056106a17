//! Getting notes where they are needed: requests for notes (driven by scans), clinic
//! appointments, pull lists, and missing notes.

pub mod appointments;
pub mod missing;
pub mod pulllists;
pub mod requests;
pub mod scans;
