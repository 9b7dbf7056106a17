//! LLRP messages from fixed RFID readers (portals).
#![no_main]
use firmware_bridge::frames::{
    llrp::{ro_access_report, LlrpDecoder, LlrpMessage},
    TagRead,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = LlrpDecoder::new().push(data);
    let mut d = LlrpDecoder::new();
    for c in data.chunks(11) {
        let _ = d.push(c);
    }
    // Round trip: tag reports built from the input decode to the same tags.
    let tags: Vec<TagRead> = data
        .chunks_exact(16)
        .map(|c| TagRead {
            epc: c[..12].to_vec(),
            antenna: u16::from_be_bytes([c[12], c[13]]),
            rssi_dbm: (c[14] & 1 == 1).then_some(i16::from(c[15] as i8)),
            seen_at_us: (c[14] & 2 == 2).then_some(u64::from(c[15]) * 1_000_003),
        })
        .collect();
    let msg = ro_access_report(7, &tags);
    match &LlrpDecoder::new().push(&msg)[..] {
        [Ok(LlrpMessage::RoAccessReport { id: 7, tags: got })] => assert_eq!(got, &tags),
        other => panic!("report did not round-trip: {other:?}"),
    }
});
