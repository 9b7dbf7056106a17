//! Casenote Tracker firmware bridge: reads barcode scanners and RFID readers, turns folder
//! reads into scan events, queues them durably and delivers them to the tracking server.
//!
//! Modules, one per concept: [`config`], [`frames`] (pure protocol decoders), [`transports`],
//! [`devices`], [`handheld`], [`handheld_store`], [`portal`], [`queue`], [`delivery`], [`bridge`]
//! (the running daemon), [`simulate`] and [`bench`].
#![forbid(unsafe_code)]

pub mod bench;
pub mod bridge;
pub mod config;
pub mod delivery;
pub mod devices;
pub mod frames;
pub mod handheld;
pub mod handheld_store;
pub mod portal;
pub mod queue;
pub mod simulate;
pub mod transports;
