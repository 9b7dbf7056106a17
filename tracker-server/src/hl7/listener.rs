//! The HL7 v2 MLLP listener: accepts connections from the patient administration system,
//! takes each framed message to [`super::adt::process`] (which applies it and makes the ACK),
//! publishes the resulting request changes to the live desk views, and answers with the ACK.

use super::{
    adt::{frame_refusal, process},
    mllp,
};
use crate::app::AppState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Accept MLLP connections until the task is dropped. Each connection runs on its own task,
/// so a slow or broken client never holds up the others.
pub async fn listen(listener: tokio::net::TcpListener, state: AppState) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let st = state.clone();
                tokio::spawn(async move {
                    if let Err(e) = connection(stream, st).await {
                        tracing::debug!(%peer, error = %e, "HL7 connection ended");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "HL7 accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection(mut stream: tokio::net::TcpStream, state: AppState) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let cfg = state.cfg.clone();
    let idle = std::time::Duration::from_secs(cfg.hl7.idle_timeout_secs.max(1));
    let mut dec = mllp::Decoder::new(cfg.hl7.max_message_bytes);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match tokio::time::timeout(idle, stream.read(&mut buf)).await {
            Err(_) => return Ok(()), // idle
            Ok(r) => r?,
        };
        if n == 0 {
            return Ok(());
        }
        dec.push(&buf[..n]);
        while let Some(frame) = dec.next_frame() {
            let ack = match frame {
                Ok(bytes) => {
                    let p = process(&state.db, &cfg, &bytes, None).await;
                    state.desk.publish(p.events);
                    p.ack
                }
                Err(e) => frame_refusal(&cfg, &e),
            };
            stream.write_all(&mllp::frame(ack.as_bytes())).await?;
        }
    }
}
