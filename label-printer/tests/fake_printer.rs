//! A fake ZPL printer on a loopback TCP port: records the exact bytes it receives and answers
//! `~HS` like a Zebra (ready, paper out) or not at all (head open / hung printer).

use label_printer::labels::{sample_folder_label, Label, LabelStock};
use label_printer::output::zpl::{set_copies, to_zpl};
use label_printer::printers::status::host_status_answer;
use label_printer::printers::{
    open_printer, PrintError, PrinterProblem, PrinterTransport, PrinterUrl, Timeouts,
};
use label_printer::{layout, print_job};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Start a printer that answers each `~HS` with `answer` (None = silent). Returns the URL and a
/// receiver that yields everything received once the client disconnects.
fn fake_printer(answer: Option<Vec<u8>>) -> (PrinterUrl, mpsc::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut got = Vec::new();
        let mut answered = 0;
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
            let asked = got.windows(3).filter(|w| w == b"~HS").count();
            while answered < asked {
                if let Some(a) = &answer {
                    // Answer in two pieces, as a real network stack may.
                    let (x, y) = a.split_at(a.len() / 2);
                    s.write_all(x).unwrap();
                    s.flush().unwrap();
                    thread::sleep(Duration::from_millis(5));
                    s.write_all(y).unwrap();
                }
                answered += 1;
            }
        }
        let _ = tx.send(got);
    });
    (
        PrinterUrl::Tcp {
            host: "127.0.0.1".into(),
            port,
        },
        rx,
    )
}

fn fast() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        read: Duration::from_millis(300),
        write: Duration::from_secs(2),
    }
}

fn folder_zpl() -> String {
    to_zpl(
        &layout(
            &Label::Folder(sample_folder_label()),
            &LabelStock::default(),
        )
        .unwrap(),
        1,
    )
}

#[test]
fn ready_printer_receives_the_exact_bytes() {
    let (url, rx) = fake_printer(Some(host_status_answer(false, false, false, false)));
    let zpl = folder_zpl();
    let mut p = open_printer(&url, fast()).unwrap();
    let report = print_job(&mut p, &zpl, 2).unwrap();
    assert_eq!(report.formats, 1);
    assert_eq!(report.copies, 2);
    assert!(report.status_before.unwrap().is_ready());
    drop(p);
    let got = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let mut want = b"~HS".to_vec();
    want.extend_from_slice(set_copies(&zpl, 2).as_bytes());
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&want)
    );
    let text = String::from_utf8(got).unwrap();
    assert!(text.contains("^PQ2\n^XZ"));
    assert!(text.contains("^RFW,H^FD3434257BF400000000003039^FS"));
}

#[test]
fn paper_out_refuses_the_job() {
    let (url, rx) = fake_printer(Some(host_status_answer(true, false, false, false)));
    let mut p = open_printer(&url, fast()).unwrap();
    let err = print_job(&mut p, &folder_zpl(), 1).unwrap_err();
    match &err {
        PrintError::NotReady(problems) => assert_eq!(problems, &[PrinterProblem::PaperOut]),
        other => panic!("expected NotReady, got {other:?}"),
    }
    assert!(err.to_string().contains("paper out"), "{err}");
    drop(p);
    // Only the status request went to the printer: the label was not sent.
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), b"~HS");
}

#[test]
fn silent_printer_times_out() {
    let (url, rx) = fake_printer(None);
    let mut p = open_printer(&url, fast()).unwrap();
    let t = Instant::now();
    match p.status() {
        Err(PrintError::Timeout(d)) => assert_eq!(d, Duration::from_millis(300)),
        other => panic!("expected Timeout, got {other:?}"),
    }
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert!(matches!(
        print_job(&mut p, &folder_zpl(), 1),
        Err(PrintError::Timeout(_))
    ));
    drop(p);
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), b"~HS~HS");
}

#[test]
fn refused_connection_is_an_error() {
    // Bind and drop to get a port with nothing listening. Tests running alongside may be given
    // the same free port in between; a port someone took is not the case under test, so try
    // another (a refused one must still be a Connect error every time).
    for _ in 0..10 {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            continue;
        }
        let url = PrinterUrl::Tcp {
            host: "127.0.0.1".into(),
            port,
        };
        assert!(matches!(
            open_printer(&url, fast()),
            Err(PrintError::Connect { .. })
        ));
        return;
    }
    panic!("no free port stayed free");
}

#[test]
fn cli_print_and_status_against_fake_printer() {
    let exe = env!("CARGO_BIN_EXE_label-printer");
    let (url, rx) = fake_printer(Some(host_status_answer(false, false, false, false)));
    let out = std::process::Command::new(exe)
        .args([
            "print",
            "--printer",
            &url.to_string(),
            "--name",
            "MACDONALD, Morag",
            "--chi",
            "1904851231",
            "--dob",
            "19-Apr-1985",
            "--volume",
            "2",
            "--of",
            "3",
            "--folder-id",
            "F000012345X",
            "--filing",
            "34-63-71",
            "--epc",
            "3434257BF400000000003039",
            "--copies",
            "2",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = String::from_utf8(rx.recv_timeout(Duration::from_secs(5)).unwrap()).unwrap();
    assert!(got.starts_with("~HS^XA\n^CI28\n"), "{got}");
    assert!(
        got.contains("^FDMACDONALD, Morag^FS") && got.contains("^PQ2\n^XZ"),
        "{got}"
    );

    let (url, _rx) = fake_printer(Some(host_status_answer(true, false, true, false)));
    let out = std::process::Command::new(exe)
        .args(["status", "--printer", &url.to_string()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(
        stdout.contains("NOT READY: paper out (no labels), head open"),
        "{stdout}"
    );

    let (url, _rx) = fake_printer(None);
    let out = std::process::Command::new(exe)
        .args(["status", "--printer", &url.to_string(), "--timeout", "0.2"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("did not answer"));
}
