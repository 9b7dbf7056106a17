//! The web interface in a real browser: headless Chromium driven over WebDriver (chromedriver,
//! started here on a free port), against the real server on a random port over a real SQLite
//! file. Scans are typed into the focused field and ended with Enter, as a keyboard-wedge
//! scanner does. Screenshots of the main pages at desktop and tablet (768px) width are saved
//! under `$CARGO_TARGET_DIR/screenshots/`.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian `chromium`,
//! `chromium-driver`). Without them the test fails when `CI=true` and is skipped otherwise.

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use thirtyfour::prelude::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

// ---------- chromedriver and browsers ----------

/// chromedriver on a free loopback port, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_chromedriver() -> Driver {
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let d = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    d
}

/// chromedriver and one Chromium session with its own profile, closed on drop.
struct OneBrowser {
    d: WebDriver,
    _profile: tempfile::TempDir,
    driver: Driver,
}

async fn one_browser() -> OneBrowser {
    let driver = start_chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let d = browser(&driver, profile.path()).await;
    OneBrowser {
        d,
        _profile: profile,
        driver,
    }
}

impl OneBrowser {
    async fn quit(self) {
        self.d.quit().await.unwrap();
    }
}

/// A new folder (the next volume) of `chi`'s main notes: its barcode.
async fn new_folder(s: &TestServer, library: &str, chi: &str) -> String {
    s.folder(library, chi, "main").await["barcode"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn browser(driver: &Driver, profile: &Path) -> WebDriver {
    let mut caps = DesiredCapabilities::chrome();
    caps.set_binary(CHROMIUM).unwrap();
    for arg in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--window-size=1280,1000",
    ] {
        caps.add_arg(arg).unwrap();
    }
    caps.add_arg(&format!("--user-data-dir={}", profile.display()))
        .unwrap();
    WebDriver::new(driver.url.clone(), caps)
        .await
        .expect("a Chromium session")
}

// ---------- a fake Zebra printer ----------

/// Answers each `~HS` with a ready status and records everything else it is sent.
struct FakePrinter {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<u8>>>,
}

impl FakePrinter {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let rec = received.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                conn.set_read_timeout(Some(Duration::from_secs(10))).ok();
                let (mut got, mut answered, mut buf) = (Vec::new(), 0, [0u8; 4096]);
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                    let asked = String::from_utf8_lossy(&got).matches("~HS").count();
                    while answered < asked {
                        answered += 1;
                        let _ = conn.write_all(b"\x02030,0,0,0400,000,0,0,0,000,0,0,0\x03\r\n\x02001,0,0,0,1,2,6,0,00000000,1,000\x03\r\n\x021234,0\x03\r\n");
                    }
                }
                let text = String::from_utf8_lossy(&got).replace("~HS", "");
                rec.lock().unwrap().extend_from_slice(text.as_bytes());
            }
        });
        FakePrinter { addr, received }
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.received.lock().unwrap()).to_string()
    }
}

// ---------- helpers ----------

async fn wait_until<F, Fut>(what: &str, secs: u64, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if f().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn text_of(d: &WebDriver, css: &str) -> String {
    match d.find(By::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// The element with the focus, once its id is `id`. Browsers apply `autofocus`
/// after the load event, so the focus is awaited rather than read once.
async fn focused(d: &WebDriver, id: &str, what: &str) -> WebElement {
    wait_until(what, 10, || async {
        match d.active_element().await {
            Ok(e) => e.id().await.ok().flatten().as_deref() == Some(id),
            Err(_) => false,
        }
    })
    .await;
    d.active_element().await.unwrap()
}

async fn sign_in(d: &WebDriver, base: &str, user: &str) {
    d.goto(format!("{base}/login")).await.unwrap();
    // The user name field has the focus.
    let f = focused(d, "username", "the focus on the user name field").await;
    f.send_keys(user).await.unwrap();
    let p = d.find(By::Id("password")).await.unwrap();
    p.send_keys(PW).await.unwrap();
    p.send_keys(Key::Enter).await.unwrap();
    wait_until("the home page", 10, || async {
        text_of(d, "h1").await == "What do you need to do?"
    })
    .await;
}

async fn sign_out(d: &WebDriver) {
    d.find(By::Css("header .who button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until("the sign-in page", 10, || async {
        text_of(d, "h1").await == "Sign in"
    })
    .await;
}

/// Type a scan into whatever field has the focus, then Enter, like a wedge scanner.
async fn wedge(d: &WebDriver, data: &str) {
    let f = focused(d, "scan-input", "the focus on the scan field").await;
    f.send_keys(data).await.unwrap();
    f.send_keys(Key::Enter).await.unwrap();
}

async fn feedback_after(d: &WebDriver, before: usize) -> (String, String) {
    wait_until("scan feedback", 10, || async {
        d.find_all(By::Css("#log li")).await.unwrap().len() > before
    })
    .await;
    let e = d.find(By::Id("feedback")).await.unwrap();
    (
        e.class_name().await.unwrap().unwrap_or_default(),
        e.text().await.unwrap(),
    )
}

async fn shot(d: &WebDriver, dir: &Path, name: &str, width: u32) -> PathBuf {
    let p = dir.join(format!("{name}-{width}.png"));
    d.screenshot(&p).await.unwrap();
    p
}

/// Whether Chromium and chromedriver are here. Without them a browser test is skipped, except
/// under `CI=true`, where it fails.
fn browser_available() -> bool {
    if tools_present() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "{CHROMIUM} and {CHROMEDRIVER} are needed (apt-get install chromium chromium-driver)"
        );
    }
    eprintln!("skipping the browser test: {CHROMIUM} or {CHROMEDRIVER} is missing");
    false
}

fn tools_present() -> bool {
    Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists()
}

// ---------- the test ----------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_interface_in_chromium() {
    if !browser_available() {
        return;
    }
    let started = Instant::now();
    let s = start_with(|c| {
        c.requests.overdue_check_secs = 1;
        c.printing.status_timeout_ms = 2000;
    })
    .await;
    let base = s.base.clone();
    let admin = s.login("admin").await;
    let manager = s.login("records_manager").await;
    let library = s.login("library").await;
    s.seed_locations(&manager).await;
    s.patient(&library, "1904851231", "Macdonald", "Morag", "1985-04-19")
        .await;
    let folder = s.folder(&library, "1904851231", "main").await["barcode"]
        .as_str()
        .unwrap()
        .to_string();
    let folder2 = s.folder(&library, "1904851231", "main").await["barcode"]
        .as_str()
        .unwrap()
        .to_string();
    s.patient(
        &library,
        "0101011237",
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(2)>",
        "2001-01-01",
    )
    .await;
    s.folder(&library, "0101011237", "main").await;
    let printer = FakePrinter::start();
    let r = s
        .post(
            Some(&admin),
            "/api/v1/printers",
            json!({"name": "library-zebra-1", "url": format!("tcp://{}", printer.addr)}),
        )
        .await;
    s.ok_json(r).await;
    // A clinic session for the pull list, and a device for the devices page.
    let r = s
        .post(
            Some(&manager),
            "/api/v1/clinic-sessions",
            json!({"clinic": "LCLINA", "name": "Orthopaedics AM", "date": "2030-03-04", "start": "09:00", "end": "12:00"}),
        )
        .await;
    let session = s.ok_json(r).await;
    for (chi, at) in [("1904851231", "09:30"), ("0101011237", "10:00")] {
        let r = s
            .post(
                Some(&manager),
                "/api/v1/appointments",
                json!({"session": session["id"], "patient": chi, "start": at}),
            )
            .await;
        s.ok_json(r).await;
    }
    let device = s.device_token(&admin, "ward5-bridge").await;
    let r = s
        .post(
            Some(&device),
            "/api/v1/devices/heartbeat",
            json!({"bridge_id": "ward5-pc", "devices": [
                {"device_id": "ward5-door", "description": "Ward 5 door scanner", "online": true, "queue_depth": 0},
                {"device_id": "ward5-portal", "description": "Ward 5 RFID portal", "online": false, "queue_depth": 3, "oldest_event_age_s": 95}]}),
        )
        .await;
    s.ok_json(r).await;

    let shots_dir = PathBuf::from(
        std::env::var("CARGO_TARGET_DIR")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").to_string()),
    )
    .join("screenshots");
    std::fs::create_dir_all(&shots_dir).unwrap();
    let profiles = tempfile::tempdir().unwrap();
    let driver = start_chromedriver();
    let a = browser(&driver, &profiles.path().join("a")).await;
    let b = browser(&driver, &profiles.path().join("b")).await;
    let mut shots: Vec<PathBuf> = Vec::new();
    a.set_window_rect(0, 0, 1280, 1000).await.unwrap();
    a.goto(format!("{base}/login")).await.unwrap();
    shots.push(shot(&a, &shots_dir, "sign-in", 1280).await);
    a.set_window_rect(0, 0, 768, 1024).await.unwrap();
    shots.push(shot(&a, &shots_dir, "sign-in", 768).await);
    a.set_window_rect(0, 0, 1280, 1000).await.unwrap();

    // 1. A porter signs in and scans a location card, then folders, like a wedge scanner.
    sign_in(&a, &base, "porter").await;
    // Keyboard: the first Tab reaches the skip link.
    a.find(By::Tag("body"))
        .await
        .unwrap()
        .send_keys(Key::Tab)
        .await
        .unwrap();
    assert_eq!(
        a.active_element().await.unwrap().text().await.unwrap(),
        "Skip to main content"
    );
    a.goto(format!("{base}/scan?mode=porter")).await.unwrap();
    // a label that merely starts with L is not a location card
    wedge(&a, "LOT2024A").await;
    let (class, text) = feedback_after(&a, 0).await;
    assert_eq!(class, "error", "{text}");
    assert!(
        text.to_lowercase().contains("not a case-note barcode"),
        "{text}"
    );
    // the ward's location card as printed: code, '/', check character
    let ward5 = casenote_core::identifiers::card_payload("LWARD5").unwrap();
    let logged = a.find_all(By::Css("#log li")).await.unwrap().len();
    wedge(&a, &ward5).await;
    let (class, text) = feedback_after(&a, logged).await;
    assert_eq!(class, "ok", "{text}");
    assert!(text.contains("Ward 5"), "{text}");
    wedge(&a, &folder).await;
    let (class, text) = feedback_after(&a, logged + 1).await;
    assert_eq!(class, "ok", "{text}");
    assert!(text.contains(&folder) && text.contains("LWARD5"), "{text}");
    // The feedback box is green.
    let colour = a
        .execute(
            "return getComputedStyle(document.getElementById('feedback')).borderTopColor",
            vec![],
        )
        .await
        .unwrap()
        .json()
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(colour, "rgb(0, 127, 59)");
    wedge(&a, &folder2).await;
    feedback_after(&a, logged + 2).await;
    wedge(&a, "HELLO-WORLD").await;
    let (class, text) = feedback_after(&a, logged + 3).await;
    assert_eq!(class, "error", "{text}");
    assert!(text.starts_with("Not a case-note barcode"), "{text}");
    shots.push(shot(&a, &shots_dir, "porter-scan", 1280).await);

    // 2. Where is it now?
    a.goto(format!("{base}/whereis?q={folder}")).await.unwrap();
    let answer = text_of(&a, ".answer .where").await;
    assert!(answer.contains("Ward 5 (LWARD5)"), "{answer}");
    // names, not codes: the device is the scan page of the porter who scanned
    let seen = text_of(&a, ".answer").await;
    assert!(seen.contains("with scan page (porter)"), "{seen}");
    assert!(!seen.contains("web:porter"), "{seen}");
    sign_out(&a).await;

    // 3. The library desk is open in one browser; a clinician asks for notes in another.
    sign_in(&a, &base, "library").await;
    a.goto(format!("{base}/desk")).await.unwrap();
    wait_until("the live connection", 10, || async {
        text_of(&a, "#live").await == "Live"
    })
    .await;
    a.execute("window.__sameDocument = 42;", vec![])
        .await
        .unwrap();
    sign_in(&b, &base, "clinician").await;
    b.goto(format!("{base}/requests/new")).await.unwrap();
    b.find(By::Id("patient"))
        .await
        .unwrap()
        .send_keys("1904851231")
        .await
        .unwrap();
    b.find(By::Css("#destination option[value=LWARD5]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.find(By::Id("urgency-urgent"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.find(By::Id("reason"))
        .await
        .unwrap()
        .send_keys("Ward round tomorrow morning")
        .await
        .unwrap();
    shots.push(shot(&b, &shots_dir, "request-form", 1280).await);
    b.find(By::Css("main form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until("the request page", 10, || async {
        text_of(&b, "h1").await.starts_with("Request ")
    })
    .await;
    let url = b.current_url().await.unwrap();
    let id: i64 = url.path().trim_start_matches("/requests/").parse().unwrap();
    assert!(text_of(&b, "main").await.contains("Request sent."));
    let live_at = Instant::now();
    wait_until("the new request on the desk", 10, || async {
        a.find(By::Id(format!("req-{id}"))).await.is_ok()
    })
    .await;
    let live_ms = live_at.elapsed().as_millis();
    let row = text_of(&a, &format!("#req-{id}")).await;
    assert!(
        row.contains("MACDONALD, Morag") && row.contains("Ward 5"),
        "{row}"
    );
    let same = a
        .execute("return window.__sameDocument;", vec![])
        .await
        .unwrap()
        .json()
        .clone();
    assert_eq!(same, json!(42), "the desk page was not reloaded");
    // A request due in two seconds turns red on the open page when it becomes overdue.
    let due = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let clinician = s.login("clinician").await;
    let r = s
        .post(
            Some(&clinician),
            "/api/v1/requests",
            json!({"patient": "0101011237", "destination": "LCLINA", "urgency": "emergency", "reason": "fall", "needed_by": due}),
        )
        .await;
    let v: Value = s.ok_json(r).await;
    let id2 = v["id"].as_i64().unwrap();
    wait_until("the second request", 10, || async {
        a.find(By::Id(format!("req-{id2}"))).await.is_ok()
    })
    .await;
    wait_until("the overdue mark", 20, || async {
        match a.find(By::Id(format!("req-{id2}"))).await {
            Ok(e) => e
                .class_name()
                .await
                .ok()
                .flatten()
                .is_some_and(|c| c.contains("overdue")),
            Err(_) => false,
        }
    })
    .await;
    assert!(text_of(&a, "#desk-overdue").await == "1");
    // Patient names with markup are text, and nothing ran.
    let row2 = text_of(&a, &format!("#req-{id2}")).await;
    assert!(
        row2.contains("<SCRIPT>ALERT(1)</SCRIPT>, <img src=x onerror=alert(2)>"),
        "{row2}"
    );
    assert!(a.get_alert_text().await.is_err(), "no alert may open");
    shots.push(shot(&a, &shots_dir, "desk-queue", 1280).await);
    // The desk marks the first request pulled.
    a.find(By::Css(format!("#req-{id} form button")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until("the confirmation", 10, || async {
        text_of(&a, "main [role=status]")
            .await
            .contains(&format!("Request {id} is now pulled"))
    })
    .await;

    // 4. Print a folder label to the (fake) network printer.
    a.goto(format!("{base}/labels")).await.unwrap();
    a.find(By::Id("folder-barcode"))
        .await
        .unwrap()
        .send_keys(&folder)
        .await
        .unwrap();
    a.find(By::Css("form[action='/labels/folder'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until("the print result", 15, || async {
        text_of(&a, "#print-result")
            .await
            .contains("Sent to library-zebra-1")
    })
    .await;
    wait_until("the label at the printer", 10, || async {
        printer.text().contains(&folder)
    })
    .await;
    let zpl = printer.text();
    assert!(zpl.contains("^XA") && zpl.contains("^XZ"), "{zpl}");
    assert!(zpl.contains("MACDONALD"), "the label names the patient");
    shots.push(shot(&a, &shots_dir, "labels", 1280).await);

    // 5. Screenshots of the main pages, at desktop and tablet width.
    let pages = [
        ("home", "/".to_string()),
        ("whereis-answer", format!("/whereis?q={folder}")),
        ("whereis-escaped", "/whereis?q=0101011237".to_string()),
        ("porter-scan-page", "/scan?mode=porter".to_string()),
        ("desk-queue-page", "/desk".to_string()),
        ("pull-list", "/pull-lists?date=2030-03-04".to_string()),
        ("labels-page", "/labels".to_string()),
        ("printers", "/admin/printers".to_string()),
        ("devices", "/admin/devices".to_string()),
        (
            "report-out-of-library",
            "/reports/out-of-library?days=0".to_string(),
        ),
        ("request", format!("/requests/{id}")),
    ];
    for width in [1280u32, 768] {
        a.set_window_rect(0, 0, width, if width == 768 { 1024 } else { 1000 })
            .await
            .unwrap();
        for (name, path) in &pages {
            a.goto(format!("{base}{path}")).await.unwrap();
            // Nothing is wider than the window (no sideways scrolling of the page).
            let wide = a
                .execute(
                    "return document.documentElement.scrollWidth > window.innerWidth + 1;",
                    vec![],
                )
                .await
                .unwrap()
                .json()
                .clone();
            assert_eq!(wide, json!(false), "{name} scrolls sideways at {width}px");
            if *name == "desk-queue-page" {
                // The whole queue, with its buttons, fits a tablet without scrolling sideways.
                let fits = a
                    .execute(
                        "var w = document.querySelector('.table-wrap'); return w.scrollWidth <= w.clientWidth + 1;",
                        vec![],
                    )
                    .await
                    .unwrap()
                    .json()
                    .clone();
                assert_eq!(fits, json!(true), "the desk queue is too wide at {width}px");
            }
            shots.push(shot(&a, &shots_dir, name, width).await);
        }
    }
    assert!(text_of(&a, "main").await.contains("History"));
    a.goto(format!("{base}/whereis?q=0101011237"))
        .await
        .unwrap();
    let main = text_of(&a, "main").await;
    assert!(
        main.contains("<SCRIPT>ALERT(1)</SCRIPT>, <img src=x onerror=alert(2)>"),
        "{main}"
    );
    assert!(a.get_alert_text().await.is_err(), "no alert may open");

    a.quit().await.unwrap();
    b.quit().await.unwrap();
    drop(driver);
    eprintln!(
        "browser test: new request on the desk {live_ms} ms after it was made; {} screenshots in {} ({:.1} s in all)",
        shots.len(),
        shots_dir.display(),
        started.elapsed().as_secs_f64()
    );
    println!("screenshots: {}", shots_dir.display());
}

// ---------- issue 14: the porter's scan page at full speed, offline and signed out ----------

/// A TCP proxy in front of the server that the test can cut (the hospital Wi-Fi dropping, or
/// the server stopped) and restore: while down, connections are refused and open ones cut.
struct Cable {
    addr: SocketAddr,
    up: Arc<std::sync::atomic::AtomicBool>,
    generation: Arc<std::sync::atomic::AtomicU64>,
}

impl Cable {
    async fn start(to: String) -> Self {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let generation = Arc::new(AtomicU64::new(0));
        let (u, g) = (up.clone(), generation.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if !u.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let (u, g, to) = (u.clone(), g.clone(), to.clone());
                let born = g.load(Ordering::SeqCst);
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&to).await else {
                        return;
                    };
                    let copy = tokio::io::copy_bidirectional(&mut inbound, &mut outbound);
                    let cut = async {
                        while u.load(Ordering::SeqCst) && g.load(Ordering::SeqCst) == born {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    };
                    tokio::select! { _ = copy => {}, _ = cut => {} }
                });
            }
        });
        Cable {
            addr,
            up,
            generation,
        }
    }
    fn set(&self, up: bool) {
        use std::sync::atomic::Ordering;
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.up.store(up, Ordering::SeqCst);
    }
}

/// Movements of a folder barcode: (location code, count).
async fn movements_of(s: &TestServer, barcode: &str) -> Vec<String> {
    let b = barcode.to_string();
    s.db.read(move |c| {
        let mut st = c.prepare(
            "SELECT l.code FROM movements m JOIN locations l ON l.id = m.location_id
             WHERE m.raw = ?1 ORDER BY m.read_at",
        )?;
        let v = st
            .query_map([&b], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    })
    .await
    .unwrap()
}

async fn waiting_text(d: &WebDriver) -> String {
    text_of(d, "#waiting").await
}

/// Type as a wedge scanner does: each key of the payload, then Enter, into whatever has the
/// focus, with a WebDriver pause of 6 ms before each key-down and key-up (keys about 5-30 ms
/// apart, as scanners type).
async fn burst(d: &WebDriver, data: &str) {
    d.action_chain_with_delay(Some(Duration::from_millis(6)), None)
        .send_keys(format!("{data}\u{E007}")) // U+E007: WebDriver's Enter key
        .perform()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_page_keeps_every_scan_at_the_right_place() {
    if !browser_available() {
        return;
    }
    let World {
        s,
        manager,
        library,
        ..
    } = world().await;
    let r = s
        .post(
            Some(&manager),
            "/api/v1/locations",
            json!({"code": "LWARD7", "name": "Ward 7", "kind": "ward", "parent": "LSITE"}),
        )
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    s.patient(&library, "1904851231", "Macdonald", "Morag", "1985-04-19")
        .await;
    let mut folders = Vec::new();
    for _ in 0..7 {
        folders.push(new_folder(&s, &library, "1904851231").await);
    }
    let cable = Cable::start(s.base.trim_start_matches("http://").to_string()).await;
    let base = format!("http://{}", cable.addr);
    let b = one_browser().await;
    let d = &b.d;
    sign_in(d, &base, "porter").await;
    d.goto(format!("{base}/scan?mode=porter")).await.unwrap();
    focused(d, "scan-input", "the scan box").await;
    let ward5 = casenote_core::identifiers::card_payload("LWARD5").unwrap();
    let ward7 = casenote_core::identifiers::card_payload("LWARD7").unwrap();
    // Chromium itself says the page can be installed (manifest, icons, service worker)
    // (chromedriver's DevTools command endpoint: Page.getInstallabilityErrors)
    let cdp_url = format!(
        "{}/session/{}/goog/cdp/execute",
        b.driver.url,
        d.session_id()
    );
    let mut errors = Value::Null;
    for _ in 0..50 {
        let r: Value = reqwest::Client::new()
            .post(&cdp_url)
            .json(&json!({"cmd": "Page.getInstallabilityErrors", "params": {}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        errors = r["value"].clone();
        if errors["installabilityErrors"]
            .as_array()
            .is_some_and(|a| a.is_empty())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(errors["installabilityErrors"], json!([]), "{errors}");

    // 1. A burst: the Ward 5 card, then the Ward 7 card, then a folder 30 ms later: the folder
    //    is at Ward 7, although no answer from the server has come back yet.
    burst(d, &ward5).await;
    burst(d, &ward7).await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    burst(d, &folders[0]).await;
    let f0 = folders[0].clone();
    wait_until("the first folder stored", 10, || async {
        movements_of(&s, &f0).await.len() == 1
    })
    .await;
    assert_eq!(movements_of(&s, &folders[0]).await, ["LWARD7"]);
    assert!(text_of(d, "#here").await.contains("Ward 7"));

    // 2. The focus is on "Sign out": the scanner's keys still go to the scan box and its Enter
    //    does not sign the porter out.
    d.execute(
        "document.querySelector('header .who button').focus();",
        vec![],
    )
    .await
    .unwrap();
    burst(d, &folders[1]).await;
    let f1 = folders[1].clone();
    wait_until(
        "the folder scanned with the focus elsewhere",
        10,
        || async { movements_of(&s, &f1).await.len() == 1 },
    )
    .await;
    assert_eq!(text_of(d, "h1").await, "Scan folders", "still signed in");
    assert_eq!(movements_of(&s, &folders[1]).await, ["LWARD7"]);

    // 3. The network drops: scans are kept in the browser and counted; when it is back they
    //    are sent, each exactly once.
    cable.set(false);
    d.find(By::Id("scan-input"))
        .await
        .unwrap()
        .focus()
        .await
        .unwrap();
    burst(d, &folders[2]).await;
    burst(d, &folders[3]).await;
    wait_until("two scans waiting", 10, || async {
        waiting_text(d).await.starts_with("2 scans waiting")
    })
    .await;
    // the page itself loads with no network (service worker), and takes a scan
    d.refresh().await.unwrap();
    focused(d, "scan-input", "the scan box after an offline reload").await;
    burst(d, &ward7).await;
    burst(d, &folders[4]).await;
    wait_until("three scans waiting", 10, || async {
        waiting_text(d).await.starts_with("3 scans waiting")
    })
    .await;
    for f in &folders[2..5] {
        assert!(
            movements_of(&s, f).await.is_empty(),
            "nothing sent while offline"
        );
    }
    cable.set(true);
    wait_until("the waiting scans delivered", 30, || async {
        waiting_text(d).await.is_empty()
    })
    .await;
    for f in &folders[2..5] {
        assert_eq!(movements_of(&s, f).await, ["LWARD7"], "{f} exactly once");
    }

    // 4. The session expires mid-round: the page says so with the count; after signing in
    //    again the scans are sent.
    s.db.write(|c| {
        c.execute("DELETE FROM sessions", [])?;
        Ok(())
    })
    .await
    .unwrap();
    burst(d, &folders[5]).await;
    burst(d, &folders[6]).await;
    wait_until("the sign-in message", 15, || async {
        waiting_text(d)
            .await
            .starts_with("Sign in again: 2 scans waiting")
    })
    .await;
    d.find(By::Css("#waiting a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let f = focused(d, "username", "the sign-in form").await;
    f.send_keys("porter").await.unwrap();
    let p = d.find(By::Id("password")).await.unwrap();
    p.send_keys(PW).await.unwrap();
    p.send_keys(Key::Enter).await.unwrap();
    wait_until("back on the scan page", 10, || async {
        text_of(d, "h1").await == "Scan folders"
    })
    .await;
    wait_until("the scans made while signed out delivered", 30, || async {
        waiting_text(d).await.is_empty()
    })
    .await;
    for f in &folders[5..7] {
        assert_eq!(movements_of(&s, f).await, ["LWARD7"], "{f} exactly once");
    }
    // every scan of the round: stored once, at the right place
    for f in &folders {
        assert_eq!(movements_of(&s, f).await.len(), 1, "{f}");
    }
    b.quit().await;
}

/// Issue 14: every change of a request reaches an open desk page: pulled by another clerk,
/// dispatched and received by scans, cancelled by the clinician.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desk_follows_every_change() {
    if !browser_available() {
        return;
    }
    let World {
        s,
        library,
        clinician,
        device,
        ..
    } = world().await;
    s.patient(&library, "1904851231", "Macdonald", "Morag", "1985-04-19")
        .await;
    let folder = new_folder(&s, &library, "1904851231").await;
    let ask = |dest: &'static str| {
        let s = &s;
        let clinician = clinician.clone();
        async move {
            let r = s
                .post(
                    Some(&clinician),
                    "/api/v1/requests",
                    json!({"patient": "1904851231", "destination": dest, "urgency": "urgent", "reason": "clinic"}),
                )
                .await;
            s.ok_json(r).await["id"].as_i64().unwrap()
        }
    };
    let first = ask("LCLINA").await;
    let b = one_browser().await;
    let d = &b.d;
    sign_in(d, &s.base, "library").await;
    d.goto(format!("{}/desk", s.base)).await.unwrap();
    wait_until("the live connection", 10, || async {
        text_of(d, "#live").await == "Live"
    })
    .await;
    let state_of = |id: i64| {
        let d = &d;
        async move { text_of(d, &format!("#req-{id} td.state")).await }
    };
    assert!(state_of(first).await.starts_with("requested"));

    // another clerk pulls it (through the API, as another desk or a handheld would)
    let r = s
        .put(
            &library,
            &format!("/api/v1/requests/{first}/state"),
            json!({"state": "pulled", "note": "pulled by the other clerk"}),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    wait_until("pulled on the open desk", 10, || async {
        state_of(first).await.starts_with("pulled")
    })
    .await;
    assert!(
        !state_of(first).await.contains("Pulled"),
        "no Pulled button once pulled"
    );
    // dispatched and received by scans
    let now = chrono::Utc::now();
    let at = |s: i64| (now + chrono::Duration::seconds(s)).to_rfc3339();
    for (loc, secs, action, dest, want) in [
        ("LLIB", 1, "dispatch", Some("LCLINA"), "dispatched"),
        ("LCLINA", 2, "receive", None, "received"),
    ] {
        let r = s
            .post(
                Some(&device),
                "/api/v1/events",
                json!({"events": [event(&folder, loc, &at(secs), action, dest)]}),
            )
            .await;
        s.ok_json(r).await;
        wait_until(want, 10, || async {
            state_of(first).await.starts_with(want)
        })
        .await;
    }
    // a second request, cancelled by the clinician who asked: it leaves the queue
    let second = ask("LWARD5").await;
    // (the folder is at the clinic, so the request may start "located" there)
    wait_until("the new request on the desk", 10, || async {
        !state_of(second).await.is_empty()
    })
    .await;
    let r = s
        .put(
            &clinician,
            &format!("/api/v1/requests/{second}/state"),
            json!({"state": "cancelled", "note": "not needed after all"}),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    wait_until("the cancelled request off the desk", 10, || async {
        d.find_all(By::Id(format!("req-{second}")))
            .await
            .unwrap()
            .is_empty()
    })
    .await;
    assert_eq!(text_of(d, "#desk-count").await, "1");
    b.quit().await;
}

/// Issue 14: no place is preselected for the clerk or the clinician; a requested folder
/// dispatched with no destination chosen goes where it was asked for, and one scanned for
/// another place is held until the clerk chooses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_follows_the_request_or_asks() {
    if !browser_available() {
        return;
    }
    let World {
        s,
        library,
        clinician,
        ..
    } = world().await;
    let mut folders = Vec::new();
    for (chi, family, dob) in [
        ("1904851231", "Macdonald", "1985-04-19"),
        ("0101011237", "Stewart", "2001-01-01"),
    ] {
        s.patient(&library, chi, family, "Ann", dob).await;
        folders.push(new_folder(&s, &library, chi).await);
        let r = s
            .post(
                Some(&clinician),
                "/api/v1/requests",
                json!({"patient": chi, "destination": "LWARD5", "urgency": "urgent", "reason": "ward round"}),
            )
            .await;
        s.ok_json(r).await;
    }
    let dest_of = |barcode: String| {
        let db = s.db.clone();
        async move {
            db.read(move |c| {
                let v = c
                    .prepare("SELECT l.code FROM movements m JOIN locations l ON l.id = m.destination_id WHERE m.raw LIKE '%' || ?1")?
                    .query_map([&barcode], |r| r.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(v)
            })
            .await
            .unwrap()
        }
    };
    let b = one_browser().await;
    let d = &b.d;
    sign_in(d, &s.base, "clinician").await;
    d.goto(format!("{}/requests/new", s.base)).await.unwrap();
    let chosen = d
        .execute(
            "return document.getElementById('destination').value",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(chosen.json(), &json!(""), "no destination preselected");
    sign_out(d).await;

    sign_in(d, &s.base, "library").await;
    d.goto(format!("{}/scan?mode=dispatch", s.base))
        .await
        .unwrap();
    focused(d, "scan-input", "the scan box").await;
    let chosen = d
        .execute(
            "return document.getElementById('destination').value",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(chosen.json(), &json!(""), "no destination preselected");
    // nothing chosen: the folder goes where it was asked for
    burst(d, &folders[0]).await;
    let f0 = folders[0].clone();
    wait_until("the first dispatch", 10, || async {
        dest_of(f0.clone()).await == ["LWARD5"]
    })
    .await;
    // Clinic A chosen, but the folder was asked for at Ward 5: the clerk is asked
    d.execute(
        "var s = document.getElementById('destination'); s.value = 'LCLINA'; document.getElementById('scan-input').focus();",
        vec![],
    )
    .await
    .unwrap();
    burst(d, &folders[1]).await;
    wait_until("the question", 10, || async {
        d.find(By::Id("confirm"))
            .await
            .unwrap()
            .is_displayed()
            .await
            .unwrap_or(false)
    })
    .await;
    assert!(text_of(d, "#confirm-text").await.contains("Ward 5"));
    assert!(
        dest_of(folders[1].clone()).await.is_empty(),
        "not sent before the clerk chose"
    );
    d.find(By::Id("confirm-request"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let f1 = folders[1].clone();
    wait_until("the second dispatch", 10, || async {
        dest_of(f1.clone()).await == ["LWARD5"]
    })
    .await;
    b.quit().await;
}

// ---------- issue 16 point 1: the records manager's lifecycle pages ----------

async fn type_into(d: &WebDriver, id: &str, text: &str) {
    let e = d.find(By::Id(id)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

async fn click(d: &WebDriver, css: &str) {
    d.find(By::Css(css)).await.unwrap().click().await.unwrap();
}

/// Follow a menu link by its words, as a person does, and wait for the page's heading.
async fn menu(d: &WebDriver, link: &str, heading: &str) {
    d.find(By::LinkText(link))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_heading(d, heading).await;
}

async fn wait_for_heading(d: &WebDriver, heading: &str) {
    wait_until(heading, 10, || async {
        text_of(d, "h1").await.starts_with(heading)
    })
    .await;
}

async fn wait_for_text(d: &WebDriver, css: &str, text: &str) {
    wait_until(text, 10, || async { text_of(d, css).await.contains(text) }).await;
}

async fn style_of(d: &WebDriver, css: &str, prop: &str) -> String {
    d.execute(
        &format!("return getComputedStyle(document.querySelector('{css}')).{prop}"),
        vec![],
    )
    .await
    .unwrap()
    .json()
    .as_str()
    .unwrap_or_default()
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subject_access_request_logged_extended_and_shown_overdue() {
    if !browser_available() {
        return;
    }
    let w = world().await;
    let s = &w.s;
    s.patient(&w.library, "1904851231", "Macdonald", "Morag", "1985-04-19")
        .await;
    let b = one_browser().await;
    let d = &b.d;
    sign_in(d, &s.base, "records_manager").await;
    menu(
        d,
        "GP queries and SARs",
        "GP queries and subject access requests",
    )
    .await;
    // Log a subject access request received today (the date field starts at today).
    click(d, "#kind-sar").await;
    type_into(d, "patient", "1904851231").await;
    type_into(d, "requester", "The patient, by email").await;
    click(d, "form[action='/external-requests'] button[type=submit]").await;
    wait_for_heading(d, "Subject access request").await;
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::London)
        .date_naive();
    let month = today.checked_add_months(chrono::Months::new(1)).unwrap();
    let due = text_of(d, "#due").await;
    assert!(
        due.contains(&month.format("%a %d %b %Y").to_string()),
        "one calendar month: {due}"
    );
    assert!(due.contains("day(s) left"), "{due}");
    // Extend by one month, giving the reason.
    click(d, "#months option[value='1']").await;
    type_into(d, "extend-reason", "Records held at three sites").await;
    click(d, "form[action$='/extend'] button[type=submit]").await;
    wait_for_text(d, "#result", "Extension recorded").await;
    let two = today.checked_add_months(chrono::Months::new(2)).unwrap();
    assert!(text_of(d, "#due")
        .await
        .contains(&two.format("%a %d %b %Y").to_string()));
    // The request was in fact received long ago: move its dates; it is overdue, in red, in words.
    let id: i64 =
        s.db.write(|c| {
            c.execute(
                "UPDATE external_requests SET received_on='2026-01-05', due_on='2026-04-05'",
                [],
            )?;
            Ok(c.query_row("SELECT id FROM external_requests", [], |r| r.get(0))?)
        })
        .await
        .unwrap();
    menu(
        d,
        "GP queries and SARs",
        "GP queries and subject access requests",
    )
    .await;
    let row = format!("#ext-{id}");
    assert_eq!(
        d.find(By::Css(&row))
            .await
            .unwrap()
            .class_name()
            .await
            .unwrap()
            .as_deref(),
        Some("overdue")
    );
    let text = text_of(d, &row).await;
    assert!(
        text.contains("Overdue") && text.contains("day(s) late"),
        "{text}"
    );
    assert!(text.contains("Sun 05 Apr 2026"), "{text}");
    assert_eq!(text_of(d, "#ext-overdue").await, "1");
    assert_eq!(
        style_of(d, &format!("{row} .tag.bad"), "color").await,
        "rgb(138, 26, 17)"
    );
    assert_eq!(
        style_of(d, &format!("{row} td"), "backgroundColor").await,
        "rgb(251, 228, 226)"
    );
    // Completed: it leaves the open list.
    click(d, &format!("{row} a")).await;
    wait_for_heading(d, "Subject access request").await;
    click(d, "#new-status option[value='completed']").await;
    type_into(d, "status-note", "Copy sent by secure email").await;
    click(d, "form[action$='/status'] button[type=submit]").await;
    wait_for_text(d, "#status", "completed").await;
    menu(
        d,
        "GP queries and SARs",
        "GP queries and subject access requests",
    )
    .await;
    assert_eq!(text_of(d, "#ext-count").await, "0");
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destruction_proposed_by_one_manager_and_approved_by_another() {
    if !browser_available() {
        return;
    }
    let w = world().await;
    let s = &w.s;
    s.patient(&w.library, "1904851231", "Macdonald", "Morag", "1985-04-19")
        .await;
    let bc = new_folder(s, &w.library, "1904851231").await;
    let r = s
        .post(
            Some(&w.library),
            "/api/v1/patients/1904851231/death",
            json!({"date_of_death": "2020-01-15"}),
        )
        .await;
    s.ok_json(r).await;
    let hash = tracker_server::auth::hash_password(PW).unwrap();
    s.db.write(move |c| {
        tracker_server::auth::insert_user(
            c,
            "second_manager",
            "Second Manager",
            tracker_server::auth::Role::RecordsManager,
            &hash,
        )?;
        Ok(())
    })
    .await
    .unwrap();
    let b = one_browser().await;
    let d = &b.d;
    sign_in(d, &s.base, "records_manager").await;
    menu(d, "Retention", "Retention and destruction").await;
    let row = format!("#due-{bc}");
    assert!(text_of(d, &row).await.contains("2023-01-15"));
    // A legal hold first: the folder cannot be proposed.
    type_into(d, "hold-folder", &bc).await;
    type_into(d, "hold-reason", "Complaint 2026/04").await;
    click(d, "form[action='/retention/holds'] button[type=submit]").await;
    wait_for_text(d, "#result", "Legal hold placed").await;
    assert!(text_of(d, &row).await.contains("legal hold"));
    type_into(d, &format!("release-{}", 1), "Complaint closed").await;
    click(
        d,
        "form[action='/retention/holds/release'] button[type=submit]",
    )
    .await;
    wait_for_text(d, "#result", "Legal hold released").await;
    // Propose it from its row.
    click(d, &format!("{row} a[href*='folder=']")).await;
    wait_for_heading(d, "Retention and destruction").await;
    let filled = d
        .find(By::Id("destroy-folder"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(filled.as_deref(), Some(bc.as_str()));
    type_into(d, "destroy-reason", "Retention period over").await;
    click(d, "#propose button[type=submit]").await;
    wait_for_text(d, "#result", "Destruction proposed").await;
    // The proposer is told a second person must decide, and is offered no button.
    let pending = text_of(d, "#pending-destructions").await;
    assert!(pending.contains("Waiting for a second person"), "{pending}");
    assert!(d
        .find_all(By::Css("#pending-destructions button"))
        .await
        .unwrap()
        .is_empty());
    sign_out(d).await;
    sign_in(d, &s.base, "second_manager").await;
    menu(d, "Retention", "Retention and destruction").await;
    type_into(d, "note-1", "Checked against the register").await;
    click(d, "#pending-destructions button[value=approve]").await;
    wait_for_text(d, "#result", "Destruction approved").await;
    let decided = text_of(d, "#decided-destructions").await;
    assert!(
        decided.contains("destroyed") && decided.contains("user:second_manager"),
        "{decided}"
    );
    click(d, "#decided-destructions a").await;
    wait_until("the certificate", 10, || async {
        d.source()
            .await
            .unwrap_or_default()
            .contains("CERTIFICATE OF DESTRUCTION")
    })
    .await;
    let status: String =
        s.db.read(|c| Ok(c.query_row("SELECT status FROM folders", [], |r| r.get(0))?))
            .await
            .unwrap();
    assert_eq!(status, "destroyed");
    // The records manager's pages fit a tablet: no sideways scrolling of the page.
    d.set_window_rect(0, 0, 768, 1024).await.unwrap();
    for path in [
        "/retention",
        "/coding",
        "/digitisation",
        "/external-requests",
    ] {
        d.goto(format!("{}{path}", s.base)).await.unwrap();
        wait_until("the page", 10, || async {
            !text_of(d, "h1").await.is_empty()
        })
        .await;
        let wide = d
            .execute(
                "return document.documentElement.scrollWidth > window.innerWidth + 1;",
                vec![],
            )
            .await
            .unwrap()
            .json()
            .clone();
        assert_eq!(wide, json!(false), "{path} scrolls sideways at 768px");
    }
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bureau_batch_sent_checked_and_paper_returned() {
    if !browser_available() {
        return;
    }
    let scans = tempfile::tempdir().unwrap();
    let dir = scans.path().join("store");
    let w = world_with(move |c| c.digitisation.storage_dir = dir).await;
    let s = &w.s;
    let r = s
        .post(
            Some(&w.manager),
            "/api/v1/locations",
            json!({"code": "LBUREAU", "name": "Scanning bureau", "kind": "scanning_bureau"}),
        )
        .await;
    s.ok_json(r).await;
    s.patient(&w.library, "1904851231", "Macdonald", "Morag", "1985-04-19")
        .await;
    let a = new_folder(s, &w.library, "1904851231").await;
    let bb = new_folder(s, &w.library, "1904851231").await;
    let b = one_browser().await;
    let d = &b.d;
    sign_in(d, &s.base, "library").await;
    menu(d, "Scanning", "Scanning bureau batches").await;
    // Scan the folders into the list, one per line, as a wedge scanner types them.
    let list = d.find(By::Id("folders")).await.unwrap();
    for bc in [&a, &bb] {
        list.send_keys(bc.as_str()).await.unwrap();
        list.send_keys(Key::Enter).await.unwrap();
    }
    type_into(d, "batch-note", "Box 1").await;
    click(
        d,
        "form[action='/digitisation/batches'] button[type=submit]",
    )
    .await;
    wait_for_heading(d, "Scanning batch").await;
    wait_for_text(d, "#result", "sent to the scanning bureau").await;
    assert!(text_of(d, "#batch-folders")
        .await
        .contains("sent for scanning"));
    // The bureau uploads the scans through the API.
    for bc in [&a, &bb] {
        let r = s
            .client
            .post(format!("{}/api/v1/folders/{bc}/documents", s.base))
            .bearer_auth(&w.library)
            .body(b"%PDF-1.4\nscanned notes\n".to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    }
    d.refresh().await.unwrap();
    wait_for_heading(d, "Scanning batch").await;
    for bc in [&a, &bb] {
        click(
            d,
            &format!("#folder-{bc} select[name=result] option[value=passed]"),
        )
        .await;
        click(d, &format!("#folder-{bc} form[action$='/qa'] button")).await;
        wait_for_text(d, "#result", "QA result recorded").await;
        assert!(text_of(d, &format!("#folder-{bc}"))
            .await
            .contains("QA passed"));
        click(
            d,
            &format!("#folder-{bc} select[name=disposition] option[value=returned]"),
        )
        .await;
        click(
            d,
            &format!("#folder-{bc} form[action$='/disposition'] button"),
        )
        .await;
        wait_for_text(d, "#result", "What happens to the paper is recorded").await;
        assert!(text_of(d, &format!("#folder-{bc}"))
            .await
            .contains("returned to the library"));
    }
    menu(d, "Scanning", "Scanning bureau batches").await;
    let row = text_of(d, "#batches tbody tr").await;
    assert!(
        row.contains("completed") && row.contains("Scanning bureau (LBUREAU)"),
        "{row}"
    );
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coding_queue_shows_where_the_notes_are_and_takes_codes() {
    if !browser_available() {
        return;
    }
    let w = world().await;
    let s = &w.s;
    s.patient(&w.library, "1904851231", "Macdonald", "Morag", "1985-04-19")
        .await;
    let bc = new_folder(s, &w.library, "1904851231").await;
    let at = chrono::Utc::now().to_rfc3339();
    let r = s
        .post(
            Some(&w.device),
            "/api/v1/events",
            json!({"events": [event(&bc, "LWARD5", &at, "receive", None)]}),
        )
        .await;
    s.ok_json(r).await;
    let r = s
        .post(
            Some(&w.library),
            "/api/v1/coding/episodes",
            json!({"patient": "1904851231", "discharged_at": "2026-10-01T09:30:00Z"}),
        )
        .await;
    let ep = s.ok_json(r).await;
    let b = one_browser().await;
    let d = &b.d;
    sign_in(d, &s.base, "library").await;
    menu(d, "Coding", "Coding queue").await;
    let row = format!("#episode-{}", ep["id"]);
    let text = text_of(d, &row).await;
    assert!(text.contains("MACDONALD, Morag"), "{text}");
    assert!(
        text.contains("Ward 5 (LWARD5)"),
        "where the notes are: {text}"
    );
    assert!(
        text.contains("Thu 01 Oct 2026 10:30 BST"),
        "local time: {text}"
    );
    click(d, &format!("{row} a.button")).await;
    wait_for_heading(d, "Episode").await;
    // A wrong code is named; the codes typed stay.
    type_into(d, "diagnoses", "J18.9\nJ99999").await;
    click(d, "form[action$='/codes'] button[type=submit]").await;
    wait_for_text(d, "#result", "Diagnoses, line 2").await;
    let kept = d
        .find(By::Id("diagnoses"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(kept.contains("J99999"), "{kept}");
    type_into(d, "diagnoses", "J18.9").await;
    type_into(d, "procedures", "W37.1").await;
    click(d, "form[action$='/codes'] button[type=submit]").await;
    wait_for_heading(d, "Coding queue").await;
    wait_for_text(d, "#result", "Episode coded").await;
    assert_eq!(text_of(d, "#queue-count").await, "0");
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn printer_edited_test_printed_and_nhs_number_label() {
    if !browser_available() {
        return;
    }
    let w = world().await;
    let s = &w.s;
    let zebra = FakePrinter::start();
    let r = s
        .post(
            Some(&w.admin),
            "/api/v1/printers",
            json!({"name": "library-zebra-1", "url": "tcp://127.0.0.1:9"}),
        )
        .await;
    s.ok_json(r).await;
    let r = s
        .post(
            Some(&w.library),
            "/api/v1/patients",
            json!({"nhs_number": "9434765919", "family_name": "Jones", "given_name": "Gareth", "dob": "1970-02-03", "sex": "male"}),
        )
        .await;
    s.ok_json(r).await;
    let bc = new_folder(s, &w.library, "9434765919").await;
    let b = one_browser().await;
    let d = &b.d;
    sign_in(d, &s.base, "admin").await;
    menu(d, "Printers", "Printers").await;
    click(d, "a[aria-label='Edit printer library-zebra-1']").await;
    wait_for_heading(d, "Printer library-zebra-1").await;
    // The printer moved: its new address.
    type_into(d, "url", &format!("tcp://{}", zebra.addr)).await;
    click(d, "form[action^='/admin/printers/'] button[type=submit]").await;
    wait_for_text(d, "#print-result", "Printer library-zebra-1 changed.").await;
    click(d, "a[aria-label='Edit printer library-zebra-1']").await;
    wait_for_heading(d, "Printer library-zebra-1").await;
    click(d, "form[action$='/test'] button").await;
    wait_for_text(d, "#print-result", "Test card sent").await;
    let sent = zebra.text();
    assert!(
        sent.contains("Test print") && sent.contains("library-zebra-1"),
        "{sent}"
    );
    sign_out(d).await;
    // The library prints the folder label of a patient known only by an NHS number.
    sign_in(d, &s.base, "library").await;
    menu(d, "Labels", "Labels").await;
    type_into(d, "nhs-number", "943 476 5918").await;
    click(d, "form[action='/labels/folder-by-nhs'] button").await;
    wait_for_text(d, "#print-result", "NHS number:").await;
    type_into(d, "nhs-number", "943 476 5919").await;
    click(d, "form[action='/labels/folder-by-nhs'] button").await;
    wait_for_text(d, "#print-result", &format!("Sent 1 folder label(s): {bc}")).await;
    let zpl = zebra.text();
    assert!(zpl.contains("NHS 943 476 5919"), "{zpl}");
    b.quit().await;
}

// ---------- issue 16 point 5: privacy monitoring (the Caldicott report) ----------

/// A records manager flags a patient as a VIP on the patient flags page, a clinician looks the
/// patient up on the where-is page, and the privacy report shows the lookup; its link opens
/// the audit row behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caldicott_report_shows_a_vip_lookup_and_its_audit_row() {
    if !browser_available() {
        return;
    }
    let World { s, library, .. } = world().await;
    let chi = "1904851231";
    s.patient(&library, chi, "Famous", "Fiona", "1985-04-19")
        .await;
    s.folder(&library, chi, "main").await;
    let b = one_browser().await;
    let d = &b.d;

    // the records manager flags the record
    sign_in(d, &s.base, "records_manager").await;
    d.find(By::PartialLinkText("Patient flags"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until("the patient flags page", 10, || async {
        text_of(d, "h1").await == "Patient flags"
    })
    .await;
    d.find(By::Id("patient"))
        .await
        .unwrap()
        .send_keys(chi)
        .await
        .unwrap();
    d.find(By::Css("#flag option[value='vip']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    d.find(By::Id("reason"))
        .await
        .unwrap()
        .send_keys("local MSP")
        .await
        .unwrap();
    d.find(By::Css("button[value='set']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until("the flag confirmation", 10, || async {
        text_of(d, "[role=status]").await.contains("VIP flag set")
    })
    .await;
    sign_out(d).await;

    // a clinician looks the patient up
    sign_in(d, &s.base, "clinician").await;
    d.goto(format!("{}/whereis", s.base)).await.unwrap();
    let q = focused(d, "q", "the focus on the search box").await;
    q.send_keys(chi).await.unwrap();
    q.send_keys(Key::Enter).await.unwrap();
    wait_until("the where-is answer", 10, || async {
        text_of(d, "section.card").await.contains("FAMOUS")
    })
    .await;
    // the clinician has no way to the report
    assert!(d.find(By::LinkText("Privacy")).await.is_err());
    sign_out(d).await;

    // the records manager reads this week's report and opens the line
    sign_in(d, &s.base, "records_manager").await;
    d.find(By::LinkText("Privacy"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until("the privacy report", 10, || async {
        text_of(d, "h1").await == "Privacy report"
    })
    .await;
    d.find(By::LinkText("This week so far"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until("the flagged line", 10, || async {
        text_of(d, "#flagged_record")
            .await
            .contains("FAMOUS, Fiona")
    })
    .await;
    let section = text_of(d, "#flagged_record").await;
    assert!(section.contains("clinician"), "{section}");
    assert!(section.contains("VIP (local MSP)"), "{section}");
    d.find(By::Css("#flagged_record td a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until("the drill-down", 10, || async {
        text_of(d, "h1").await == "Audit rows behind a privacy report line"
    })
    .await;
    let rows = d.find_all(By::Css("#audit-rows tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 1);
    let row = rows[0].text().await.unwrap();
    assert!(row.contains("Where is: CHI or NHS number"), "{row}");
    assert!(row.contains("clinician"), "{row}");
    assert!(row.contains("FAMOUS, Fiona (CHI 1904851231)"), "{row}");
    assert!(
        row.contains(" GMT") || row.contains(" BST"),
        "local time: {row}"
    );
    b.quit().await;
}

// ---------- issue 16 point 4: the statistics page as a manager's report ----------

/// A records manager opens the statistics from the home page: the report reads in sections
/// with headings in words, figures labelled in words (no raw keys such as `gp_query`), the
/// availability of a clinic session on the day, and bar charts drawn without script.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_read_as_a_report() {
    if !browser_available() {
        return;
    }
    let w = world().await;
    let s = &w.s;
    s.patient(&w.library, "1904851231", "Macdonald", "Morag", "1985-04-19")
        .await;
    let folder = new_folder(s, &w.library, "1904851231").await;
    // a GP query and a subject access request, open
    for kind in ["gp_query", "sar"] {
        let r = s
            .post(
                Some(&w.manager),
                "/api/v1/external-requests",
                json!({"kind": kind, "patient": "1904851231", "requester": "Dr Grant, Elm Surgery", "received_on": chrono::Utc::now().date_naive().to_string()}),
            )
            .await;
        s.ok_json(r).await;
    }
    // a clinic session yesterday at Clinic A, the notes received there before it started
    let today = tracker_server::util::site_today() - chrono::Days::new(1);
    let r = s
        .post(
            Some(&w.manager),
            "/api/v1/clinic-sessions",
            json!({"clinic": "LCLINA", "name": "Diabetes", "date": today.to_string(), "start": "00:30", "end": "23:30"}),
        )
        .await;
    let session = s.ok_json(r).await;
    let r = s
        .post(
            Some(&w.library),
            "/api/v1/appointments",
            json!({"session": session["id"], "patient": "1904851231"}),
        )
        .await;
    s.ok_json(r).await;
    let at = format!("{today}T00:10:00Z");
    let r = s
        .post(
            Some(&w.device),
            "/api/v1/events",
            json!({"events": [event(&folder, "LCLINA", &at, "receive", None)]}),
        )
        .await;
    s.ok_json(r).await;

    let b = one_browser().await;
    let d = &b.d;
    sign_in(d, &s.base, "records_manager").await;
    // from the home page, as a manager would
    d.find(By::LinkText("Statistics"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until("the statistics page", 10, || async {
        text_of(d, "main h1").await == "Statistics"
    })
    .await;
    let mut headings = Vec::new();
    for h in d.find_all(By::Css("main h2")).await.unwrap() {
        headings.push(h.text().await.unwrap());
    }
    assert_eq!(
        headings,
        [
            "Clinic case-note availability",
            "Requests for notes",
            "Folders and movements",
            "Records lifecycle",
            "Devices"
        ]
    );
    let body = text_of(d, "main").await;
    for raw in [
        "gp_query",
        "professional_query",
        "sar open",
        "not_requested",
        "no_folder",
        "_",
    ] {
        assert!(!body.contains(raw), "raw key {raw:?} shown:\n{body}");
    }
    assert!(body.contains("GP queries: open"), "{body}");
    assert!(body.contains("Subject access requests: open"), "{body}");
    // the session of the day: one booked, its notes available
    let headline = text_of(d, ".headline").await;
    assert!(headline.contains("100.0%"), "{headline}");
    assert!(
        headline.contains("1 of 1 appointments booked"),
        "{headline}"
    );
    let sessions = text_of(d, "#availability ~ table:not(.figures)").await;
    assert!(sessions.contains("Clinic A (LCLINA)"), "{sessions}");
    assert!(sessions.contains("Diabetes"), "{sessions}");
    assert!(
        sessions.contains("GMT") || sessions.contains("BST"),
        "local time: {sessions}"
    );
    // charts are inline SVG with a title, drawn without script
    assert!(d.find_all(By::Css(".chart svg title")).await.unwrap().len() >= 4);
    let shots_dir = PathBuf::from(
        std::env::var("CARGO_TARGET_DIR")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").to_string()),
    )
    .join("screenshots");
    std::fs::create_dir_all(&shots_dir).unwrap();
    d.set_window_rect(0, 0, 1280, 3000).await.unwrap();
    shot(d, &shots_dir, "statistics", 1280).await;
    // the monthly report is offered
    let link = d
        .find(By::LinkText("Monthly report for the board (PDF)"))
        .await
        .unwrap();
    let href = link.attr("href").await.unwrap().unwrap();
    assert!(href.starts_with("/statistics/monthly?month="), "{href}");
    b.quit().await;
}

// ---------- issue 16 point 3: shelf audit ----------

/// The places of a folder's movements, in read order (whatever the scanner's prefix).
async fn trail_of(s: &TestServer, barcode: &str) -> Vec<String> {
    let b = barcode.to_string();
    s.db.read(move |c| {
        let mut st = c.prepare(
            "SELECT l.code FROM movements m JOIN folders f ON f.id = m.folder_id
             JOIN locations l ON l.id = m.location_id WHERE f.barcode = ?1 ORDER BY m.read_at, m.id",
        )?;
        let v = st
            .query_map([&b], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    })
    .await
    .unwrap()
}

/// A library clerk audits a shelf on the scan page: scans the shelf card, then each folder at
/// scanner speed, part of them with the network cut; closes the audit; and reads the three
/// lists on the result page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shelf_audit_with_the_network_cut_part_way() {
    if !browser_available() {
        return;
    }
    let World {
        s,
        manager,
        library,
        device,
        ..
    } = world().await;
    let r = s
        .post(
            Some(&manager),
            "/api/v1/locations",
            json!({"code": "LSHELF7", "name": "Bay 7", "kind": "shelf", "parent": "LLIB"}),
        )
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    s.patient(&library, "1904851231", "Macdonald", "Morag", "1985-04-19")
        .await;
    let mut f = Vec::new();
    for _ in 0..6 {
        f.push(new_folder(&s, &library, "1904851231").await);
    }
    // f0..f3 are filed on Bay 7, f4 is recorded on Ward 5, f5 is never scanned
    let read_at = tracker_server::util::ms_to_rfc3339(tracker_server::util::now_ms() - 600_000);
    let mut placed: Vec<Value> = f[..4]
        .iter()
        .map(|b| event(b, "LSHELF7", &read_at, "receive", None))
        .collect();
    placed.push(event(&f[4], "LWARD5", &read_at, "receive", None));
    let r = s
        .post(Some(&device), "/api/v1/events", json!({"events": placed}))
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::OK);

    let cable = Cable::start(s.base.trim_start_matches("http://").to_string()).await;
    let base = format!("http://{}", cable.addr);
    let b = one_browser().await;
    let d = &b.d;
    sign_in(d, &base, "library").await;
    // from the home page, as the clerk finds it
    d.find(By::LinkText("Shelf audits"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until("the audits page", 10, || async {
        text_of(d, "h1").await == "Shelf audits"
    })
    .await;
    d.find(By::LinkText("Start a shelf audit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until("the scan page in audit mode", 10, || async {
        text_of(d, "h1").await == "Shelf audit"
    })
    .await;
    focused(d, "scan-input", "the scan box").await;
    let card = casenote_core::identifiers::card_payload("LSHELF7").unwrap();
    burst(d, &card).await;
    burst(d, &f[0]).await;
    burst(d, &f[4]).await;
    let f4 = f[4].clone();
    wait_until("the folder found elsewhere moved here", 15, || async {
        trail_of(&s, &f4).await == ["LWARD5", "LSHELF7"]
    })
    .await;
    assert!(text_of(d, "#here").await.contains("Bay 7"));
    assert!(text_of(d, "#log")
        .await
        .contains("expected at Ward 5 (LWARD5)"));

    // the network drops: the next folders and the close are kept on the device
    cable.set(false);
    burst(d, &f[1]).await;
    burst(d, &f[2]).await;
    burst(d, &f[4]).await; // scanned twice: counted once
    d.find(By::Id("audit-close"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until("four steps waiting", 10, || async {
        waiting_text(d).await.starts_with("4 scans waiting")
    })
    .await;
    let audits: i64 = s.count("shelf_audits").await;
    assert_eq!(audits, 1);
    let open: i64 =
        s.db.read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM shelf_audits WHERE status = 'open'",
                [],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap();
    assert_eq!(open, 1, "not closed while the close is still on the device");
    cable.set(true);
    wait_until("the close delivered", 30, || async {
        waiting_text(d).await.is_empty() && !text_of(d, "#audit-result").await.is_empty()
    })
    .await;
    let result = text_of(d, "#audit-result").await;
    assert!(
        result.contains("3 found here, 1 found but expected elsewhere (moved here), 1 expected here but not found"),
        "{result}"
    );
    assert_eq!(
        trail_of(&s, &f[4]).await,
        ["LWARD5", "LSHELF7"],
        "the audit movement recorded once"
    );
    d.find(By::Css("#audit-result a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until("the audit's page", 10, || async {
        text_of(d, "h1").await.starts_with("Shelf audit")
            && text_of(d, "h1").await.contains("Bay 7")
    })
    .await;
    let found = text_of(d, "#found").await;
    for x in &f[..3] {
        assert!(found.contains(x.as_str()), "{x} found: {found}");
    }
    let elsewhere = text_of(d, "#elsewhere").await;
    assert!(
        elsewhere.contains(f[4].as_str()) && elsewhere.contains("Ward 5 (LWARD5)"),
        "{elsewhere}"
    );
    let not_found = text_of(d, "#not-found").await;
    assert!(not_found.contains(f[3].as_str()), "{not_found}");
    assert!(!not_found.contains(f[5].as_str()), "never on this shelf");
    assert!(not_found.contains("to look for"), "{not_found}");
    assert!(text_of(d, "#audit-summary")
        .await
        .contains("1 of 4 expected here not found"));
    b.quit().await;
}

// ---------- Issue 16 point 2: trolleys, bags and crates ----------

/// A porter on the scan page: the library card, the trolley's label, three folders onto it;
/// at Ward 5 the ward's card and the trolley: every folder on it is recorded at Ward 5, and
/// where-is says which trolley each is on. The ward's card and one folder takes it off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trolley_carries_folders_from_the_scan_page() {
    if !browser_available() {
        return;
    }
    let World { s, library, .. } = world().await;
    s.patient(&library, "1904851231", "Macdonald", "Morag", "1985-04-19")
        .await;
    let mut folders = Vec::new();
    for _ in 0..3 {
        folders.push(new_folder(&s, &library, "1904851231").await);
    }
    let t3 = s
        .ok_json(
            s.post(
                Some(&library),
                "/api/v1/containers",
                json!({"kind": "trolley", "name": "T3"}),
            )
            .await,
        )
        .await;
    let trolley = format!("]C18003{}", t3["grai"].as_str().unwrap());
    let lib = casenote_core::identifiers::card_payload("LLIB").unwrap();
    let ward5 = casenote_core::identifiers::card_payload("LWARD5").unwrap();
    let b = one_browser().await;
    let d = &b.d;
    sign_in(d, &s.base, "porter").await;
    d.goto(format!("{}/scan?mode=porter", s.base))
        .await
        .unwrap();
    focused(d, "scan-input", "the scan box").await;
    let log_len = || async { d.find_all(By::Css("#log li")).await.unwrap().len() };

    // At the library: card, trolley, folders.
    let n = log_len().await;
    wedge(d, &lib).await;
    feedback_after(d, n).await;
    let n = log_len().await;
    wedge(d, &trolley).await;
    let (level, text) = feedback_after(d, n).await;
    assert_eq!(level, "ok", "{text}");
    assert!(text.contains("Trolley T3"), "{text}");
    assert_eq!(text_of(d, "#container").await, "trolley T3");
    for f in &folders {
        let n = log_len().await;
        wedge(d, f).await;
        let (level, text) = feedback_after(d, n).await;
        assert_eq!(level, "ok", "{text}");
        assert_eq!(text, format!("{f} put on trolley T3"));
    }
    assert!(movements_of(&s, &folders[0]).await.is_empty());

    // At Ward 5: the ward's card, then the trolley.
    let n = log_len().await;
    wedge(d, &ward5).await;
    feedback_after(d, n).await;
    assert_eq!(text_of(d, "#container").await, "none");
    let n = log_len().await;
    wedge(d, &trolley).await;
    let (level, text) = feedback_after(d, n).await;
    assert_eq!(level, "ok", "{text}");
    assert!(
        text.contains("recorded at LWARD5 with the 3 folder(s)"),
        "{text}"
    );
    let at_ward5: i64 = s
        .db
        .read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM folders f JOIN locations l ON l.id = f.cur_location_id WHERE l.code = 'LWARD5'",
                [],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap();
    assert_eq!(at_ward5, 3);

    // Where is the first folder? On trolley T3, last seen at Ward 5 (local time).
    d.goto(format!("{}/whereis?q={}", s.base, folders[0]))
        .await
        .unwrap();
    let on = text_of(d, "#on-container").await;
    let now = chrono::Utc::now().with_timezone(&chrono_tz::Europe::London);
    assert!(
        on.starts_with("Now on trolley T3 (last seen Ward 5, "),
        "{on}"
    );
    let hhmm = on
        .trim_end_matches(')')
        .rsplit(", ")
        .next()
        .unwrap()
        .to_string();
    let minutes = |t: &str| -> i64 {
        let (h, m) = t.split_once(':').unwrap();
        h.parse::<i64>().unwrap() * 60 + m.parse::<i64>().unwrap()
    };
    let diff = (minutes(&now.format("%H:%M").to_string()) - minutes(&hhmm)).rem_euclid(1440);
    assert!(diff <= 1, "{on} at {now}");

    // The trolley's page, as the porter sees it: every folder on it, last seen at Ward 5.
    d.goto(format!("{}/containers/{}", s.base, t3["id"]))
        .await
        .unwrap();
    let contents = text_of(d, "#contents").await;
    assert!(
        folders.iter().all(|f| contents.contains(f.as_str())),
        "{contents}"
    );
    assert!(text_of(d, "#last-seen")
        .await
        .starts_with("Ward 5 (LWARD5)"));
    let shots_dir = PathBuf::from(
        std::env::var("CARGO_TARGET_DIR")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").to_string()),
    )
    .join("screenshots");
    std::fs::create_dir_all(&shots_dir).unwrap();
    shot(d, &shots_dir, "trolley", 1280).await;

    // Unloading: the ward's card again, then the folder.
    d.goto(format!("{}/scan?mode=porter", s.base))
        .await
        .unwrap();
    focused(d, "scan-input", "the scan box").await;
    let n = log_len().await;
    wedge(d, &ward5).await;
    feedback_after(d, n).await;
    let n = log_len().await;
    wedge(d, &folders[0]).await;
    let (_, text) = feedback_after(d, n).await;
    assert_eq!(text, format!("{} recorded at LWARD5", folders[0]));
    d.goto(format!("{}/whereis?q={}", s.base, folders[0]))
        .await
        .unwrap();
    wait_until("the where-is answer", 10, || async {
        text_of(d, "main h2").await.contains(&folders[0])
    })
    .await;
    assert_eq!(text_of(d, "#on-container").await, "");
    d.goto(format!("{}/whereis?q={}", s.base, folders[1]))
        .await
        .unwrap();
    assert!(text_of(d, "#on-container").await.contains("on trolley T3"));
    b.quit().await;
}
