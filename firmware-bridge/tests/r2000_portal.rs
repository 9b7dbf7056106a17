//! R2000 door portal end to end: a simulated reader that behaves as the reader's protocol
//! description says (real-time inventory reads only the selected work antenna; fast-switch
//! inventory walks the antennas; a missing antenna answers with error 0x22) on a
//! pseudo-terminal -> bridge -> fake tracking server.

mod common;

use common::{portal_bridge_config, wait_for_last_error, wait_until, FakeServer};
use firmware_bridge::bridge::Bridge;
use firmware_bridge::config::{
    AntennaSwitching, Config, DeviceConfig, DeviceTransport, Protocol, Role,
};
use firmware_bridge::simulate::r2000_reader::R2000Reader;
use firmware_bridge::simulate::{folder_epc, SimPort, SimReader};
use std::time::Duration;

fn config(server: &FakeServer, dir: &std::path::Path, reader: &SimReader) -> Config {
    let mut c = portal_bridge_config(server, dir);
    let mut d = DeviceConfig::new(
        "ward5-portal",
        Role::Portal,
        Protocol::R2000,
        DeviceTransport::Serial(reader.serial()),
    );
    // corridor side antenna 1, ward side antenna 2 (the defaults, spelt out)
    d.portal.outside_antennas = vec![1];
    d.portal.inside_antennas = vec![2];
    d.portal.location = "LWARD5".into();
    d.portal.outside_location = Some("LCORRIDOR".into());
    d.portal.exit_gap_ms = 400;
    // After a movement, reads within 2.5 s (and as long as they go on) are the same visit.
    d.portal.dwell_ms = 2500;
    c.devices.push(d);
    c
}

fn reader() -> SimReader {
    SimPort::new()
        .unwrap()
        .into_r2000_reader(R2000Reader::new(1, 4))
        .unwrap()
}

/// Wait until the bridge has opened the reader and is inventorying.
fn wait_polled(reader: &SimReader) {
    assert!(wait_until(Duration::from_secs(5), || {
        reader.thread.with(|r| r.commands.len() >= 4)
    }));
}

const EACH: Duration = Duration::from_millis(500);

/// A folder carried into the ward and later out of it gives one movement each way, with the
/// right direction, although the reader only ever reads the antenna it was told to use.
fn in_and_out(switching: AntennaSwitching) {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start("t");
    let reader = reader();
    let mut cfg = config(&server, dir.path(), &reader);
    cfg.devices[0].r2000.antenna_switching = switching;
    let bridge = Bridge::start(cfg).unwrap();
    wait_polled(&reader);
    let epc = folder_epc("0614141", 77);
    reader.thread.passage(&epc, 1, 2, EACH);
    assert!(
        wait_until(Duration::from_secs(10), || server.count() == 1),
        "one movement in, got {:?}",
        server.stored()
    );
    let e = &server.stored()[0];
    assert_eq!(e["raw"], "3434257BF40000000000004D");
    assert_eq!(e["action"], "receive", "{e}");
    assert_eq!(e["location"], "LWARD5");
    assert_eq!(e["method"], "rfid");
    // the tag lingers by the door on the ward side, within the dwell time of its last read
    // (the movement is stored 0.4 s after that read): no second movement
    reader.thread.tag_at(&epc, 2, 60);
    std::thread::sleep(Duration::from_millis(300));
    reader.thread.tag_gone(&epc);
    // longer than the dwell time after the last read: the next passage is a new movement
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(server.count(), 1, "{:?}", server.stored());
    // carried out to the corridor
    reader.thread.passage(&epc, 2, 1, EACH);
    assert!(wait_until(Duration::from_secs(10), || server.count() == 2));
    let e = &server.stored()[1];
    assert_eq!(e["action"], "dispatch", "{e}");
    assert_eq!(e["destination"], "LCORRIDOR");
    // how the bridge drove the reader
    let cmds: Vec<(u8, Vec<u8>)> = reader.thread.with(|r| r.commands.clone());
    match switching {
        AntennaSwitching::FastSwitch => assert!(cmds
            .iter()
            .any(|(c, d)| *c == 0x8A && d[..4] == [0x00, 0x01, 0x01, 0x01])),
        AntennaSwitching::WorkAntenna => {
            assert!(cmds.iter().any(|(c, d)| *c == 0x74 && d == &[0x00]));
            assert!(cmds.iter().any(|(c, d)| *c == 0x74 && d == &[0x01]));
            assert!(cmds.iter().any(|(c, _)| *c == 0x89));
        }
    }
    bridge.shutdown();
}

#[test]
fn fast_switch_inventory_keeps_direction() {
    in_and_out(AntennaSwitching::FastSwitch);
}

#[test]
fn work_antenna_selection_keeps_direction() {
    in_and_out(AntennaSwitching::WorkAntenna);
}

/// Other systems' tags make no movement but are counted; a missing antenna is an error in the
/// device's health (and so in the heartbeat and on the server's Devices page), not silence.
#[test]
fn missing_antenna_and_foreign_tags_show_in_health() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start("t");
    let reader = reader();
    reader.thread.with(|r| r.faults.missing_antennas = vec![2]);
    let bridge = Bridge::start(config(&server, dir.path(), &reader)).unwrap();
    let health = bridge.devices[0].1.clone();
    wait_polled(&reader);
    let foreign = hex::decode("341816E80000000000010015").unwrap();
    reader.thread.tag_at(&foreign, 1, 50);
    assert!(wait_until(Duration::from_secs(5), || {
        let h = health.lock().unwrap();
        h.foreign_reads > 0 && h.reader_errors > 0
    }));
    reader.thread.tag_gone(&foreign);
    let h = health.lock().unwrap().clone();
    assert_eq!(
        h.last_error.as_deref(),
        Some("antenna 2: antenna is missing (reader error 0x22)")
    );
    // the reader's other error replies: a short error frame to the whole command
    reader.thread.with(|r| {
        r.faults.missing_antennas.clear();
        r.faults.error_replies.push_back(0x31)
    });
    assert!(wait_for_last_error(
        &health,
        "error during inventory (reader error 0x31",
        Duration::from_secs(5)
    ));
    // corrupt frames are counted, and the good reads around them still count
    reader.thread.with(|r| r.faults.bad_checks = 3);
    let epc = folder_epc("0614141", 78);
    reader.thread.passage(&epc, 1, 1, EACH);
    assert!(wait_until(Duration::from_secs(5), || {
        health.lock().unwrap().corrupt > 0
    }));
    assert!(
        wait_until(Duration::from_secs(10), || server.count() == 1),
        "{:?}",
        server.stored()
    );
    assert_eq!(server.stored()[0]["action"], "seen", "one zone only: seen");
    bridge.shutdown();
}
