//! HL7 throughput: messages a second on one MLLP connection, each ACKed and applied, beside the
//! raw parse-only rate of the same messages, measured in the same run.
//!
//! The messages come from the simulated PAS (admissions, transfers, discharges, demographic
//! updates, clinic bookings and cancellations, in four wire shapes: v2.3 with the CHI in PID-2,
//! v2.4 ISO-8859-1, v2.5 UTF-8, v2.7 with HD sub-components). The server is the real one, on a
//! real SQLite file seeded with the demo hospital, started in this process; the client sends
//! one message and waits for its ACK before the next, as MLLP requires.

use anyhow::{bail, Context, Result};
use std::time::{Duration, Instant};
use tracker_server::{
    app::AppState,
    config::Config,
    demo,
    hl7::{self, client::MllpClient, simulated_pas::SimulatedPas},
    storage::Db,
};

/// Run the HL7 benchmark; returns a Markdown section.
pub fn run(messages: usize, runs: usize, patients: usize) -> Result<String> {
    let dir = tempfile::tempdir()?;
    let db_path = dir.path().join("hl7-bench.db");
    let mut cfg = Config::default();
    cfg.database.path = db_path.clone();
    cfg.hl7.listen = Some("127.0.0.1:0".into());
    cfg.hl7.locations = tracker_server::hl7::simulated_pas::demo_locations();
    let db = Db::open(&db_path, cfg.database.readers)?;
    eprintln!("seeding a demo hospital with {patients} patients ...");
    demo::seed(&db, &cfg.identifiers, patients, 12)?;
    let known = db.read_blocking(move |c| SimulatedPas::patients_from(c, patients))?;
    let mut pas = SimulatedPas::new(known, 12);
    pas.application = "BENCHPAS".into();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let state = AppState::new(db.clone(), cfg);
    let addr_cell = state.hl7_addr.clone();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(tracker_server::serve(listener, state, async move {
        let _ = stop_rx.await;
    }));
    let t = Instant::now();
    let addr = loop {
        if let Some(a) = addr_cell.get() {
            break *a;
        }
        if t.elapsed() > Duration::from_secs(30) {
            bail!("the HL7 listener did not start");
        }
        std::thread::sleep(Duration::from_millis(10));
    };

    let mut parse_rates = Vec::new();
    let mut e2e_rates = Vec::new();
    let mut acks: Vec<Duration> = Vec::new();
    let mut client = MllpClient::connect(addr, Duration::from_secs(30))?;
    let stored_before: i64 = db.read_blocking(|c| {
        Ok(c.query_row("SELECT count(*) FROM hl7_messages", [], |r| r.get(0))?)
    })?;
    for run in 0..runs {
        let batch: Vec<Vec<u8>> = (0..messages).map(|_| pas.next_message().bytes).collect();
        // Parse only: character set, segments, and the resend fingerprint, as the listener
        // does before it touches the database.
        let t0 = Instant::now();
        let mut fields = 0usize;
        for m in &batch {
            let (text, _) = hl7::charset::decode_message(m, Default::default())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let msg = hl7::parse(&text).map_err(|e| anyhow::anyhow!("{e}"))?;
            fields += msg.segments.len() + hl7::adt::content_hash(&msg).len();
        }
        let parse_s = t0.elapsed().as_secs_f64();
        std::hint::black_box(fields);
        // End to end on one connection: send, wait for the ACK, next.
        let t0 = Instant::now();
        for (i, m) in batch.iter().enumerate() {
            let s = Instant::now();
            let ack = client.send(m).context("sending over MLLP")?;
            acks.push(s.elapsed());
            let ack = String::from_utf8_lossy(&ack);
            let (code, text) = hl7::ack::read(&ack).unwrap_or_default();
            if code != "AA" {
                bail!("run {run}, message {i}: {code} {text}");
            }
        }
        let e2e_s = t0.elapsed().as_secs_f64();
        parse_rates.push(messages as f64 / parse_s);
        e2e_rates.push(messages as f64 / e2e_s);
        eprintln!(
            "run {}: parse only {:.0} msg/s, over MLLP (ACKed and applied) {:.0} msg/s",
            run + 1,
            messages as f64 / parse_s,
            messages as f64 / e2e_s
        );
    }
    let stored: i64 = db.read_blocking(|c| {
        Ok(c.query_row("SELECT count(*) FROM hl7_messages", [], |r| r.get(0))?)
    })?;
    let applied = stored - stored_before;
    if applied != (messages * runs) as i64 {
        bail!(
            "{} messages were acknowledged but {applied} were recorded as applied",
            messages * runs
        );
    }
    let _ = stop_tx.send(());
    let _ = rt.block_on(server);

    acks.sort();
    let p = |q: f64| crate::support::pct(&acks, q);
    let (pmin, pmed, pmax) = crate::support::spread(&parse_rates);
    let (emin, emed, emax) = crate::support::spread(&e2e_rates);
    Ok(format!(
        "## HL7 over MLLP (one connection)\n\n\
         Machine: {}\n\n\
         Command: `cargo run --release -p casenote-bench -- hl7 --messages {messages} --runs {runs} --patients {patients}`\n\n\
         {runs} runs of {messages} messages from the simulated PAS (ADT A01/A02/A03/A08, SIU S12/S15; v2.3, v2.4 ISO-8859-1, v2.5, v2.7), \
         each sent on one MLLP connection and its ACK awaited before the next; every ACK was AA and all {applied} messages were recorded as applied. \
         min / median / max over the runs:\n\n\
         | measure | result | target |\n|---|---|---|\n\
         | ACKed and applied, one connection | {emin:.0} / {emed:.0} / {emax:.0} msg/s | >= 2,000 msg/s |\n\
         | parse only (character set, segments, resend fingerprint), same messages | {pmin:.0} / {pmed:.0} / {pmax:.0} msg/s | (ceiling) |\n\
         | applied rate as a share of the parse-only rate (medians) | {:.1}% | |\n\
         | ACK round trip p50 / p99 / max | {:.2} / {:.2} / {:.2} ms | |\n",
        crate::support::machine(),
        100.0 * emed / pmed,
        p(0.5),
        p(0.99),
        p(1.0),
    ))
}
