//! Zebra SSI packets: garbage, truncation, bad checksums, multi-packet barcodes.
#![no_main]
use firmware_bridge::frames::ssi::{decode_data_packets, SsiDecoder, SsiItem};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Arbitrary bytes, pushed whole and split.
    let _ = SsiDecoder::new().push(data);
    let mut d = SsiDecoder::new();
    for c in data.chunks(5) {
        let _ = d.push(c);
    }
    // Round trip: a barcode cut into DECODE_DATA packets decodes to the same payload.
    if let Some((&t, payload)) = data.split_first() {
        if payload.is_empty() {
            return;
        }
        let chunk = 1 + usize::from(t % 64);
        let bytes: Vec<u8> = decode_data_packets(t, payload, chunk).concat();
        let items = SsiDecoder::new().push(&bytes);
        let codes: Vec<_> = items
            .iter()
            .filter_map(|i| match i {
                SsiItem::Barcode(b) => Some(b.raw.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(codes, vec![String::from_utf8_lossy(payload).into_owned()]);
    }
});
