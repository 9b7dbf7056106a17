//! Sign in / out.

use super::*;

/// Where to go after signing in: a path on this site only (never another site).
fn safe_next(next: Option<&str>) -> Option<&str> {
    next.filter(|n| {
        n.starts_with('/')
            && !n.starts_with("//")
            && n.len() < 300
            && !n.contains(['\\', '\r', '\n'])
            && !n.starts_with("/login")
    })
}

pub(crate) fn login_page(error: Option<&str>, login_csrf: &str) -> Markup {
    login_page_to(error, login_csrf, None)
}

fn login_page_to(error: Option<&str>, login_csrf: &str, next: Option<&str>) -> Markup {
    html! {
        (maud::DOCTYPE)
        html lang="en-GB" {
            head { meta charset="utf-8"; meta name="viewport" content="width=device-width, initial-scale=1"; title { "Sign in - Casenote Tracker" } link rel="stylesheet" href="/static/app.css"; }
            body {
                header.top { a.brand href="/" { "Casenote Tracker" } }
                main id="main" {
                    h1 { "Sign in" }
                    @if let Some(e) = error { div.error-summary role="alert" { h2 { "There is a problem" } p { (e) } } }
                    form.card method="post" action="/login" {
                        input type="hidden" name="csrf" value=(login_csrf);
                        @if let Some(n) = safe_next(next) { input type="hidden" name="next" value=(n); }
                        label for="username" { "User name" }
                        input type="text" id="username" name="username" autocomplete="username" required autofocus;
                        label for="password" { "Password" }
                        input type="password" id="password" name="password" autocomplete="current-password" required;
                        div { button type="submit" { "Sign in" } }
                    }
                }
            }
        }
    }
}

pub(crate) fn login_cookie(value: &str, secure: bool) -> String {
    format!(
        "cn_login={value}; Path=/login; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

pub async fn login_form(State(s): State<AppState>, Query(q): Query<Params>) -> Response {
    let t = auth::new_token("");
    (
        [(
            header::SET_COOKIE,
            login_cookie(&t, s.cfg.server.secure_cookies),
        )],
        login_page_to(None, &t, param(&q, "next")),
    )
        .into_response()
}

pub async fn login(
    State(s): State<AppState>,
    crate::app::session::ClientAddr(addr): crate::app::session::ClientAddr,
    headers: HeaderMap,
    Form(f): Form<Params>,
) -> Response {
    let fresh = auth::new_token("");
    let set = [(
        header::SET_COOKIE,
        login_cookie(&fresh, s.cfg.server.secure_cookies),
    )];
    let expected = crate::web::cookie(&headers, "cn_login");
    if expected.is_none() || expected.as_deref() != param(&f, "csrf") {
        return (
            StatusCode::FORBIDDEN,
            set,
            login_page(Some("The sign-in form expired. Please try again."), &fresh),
        )
            .into_response();
    }
    let (u, p) = (
        param(&f, "username").unwrap_or_default(),
        f.get("password").map(String::as_str).unwrap_or_default(),
    );
    match crate::app::session::sign_in(&s, u, p, addr).await {
        Ok((token, _, _)) => {
            let cookie = format!(
                "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
                s.cfg.auth.session_hours * 3600,
                if s.cfg.server.secure_cookies {
                    "; Secure"
                } else {
                    ""
                }
            );
            let to = safe_next(param(&f, "next")).unwrap_or("/");
            ([(header::SET_COOKIE, cookie)], Redirect::to(to)).into_response()
        }
        Err(Error::RateLimited(secs)) => (
            StatusCode::TOO_MANY_REQUESTS,
            set,
            login_page(
                Some(&format!(
                    "Too many failed attempts. Try again in {secs} seconds."
                )),
                &fresh,
            ),
        )
            .into_response(),
        Err(Error::Unauthorized) => (
            StatusCode::UNAUTHORIZED,
            set,
            login_page(Some("The user name or password is not right."), &fresh),
        )
            .into_response(),
        Err(e) => WebError::Domain(e).into_response(),
    }
}

pub async fn logout(
    State(s): State<AppState>,
    user: WebUser,
    Form(f): Form<Params>,
) -> Result<Response, WebError> {
    user.check_csrf(param(&f, "csrf"))?;
    let (t, who) = (user.token.clone(), user.who.clone());
    s.db.write(move |c| {
        auth::delete_session(c, &t)?;
        audit::record(c, &who, "auth.logout", None, None, "signed out")
    })
    .await?;
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    Ok(([(header::SET_COOKIE, clear)], Redirect::to("/login")).into_response())
}
