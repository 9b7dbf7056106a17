//! Zebra `~HS` host status answers read back from label printers.
#![no_main]
use label_printer::printers::status::{complete_strings, host_status_answer, parse_host_status};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = complete_strings(data);
    if let Ok(s) = parse_host_status(data) {
        let _ = s.blocking_problems();
        let _ = s.warnings();
        let _ = s.is_ready();
    }
    if let Some(&b) = data.first() {
        let (p, q, h, r) = (b & 1 != 0, b & 2 != 0, b & 4 != 0, b & 8 != 0);
        let s = parse_host_status(&host_status_answer(p, q, h, r)).expect("own answer parses");
        assert_eq!(
            (s.paper_out, s.paused, s.head_open, s.ribbon_out),
            (p, q, h, r)
        );
    }
});
