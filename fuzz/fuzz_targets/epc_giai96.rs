//! RFID EPC (GIAI-96) decoding from tag bytes, hex and tag URIs.
#![no_main]
use casenote_core::identifiers::Giai96;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(g) = Giai96::decode(data) {
        assert_eq!(
            g.encode().ok().map(|b| b.to_vec()),
            Some(data[..12].to_vec())
        );
    }
    let s = String::from_utf8_lossy(data);
    if let Ok(g) = Giai96::from_hex(&s) {
        let hex = g.to_hex().expect("a decoded EPC encodes");
        assert_eq!(Giai96::from_hex(&hex).ok(), Some(g.clone()));
        assert_eq!(Giai96::from_tag_uri(&g.tag_uri()).ok(), Some(g));
    }
    let _ = Giai96::from_tag_uri(&s);
});
