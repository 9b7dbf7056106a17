//! LLRP portal end to end: a fake LLRP reader on TCP, the bridge configures it (DELETE/ADD/
//! ENABLE/START ROSPEC), answers KEEPALIVE, and turns RO_ACCESS_REPORTs into one movement.

mod common;

use common::{bridge_config, portal_bridge_config, wait_for_last_error, wait_until, FakeServer};
use firmware_bridge::bridge::Bridge;
use firmware_bridge::config::{
    Config, DeviceConfig, DeviceTransport, DirectionMethod, Protocol, Role, TcpConfig,
};
use firmware_bridge::frames::llrp;
use firmware_bridge::frames::TagRead;
use firmware_bridge::simulate::folder_epc;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// Read raw LLRP messages from the bridge: (type, id) pairs.
fn read_messages(s: &mut std::net::TcpStream, want: usize, timeout: Duration) -> Vec<(u16, u32)> {
    let end = Instant::now() + timeout;
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    while out.len() < want && Instant::now() < end {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => continue,
        }
        while buf.len() >= 10 {
            let len = u32::from_be_bytes([buf[2], buf[3], buf[4], buf[5]]) as usize;
            if buf.len() < len {
                break;
            }
            let t = u16::from_be_bytes([buf[0], buf[1]]) & 0x3FF;
            let id = u32::from_be_bytes([buf[6], buf[7], buf[8], buf[9]]);
            assert_eq!(buf[0] >> 2 & 7, 1, "LLRP version 1");
            out.push((t, id));
            buf.drain(..len);
        }
    }
    out
}

#[test]
fn llrp_reader_passage() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start("t");
    let reader = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = reader.local_addr().unwrap();
    let mut cfg = bridge_config(&server, dir.path());
    cfg.scan.gs1_company_prefix = Some("0614141".into());
    cfg.delivery.idle_poll_ms = 50;
    let mut d = DeviceConfig::new(
        "store-portal",
        Role::Portal,
        Protocol::Llrp,
        DeviceTransport::Tcp(TcpConfig {
            address: addr.to_string(),
        }),
    );

    d.llrp.antennas = vec![1, 2];
    d.portal.location = "LRECSTORE".into();
    d.portal.direction = DirectionMethod::RssiPeak;
    d.portal.exit_gap_ms = 300;
    cfg.devices.push(d);
    let bridge = Bridge::start(cfg).unwrap();

    let (mut s, _) = reader.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let setup = read_messages(&mut s, 5, Duration::from_secs(5));
    let types: Vec<u16> = setup.iter().map(|m| m.0).collect();
    assert_eq!(
        types,
        vec![
            llrp::DELETE_ROSPEC,
            llrp::ADD_ROSPEC,
            llrp::ENABLE_ROSPEC,
            llrp::START_ROSPEC,
            llrp::ENABLE_EVENTS_AND_REPORTS
        ]
    );
    for (t, id) in &setup[..4] {
        s.write_all(&llrp::response(t + 10, *id, 0, "")).unwrap();
    }
    // keepalive must be acknowledged with the same message id
    s.write_all(&llrp::keepalive(4242)).unwrap();
    let acks = read_messages(&mut s, 1, Duration::from_secs(5));
    assert_eq!(acks, vec![(llrp::KEEPALIVE_ACK, 4242)]);

    // a passage: outside antenna peaks first, then inside; plus another organisation's tag
    let epc = folder_epc("0614141", 900);
    let foreign = hex::decode("341816E80000000000010015").unwrap();
    for i in 0..40i16 {
        let tags = vec![
            TagRead {
                epc: epc.clone(),
                antenna: 1,
                rssi_dbm: Some(-40 - i),
                seen_at_us: None,
            },
            TagRead {
                epc: epc.clone(),
                antenna: 2,
                rssi_dbm: Some(-80 + i),
                seen_at_us: None,
            },
            TagRead {
                epc: foreign.clone(),
                antenna: 1,
                rssi_dbm: Some(-50),
                seen_at_us: None,
            },
        ];
        s.write_all(&llrp::ro_access_report(100 + i as u32, &tags))
            .unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(wait_until(Duration::from_secs(10), || server.count() == 1));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(server.count(), 1);
    let e = &server.stored()[0];
    assert_eq!(e["action"], "receive");
    assert_eq!(e["location"], "LRECSTORE");
    assert_eq!(e["device_id"], "store-portal");

    // the reader drops the connection: the bridge reconnects and sets it up again
    drop(s);
    let (mut s2, _) = reader.accept().unwrap();
    s2.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let again = read_messages(&mut s2, 2, Duration::from_secs(5));
    assert_eq!(again[0].0, llrp::DELETE_ROSPEC);
    assert!(bridge.devices[0].1.lock().unwrap().opens >= 2);
    bridge.shutdown();
}

/// Issue 13: a reader that accepts the connection and then refuses ADD_ROSPEC used to be
/// retried every 0.3 s forever. Reconnects now back off (doubling, with jitter) until a
/// connection has worked for a while: in 3 s with a 100 ms first delay there are a handful
/// of attempts, not thirty.
#[test]
fn a_refusing_reader_is_retried_ever_more_slowly() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start("t");
    let reader = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = reader.local_addr().unwrap();
    let mut cfg = bridge_config(&server, dir.path());
    let mut d = DeviceConfig::new(
        "refusing-portal",
        Role::Portal,
        Protocol::Llrp,
        DeviceTransport::Tcp(TcpConfig {
            address: addr.to_string(),
        }),
    );
    d.reopen_min_ms = 100;
    d.reopen_max_ms = 10_000;
    d.portal.location = "LRECSTORE".into();
    cfg.devices.push(d);
    let bridge = Bridge::start(cfg).unwrap();
    reader.set_nonblocking(true).unwrap();
    let start = Instant::now();
    let mut attempts = 0;
    let mut conns = Vec::new();
    while start.elapsed() < Duration::from_secs(3) {
        match reader.accept() {
            Ok((mut s, _)) => {
                attempts += 1;
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_millis(100)))
                    .unwrap();
                let setup = read_messages(&mut s, 2, Duration::from_secs(2));
                // DELETE_ROSPEC accepted, ADD_ROSPEC refused
                if let Some((_, id)) = setup.first() {
                    let _ = s.write_all(&llrp::response(llrp::DELETE_ROSPEC + 10, *id, 0, ""));
                }
                if let Some((_, id)) = setup.get(1) {
                    let _ = s.write_all(&llrp::response(
                        llrp::ADD_ROSPEC + 10,
                        *id,
                        101,
                        "M_FieldError: no such antenna",
                    ));
                }
                conns.push(s);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    bridge.shutdown();
    assert!(attempts >= 2, "the bridge gave up: {attempts}");
    assert!(
        attempts <= 8,
        "retried too fast: {attempts} connections in 3 s"
    );
}

fn sim_config(
    server: &FakeServer,
    dir: &std::path::Path,
    reader: &firmware_bridge::simulate::llrp_reader::LlrpReaderSim,
) -> Config {
    let mut cfg = portal_bridge_config(server, dir);
    let mut d = DeviceConfig::new(
        "door-portal",
        Role::Portal,
        Protocol::Llrp,
        DeviceTransport::Tcp(TcpConfig {
            address: reader.addr.to_string(),
        }),
    );
    d.llrp.antennas = vec![1, 2];
    d.reopen_min_ms = 200;
    d.portal.location = "LWARD5".into();
    d.portal.outside_location = Some("LCORRIDOR".into());
    d.portal.exit_gap_ms = 400;
    cfg.devices.push(d);
    cfg
}

/// Against a reader simulated from the LLRP 1.1 text: the bridge answers its KEEPALIVEs, a
/// passage corridor -> ward is one `receive` with the reader's time stamp (`clock: reader`),
/// and a reader whose clock is an hour out is not trusted (`clock: bridge`).
#[test]
fn simulated_reader_passage_keepalives_and_clock() {
    use firmware_bridge::simulate::llrp_reader::LlrpReaderSim;
    for (offset_ms, clock) in [(0i64, "reader"), (3_600_000, "bridge")] {
        let dir = tempfile::tempdir().unwrap();
        let server = FakeServer::start("t");
        let reader = LlrpReaderSim::start(Duration::from_millis(200)).unwrap();
        reader.with(|s| s.faults.clock_offset_ms = offset_ms);
        let bridge = Bridge::start(sim_config(&server, dir.path(), &reader)).unwrap();
        assert!(wait_until(Duration::from_secs(5), || reader
            .with(|s| s.received.contains(&llrp::START_ROSPEC))));
        let epc = folder_epc("0614141", 901);
        reader.tag_at(&epc, 1, -50);
        std::thread::sleep(Duration::from_millis(300));
        reader.tag_at(&epc, 2, -45);
        std::thread::sleep(Duration::from_millis(300));
        reader.tag_gone(&epc);
        assert!(wait_until(Duration::from_secs(10), || server.count() == 1));
        let e = &server.stored()[0];
        assert_eq!(e["action"], "receive", "{e}");
        assert_eq!(e["clock"], clock, "{e}");
        assert!(
            reader.with(|s| s.keepalive_acks) >= 1,
            "keepalives acknowledged"
        );
        bridge.shutdown();
    }
}

/// A reader held by another LLRP client refuses the bridge with ConnectionAttemptEvent
/// status 2: the device's last error names the cause, not "connection closed". Reader errors
/// (ERROR_MESSAGE, an unplugged antenna) are counted and named too.
#[test]
fn another_client_and_reader_errors_are_named() {
    use firmware_bridge::simulate::llrp_reader::LlrpReaderSim;
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start("t");
    let reader = LlrpReaderSim::start(Duration::from_secs(5)).unwrap();
    // another program (ItemTest) holds the reader
    let other = std::net::TcpStream::connect(reader.addr).unwrap();
    assert!(wait_until(Duration::from_secs(2), || reader.with(|s| s.accepted == 1)));
    let bridge = Bridge::start(sim_config(&server, dir.path(), &reader)).unwrap();
    let health = bridge.devices[0].1.clone();
    assert!(wait_for_last_error(
        &health,
        "another LLRP client is connected to the reader",
        Duration::from_secs(5)
    ));
    assert!(reader.with(|s| s.refused) >= 1);
    // the other program goes; the reader now has an unplugged antenna and does not support
    // ENABLE_EVENTS_AND_REPORTS
    reader.with(|s| {
        s.faults.unplugged = vec![2];
        s.faults.unsupported = vec![llrp::ENABLE_EVENTS_AND_REPORTS];
    });
    drop(other);
    assert!(wait_until(Duration::from_secs(10), || {
        let h = health.lock().unwrap();
        h.online && h.reader_errors >= 2
    }));
    let h = health.lock().unwrap().clone();
    let last = h.last_error.unwrap_or_default();
    assert!(
        last.contains("M_UnsupportedMessage") || last.contains("antenna 2 disconnected"),
        "{last}"
    );
    // a corrupt message among the reports is dropped alone
    reader.with(|s| s.faults.corrupt_next = true);
    let epc = folder_epc("0614141", 902);
    reader.tag_at(&epc, 1, -50);
    assert!(wait_until(Duration::from_secs(5), || health
        .lock()
        .unwrap()
        .corrupt
        > 0));
    reader.tag_gone(&epc);
    bridge.shutdown();
}
