//! A simulated patient administration system (PAS) for the demo and the HL7 benchmark: it
//! admits, transfers and discharges patients and books clinic appointments, and writes each
//! message the way a real feed might (HL7 2.3 to 2.8, CHI in PID-2 or among several PID-3
//! identifiers, HD sub-components, ISO-8859-1 with Gaelic names, LF or CRLF segment ends).
//!
//! It only writes messages; the tracker's listener decides what they mean. The conformance
//! tests use the PyPI `hl7` client as the peer instead, so they do not share this code's
//! assumptions.

use chrono::{Duration as Days, TimeZone, Utc};
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::collections::BTreeMap;

/// A patient the simulated PAS knows.
#[derive(Debug, Clone)]
pub struct PasPatient {
    pub chi: String,
    pub family: String,
    pub given: String,
    /// `YYYYMMDD`.
    pub dob: String,
    /// `M` or `F`.
    pub sex: char,
}

/// Wards and clinics of the demo hospital by PAS code, with the tracker location each maps to
/// (`[hl7.locations]`).
pub const DEMO_POINTS_OF_CARE: &[(&str, &str)] = &[
    ("W1", "LWARD1"),
    ("W2", "LWARD2"),
    ("W5", "LWARD5"),
    ("W7", "LWARD7"),
    ("W9", "LWARD9"),
    ("CLINA", "LCLINA"),
    ("CLINB", "LCLINB"),
    ("CLINC", "LCLINC"),
    ("CLIND", "LCLIND"),
];

/// `[hl7.locations]` for the demo hospital.
pub fn demo_locations() -> BTreeMap<String, String> {
    DEMO_POINTS_OF_CARE
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

const WARDS: &[&str] = &["W1", "W2", "W5", "W7", "W9"];
const CLINICS: &[&str] = &["CLINA", "CLINB", "CLINC", "CLIND"];

/// Gaelic and Irish names, which need ISO-8859-1 or UTF-8 (family, given, sex).
const GAELIC: &[(&str, &str, char)] = &[
    ("NicLeòid", "Mòrag", 'F'),
    ("MacAonghais", "Seònaid", 'F'),
    ("Dòmhnallach", "Ùisdean", 'M'),
    ("Ó Dochartaigh", "Seán", 'M'),
    ("NicIllInnein", "Ealasaid", 'F'),
    ("Caimbeul", "Màiri", 'F'),
];

/// How a message is written on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// v2.5, UTF-8, CR, hospital number then the CHI marked `CHI`.
    V25,
    /// v2.3, MSH-18 empty, the CHI in PID-2 (older Scottish feeds).
    V23Pid2,
    /// v2.4 in ISO-8859-1 with LF segment ends, the CHI marked `NNSCO`.
    V24Latin1,
    /// v2.7 with HD sub-components in PID-3 and PV1-3, CRLF segment ends.
    V27Hd,
}

impl Shape {
    pub const ALL: &'static [Shape] = &[Shape::V25, Shape::V23Pid2, Shape::V24Latin1, Shape::V27Hd];

    /// Short description for the demo's console.
    pub fn describe(self) -> &'static str {
        match self {
            Shape::V25 => "v2.5 UTF-8",
            Shape::V23Pid2 => "v2.3, CHI in PID-2",
            Shape::V24Latin1 => "v2.4 ISO-8859-1, LF",
            Shape::V27Hd => "v2.7 HD components, CRLF",
        }
    }

    fn version(self) -> &'static str {
        match self {
            Shape::V25 => "2.5",
            Shape::V23Pid2 => "2.3",
            Shape::V24Latin1 => "2.4",
            Shape::V27Hd => "2.7",
        }
    }

    fn charset(self) -> &'static str {
        match self {
            Shape::V25 | Shape::V27Hd => "UNICODE UTF-8",
            Shape::V23Pid2 => "",
            Shape::V24Latin1 => "8859/1",
        }
    }

    fn end(self) -> &'static str {
        match self {
            Shape::V24Latin1 => "\n",
            Shape::V27Hd => "\r\n",
            _ => "\r",
        }
    }

    fn ids(self, chi: &str, local: &str) -> (String, String) {
        match self {
            Shape::V25 => (String::new(), format!("{local}^^^GGC^MR~{chi}^^^CHI^NH")),
            Shape::V23Pid2 => (chi.to_string(), format!("{local}^^^GGC^MR")),
            Shape::V24Latin1 => (String::new(), format!("{local}^^^GGC^MR~{chi}^^^NNSCO^NH")),
            Shape::V27Hd => (
                String::new(),
                format!("{local}^^^GGC&2.16.840.1.113883.2.1.8&ISO^MR~{chi}^^^CHI&2.16.840.1.113883.2.1.3.2.4.16.53&ISO^NH"),
            ),
        }
    }

    fn point_of_care(self, code: &str) -> String {
        match self {
            Shape::V27Hd => format!("{code}&1.2.826.0.1.999.5&ISO^1^1^GGC"),
            _ => format!("{code}^1^1^GGC"),
        }
    }

    /// The message as bytes in this shape's character set (ISO-8859-1 holds every character
    /// the simulator uses).
    fn wire(self, segments: &[String]) -> Vec<u8> {
        let text = segments.join(self.end());
        match self {
            Shape::V24Latin1 => text
                .chars()
                .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
                .collect(),
            _ => text.into_bytes(),
        }
    }
}

/// PV1 (PV1-3 the ward, PV1-6 the prior ward, PV1-19 the visit) appended to a message.
fn with_pv1(
    shape: Shape,
    mut bytes: Vec<u8>,
    ward: &str,
    prior: Option<&str>,
    visit: &str,
) -> Vec<u8> {
    let mut f = vec![String::new(); 20];
    f[0] = "PV1".into();
    f[1] = "1".into();
    f[2] = "I".into();
    f[3] = shape.point_of_care(ward);
    f[6] = prior.map(|p| shape.point_of_care(p)).unwrap_or_default();
    f[19] = visit.into();
    bytes.extend(shape.end().as_bytes());
    bytes.extend(shape.wire(&[f.join("|")]));
    bytes
}

/// One message to send, with what it is meant to do.
#[derive(Debug, Clone)]
pub struct PasMessage {
    /// `ADT^A01` and a short description, for the demo's console (no patient identifiers).
    pub summary: String,
    pub bytes: Vec<u8>,
}

/// The simulated PAS: patients, who is in which ward, and the bookings made.
pub struct SimulatedPas {
    rng: StdRng,
    patients: Vec<PasPatient>,
    /// (patient index, ward code, visit number)
    admitted: Vec<(usize, &'static str, String)>,
    /// (patient index, appointment id, clinic, start)
    booked: Vec<(usize, String, &'static str, String)>,
    seq: u64,
    shape: usize,
    /// Sending application (MSH-3); the benchmark runs several, so control ids stay unique.
    pub application: String,
    tz: chrono_tz::Tz,
}

impl SimulatedPas {
    pub fn new(patients: Vec<PasPatient>, seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            patients,
            admitted: Vec::new(),
            booked: Vec::new(),
            seq: 0,
            shape: 0,
            application: "SIMPAS".into(),
            tz: chrono_tz::Europe::London,
        }
    }

    /// Patients registered in a database (those with a CHI), for the demo.
    pub fn patients_from(c: &rusqlite::Connection, limit: usize) -> crate::Result<Vec<PasPatient>> {
        let mut st = c.prepare(
            "SELECT chi, family_name, given_name, dob, sex FROM patients
              WHERE chi IS NOT NULL AND merged_into IS NULL ORDER BY id LIMIT ?1",
        )?;
        let v = st
            .query_map([limit as i64], |r| {
                let sex: String = r.get(4)?;
                Ok(PasPatient {
                    chi: r.get(0)?,
                    family: r.get(1)?,
                    given: r.get(2)?,
                    dob: r.get::<_, String>(3)?.replace('-', ""),
                    sex: if sex == "female" { 'F' } else { 'M' },
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    /// A new patient with a Gaelic name and a valid CHI (registered by the first message
    /// that names them).
    fn new_patient(&mut self) -> usize {
        let (family, given, sex) = GAELIC[self.rng.gen_range(0..GAELIC.len())];
        let (y, m, d) = (
            self.rng.gen_range(1940..2005),
            self.rng.gen_range(1..=12),
            self.rng.gen_range(1..=28),
        );
        let chi = crate::demo::make_chi(&mut self.rng, y, m, d, sex == 'M');
        self.patients.push(PasPatient {
            chi,
            family: family.into(),
            given: given.into(),
            dob: format!("{y:04}{m:02}{d:02}"),
            sex,
        });
        self.patients.len() - 1
    }

    fn local_now(&self) -> String {
        Utc::now()
            .with_timezone(&self.tz)
            .format("%Y%m%d%H%M%S")
            .to_string()
    }

    fn next_shape(&mut self) -> Shape {
        self.shape += 1;
        Shape::ALL[self.shape % Shape::ALL.len()]
    }

    fn msh(&mut self, shape: Shape, mtype: &str, event: &str, structure: &str) -> String {
        self.seq += 1;
        let t = if shape == Shape::V23Pid2 {
            format!("{mtype}^{event}")
        } else {
            format!("{mtype}^{event}^{structure}")
        };
        format!(
            "MSH|^~\\&|{}|GGC|CASENOTE|TRACKER|{}||{t}|{}{:07}|P|{}||||||{}",
            self.application,
            self.local_now(),
            &self.application[..1],
            self.seq,
            shape.version(),
            shape.charset()
        )
    }

    fn pid(&self, shape: Shape, p: usize) -> String {
        let p = &self.patients[p];
        let (pid2, pid3) = shape.ids(&p.chi, &format!("K{}", &p.chi[4..]));
        let family = if shape == Shape::V27Hd {
            format!("{}&&&&", p.family.to_uppercase())
        } else {
            p.family.to_uppercase()
        };
        format!(
            "PID|1|{pid2}|{pid3}||{family}^{}||{}|{}",
            p.given, p.dob, p.sex
        )
    }

    /// MSH, EVN and PID of an ADT message, in a shape that can carry the patient's name.
    fn adt(&mut self, event: &str, structure: &str, p: usize) -> (Shape, Vec<u8>) {
        let shape = if self.patients[p].family.is_ascii() {
            self.next_shape()
        } else {
            // names outside ASCII: the Latin-1 feed or a UTF-8 one
            if self.rng.gen_bool(0.5) {
                Shape::V24Latin1
            } else {
                Shape::V25
            }
        };
        let segs = vec![
            self.msh(shape, "ADT", event, structure),
            format!("EVN|{event}|{}", self.local_now()),
            self.pid(shape, p),
        ];
        (shape, shape.wire(&segs))
    }

    /// Admit someone (a known patient, or now and then a new one) to a ward.
    pub fn admit(&mut self) -> PasMessage {
        let inpatients: std::collections::HashSet<usize> =
            self.admitted.iter().map(|(a, _, _)| *a).collect();
        let free: Vec<usize> = (0..self.patients.len())
            .filter(|i| !inpatients.contains(i))
            .collect();
        let p = if free.is_empty() || self.rng.gen_bool(0.25) {
            self.new_patient()
        } else {
            free[self.rng.gen_range(0..free.len())]
        };
        let ward = WARDS[self.rng.gen_range(0..WARDS.len())];
        let visit = format!("V{}", self.seq + 1);
        let (shape, bytes) = self.adt("A01", "ADT_A01", p);
        let bytes = with_pv1(shape, bytes, ward, None, &visit);
        self.admitted.push((p, ward, visit));
        PasMessage {
            summary: format!("ADT^A01 admission to {ward} ({})", shape.describe()),
            bytes,
        }
    }

    /// Move an admitted patient to another ward (or admit someone when nobody is in).
    pub fn transfer(&mut self) -> PasMessage {
        if self.admitted.is_empty() {
            return self.admit();
        }
        let i = self.rng.gen_range(0..self.admitted.len());
        let (p, from, visit) = self.admitted[i].clone();
        let to = loop {
            let w = WARDS[self.rng.gen_range(0..WARDS.len())];
            if w != from {
                break w;
            }
        };
        let (shape, bytes) = self.adt("A02", "ADT_A02", p);
        let bytes = with_pv1(shape, bytes, to, Some(from), &visit);
        self.admitted[i].1 = to;
        PasMessage {
            summary: format!("ADT^A02 transfer {from} -> {to} ({})", shape.describe()),
            bytes,
        }
    }

    /// Discharge an admitted patient (the notes go to clinical coding).
    pub fn discharge(&mut self) -> PasMessage {
        if self.admitted.is_empty() {
            return self.admit();
        }
        let i = self.rng.gen_range(0..self.admitted.len());
        let (p, ward, visit) = self.admitted.swap_remove(i);
        let (shape, bytes) = self.adt("A03", "ADT_A03", p);
        let bytes = with_pv1(shape, bytes, ward, None, &visit);
        PasMessage {
            summary: format!("ADT^A03 discharge from {ward} ({})", shape.describe()),
            bytes,
        }
    }

    /// Update a known patient's demographics (A08).
    pub fn update(&mut self) -> PasMessage {
        if self.patients.is_empty() {
            return self.admit();
        }
        let p = self.rng.gen_range(0..self.patients.len());
        let (shape, bytes) = self.adt("A08", "ADT_A01", p);
        PasMessage {
            summary: format!("ADT^A08 demographics update ({})", shape.describe()),
            bytes,
        }
    }

    /// Book a clinic appointment `days_ahead` days from today, 09:00 to 12:45 local time.
    pub fn book(&mut self, days_ahead: i64) -> PasMessage {
        let p = if self.patients.is_empty() || self.rng.gen_bool(0.1) {
            self.new_patient()
        } else {
            self.rng.gen_range(0..self.patients.len())
        };
        let clinic = CLINICS[self.rng.gen_range(0..CLINICS.len())];
        let day = (Utc::now().with_timezone(&self.tz) + Days::days(days_ahead)).date_naive();
        let slot = self.rng.gen_range(0..16);
        let start = day
            .and_hms_opt(9 + slot / 4, (slot % 4) * 15, 0)
            .and_then(|t| self.tz.from_local_datetime(&t).earliest())
            .map(|t| t.format("%Y%m%d%H%M%S").to_string())
            .unwrap_or_default();
        let shape = self.next_shape();
        let appt = format!("APT{}", self.seq + 1);
        let mut segs = vec![
            self.msh(shape, "SIU", "S12", "SIU_S12"),
            format!("SCH|{appt}|{appt}|||||||15|min|^^^{start}"),
            self.pid(shape, p),
            "RGS|1".into(),
            format!("AIS|1||CONS^Consultation|{start}|||15|min"),
            format!("AIL|1||{}", shape.point_of_care(clinic)),
        ];
        if shape == Shape::V25 {
            segs.push("ZSC|1|NEW".into()); // a site's own Z-segment
        }
        self.booked.push((p, appt.clone(), clinic, start.clone()));
        PasMessage {
            summary: format!(
                "SIU^S12 booking at {clinic} {}:{} ({})",
                &start.get(8..10).unwrap_or(""),
                &start.get(10..12).unwrap_or(""),
                shape.describe()
            ),
            bytes: shape.wire(&segs),
        }
    }

    /// Cancel one of the bookings made (S15).
    pub fn cancel_booking(&mut self) -> PasMessage {
        if self.booked.is_empty() {
            return self.book(1);
        }
        let i = self.rng.gen_range(0..self.booked.len());
        let (p, appt, clinic, start) = self.booked.swap_remove(i);
        let shape = self.next_shape();
        let segs = vec![
            self.msh(shape, "SIU", "S15", "SIU_S12"),
            format!("SCH|{appt}|{appt}|||||||15|min|^^^{start}"),
            self.pid(shape, p),
            "RGS|1".into(),
            format!("AIL|1||{}", shape.point_of_care(clinic)),
        ];
        PasMessage {
            summary: format!(
                "SIU^S15 booking at {clinic} cancelled ({})",
                shape.describe()
            ),
            bytes: shape.wire(&segs),
        }
    }

    /// The next message of a plausible day: mostly admissions, transfers, discharges and
    /// bookings for tomorrow.
    pub fn next_message(&mut self) -> PasMessage {
        let r: f64 = self.rng.gen();
        if self.admitted.len() < 3 || r < 0.30 {
            self.admit()
        } else if r < 0.50 {
            self.transfer()
        } else if r < 0.65 {
            self.discharge()
        } else if r < 0.90 {
            self.book(1)
        } else if r < 0.95 {
            self.update()
        } else {
            self.cancel_booking()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pas() -> SimulatedPas {
        SimulatedPas::new(
            vec![PasPatient {
                chi: "1904851231".into(),
                family: "Kleinsample".into(),
                given: "Barry".into(),
                dob: "19850419".into(),
                sex: 'M',
            }],
            7,
        )
    }

    #[test]
    fn every_message_reads_back_in_its_declared_character_set() {
        let mut p = pas();
        for _ in 0..200 {
            let m = p.next_message();
            let (text, _) =
                crate::hl7::charset::decode_message(&m.bytes, Default::default()).unwrap();
            let msg = crate::hl7::parse(&text).unwrap();
            assert!(!msg.control_id().is_empty());
            // the CHI is found wherever this shape puts it
            crate::hl7::adt::pid_chi(&msg, "PID", 3).unwrap();
        }
    }

    #[test]
    fn control_ids_are_unique() {
        let mut p = pas();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..500 {
            let m = p.next_message();
            let text = String::from_utf8_lossy(&m.bytes).to_string();
            let msg = crate::hl7::parse(&text).unwrap();
            assert!(seen.insert(msg.control_id()));
        }
    }
}
