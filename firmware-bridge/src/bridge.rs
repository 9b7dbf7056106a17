//! The running bridge: queue + one thread per device + delivery + heartbeat.

use crate::config::{Config, ConfigError, DeviceConfig};
use crate::delivery::{run_heartbeat, DeliveryError, HeartbeatDevice, Sender};
use crate::devices::{self, SharedHealth};
use crate::queue::{Queue, QueueError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
}

pub struct Bridge {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    pub queue: Arc<Queue>,
    pub devices: Vec<(DeviceConfig, SharedHealth)>,
}

impl Bridge {
    /// Open the queue and start every thread.
    pub fn start(cfg: Config) -> Result<Self, BridgeError> {
        cfg.validate()?;
        let queue = Arc::new(Queue::open(&cfg.queue_path)?);
        let stats = queue.stats()?;
        tracing::info!(
            queue_depth = stats.depth,
            dead_letters = stats.dead_letters,
            devices = cfg.devices.len(),
            "bridge starting"
        );
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let mut sender = Sender::new(&cfg, queue.clone())?;
        let s = stop.clone();
        threads.push(
            std::thread::Builder::new()
                .name("delivery".into())
                .spawn(move || sender.run(&s))
                .expect("spawn delivery"),
        );
        let mut devs = Vec::new();
        for d in &cfg.devices {
            let (h, health) =
                devices::spawn(d.clone(), cfg.scan.clone(), queue.clone(), stop.clone());
            threads.push(h);
            devs.push((d.clone(), health));
        }
        let hb: Vec<HeartbeatDevice> = devs
            .iter()
            .map(|(d, h)| HeartbeatDevice {
                device_id: d.id.clone(),
                description: d.description.clone(),
                health: h.clone(),
            })
            .collect();
        let (c, q, s) = (cfg.clone(), queue.clone(), stop.clone());
        threads.push(
            std::thread::Builder::new()
                .name("heartbeat".into())
                .spawn(move || {
                    if let Err(e) = run_heartbeat(&c, q, hb, s) {
                        tracing::error!(error = %e, "heartbeat stopped");
                    }
                })
                .expect("spawn heartbeat"),
        );
        Ok(Self {
            stop,
            threads,
            queue,
            devices: devs,
        })
    }

    /// Ask every thread to stop and wait for them.
    pub fn shutdown(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
    }

    /// Block until the threads end (they do not, unless stopped).
    pub fn wait(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}
