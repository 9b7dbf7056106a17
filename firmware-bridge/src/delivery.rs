//! Delivery to the tracking server: batches from the queue, `POST /api/v1/events`, retry with
//! exponential backoff and jitter. An event leaves the queue only when the server answered
//! `stored` or `duplicate` for its `event_id`; `rejected` events go to the dead-letter table.
//! Heartbeats report device health and queue depth.

use crate::config::{Config, DeliveryConfig};
use crate::devices::SharedHealth;
use crate::queue::{Queue, QueueError};
use casenote_core::wire::{BatchResult, DeviceReport, EventStatus, Heartbeat, RejectCode};
use chrono::SecondsFormat;
use rand::Rng;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("queue: {0}")]
    Queue(#[from] QueueError),
}

/// Result of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Queue empty.
    Idle,
    Delivered {
        stored: usize,
        duplicates: usize,
        rejected: usize,
        /// Events the server did not answer for (they stay queued).
        kept: usize,
    },
    /// Nothing removed; try again after a backoff.
    Failed(String),
    /// The server said the batch was too large; the batch size was halved.
    Shrunk(usize),
}

pub struct Sender {
    client: reqwest::blocking::Client,
    events_url: String,
    token: String,
    cfg: DeliveryConfig,
    queue: Arc<Queue>,
    batch_size: usize,
    failures: u32,
}

/// Full-jitter-ish exponential backoff: half the capped exponential delay plus a random part.
pub fn backoff(base_ms: u64, max_ms: u64, failures: u32) -> Duration {
    let exp = base_ms
        .saturating_mul(1u64 << failures.min(20))
        .min(max_ms)
        .max(1);
    let half = exp / 2;
    Duration::from_millis(half + rand::thread_rng().gen_range(0..=exp - half))
}

impl Sender {
    pub fn new(cfg: &Config, queue: Arc<Queue>) -> Result<Self, DeliveryError> {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(cfg.delivery.request_timeout_s.max(1)))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!(
                "casenote-firmware-bridge/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()?;
        Ok(Self {
            client,
            events_url: format!("{}/api/v1/events", cfg.base_url()),
            token: cfg.token.clone(),
            cfg: cfg.delivery.clone(),
            queue,
            batch_size: cfg.delivery.batch_size.clamp(1, 5000),
            failures: 0,
        })
    }

    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Send one batch and apply the server's answers to the queue.
    pub fn send_batch(&mut self) -> Result<Outcome, QueueError> {
        let batch = self.queue.peek(self.batch_size)?;
        if batch.is_empty() {
            return Ok(Outcome::Idle);
        }
        let mut body =
            String::with_capacity(batch.iter().map(|e| e.body.len() + 1).sum::<usize>() + 16);
        body.push_str("{\"events\":[");
        for (i, e) in batch.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&e.body);
        }
        body.push_str("]}");
        let ids: Vec<String> = batch.iter().map(|e| e.event_id.clone()).collect();
        self.queue.mark_attempt(&ids)?;
        let resp = self
            .client
            .post(&self.events_url)
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send();
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                return Ok(Outcome::Failed(format!(
                    "cannot reach server: {}",
                    without_url(&e)
                )))
            }
        };
        let status = resp.status();
        match status.as_u16() {
            200 => {}
            401 | 403 => {
                tracing::error!(
                    status = status.as_u16(),
                    "SERVER REFUSED THE BRIDGE TOKEN: events are kept and retried; check BRIDGE_TOKEN"
                );
                return Ok(Outcome::Failed(format!("token refused ({status})")));
            }
            413 => {
                if self.batch_size > 1 {
                    self.batch_size = (self.batch_size / 2).max(1);
                    tracing::warn!(batch_size = self.batch_size, "batch too large, halving");
                    return Ok(Outcome::Shrunk(self.batch_size));
                }
                return Ok(Outcome::Failed(
                    "server refuses even a single event as too large".into(),
                ));
            }
            _ => {
                let text: String = resp.text().unwrap_or_default().chars().take(200).collect();
                return Ok(Outcome::Failed(format!("server answered {status}: {text}")));
            }
        }
        let parsed: BatchResult = match resp.json() {
            Ok(p) => p,
            Err(e) => {
                return Ok(Outcome::Failed(format!(
                    "unreadable server answer: {}",
                    without_url(&e)
                )))
            }
        };
        let in_batch: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
        let mut done = Vec::new();
        let (mut stored, mut duplicates, mut rejected) = (0, 0, 0);
        for r in &parsed.results {
            if !in_batch.contains(r.event_id.as_str()) {
                continue;
            }
            match r.status {
                EventStatus::Stored => {
                    stored += 1;
                    done.push(r.event_id.clone());
                }
                EventStatus::Duplicate => {
                    duplicates += 1;
                    done.push(r.event_id.clone());
                }
                EventStatus::Rejected => {
                    rejected += 1;
                    let code = match r.code {
                        Some(RejectCode::InvalidField) => "invalid_field",
                        None => "",
                    };
                    let field = r.field.as_deref().unwrap_or("");
                    let message = r.message.as_deref().unwrap_or("");
                    self.queue.dead_letter(&r.event_id, code, field, message)?;
                    tracing::error!(event_id = %r.event_id, code, field, "event rejected by server, moved to dead letters");
                }
            }
        }
        self.queue.remove(&done)?;
        let answered = stored + duplicates + rejected;
        let kept = batch.len() - answered;
        if answered == 0 {
            return Ok(Outcome::Failed(
                "server answered for none of the batch".into(),
            ));
        }
        // grow back towards the configured batch size after a 413
        self.batch_size = (self.batch_size * 2).min(self.cfg.batch_size.clamp(1, 5000));
        Ok(Outcome::Delivered {
            stored,
            duplicates,
            rejected,
            kept,
        })
    }

    /// Deliver until `stop` is set.
    pub fn run(&mut self, stop: &AtomicBool) {
        let mut seen = 0u64;
        while !stop.load(Ordering::Relaxed) {
            match self.send_batch() {
                Ok(Outcome::Idle) => {
                    self.failures = 0;
                    self.queue.wait_for_push(
                        &mut seen,
                        Duration::from_millis(self.cfg.idle_poll_ms.clamp(10, 60_000)),
                    );
                }
                Ok(Outcome::Delivered {
                    stored,
                    duplicates,
                    rejected,
                    kept,
                }) => {
                    self.failures = 0;
                    tracing::info!(stored, duplicates, rejected, kept, "batch delivered");
                }
                Ok(Outcome::Shrunk(_)) => {}
                Ok(Outcome::Failed(reason)) => {
                    let d = backoff(self.cfg.retry_base_ms, self.cfg.retry_max_ms, self.failures);
                    self.failures = self.failures.saturating_add(1);
                    let depth = self.queue.depth().unwrap_or(0);
                    tracing::warn!(%reason, retry_in_ms = d.as_millis() as u64, queue_depth = depth, "delivery failed");
                    sleep_unless(stop, d);
                }
                Err(e) => {
                    tracing::error!(error = %e, "queue error in delivery");
                    sleep_unless(stop, Duration::from_secs(1));
                }
            }
        }
    }
}

/// reqwest errors quote the URL; keep messages short and free of query strings.
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(u.as_str(), "<server>");
    }
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

pub fn sleep_unless(stop: &AtomicBool, d: Duration) {
    let end = Instant::now() + d;
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= end {
            break;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(50)));
    }
}

/// What a heartbeat says about one device.
pub struct HeartbeatDevice {
    pub device_id: String,
    pub description: String,
    pub health: SharedHealth,
}

/// Post heartbeats every `interval` until `stop`.
pub fn run_heartbeat(
    cfg: &Config,
    queue: Arc<Queue>,
    devices: Vec<HeartbeatDevice>,
    stop: Arc<AtomicBool>,
) -> Result<(), DeliveryError> {
    let interval = Duration::from_secs(cfg.heartbeat_interval_s);
    if interval.is_zero() {
        return Ok(());
    }
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let url = format!("{}/api/v1/devices/heartbeat", cfg.base_url());
    let mut unsupported_logged = false;
    while !stop.load(Ordering::Relaxed) {
        let stats = queue.stats()?;
        let body = Heartbeat {
            bridge_id: cfg.bridge_id.clone(),
            devices: devices
                .iter()
                .map(|d| {
                    let h = d.health.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    DeviceReport {
                        device_id: d.device_id.clone(),
                        description: d.description.clone(),
                        online: h.online,
                        last_read_at: h
                            .last_read_at
                            .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true)),
                        queue_depth: stats.depth as i64,
                        oldest_event_age_s: stats.oldest_event_age_s.map(|a| a as i64),
                        foreign_reads: h.foreign_reads,
                        corrupt_messages: h.corrupt,
                        refused_scans: h.refused,
                        reads: h.reads,
                        reader_errors: h.reader_errors,
                        last_error: h.last_error.clone(),
                    }
                })
                .collect(),
        };
        match client.post(&url).bearer_auth(&cfg.token).json(&body).send() {
            Ok(r) if r.status().is_success() => {}
            Ok(r) if r.status().as_u16() == 404 => {
                if !unsupported_logged {
                    tracing::info!("server does not take heartbeats yet (404); carrying on");
                    unsupported_logged = true;
                }
            }
            Ok(r) if matches!(r.status().as_u16(), 401 | 403) => {
                tracing::error!("SERVER REFUSED THE BRIDGE TOKEN for heartbeat; check BRIDGE_TOKEN")
            }
            Ok(r) => tracing::warn!(status = r.status().as_u16(), "heartbeat not accepted"),
            Err(e) => tracing::debug!(error = %without_url(&e), "heartbeat failed"),
        }
        sleep_unless(&stop, interval);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        for f in 0..30 {
            let d = backoff(500, 60_000, f).as_millis() as u64;
            let exp = (500u64 << f.min(20)).min(60_000);
            assert!(d >= exp / 2 && d <= exp, "f={f} d={d}");
        }
        let samples: std::collections::HashSet<u128> = (0..50)
            .map(|_| backoff(500, 60_000, 6).as_millis())
            .collect();
        assert!(samples.len() > 5, "jitter");
    }
}
