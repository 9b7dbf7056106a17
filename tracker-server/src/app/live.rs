//! The live-event publisher: request changes go to every open desk view (the API's and the web
//! page's server-sent event streams) as they happen.

use crate::{audit, auth::Principal, workflow::requests::DeskEvent, Result};
use axum::response::{
    sse::{Event, KeepAlive, Sse},
    IntoResponse, Response,
};
use tokio::sync::broadcast;

/// How many events a slow desk view may fall behind before it is told to reload.
const BACKLOG: usize = 1024;

/// The publisher. Cloning it gives another handle on the same channel.
#[derive(Clone)]
pub struct Desk {
    tx: broadcast::Sender<DeskEvent>,
}

impl Default for Desk {
    fn default() -> Self {
        Self::new()
    }
}

impl Desk {
    pub fn new() -> Self {
        Self {
            tx: broadcast::channel(BACKLOG).0,
        }
    }

    /// Send events to every open desk view (none open is fine).
    pub fn publish(&self, events: impl IntoIterator<Item = DeskEvent>) {
        for e in events {
            let _ = self.tx.send(e);
        }
    }

    /// A new receiver of everything published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<DeskEvent> {
        self.tx.subscribe()
    }
}

/// The live desk view as server-sent events, for a caller already authorised for
/// [`crate::auth::Permission::RequestNotes`]. Shared by the API (bearer token) and the web page
/// (cookie). Opening it is audited.
pub async fn desk_stream(s: &super::AppState, who: Principal) -> Result<Response> {
    s.db.write(move |c| audit::record(c, &who, "desk.stream", None, None, "live desk view opened"))
        .await?;
    let rx = s.desk.subscribe();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let e = match rx.recv().await {
            Ok(ev) => Event::default()
                .event(ev.kind)
                .id(ev.request_id.to_string())
                .json_data(&ev)
                .unwrap_or_else(|_| Event::default().comment("unserialisable")),
            Err(broadcast::error::RecvError::Lagged(n)) => Event::default()
                .event("lagged")
                .data(format!("{n} event(s) missed; reload the queue")),
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok::<_, std::convert::Infallible>(e), rx))
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}
