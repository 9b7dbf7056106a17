//! The benchmarks as a library: what the `casenote-bench` binary measures with, shared with
//! the end-to-end tests (the soak's short version runs in CI).

pub mod hl7;
pub mod soak;
pub mod support;
