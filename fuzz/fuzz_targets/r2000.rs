//! R2000-family RFID reader frames (0xA0 head, length, check byte).
#![no_main]
use firmware_bridge::frames::r2000::{tag_frame, R2000Decoder, R2000Item};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = R2000Decoder::new().push(data);
    let mut d = R2000Decoder::new();
    let mut out = Vec::new();
    for c in data.chunks(3) {
        d.push_into(c, &mut out);
    }
    // Round trip: a tag frame for an EPC of up to 62 bytes decodes to that EPC.
    if data.len() >= 3 {
        let epc = &data[3..data.len().min(3 + 24)];
        if epc.len() % 2 == 0 && !epc.is_empty() {
            let freq_sent = data[1] & 0x3F; // six bits on the wire
            let f = tag_frame(1, data[0] % 4 + 1, freq_sent, epc, data[2]);
            match &R2000Decoder::new().push(&f)[..] {
                [R2000Item::Tag { read, freq, .. }] => {
                    assert_eq!(read.epc, epc);
                    assert_eq!(*freq, freq_sent);
                }
                other => panic!("tag frame did not round-trip: {other:?}"),
            }
        }
    }
});
