//! Print jobs: check the printer, send the ZPL, report.
//!
//! [`print_job`] never queues or retries by itself: every failure is returned so the caller
//! (the tracking server) keeps the job and retries later, and the error names what is wrong
//! ("printer not ready: paper out (no labels)", a timeout, a refused connection).

use crate::output::zpl::set_copies;
use crate::printers::{PrintError, PrinterStatus, PrinterTransport};
use serde::Serialize;

/// What a successful job did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobReport {
    /// Bytes written to the transport.
    pub bytes_sent: usize,
    /// Label formats (`^XA..^XZ`) in the job.
    pub formats: usize,
    /// Copies of each format (`^PQ`).
    pub copies: u32,
    /// Status seen before sending; `None` when the transport cannot report status (file, lp).
    pub status_before: Option<PrinterStatus>,
}

/// Check status, then send `zpl` with every format's quantity set to `copies`.
///
/// Paper out, head open, ribbon out, paused (and over temperature, corrupt RAM) refuse the job
/// with [`PrintError::NotReady`] and nothing is sent. A printer that does not answer the status
/// request gives [`PrintError::Timeout`]. Transports without status (file, lp) send directly.
pub fn print_job<T: PrinterTransport + ?Sized>(
    transport: &mut T,
    zpl: &str,
    copies: u32,
) -> Result<JobReport, PrintError> {
    let formats = zpl.matches("^XA").count();
    if formats == 0 || formats != zpl.matches("^XZ").count() {
        return Err(PrintError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "job is not a sequence of complete ^XA..^XZ label formats",
        )));
    }
    let status_before = match transport.status() {
        Ok(s) => {
            let problems = s.blocking_problems();
            if !problems.is_empty() {
                tracing::warn!(?problems, "printer not ready; job not sent");
                return Err(PrintError::NotReady(problems));
            }
            for w in s.warnings() {
                tracing::warn!(warning = %w, "printer warning");
            }
            Some(s)
        }
        Err(PrintError::StatusUnsupported(what)) => {
            tracing::debug!(what, "no status check possible; sending blind");
            None
        }
        Err(e) => return Err(e),
    };
    let data = set_copies(zpl, copies);
    transport.send(data.as_bytes())?;
    tracing::info!(formats, copies, bytes = data.len(), "label job sent");
    Ok(JobReport {
        bytes_sent: data.len(),
        formats,
        copies: copies.max(1),
        status_before,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::status::{host_status_answer, parse_host_status};
    use crate::printers::PrinterProblem;

    struct Mock {
        answer: Result<Vec<u8>, ()>,
        sent: Vec<u8>,
    }

    impl PrinterTransport for Mock {
        fn send(&mut self, bytes: &[u8]) -> Result<(), PrintError> {
            self.sent.extend_from_slice(bytes);
            Ok(())
        }
        fn status(&mut self) -> Result<PrinterStatus, PrintError> {
            match &self.answer {
                Ok(a) => Ok(parse_host_status(a)?),
                Err(()) => Err(PrintError::Timeout(std::time::Duration::from_millis(10))),
            }
        }
    }

    #[test]
    fn sends_when_ready() {
        let mut m = Mock {
            answer: Ok(host_status_answer(false, false, false, false)),
            sent: vec![],
        };
        let r = print_job(&mut m, "^XA^FDx^FS^PQ1^XZ", 3).unwrap();
        assert_eq!(m.sent, b"^XA^FDx^FS^PQ3^XZ");
        assert_eq!((r.formats, r.copies, r.bytes_sent), (1, 3, 17));
        assert!(r.status_before.is_some());
    }

    #[test]
    fn refuses_when_not_ready_and_sends_nothing() {
        for (answer, problem) in [
            (
                host_status_answer(true, false, false, false),
                PrinterProblem::PaperOut,
            ),
            (
                host_status_answer(false, true, false, false),
                PrinterProblem::Paused,
            ),
            (
                host_status_answer(false, false, true, false),
                PrinterProblem::HeadOpen,
            ),
            (
                host_status_answer(false, false, false, true),
                PrinterProblem::RibbonOut,
            ),
        ] {
            let mut m = Mock {
                answer: Ok(answer),
                sent: vec![],
            };
            match print_job(&mut m, "^XA^XZ", 1) {
                Err(PrintError::NotReady(p)) => assert_eq!(p, [problem]),
                other => panic!("expected NotReady, got {other:?}"),
            }
            assert!(m.sent.is_empty());
        }
    }

    #[test]
    fn timeout_and_bad_zpl_are_errors() {
        let mut m = Mock {
            answer: Err(()),
            sent: vec![],
        };
        assert!(matches!(
            print_job(&mut m, "^XA^XZ", 1),
            Err(PrintError::Timeout(_))
        ));
        assert!(m.sent.is_empty());
        let mut m = Mock {
            answer: Ok(host_status_answer(false, false, false, false)),
            sent: vec![],
        };
        assert!(print_job(&mut m, "^XA no end", 1).is_err());
        assert!(m.sent.is_empty());
    }
}
