//! HL7 v2 message parsing (ADT and SIU feeds), accessors and escaping.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tracker_server::hl7::{self, Encoding};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(m) = hl7::parse(&text) {
        let _ = m.message_type();
        let _ = m.trigger();
        let _ = m.control_id();
        for seg in ["MSH", "EVN", "PID", "PV1", "MRG", "SCH", "AIL", "ZZZ"] {
            let _ = m.segment(seg);
            for n in 0..6 {
                let _ = m.repetitions(seg, n);
                for c in 0..4 {
                    let _ = m.get(seg, n, c);
                }
            }
        }
        for seg in &m.segments {
            for n in 0..seg.fields.len() + 1 {
                let _ = m.component(seg.raw(n), 1);
                let _ = hl7::parse_ts(seg.raw(n));
            }
        }
    }
    let _ = hl7::parse_ts(&text);
    // Escaping round-trips for text without control characters.
    let enc = Encoding::default();
    let _ = enc.unescape(&text);
    let clean: String = text.chars().filter(|c| !c.is_control()).collect();
    assert_eq!(enc.unescape(&enc.escape(&clean)), clean);
});
