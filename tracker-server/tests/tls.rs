//! HTTPS: a self-signed certificate made at test time, a client that trusts it, and a plain-HTTP
//! request to the TLS port that must fail.

mod common;

use reqwest::StatusCode;

#[tokio::test]
async fn serves_https_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_pem, key_pem) = (ck.cert.pem(), ck.key_pair.serialize_pem());
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, &cert_pem).unwrap();
    std::fs::write(&key, &key_pem).unwrap();

    let s = common::start_with(|c| {
        c.server.tls_cert = Some(cert.clone());
        c.server.tls_key = Some(key.clone());
    })
    .await;
    let port = s.base.rsplit(':').next().unwrap().to_string();
    let https = format!("https://localhost:{port}");
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .build()
        .unwrap();

    let r = client.get(format!("{https}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // With TLS on, browsers are told to use it only (HSTS), on pages and API alike.
    assert_eq!(
        r.headers()["strict-transport-security"],
        tracker_server::http::headers::HSTS
    );
    let r = client
        .get(format!("{https}/no-such-page"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.headers().contains_key("strict-transport-security"));
    // Signing in and reading over TLS work as over plain HTTP.
    let r = client
        .post(format!("{https}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "library", "password": common::PW}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Plain HTTP to the TLS port gets no answer.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await;
    assert!(
        plain.is_err(),
        "plain HTTP was answered: {:?}",
        plain.map(|r| r.status())
    );

    // A client that does not trust the certificate refuses to talk.
    let r = reqwest::Client::new()
        .get(format!("{https}/healthz"))
        .send()
        .await;
    assert!(r.is_err(), "an untrusted certificate was accepted");

    // And the server is still fine after those failed handshakes.
    let r = client.get(format!("{https}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[test]
fn half_a_tls_configuration_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.toml");
    std::fs::write(&p, "[server]\ntls_cert = \"/nonexistent/cert.pem\"\n").unwrap();
    let e = tracker_server::config::Config::load(Some(&p))
        .unwrap_err()
        .to_string();
    assert!(e.contains("tls_key"), "{e}");
    let server = tracker_server::config::ServerConfig {
        tls_cert: Some("/nonexistent/cert.pem".into()),
        tls_key: Some("/nonexistent/key.pem".into()),
        ..Default::default()
    };
    let e = tracker_server::tls_acceptor(&server)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("/nonexistent/cert.pem"), "{e}");
}
