//! The benchmarks as a library: what the `casenote-bench` binary measures with, shared with
//! the end-to-end tests.

pub mod hl7;
pub mod support;
