//! USB HID POS barcode reports (the scanner's own report format).
#![no_main]
use firmware_bridge::frames::hid::{pos_reports, PosDecoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut d = PosDecoder::new();
    let _ = d.push(data);
    let mut d = PosDecoder::new();
    for c in data.chunks(7) {
        let _ = d.push_report(c);
    }
    // Reports built for a payload decode without panicking.
    let mut d = PosDecoder::new();
    for r in pos_reports(data) {
        let _ = d.push_report(&r);
    }
});
