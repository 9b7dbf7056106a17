//! Start a real server on a random port over a real SQLite file, and talk to it over HTTP.
#![allow(dead_code)]

pub mod hl7;

use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use tracker_server::{
    app::AppState,
    auth::{self, Role},
    config::Config,
    storage::Db,
};

pub const PW: &str = "test-password-1";

pub struct TestServer {
    pub base: String,
    pub db: Db,
    pub client: Client,
    pub dir: tempfile::TempDir,
    /// Where the HL7 MLLP listener is bound (set once the server has started it).
    pub hl7_addr: std::sync::Arc<std::sync::OnceLock<std::net::SocketAddr>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
    }
}

pub async fn start() -> TestServer {
    start_with(|_| {}).await
}

pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::default();
    cfg.database.path = dir.path().join("casenote.db");
    cfg.server.max_body_bytes = 2 * 1024 * 1024;
    cfg.identifiers.gs1_company_prefix = Some("0614141".into());
    tweak(&mut cfg);
    let db = Db::open(&cfg.database.path, 4).unwrap();
    let hash = auth::hash_password(PW).unwrap();
    db.write(move |c| {
        for role in [
            Role::Porter,
            Role::Library,
            Role::Clinician,
            Role::RecordsManager,
            Role::Admin,
        ] {
            auth::insert_user(c, role.as_str(), role.as_str(), role, &hash)?;
        }
        // the badge the test events carry
        tracker_server::ledger::staff::register(c, "S00042", "Test Porter")?;
        Ok(())
    })
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let state = AppState::new(db.clone(), cfg);
    let hl7_addr = state.hl7_addr.clone();
    tokio::spawn(tracker_server::serve(listener, state, async move {
        let _ = rx.await;
    }));
    TestServer {
        base,
        db,
        client: Client::new(),
        dir,
        hl7_addr,
        shutdown: Some(tx),
    }
}

impl TestServer {
    pub async fn login(&self, user: &str) -> String {
        let r = self
            .post(
                None,
                "/api/v1/auth/login",
                json!({"username": user, "password": PW}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn device_token(&self, admin: &str, name: &str) -> String {
        let r = self
            .post(
                Some(admin),
                "/api/v1/tokens",
                json!({"name": name, "role": "device"}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn post(&self, token: Option<&str>, path: &str, body: Value) -> Response {
        let mut rb = self.client.post(format!("{}{path}", self.base)).json(&body);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        rb.send().await.unwrap()
    }

    pub async fn put(&self, token: &str, path: &str, body: Value) -> Response {
        self.client
            .put(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, token: Option<&str>, path: &str) -> Response {
        let mut rb = self.client.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        rb.send().await.unwrap()
    }

    /// A web page as the signed-in user of session `session` sees it: status and body.
    pub async fn page(&self, session: &str, path: &str) -> (StatusCode, String) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", format!("cn_session={session}"))
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    pub async fn ok_json(&self, r: Response) -> Value {
        let s = r.status();
        let v: Value = r.json().await.unwrap();
        assert!(s.is_success(), "status {s}: {v}");
        v
    }

    pub async fn count(&self, table: &'static str) -> i64 {
        self.db
            .read(move |c| {
                Ok(c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?)
            })
            .await
            .unwrap()
    }

    /// Library, ward and clinic locations.
    pub async fn seed_locations(&self, manager: &str) {
        for (code, name, kind, parent) in [
            ("LSITE", "Test Hospital", "site", None),
            ("LLIB", "Records Library", "library", Some("LSITE")),
            ("LWARD5", "Ward 5", "ward", Some("LSITE")),
            ("LCLINA", "Clinic A", "clinic", Some("LSITE")),
        ] {
            let r = self
                .post(
                    Some(manager),
                    "/api/v1/locations",
                    json!({"code": code, "name": name, "kind": kind, "parent": parent}),
                )
                .await;
            assert_eq!(
                r.status(),
                StatusCode::CREATED,
                "{}",
                r.text().await.unwrap()
            );
        }
        let r = self
            .post(Some(manager), "/api/v1/locations", json!({"code": "LCODING", "name": "Coding", "kind": "coding", "gln": "0614141000005"}))
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }

    pub async fn patient(
        &self,
        library: &str,
        chi: &str,
        family: &str,
        given: &str,
        dob: &str,
    ) -> Value {
        let r = self
            .post(Some(library), "/api/v1/patients", json!({"chi": chi, "family_name": family, "given_name": given, "dob": dob, "sex": "male"}))
            .await;
        self.ok_json(r).await
    }

    pub async fn folder(&self, library: &str, patient: &str, folder_type: &str) -> Value {
        let r = self
            .post(
                Some(library),
                "/api/v1/folders",
                json!({"patient": patient, "folder_type": folder_type, "home_location": "LLIB"}),
            )
            .await;
        self.ok_json(r).await
    }
}

/// A running server with a signed-in user of every role, a device token (as a bridge has) and
/// the test locations.
pub struct World {
    pub s: TestServer,
    pub admin: String,
    pub manager: String,
    pub library: String,
    pub porter: String,
    pub clinician: String,
    pub device: String,
}

pub async fn world_with(tweak: impl FnOnce(&mut Config)) -> World {
    let s = start_with(tweak).await;
    let admin = s.login("admin").await;
    let manager = s.login("records_manager").await;
    let library = s.login("library").await;
    let porter = s.login("porter").await;
    let clinician = s.login("clinician").await;
    let device = s.device_token(&admin, "bridge-ward5").await;
    s.seed_locations(&manager).await;
    World {
        s,
        admin,
        manager,
        library,
        porter,
        clinician,
        device,
    }
}

pub async fn world() -> World {
    world_with(|_| {}).await
}

pub fn event(
    barcode: &str,
    location: &str,
    read_at: &str,
    action: &str,
    destination: Option<&str>,
) -> Value {
    json!({
        "event_id": uuid::Uuid::new_v4().to_string(),
        "device_id": "test-scanner",
        "staff_id": "S00042",
        "read_at": read_at,
        "raw": format!("]C0{barcode}"),
        "method": "barcode",
        "location": location,
        "action": action,
        "destination": destination,
    })
}
