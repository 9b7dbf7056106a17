//! Signing in: the same steps for the API's `POST /api/v1/auth/login` and the web sign-in form.

use crate::{
    audit,
    auth::{self, Principal, Role},
    Error,
};

/// Check a username and password and open a session. Returns the session token, the user's
/// role and when the session expires (Unix ms). Throttled per client address (`addr`) and,
/// with a growing wait, per user name (see [`auth::LoginLimiter`]). A wrong username costs as
/// much time as a wrong password, so timing does not reveal which names exist.
pub async fn sign_in(
    s: &super::AppState,
    username: &str,
    password: &str,
    addr: Option<std::net::IpAddr>,
) -> crate::Result<(String, Role, i64)> {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let wait = s.limiter.check(username, addr)?;
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    let u = username.to_string();
    let user = s.db.read(move |c| auth::user_for_login(c, &u)).await?;
    let hash = match &user {
        Some((_, _, h)) => h.clone(),
        None => DUMMY
            .get_or_init(|| auth::hash_password("no-such-user-password").unwrap_or_default())
            .clone(),
    };
    let pw = password.to_string();
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&pw, &hash))
        .await
        .unwrap_or(false);
    let Some((id, role, _)) = user.filter(|_| ok) else {
        s.limiter.failed(username, addr);
        return Err(Error::Unauthorized);
    };
    s.limiter.succeeded(username);
    let token = auth::new_token("cs_");
    let (t, hours) = (token.clone(), s.cfg.auth.session_hours);
    let who = Principal {
        actor: format!("user:{username}"),
        role,
    };
    let expires =
        s.db.write(move |c| {
            let e = auth::insert_session(c, &t, id, hours)?;
            audit::record(c, &who, "auth.login", None, None, "signed in")?;
            Ok(e)
        })
        .await?;
    Ok((token, role, expires))
}

/// The TCP peer of a connection, over plain HTTP or TLS (axum's connection information).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub std::net::SocketAddr);

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>>
    for PeerAddr
{
    fn connect_info(s: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        PeerAddr(*s.remote_addr())
    }
}

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, crate::tls::TlsListener>>
    for PeerAddr
{
    fn connect_info(s: axum::serve::IncomingStream<'_, crate::tls::TlsListener>) -> Self {
        PeerAddr(*s.remote_addr())
    }
}

/// The client's address, for sign-in throttling: the TCP peer, or, when the peer is one of
/// `[server] trusted_proxies`, the last address it added to `X-Forwarded-For`. `None` when the
/// server was not started with connection information (some tests).
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl axum::extract::FromRequestParts<super::AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &super::AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<PeerAddr>>()
            .map(|c| c.0 .0.ip());
        let proxied = peer.filter(|p| {
            state
                .cfg
                .server
                .trusted_proxies
                .iter()
                .any(|t| t.parse::<std::net::IpAddr>().ok() == Some(*p))
        });
        let forwarded = proxied.and_then(|_| {
            parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
                .next_back()
        });
        Ok(ClientAddr(forwarded.or(peer)))
    }
}
