//! What a scanned payload refers to: a folder, a place, a staff badge, a container (trolley,
//! bag or crate), or nothing we know.

use super::card::{self, Card};
use super::{epc::Giai96, folder_id::FolderIdScheme, grai, gs1};
use serde::{Deserialize, Serialize};

/// Barcode symbology, from the AIM identifier (`]C0`...) or the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Symbology {
    Code128,
    Gs1_128,
    Code39,
    Ean13,
    DataMatrix,
    Gs1DataMatrix,
    Qr,
    Gs1Qr,
    DataBar,
    Rfid,
    Keyed,
    Unknown,
}

impl Symbology {
    /// Every symbology, in declaration order.
    pub const ALL: [Self; 12] = [
        Self::Code128,
        Self::Gs1_128,
        Self::Code39,
        Self::Ean13,
        Self::DataMatrix,
        Self::Gs1DataMatrix,
        Self::Qr,
        Self::Gs1Qr,
        Self::DataBar,
        Self::Rfid,
        Self::Keyed,
        Self::Unknown,
    ];

    /// Symbology for an AIM identifier (`]C0` -> Code 128).
    pub fn from_aim(aim: &str) -> Self {
        match aim {
            "]C0" => Self::Code128,
            "]C1" => Self::Gs1_128,
            "]A0" | "]A1" | "]A2" | "]A3" | "]A4" | "]A5" | "]A7" => Self::Code39,
            "]E0" | "]E3" => Self::Ean13,
            "]d1" => Self::DataMatrix,
            "]d2" => Self::Gs1DataMatrix,
            "]Q1" => Self::Qr,
            "]Q3" => Self::Gs1Qr,
            "]e0" => Self::DataBar,
            _ => Self::Unknown,
        }
    }

    /// Whether the data is a GS1 element string.
    pub fn is_gs1(self) -> bool {
        matches!(
            self,
            Self::Gs1_128 | Self::Gs1DataMatrix | Self::Gs1Qr | Self::DataBar
        )
    }
}

/// Split an AIM symbology identifier (`]` + code letter + modifier) off the front of a payload.
pub fn strip_aim(payload: &str) -> (Option<Symbology>, &str) {
    let b = payload.as_bytes();
    if b.len() >= 3 && b[0] == b']' && b[1].is_ascii_alphabetic() && b[2].is_ascii_alphanumeric() {
        (Some(Symbology::from_aim(&payload[..3])), &payload[3..])
    } else {
        (None, payload)
    }
}

/// How payloads are recognised at this organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScanConfig {
    pub folder: FolderIdScheme,
    /// Local location codes start with this (e.g. `L` for `LWARD5`).
    pub location_prefix: String,
    /// Staff badges start with this (e.g. `S` for `S00123`).
    pub staff_prefix: String,
    /// GS1 company prefix used for GIAI folder ids and EPCs, if the organisation has one.
    pub gs1_company_prefix: Option<String>,
}

impl Default for ScanConfig {
    fn default() -> Self {
        Self {
            folder: FolderIdScheme::default(),
            location_prefix: "L".into(),
            staff_prefix: "S".into(),
            gs1_company_prefix: None,
        }
    }
}

/// What a payload refers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScanTarget {
    Folder {
        serial: u64,
    },
    Location {
        code: String,
    },
    LocationGln {
        gln: String,
    },
    Staff {
        badge: String,
    },
    /// A container (trolley, bag, crate): its GRAI as the value of AI 8003 (`0`, company
    /// prefix, asset type, check digit, serial), from its barcode or its GRAI-96 tag.
    Container {
        grai: String,
    },
    Unknown {
        reason: String,
    },
}

/// Classify a payload (AIM prefix allowed). RFID EPCs are given as 24 hex characters.
pub fn classify(payload: &str, cfg: &ScanConfig) -> ScanTarget {
    let (sym, data) = strip_aim(payload.trim_end_matches(['\r', '\n']));
    let data = data.trim();
    if data.is_empty() {
        return ScanTarget::Unknown {
            reason: "empty payload".into(),
        };
    }
    // GS1 element strings: explicit symbology, bracketed HRI, or a leading GS (FNC1).
    if sym.is_some_and(|s| s.is_gs1()) || data.starts_with('(') || data.starts_with(gs1::GS) {
        return match gs1::parse_element_string(data) {
            Ok(elements) => classify_gs1(&elements, cfg),
            Err(e) => ScanTarget::Unknown {
                reason: format!("GS1 data: {e}"),
            },
        };
    }
    if data.len() == 24 && data.bytes().all(|b| b.is_ascii_hexdigit()) {
        if data[..2] == *"33" {
            return match grai::Grai96::from_hex(data) {
                Ok(g) => match &cfg.gs1_company_prefix {
                    Some(p) if *p == g.company_prefix => ScanTarget::Container {
                        grai: g.grai().ai_value(),
                    },
                    _ => ScanTarget::Unknown {
                        reason: format!(
                            "GRAI company prefix {} is not this organisation's",
                            g.company_prefix
                        ),
                    },
                },
                Err(e) => ScanTarget::Unknown {
                    reason: format!("EPC: {e}"),
                },
            };
        }
        return match Giai96::from_hex(data) {
            Ok(g) => folder_from_giai(&g.company_prefix, g.asset_reference, cfg),
            Err(e) => ScanTarget::Unknown {
                reason: format!("EPC: {e}"),
            },
        };
    }
    let upper = data.to_ascii_uppercase();
    if upper.starts_with(&cfg.folder.prefix) {
        if let Ok(id) = cfg.folder.parse(&upper) {
            return ScanTarget::Folder { serial: id.serial };
        }
    }
    // Location cards and staff badges: code, '/', check character. Anything else that
    // merely starts with the same letter (a drug or lab label) is not a card.
    match card::parse_card(&upper, &cfg.location_prefix) {
        Card::Valid(code) => return ScanTarget::Location { code },
        Card::BadCheck => {
            return ScanTarget::Unknown {
                reason:
                    "location card: the check character does not match (misread or hand-made card)"
                        .into(),
            }
        }
        Card::NotACard => {}
    }
    match card::parse_card(&upper, &cfg.staff_prefix) {
        Card::Valid(badge) => return ScanTarget::Staff { badge },
        Card::BadCheck => {
            return ScanTarget::Unknown {
                reason:
                    "staff badge: the check character does not match (misread or hand-made badge)"
                        .into(),
            }
        }
        Card::NotACard => {}
    }
    if upper.starts_with(&cfg.folder.prefix) {
        if let Err(e) = cfg.folder.parse(&upper) {
            return ScanTarget::Unknown {
                reason: format!("folder id: {e}"),
            };
        }
    }
    ScanTarget::Unknown {
        reason: "not a case-note barcode: not a folder, location card or staff badge".into(),
    }
}

fn folder_from_giai(company_prefix: &str, asset: u64, cfg: &ScanConfig) -> ScanTarget {
    match &cfg.gs1_company_prefix {
        Some(p) if p == company_prefix => ScanTarget::Folder { serial: asset },
        _ => ScanTarget::Unknown {
            reason: format!("GIAI company prefix {company_prefix} is not this organisation's"),
        },
    }
}

fn classify_gs1(elements: &[gs1::ElementString], cfg: &ScanConfig) -> ScanTarget {
    for e in elements {
        match e.ai.as_str() {
            "414" => {
                return ScanTarget::LocationGln {
                    gln: e.value.clone(),
                }
            }
            "8004" => {
                if let Some(p) = &cfg.gs1_company_prefix {
                    if let Some(asset) = e.value.strip_prefix(p.as_str()) {
                        if let Ok(serial) = asset.parse::<u64>() {
                            return ScanTarget::Folder { serial };
                        }
                    }
                }
                return ScanTarget::Unknown {
                    reason: "GIAI (8004) is not one of this organisation's folders".into(),
                };
            }
            // GRAI: a returnable asset, here a container (trolley, bag, crate).
            "8003" => {
                return match grai::validate_grai(&e.value) {
                    Ok(()) => ScanTarget::Container {
                        grai: e.value.clone(),
                    },
                    Err(err) => ScanTarget::Unknown {
                        reason: format!("GRAI (8003): {err}"),
                    },
                }
            }
            // GSRN provider: a member of staff.
            "8017" => {
                return ScanTarget::Staff {
                    badge: e.value.clone(),
                }
            }
            // GSRN recipient: a patient's wristband. Not a case-note barcode, and never a badge.
            "8018" => {
                return ScanTarget::Unknown {
                    reason: "patient wristband (GSRN recipient, AI 8018): not a case-note barcode"
                        .into(),
                }
            }
            _ => {}
        }
    }
    ScanTarget::Unknown {
        reason: "GS1 data carries no folder, place or staff identifier".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ScanConfig {
        ScanConfig {
            gs1_company_prefix: Some("0614141".into()),
            ..Default::default()
        }
    }

    #[test]
    fn aim() {
        assert_eq!(strip_aim("]C0F123"), (Some(Symbology::Code128), "F123"));
        assert_eq!(strip_aim("F123"), (None, "F123"));
        assert_eq!(
            strip_aim("]d2(414)0614141000005").0,
            Some(Symbology::Gs1DataMatrix)
        );
    }

    #[test]
    fn classifies() {
        let c = cfg();
        let f = c.folder.format(777).text;
        assert_eq!(
            classify(&format!("]C0{f}\r\n"), &c),
            ScanTarget::Folder { serial: 777 }
        );
        assert_eq!(
            classify("]C14140614141000005", &c),
            ScanTarget::LocationGln {
                gln: "0614141000005".into()
            }
        );
        assert_eq!(
            classify("]d2800406141411234", &c),
            ScanTarget::Folder { serial: 1234 }
        );
        assert_eq!(
            classify("3434257BF400000000003039", &c),
            ScanTarget::Folder { serial: 12345 }
        );
        let ward5 = card::card_payload("LWARD5").unwrap();
        assert_eq!(
            classify(&format!("]C0{ward5}"), &c),
            ScanTarget::Location {
                code: "LWARD5".into()
            }
        );
        let badge = card::card_payload("S00042").unwrap();
        assert_eq!(
            classify(&badge.to_lowercase(), &c),
            ScanTarget::Staff {
                badge: "S00042".into()
            }
        );
        assert!(matches!(
            classify("F0000007770", &c),
            ScanTarget::Unknown { .. }
        ));
        assert!(matches!(classify("", &c), ScanTarget::Unknown { .. }));
        assert!(matches!(classify("]C1999", &c), ScanTarget::Unknown { .. }));
        // another organisation's EPC is not ours
        assert!(matches!(
            classify("341816E80000000000010015", &c),
            ScanTarget::Unknown { .. }
        ));
    }

    /// A container's GRAI label (AI 8003) and its GRAI-96 tag are containers; a tag of another
    /// organisation's prefix and a misread check digit are not.
    #[test]
    fn classifies_containers() {
        let c = cfg();
        let t3 = ScanTarget::Container {
            grai: "006141410000123".into(),
        };
        let label = crate::identifiers::Grai::new("0614141", "00001", "3").unwrap();
        assert_eq!(label.ai_value(), "006141410000123");
        for payload in [
            format!("]C18003{}", label.ai_value()),
            format!("]d2\u{1d}8003{}", label.ai_value()),
            label.hri(),
        ] {
            assert_eq!(classify(&payload, &c), t3, "{payload:?}");
        }
        let tag = label.to_epc(0).unwrap().to_hex().unwrap();
        assert_eq!(classify(&tag, &c), t3);
        // the GS1 example GRAI-96 of company prefix 0614141: ours in this configuration
        assert_eq!(
            classify("33B4257BF40C0E4000000190", &c),
            ScanTarget::Container {
                grai: "00614141123452400".into()
            }
        );
        match classify("33140E511C56ED0000000001", &c) {
            ScanTarget::Unknown { reason } => assert!(reason.contains("0234567"), "{reason}"),
            t => panic!("{t:?}"),
        }
        match classify("]C1800300614141000014", &c) {
            ScanTarget::Unknown { reason } => {
                assert!(
                    reason.contains("(8003)") && reason.contains("check digit"),
                    "{reason}"
                )
            }
            t => panic!("{t:?}"),
        }
    }

    /// A drug or lab label starting with L or S is not a location card or badge, so it can
    /// never replace the porter's location; a wristband (GSRN recipient) is not a badge.
    #[test]
    fn only_checked_cards_set_a_location_or_badge() {
        let c = cfg();
        for other in [
            "]C0LOT2024A",
            "]C0LWARD5",
            "SAMPLE12",
            "]C0S00042",
            "LOT/2024",
        ] {
            match classify(other, &c) {
                ScanTarget::Unknown { reason } => {
                    assert!(
                        reason.starts_with("not a case-note barcode"),
                        "{other}: {reason}"
                    );
                    assert!(
                        !reason.contains("2024") && !reason.contains("WARD5"),
                        "{reason}"
                    );
                }
                t => panic!("{other}: {t:?}"),
            }
        }
        let misread = card::card_payload("LWARD5").unwrap().replace("5/", "6/");
        assert!(matches!(
            classify(&misread, &c),
            ScanTarget::Unknown { reason } if reason.contains("check character")
        ));
        // GSRN provider (8017) is a badge; GSRN recipient (8018) is a patient, never a badge
        assert_eq!(
            classify("]C18017061414112345678902", &c),
            ScanTarget::Staff {
                badge: "061414112345678902".into()
            }
        );
        match classify("]C18018061414112345678902", &c) {
            ScanTarget::Unknown { reason } => {
                assert!(
                    reason.contains("wristband") && !reason.contains("0614141"),
                    "{reason}"
                )
            }
            t => panic!("{t:?}"),
        }
    }
}
