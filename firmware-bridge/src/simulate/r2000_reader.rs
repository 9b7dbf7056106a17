//! A simulated R2000 serial UHF reader, written from the reader's protocol description (the
//! "UHF RFID reader serial interface protocol" of R2000 modules), not from the bridge's decoder:
//! it parses the host's commands itself and answers as the reader does.
//!
//! What it models:
//! - a *work antenna*, set by 0x74 (answer `[0x10]`, or `[0x47]` for a port it does not have);
//! - real-time inventory 0x89 reads only the tags in the field of the work antenna; one frame
//!   per tag read, then `[Antenna][ReadRate u16][TotalRead u32]`; a missing antenna answers
//!   `[0x22]`;
//! - fast-switch antenna inventory 0x8A (4-port form: four `[Antenna][Stay]` pairs, Interval,
//!   Repeat): each antenna in turn; a missing one answers `[Antenna][0x22]`; the end is
//!   `[TotalRead 3 bytes][CommandDuration u32]`;
//! - faults to inject: an antenna unplugged, a frame with a bad check byte, a short error frame.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A tag in range of one antenna.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldTag {
    pub epc: Vec<u8>,
    /// 1-based port.
    pub antenna: u8,
    /// Raw RSSI as the reader reports it (dBm + 129).
    pub rssi: u8,
}

/// Faults the reader can be told to produce.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// Ports with nothing connected (1-based).
    pub missing_antennas: Vec<u8>,
    /// Corrupt the check byte of the next N tag frames.
    pub bad_checks: u32,
    /// Answer the next N inventory commands with a one-byte error code instead.
    pub error_replies: VecDeque<u8>,
}

/// The reader's state: which antenna is selected, what is in the field, what goes wrong.
#[derive(Debug)]
pub struct R2000Reader {
    /// Reader address (0xFF in a command is the public address and always answered).
    pub address: u8,
    /// Ports fitted (4 or 8).
    pub ports: u8,
    /// 0-based, as the protocol carries it.
    work_antenna: u8,
    pub field: Vec<FieldTag>,
    pub faults: Faults,
    /// Commands received, by command code (for tests: did the host ever select antenna 2?).
    pub commands: Vec<(u8, Vec<u8>)>,
    rounds: u32,
}

impl R2000Reader {
    pub fn new(address: u8, ports: u8) -> Self {
        Self {
            address,
            ports,
            work_antenna: 0,
            field: Vec::new(),
            faults: Faults::default(),
            commands: Vec::new(),
            rounds: 0,
        }
    }

    /// A reply frame: head, length (bytes after it, check included), address, command, data,
    /// check = two's complement of the sum of all bytes before it.
    fn frame(&self, cmd: u8, data: &[u8]) -> Vec<u8> {
        let mut f = vec![0xA0, (data.len() + 3) as u8, self.address, cmd];
        f.extend_from_slice(data);
        let sum = f.iter().fold(0u8, |a, &b| a.wrapping_add(b));
        f.push((!sum).wrapping_add(1));
        f
    }

    fn connected(&self, port0: u8) -> bool {
        !self.faults.missing_antennas.contains(&(port0 + 1))
    }

    /// Tag frames for one inventory round on port `port0` (0-based); returns the count.
    fn inventory_round(&mut self, cmd: u8, port0: u8, out: &mut Vec<u8>) -> u32 {
        self.rounds = self.rounds.wrapping_add(1);
        let tags: Vec<FieldTag> = self
            .field
            .iter()
            .filter(|t| t.antenna == port0 + 1)
            .cloned()
            .collect();
        for t in &tags {
            // Freq index in the upper six bits, the antenna's low two bits below; the RSSI
            // byte's top bit says antenna 5-8.
            let freq = (self.rounds % 50) as u8;
            let mut d = vec![(freq << 2) | (port0 & 0x03)];
            let words = (t.epc.len() / 2) as u16;
            d.extend_from_slice(&(words << 11).to_be_bytes());
            d.extend_from_slice(&t.epc);
            d.push((t.rssi & 0x7F) | if port0 >= 4 { 0x80 } else { 0 });
            let mut f = self.frame(cmd, &d);
            if self.faults.bad_checks > 0 {
                self.faults.bad_checks -= 1;
                if let Some(last) = f.last_mut() {
                    *last = last.wrapping_add(1);
                }
            }
            out.extend(f);
        }
        tags.len() as u32
    }

    /// Answer one host command (`cmd`, `data`); the bytes the reader sends back.
    pub fn command(&mut self, cmd: u8, data: &[u8]) -> Vec<u8> {
        self.commands.push((cmd, data.to_vec()));
        let mut out = Vec::new();
        let inventory = matches!(cmd, 0x89 | 0x8A);
        if inventory {
            if let Some(code) = self.faults.error_replies.pop_front() {
                return self.frame(cmd, &[code]);
            }
        }
        match cmd {
            0x74 => {
                let code = match data {
                    [a] if *a < self.ports => {
                        self.work_antenna = *a;
                        0x10
                    }
                    [_] => 0x47, // antenna ID out of range
                    _ => 0x41,   // invalid parameter
                };
                out = self.frame(cmd, &[code]);
            }
            0x75 => out = self.frame(cmd, &[self.work_antenna]), // get work antenna
            0x89 => {
                let a = self.work_antenna;
                if !self.connected(a) {
                    return self.frame(cmd, &[0x22]);
                }
                let repeat = data.first().copied().unwrap_or(1).max(1);
                let mut total = 0u32;
                for _ in 0..repeat {
                    total += self.inventory_round(cmd, a, &mut out);
                }
                let mut end = vec![a];
                end.extend_from_slice(&(total as u16 * 10).to_be_bytes());
                end.extend_from_slice(&total.to_be_bytes());
                out.extend(self.frame(cmd, &end));
            }
            0x8A if data.len() == 10 => {
                let repeat = data[9].max(1);
                let mut total = 0u32;
                for _ in 0..repeat {
                    for slot in 0..4 {
                        let (a, stay) = (data[slot * 2], data[slot * 2 + 1]);
                        if a > 3 {
                            continue; // "if the antenna number is over 3, it is skipped"
                        }
                        if !self.connected(a) {
                            out.extend(self.frame(cmd, &[a, 0x22]));
                            continue;
                        }
                        for _ in 0..stay.max(1) {
                            total += self.inventory_round(cmd, a, &mut out);
                        }
                    }
                }
                let t = total.to_be_bytes();
                let mut end = vec![t[1], t[2], t[3]];
                end.extend_from_slice(&(4 * repeat as u32).to_be_bytes());
                out.extend(self.frame(cmd, &end));
            }
            0x8A => out = self.frame(cmd, &[0x41]),
            _ => out = self.frame(cmd, &[0x11]),
        }
        out
    }

    /// Take host bytes; answer every complete command addressed to this reader. Bytes that do
    /// not make a valid frame are skipped, as the reader's firmware does.
    pub fn feed(&mut self, buf: &mut Vec<u8>) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let Some(p) = buf.iter().position(|&b| b == 0xA0) else {
                buf.clear();
                break;
            };
            buf.drain(..p);
            if buf.len() < 2 {
                break;
            }
            let len = buf[1] as usize;
            if len < 3 {
                buf.drain(..1);
                continue;
            }
            if buf.len() < len + 2 {
                break;
            }
            let f: Vec<u8> = buf.drain(..len + 2).collect();
            let sum = f[..len + 1].iter().fold(0u8, |a, &b| a.wrapping_add(b));
            if (!sum).wrapping_add(1) != f[len + 1] {
                continue;
            }
            if f[2] != self.address && f[2] != 0xFF {
                continue;
            }
            out.extend(self.command(f[3], &f[4..len + 1]));
        }
        out
    }
}

/// A simulated reader answering on a serial port (the master side of a pseudo-terminal) in a
/// thread, until dropped.
pub struct R2000ReaderThread {
    pub reader: Arc<Mutex<R2000Reader>>,
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl R2000ReaderThread {
    /// Serve `port`: read host commands, answer them after `latency` (a reader takes a few ms
    /// per inventory round).
    pub fn spawn<P: Read + Write + Send + 'static>(
        mut port: P,
        reader: R2000Reader,
        latency: Duration,
    ) -> Self {
        let reader = Arc::new(Mutex::new(reader));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (reader.clone(), stop.clone());
        let handle = std::thread::Builder::new()
            .name("sim-r2000".into())
            .spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !s.load(Ordering::Relaxed) {
                    match port.read(&mut chunk) {
                        Ok(0) => std::thread::sleep(Duration::from_millis(5)),
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        Err(e) if e.kind() == io::ErrorKind::TimedOut => continue,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                    let answer = r.lock().unwrap_or_else(|e| e.into_inner()).feed(&mut buf);
                    if !answer.is_empty() {
                        std::thread::sleep(latency);
                        if port.write_all(&answer).is_err() {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                }
            })
            .expect("spawn simulated reader");
        Self {
            reader,
            stop,
            handle: Some(handle),
        }
    }

    /// Change the reader's state (the field, the faults).
    pub fn with<T>(&self, f: impl FnOnce(&mut R2000Reader) -> T) -> T {
        f(&mut self.reader.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Put `epc` in the field of `antenna` only (the tag moves there).
    pub fn tag_at(&self, epc: &[u8], antenna: u8, rssi: u8) {
        self.with(|r| {
            r.field.retain(|t| t.epc != epc);
            r.field.push(FieldTag {
                epc: epc.to_vec(),
                antenna,
                rssi,
            });
        })
    }

    /// `epc` leaves the field.
    pub fn tag_gone(&self, epc: &[u8]) {
        self.with(|r| r.field.retain(|t| t.epc != epc));
    }

    /// A tag carried through the door: in the field of `from` for `each`, then of `to`, then
    /// gone.
    pub fn passage(&self, epc: &[u8], from: u8, to: u8, each: Duration) {
        self.tag_at(epc, from, 60);
        std::thread::sleep(each);
        self.tag_at(epc, to, 65);
        std::thread::sleep(each);
        self.tag_gone(epc);
    }
}

impl Drop for R2000ReaderThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(addr: u8, cmd: u8, data: &[u8]) -> Vec<u8> {
        let mut f = vec![0xA0, (data.len() + 3) as u8, addr, cmd];
        f.extend_from_slice(data);
        let sum = f.iter().fold(0u8, |a, &b| a.wrapping_add(b));
        f.push((!sum).wrapping_add(1));
        f
    }

    #[test]
    fn real_time_inventory_reads_only_the_work_antenna() {
        let mut r = R2000Reader::new(1, 4);
        r.field.push(FieldTag {
            epc: vec![0x11; 12],
            antenna: 2,
            rssi: 0x45,
        });
        // the documented command vector: A0 04 01 89 01 D1
        let mut buf = vec![0xA0, 0x04, 0x01, 0x89, 0x01, 0xD1];
        let out = r.feed(&mut buf);
        // work antenna 1 sees nothing: only the end of round, total 0
        assert_eq!(out.len(), 12, "{out:02X?}");
        assert_eq!(&out[..4], &[0xA0, 0x0A, 0x01, 0x89]);
        let mut buf = cmd(1, 0x74, &[0x01]);
        assert_eq!(r.feed(&mut buf), cmd(1, 0x74, &[0x10]));
        let mut buf = vec![0xA0, 0x04, 0x01, 0x89, 0x01, 0xD1];
        let out = r.feed(&mut buf);
        // one tag frame (Len 0x13 for EPC-96) on antenna 2, then the end of round
        assert_eq!(&out[..4], &[0xA0, 0x13, 0x01, 0x89]);
        assert_eq!(out[4] & 0x03, 0x01);
    }

    #[test]
    fn faults_answer_as_the_reader_does() {
        let mut r = R2000Reader::new(1, 4);
        r.faults.missing_antennas = vec![2];
        let mut buf = cmd(1, 0x74, &[0x01]);
        r.feed(&mut buf);
        let mut buf = cmd(1, 0x89, &[1]);
        assert_eq!(r.feed(&mut buf), cmd(1, 0x89, &[0x22]));
        let mut buf = cmd(1, 0x74, &[0x09]);
        assert_eq!(r.feed(&mut buf), cmd(1, 0x74, &[0x47]));
        let mut buf = cmd(1, 0x8A, &[0, 1, 1, 1, 0xFF, 0, 0xFF, 0, 0, 1]);
        let out = r.feed(&mut buf);
        let missing = cmd(1, 0x8A, &[0x01, 0x22]);
        assert!(
            out.windows(missing.len()).any(|w| w == missing),
            "{out:02X?}"
        );
        // a command with a bad check byte is ignored
        let mut bad = cmd(1, 0x89, &[1]);
        *bad.last_mut().unwrap() ^= 0xFF;
        assert!(r.feed(&mut bad).is_empty());
    }
}

#[cfg(test)]
mod with_the_bridge_session {
    //! The bridge's R2000 session talking to the simulated reader, in memory.
    use super::*;
    use crate::frames::r2000::{AntennaSwitching, R2000Params, R2000Session};
    use crate::frames::{ProtocolSession, Step};

    /// Run `rounds` exchanges; the antennas of the tag reads the session reported.
    fn antennas_read(switching: AntennaSwitching, rounds: usize) -> Vec<u16> {
        let mut r = R2000Reader::new(1, 4);
        for a in [1, 2] {
            r.field.push(FieldTag {
                epc: vec![a; 12],
                antenna: a,
                rssi: 0x40,
            });
        }
        let mut s = R2000Session::new(R2000Params {
            address: 1,
            repeat: 1,
            round_timeout_ms: 1000,
            antennas: vec![1, 2],
            switching,
        });
        let mut to_reader = s.start(0);
        let mut seen = Vec::new();
        for k in 0..rounds {
            let answer = r.feed(&mut to_reader);
            let mut out = Vec::new();
            s.feed(&answer, k as u64, 0, &mut out).unwrap();
            for step in out {
                match step {
                    Step::Tag(t) => seen.push(t.antenna),
                    Step::Send(b) => to_reader.extend(b),
                    other => panic!("{other:?}"),
                }
            }
        }
        seen
    }

    #[test]
    fn both_ways_of_switching_read_both_antennas() {
        for sw in [AntennaSwitching::FastSwitch, AntennaSwitching::WorkAntenna] {
            let seen = antennas_read(sw, 12);
            assert!(seen.contains(&1) && seen.contains(&2), "{sw:?}: {seen:?}");
        }
    }
}
