//! Barcode symbols: Code 128 / GS1-128 (via `barcoders`), Data Matrix ECC200 / GS1 DataMatrix
//! (via `datamatrix`) and QR (via `qrcode`).
//!
//! Layout needs only the *size* of a symbol, so sizes are computed cheaply here ([`Code128Data`]
//! counts symbol characters; [`datamatrix_side`] counts ASCII-encodation codewords). The module
//! patterns themselves are produced only by the raster and vector outputs ([`Code128Data::modules`],
//! [`datamatrix`], [`qr`]); ZPL lets the printer draw the symbol from the same data and the same
//! size, so every output prints the same barcode.

use datamatrix::{DataMatrixBuilder, SymbolSize};

/// Why a barcode could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BarcodeError {
    #[error("barcode data is empty")]
    Empty,
    #[error(
        "character {0:?} cannot be put in a Code 128 barcode here (printable ASCII except '>')"
    )]
    Code128Char(char),
    #[error("GS1-128 data must be an even number of digits, got {0:?}")]
    Gs1Digits(String),
    #[error("Data Matrix data too long ({0} codewords; at most 204 supported)")]
    DataMatrixTooLong(usize),
    #[error("barcode library refused the data: {0}")]
    Encoder(String),
}

/// A square (or rectangular) matrix of dark (`true`) and light modules, row by row, no quiet zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleMatrix {
    pub width: usize,
    pub height: usize,
    pub bits: Vec<bool>,
}

impl ModuleMatrix {
    /// Is the module at column `x`, row `y` dark?
    pub fn get(&self, x: usize, y: usize) -> bool {
        self.bits[y * self.width + x]
    }
}

/// One step of a Code 128 encodation plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    StartB,
    StartC,
    SwitchB,
    SwitchC,
    Fnc1,
    CharB(u8),
    PairC(u8, u8),
}

/// A Code 128 symbol, planned once and written in the form each output needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code128Data {
    steps: Vec<Step>,
    /// Human-readable interpretation printed under the bars (`(414)0614141000005` for GS1-128).
    pub hri: String,
}

impl Code128Data {
    /// Plan a plain Code 128 symbol: set B, switching to set C for runs of four or more digits.
    pub fn new(data: &str) -> Result<Self, BarcodeError> {
        if data.is_empty() {
            return Err(BarcodeError::Empty);
        }
        let bytes = data.as_bytes();
        if let Some(c) = data.chars().find(|c| !(' '..='~').contains(c) || *c == '>') {
            return Err(BarcodeError::Code128Char(c));
        }
        let mut steps = Vec::with_capacity(bytes.len() + 4);
        let mut i = 0;
        let mut in_c = false;
        while i < bytes.len() {
            let run = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
            if run >= 4 {
                let odd = run % 2 == 1;
                if odd {
                    // One digit in set B first, so set C gets an even count.
                    if steps.is_empty() {
                        steps.push(Step::StartB);
                    } else if in_c {
                        steps.push(Step::SwitchB);
                    }
                    steps.push(Step::CharB(bytes[i]));
                    in_c = false;
                    i += 1;
                }
                if steps.is_empty() {
                    steps.push(Step::StartC);
                } else if !in_c {
                    steps.push(Step::SwitchC);
                }
                in_c = true;
                let end = i + run - usize::from(odd);
                while i < end {
                    steps.push(Step::PairC(bytes[i] - b'0', bytes[i + 1] - b'0'));
                    i += 2;
                }
            } else {
                if steps.is_empty() {
                    steps.push(Step::StartB);
                } else if in_c {
                    steps.push(Step::SwitchB);
                }
                in_c = false;
                let n = if run > 0 { run } else { 1 };
                for &b in &bytes[i..i + n] {
                    steps.push(Step::CharB(b));
                }
                i += n;
            }
        }
        Ok(Self {
            steps,
            hri: data.to_string(),
        })
    }

    /// Plan a GS1-128 symbol for numeric element strings such as `4140614141000005` (AI 414 + GLN):
    /// start C, FNC1, digit pairs. `hri` is the bracketed form, e.g. `(414)0614141000005`.
    pub fn gs1_numeric(digits: &str, hri: &str) -> Result<Self, BarcodeError> {
        if digits.is_empty() || digits.len() % 2 == 1 || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(BarcodeError::Gs1Digits(digits.to_string()));
        }
        let b = digits.as_bytes();
        let mut steps = vec![Step::StartC, Step::Fnc1];
        steps.extend(b.chunks(2).map(|p| Step::PairC(p[0] - b'0', p[1] - b'0')));
        Ok(Self {
            steps,
            hri: hri.to_string(),
        })
    }

    /// Plan a GS1-128 symbol for one element string that ends the symbol, such as a GRAI
    /// `8003` + 14 digits + serial: start C, FNC1, the leading digits in pairs, then set B for
    /// what is left (an odd last digit, or a serial's letters). No GS is needed after the last
    /// element. `hri` is the bracketed form, e.g. `(8003)006141410000123`.
    pub fn gs1_element(data: &str, hri: &str) -> Result<Self, BarcodeError> {
        if data.len() < 2 || !data.as_bytes()[..2].iter().all(u8::is_ascii_digit) {
            return Err(BarcodeError::Gs1Digits(data.to_string()));
        }
        if let Some(c) = data.chars().find(|c| !(' '..='~').contains(c) || *c == '>') {
            return Err(BarcodeError::Code128Char(c));
        }
        let b = data.as_bytes();
        let digits = b.iter().take_while(|c| c.is_ascii_digit()).count() / 2 * 2;
        let mut steps = vec![Step::StartC, Step::Fnc1];
        steps.extend(
            b[..digits]
                .chunks(2)
                .map(|p| Step::PairC(p[0] - b'0', p[1] - b'0')),
        );
        if digits < b.len() {
            steps.push(Step::SwitchB);
            steps.extend(b[digits..].iter().map(|&c| Step::CharB(c)));
        }
        Ok(Self {
            steps,
            hri: hri.to_string(),
        })
    }

    /// Symbol characters before the check character (start, switches, FNC1, data).
    pub fn symbol_count(&self) -> usize {
        self.steps.len()
    }

    /// Total width in modules: 11 per symbol character, check character, stop (13). Quiet zones
    /// are not included.
    pub fn module_count(&self) -> u32 {
        (self.steps.len() as u32 + 1) * 11 + 13
    }

    /// Input for the `barcoders` crate (`Ɓ` set B, `Ć` set C, `Ź` FNC1).
    pub fn barcoders_input(&self) -> String {
        let mut s = String::with_capacity(self.steps.len() * 2);
        for st in &self.steps {
            match *st {
                Step::StartB | Step::SwitchB => s.push('Ɓ'),
                Step::StartC | Step::SwitchC => s.push('Ć'),
                Step::Fnc1 => s.push('Ź'),
                Step::CharB(b) => s.push(b as char),
                Step::PairC(a, b) => {
                    s.push((b'0' + a) as char);
                    s.push((b'0' + b) as char);
                }
            }
        }
        s
    }

    /// Field data for ZPL `^BC` (invocation codes `>:` start B, `>;` start C, `>5`/`>6`
    /// switch to C/B, `>8` FNC1), so the printer encodes exactly the same symbol characters.
    pub fn zpl_data(&self, out: &mut String) {
        for st in &self.steps {
            match *st {
                Step::StartB => out.push_str(">:"),
                Step::StartC => out.push_str(">;"),
                Step::SwitchB => out.push_str(">6"),
                Step::SwitchC => out.push_str(">5"),
                Step::Fnc1 => out.push_str(">8"),
                Step::CharB(b) => out.push(b as char),
                Step::PairC(a, b) => {
                    out.push((b'0' + a) as char);
                    out.push((b'0' + b) as char);
                }
            }
        }
    }

    /// The bar pattern: one entry per module, `true` = bar.
    pub fn modules(&self) -> Result<Vec<bool>, BarcodeError> {
        let input = self.barcoders_input();
        // barcoders needs at least two characters; a single set-B character is padded by nothing
        // we could add, so such data is planned with its start marker (always >= 2 chars).
        let code = barcoders::sym::code128::Code128::new(&input)
            .map_err(|e| BarcodeError::Encoder(format!("{e:?}")))?;
        Ok(code.encode().into_iter().map(|m| m == 1).collect())
    }
}

/// Side lengths of the square ECC200 symbols and their data codeword capacities.
const DM_SQUARES: [(usize, usize, SymbolSize); 15] = [
    (10, 3, SymbolSize::Square10),
    (12, 5, SymbolSize::Square12),
    (14, 8, SymbolSize::Square14),
    (16, 12, SymbolSize::Square16),
    (18, 18, SymbolSize::Square18),
    (20, 22, SymbolSize::Square20),
    (22, 30, SymbolSize::Square22),
    (24, 36, SymbolSize::Square24),
    (26, 44, SymbolSize::Square26),
    (32, 62, SymbolSize::Square32),
    (36, 86, SymbolSize::Square36),
    (40, 114, SymbolSize::Square40),
    (44, 144, SymbolSize::Square44),
    (48, 174, SymbolSize::Square48),
    (52, 204, SymbolSize::Square52),
];

/// Data codewords in ASCII encodation (digit pairs share a codeword, FNC1 costs one).
fn dm_ascii_codewords(data: &[u8], gs1: bool) -> usize {
    let mut n = usize::from(gs1);
    let mut i = 0;
    while i < data.len() {
        if data[i].is_ascii_digit() && i + 1 < data.len() && data[i + 1].is_ascii_digit() {
            i += 2;
            n += 1;
        } else {
            n += if data[i] > 127 { 2 } else { 1 };
            i += 1;
        }
    }
    n
}

fn dm_pick(data: &[u8], gs1: bool) -> Result<(usize, SymbolSize), BarcodeError> {
    if data.is_empty() {
        return Err(BarcodeError::Empty);
    }
    let cw = dm_ascii_codewords(data, gs1);
    DM_SQUARES
        .iter()
        .find(|(_, cap, _)| *cap >= cw)
        .map(|(side, _, size)| (*side, *size))
        .ok_or(BarcodeError::DataMatrixTooLong(cw))
}

/// Side (in modules) of the square Data Matrix that will carry `data`. With `gs1`, the symbol
/// starts with FNC1 (GS1 DataMatrix) and `data` is a raw element string (GS between fields).
pub fn datamatrix_side(data: &str, gs1: bool) -> Result<usize, BarcodeError> {
    dm_pick(data.as_bytes(), gs1).map(|(s, _)| s)
}

/// Encode a Data Matrix (ECC200) of exactly [`datamatrix_side`] modules.
pub fn datamatrix(data: &str, gs1: bool) -> Result<ModuleMatrix, BarcodeError> {
    let (_, size) = dm_pick(data.as_bytes(), gs1)?;
    let dm = DataMatrixBuilder::new()
        .with_symbol_list(size)
        .with_fnc1_start(gs1)
        .encode(data.as_bytes())
        .map_err(|e| BarcodeError::Encoder(format!("{e:?}")))?;
    let bm = dm.bitmap();
    let (width, height) = (bm.width(), bm.height());
    let mut bits = vec![false; width * height];
    for (x, y) in bm.pixels() {
        bits[y * width + x] = true;
    }
    Ok(ModuleMatrix {
        width,
        height,
        bits,
    })
}

/// Encode a QR code (error correction M).
pub fn qr(data: &str) -> Result<ModuleMatrix, BarcodeError> {
    let code = qrcode::QrCode::with_error_correction_level(data.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| BarcodeError::Encoder(format!("{e:?}")))?;
    let width = code.width();
    let bits = code
        .to_colors()
        .into_iter()
        .map(|c| c == qrcode::Color::Dark)
        .collect();
    Ok(ModuleMatrix {
        width,
        height: width,
        bits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code128_plan_switches_to_c_for_digit_runs() {
        let c = Code128Data::new("F000012345X").unwrap();
        // B: F, 0 ; C: 00 01 23 45 ; B: X
        assert_eq!(c.barcoders_input(), "ƁF0Ć00012345ƁX");
        let mut z = String::new();
        c.zpl_data(&mut z);
        assert_eq!(z, ">:F0>500012345>6X");
        assert_eq!(Code128Data::new("1234").unwrap().barcoders_input(), "Ć1234");
        assert_eq!(
            Code128Data::new("LWARD5").unwrap().barcoders_input(),
            "ƁLWARD5"
        );
    }

    #[test]
    fn module_count_matches_barcoders() {
        for d in ["F000012345X", "LWARD5", "12345", "A", "S-1234-99"] {
            let c = Code128Data::new(d).unwrap();
            assert_eq!(c.modules().unwrap().len() as u32, c.module_count(), "{d}");
        }
        let g = Code128Data::gs1_numeric("4140614141000005", "(414)0614141000005").unwrap();
        assert_eq!(g.barcoders_input(), "ĆŹ4140614141000005");
        assert_eq!(g.modules().unwrap().len() as u32, g.module_count());
    }

    #[test]
    fn code128_refuses_bad_chars() {
        assert_eq!(Code128Data::new("A>B"), Err(BarcodeError::Code128Char('>')));
        assert_eq!(Code128Data::new("Zoë"), Err(BarcodeError::Code128Char('ë')));
        assert_eq!(Code128Data::new(""), Err(BarcodeError::Empty));
        assert!(Code128Data::gs1_numeric("414061414100000", "").is_err());
    }

    #[test]
    fn datamatrix_size_matches_encoder() {
        let giai = "80040614141000123";
        let side = datamatrix_side(giai, true).unwrap();
        assert_eq!(side, 16);
        let m = datamatrix(giai, true).unwrap();
        assert_eq!((m.width, m.height), (16, 16));
        // Finder pattern: solid left column and bottom row.
        assert!((0..16).all(|y| m.get(0, y)));
        assert!((0..16).all(|x| m.get(x, 15)));
        // Round trip through the crate's own decoder.
        let dec = datamatrix::DataMatrix::decode(&m.bits, m.width).unwrap();
        assert!(dec.ends_with(giai.as_bytes()), "{dec:?}");
        let plain = datamatrix("F000012345X", false).unwrap();
        assert_eq!(plain.width, datamatrix_side("F000012345X", false).unwrap());
    }

    #[test]
    fn qr_encodes() {
        let q = qr("F000012345X").unwrap();
        assert_eq!(q.width, 21);
        assert!(q.get(0, 0) && q.get(6, 0));
    }
}
