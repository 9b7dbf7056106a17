//! Keyboard-wedge scanners: HID boot keyboard reports under the UK and US layouts.
#![no_main]
use firmware_bridge::frames::hid::{wedge_reports, KeyboardLayout, WedgeDecoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for layout in [KeyboardLayout::Uk, KeyboardLayout::Us] {
        let _ = WedgeDecoder::new(layout).push(data);
        let mut d = WedgeDecoder::new(layout);
        for c in data.chunks(8) {
            let _ = d.push_report(c);
        }
        // Round trip for letters and digits: typed text comes back as one read.
        let text: String = data
            .iter()
            .map(|&b| b as char)
            .filter(char::is_ascii_alphanumeric)
            .collect();
        if !text.is_empty() {
            let mut d = WedgeDecoder::new(layout);
            let reads: Vec<String> = wedge_reports(&text, layout)
                .iter()
                .filter_map(|r| d.push_report(r).unwrap())
                .map(|b| b.raw)
                .collect();
            assert_eq!(reads, vec![text.clone()]);
        }
    }
});
