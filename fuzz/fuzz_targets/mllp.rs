//! MLLP framing of HL7 messages over TCP.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tracker_server::hl7::mllp::{frame, Decoder, FrameError, END, START};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let limit = 1 + usize::from(sel) * 4;
    let mut d = Decoder::new(limit);
    for c in rest.chunks(1 + usize::from(sel % 13)) {
        d.push(c);
        while let Some(r) = d.next_frame() {
            if let Ok(f) = r {
                assert!(f.len() <= limit, "frame over the limit");
            }
        }
        assert!(d.pending() <= limit + 16 + c.len() + 2, "buffers too much");
    }
    // Round trip: a framed message without block characters comes back whole.
    let msg: Vec<u8> = rest
        .iter()
        .copied()
        .filter(|&b| b != START && b != END)
        .collect();
    let mut d = Decoder::new(msg.len().max(1));
    d.push(&frame(&msg));
    match d.next_frame() {
        Some(Ok(f)) => assert_eq!(f, msg),
        Some(Err(FrameError::TooLarge { .. })) | None | Some(Err(_)) => {
            panic!("framed message did not round-trip")
        }
    }
});
