//! Trolleys, bags and crates through the bridge: a simulated R2000 door portal reads a
//! trolley's GRAI-96 tag (and another organisation's crate, which is dropped), and a porter's
//! line scanner loads folders onto a trolley, then scans it at the ward; all delivered to the
//! fake tracking server as the wire contract says.

mod common;

use casenote_core::identifiers::{FolderIdScheme, Grai};
use common::{portal_bridge_config, wait_until, FakeServer};
use firmware_bridge::bridge::Bridge;
use firmware_bridge::config::{DeviceConfig, DeviceTransport, Protocol, Role};
use firmware_bridge::simulate::r2000_reader::R2000Reader;
use firmware_bridge::simulate::{card, folder_epc, SimPort};
use std::time::Duration;

const EACH: Duration = Duration::from_millis(500);

fn trolley() -> Grai {
    Grai::new("0614141", "00001", "3").unwrap()
}

/// The trolley through the door into Ward 5: one event with its tag, received at the ward,
/// beside a folder's own tag; a crate of another organisation's prefix is not sent.
#[test]
fn a_portal_sends_a_trolleys_passage_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start("t");
    let reader = SimPort::new()
        .unwrap()
        .into_r2000_reader(R2000Reader::new(1, 4))
        .unwrap();
    let mut cfg = portal_bridge_config(&server, dir.path());
    let mut d = DeviceConfig::new(
        "ward5-portal",
        Role::Portal,
        Protocol::R2000,
        DeviceTransport::Serial(reader.serial()),
    );
    d.portal.outside_antennas = vec![1];
    d.portal.inside_antennas = vec![2];
    d.portal.location = "LWARD5".into();
    d.portal.outside_location = Some("LCORRIDOR".into());
    d.portal.exit_gap_ms = 400;
    cfg.devices.push(d);
    let bridge = Bridge::start(cfg).unwrap();
    assert!(wait_until(Duration::from_secs(5), || {
        reader.thread.with(|r| r.commands.len() >= 4)
    }));
    let tag = trolley().to_epc(0).unwrap().encode().unwrap().to_vec();
    let foreign = Grai::new("0234567", "89012", "1")
        .unwrap()
        .to_epc(0)
        .unwrap()
        .encode()
        .unwrap()
        .to_vec();
    let folder = folder_epc("0614141", 77);
    reader.thread.tag_at(&foreign, 1, 60);
    reader.thread.passage(&tag, 1, 2, EACH);
    reader.thread.tag_gone(&foreign);
    reader.thread.passage(&folder, 1, 2, EACH);
    assert!(
        wait_until(Duration::from_secs(10), || server.count() == 2),
        "{:?}",
        server.stored()
    );
    std::thread::sleep(Duration::from_millis(800));
    let got = server.stored();
    assert_eq!(got.len(), 2, "{got:?}");
    let hex = trolley().to_epc(0).unwrap().to_hex().unwrap();
    let e = got
        .iter()
        .find(|e| e["raw"] == hex.as_str())
        .expect("the trolley's event");
    assert_eq!(e["action"], "receive", "{e}");
    assert_eq!(e["location"], "LWARD5");
    assert_eq!(e["method"], "rfid");
    assert!(
        e.get("container").is_none(),
        "a container's own event is no load: {e}"
    );
    assert!(got.iter().any(|e| e["raw"] == "3434257BF40000000000004D"));
    bridge.shutdown();
}

/// Library card, trolley, three folders; Ward 5 card, trolley. The folders go as loads onto
/// the trolley's GRAI at the library, the trolley as two events (library, ward).
#[test]
fn a_porter_loads_a_trolley_and_scans_it_at_the_ward() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start("t");
    let mut scanner = SimPort::new().unwrap();
    let mut cfg = portal_bridge_config(&server, dir.path());
    cfg.devices.push(DeviceConfig::new(
        "porter-1",
        Role::Handheld,
        Protocol::Line,
        DeviceTransport::Serial(scanner.serial()),
    ));
    let bridge = Bridge::start(cfg).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let label = format!("]C18003{}", trolley().ai_value());
    let folder = |n: u64| format!("]C0{}", FolderIdScheme::default().format(n).text);
    for line in [
        format!("]C0{}", card("LLIB")),
        label.clone(),
        folder(1),
        folder(2),
        folder(3),
        format!("]C0{}", card("LWARD5")),
        label.clone(),
    ] {
        scanner.scan_line(&line).unwrap();
        // more than the repeat window apart, as a porter scans
        std::thread::sleep(Duration::from_millis(150));
    }
    assert!(
        wait_until(Duration::from_secs(10), || server.count() == 5),
        "{:?}",
        server.stored()
    );
    let got = server.stored();
    let grai = trolley().ai_value();
    assert_eq!(
        (got[0]["raw"].as_str(), got[0]["location"].as_str()),
        (Some(label.as_str()), Some("LLIB"))
    );
    for (i, e) in got[1..4].iter().enumerate() {
        assert_eq!(e["raw"], folder(i as u64 + 1));
        assert_eq!(e["container"], grai.as_str(), "{e}");
        assert_eq!(e["location"], "LLIB");
    }
    assert_eq!(
        (got[4]["raw"].as_str(), got[4]["location"].as_str()),
        (Some(label.as_str()), Some("LWARD5"))
    );
    assert!(got[4].get("container").is_none());
    bridge.shutdown();
}
