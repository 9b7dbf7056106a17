//! The movement ledger and what it is about: patients, their folders, the places folders go,
//! the append-only movements, the containers (trolleys, bags, crates) folders travel on, the
//! devices that report scans, and the import of an existing case-note index.

pub mod containers;
pub mod device_bindings;
pub mod devices;
pub mod folders;
pub mod import;
pub mod locations;
pub mod movements;
pub mod patient_flags;
pub mod patients;
pub mod read_norms;
pub mod staff;
