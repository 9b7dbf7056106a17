//! Barcode and RFID payload classification, and the identifier validators it relies on.
#![no_main]
use casenote_core::identifiers::{
    scan::{classify, strip_aim, ScanConfig},
    validate_chi, validate_nhs_number, FilingNumber, FolderIdScheme,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let mut cfg = ScanConfig::default();
    let _ = strip_aim(&s);
    let _ = classify(&s, &cfg);
    cfg.gs1_company_prefix = Some("0614141".into());
    let _ = classify(&s, &cfg);
    if let Ok(c) = validate_chi(&s) {
        assert_eq!(validate_chi(&c.number).as_ref().ok(), Some(&c));
    }
    let _ = validate_nhs_number(&s);
    let scheme = FolderIdScheme::default();
    if let Ok(id) = scheme.parse(&s) {
        assert_eq!(scheme.format(id.serial), id, "folder id did not round-trip");
    }
    if let Ok(n) = FilingNumber::parse(&s) {
        let _ = n.shelf_key();
        let _ = n.blocks();
        assert_eq!(FilingNumber::parse(&n.to_string()).ok(), Some(n));
    }
});
