//! Getting notes where they are needed: requests for notes (driven by scans), clinic
//! appointments, pull lists, missing notes, recording scans (which move requests on) and
//! where-is answers (which show where a requested folder is expected), the sweep for stale
//! requests (escalations, clinics that have passed), and shelf audits (stock-takes: found here,
//! found but expected elsewhere, not found).

pub mod appointments;
pub mod missing;
pub mod pulllists;
pub mod request_state;
pub mod requests;
pub mod scans;
pub mod shelf_audit;
pub mod stale_requests;
pub mod whereis;
pub mod working_days;
