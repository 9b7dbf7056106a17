//! Signing in: the same steps for the API's `POST /api/v1/auth/login` and the web sign-in form.

use crate::{
    audit,
    auth::{self, Principal, Role},
    Error,
};

/// Check a username and password (rate limited per username) and open a session. Returns the
/// session token, the user's role and when the session expires (Unix ms). A wrong username
/// costs as much time as a wrong password, so timing does not reveal which names exist.
pub async fn sign_in(
    s: &super::AppState,
    username: &str,
    password: &str,
) -> crate::Result<(String, Role, i64)> {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    s.limiter.check(username)?;
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
        s.limiter.failed(username);
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
