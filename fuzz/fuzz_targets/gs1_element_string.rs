//! GS1 element strings (raw with GS separators, or human-readable with parentheses).
#![no_main]
use casenote_core::identifiers::{gs1::encode_element_string, parse_element_string, validate_gln};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let _ = validate_gln(&s);
    if let Ok(elements) = parse_element_string(&s) {
        let raw = encode_element_string(&elements);
        assert_eq!(
            parse_element_string(&raw).as_ref(),
            Ok(&elements),
            "element string did not round-trip through {raw:?}"
        );
    }
});
