//! Configuration: a TOML file (see `tracker-server.example.toml`), then environment overrides.

use casenote_core::identifiers::scan::ScanConfig;
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub identifiers: ScanConfig,
    pub auth: AuthConfig,
    pub reports: ReportsConfig,
    pub printing: PrintingConfig,
    pub requests: RequestsConfig,
    pub hl7: Hl7Config,
    pub audit: AuditConfig,
    pub coding: crate::lifecycle::coding::CodingConfig,
    pub digitisation: crate::lifecycle::digitisation::DigitisationConfig,
    pub retention: crate::lifecycle::retention::RetentionConfig,
    pub external_requests: crate::lifecycle::external_requests::ExternalRequestsConfig,
    pub device_health: crate::ledger::read_norms::DeviceHealthConfig,
    pub privacy: PrivacyConfig,
    pub shelf_audit: ShelfAuditConfig,
    pub containers: crate::ledger::containers::ContainersConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port to listen on. Env: CASENOTE_LISTEN.
    pub listen: String,
    /// Largest request body accepted, in bytes. Env: CASENOTE_MAX_BODY_BYTES.
    pub max_body_bytes: usize,
    /// Scans read more than this many seconds ahead of the server's clock are refused (a
    /// device with a wrong clock). Env: CASENOTE_MAX_CLOCK_SKEW_SECS.
    pub max_clock_skew_secs: u64,
    /// Addresses of reverse proxies in front of the server: for requests from them, the
    /// client's address (for sign-in throttling) is the last one in `X-Forwarded-For`.
    pub trusted_proxies: Vec<String>,
    /// Mark the sign-in cookie Secure (sent only over HTTPS, and to localhost). Keep true in
    /// production behind TLS. Env: CASENOTE_SECURE_COOKIES.
    pub secure_cookies: bool,
    /// PEM certificate chain (leaf first). With `tls_key`, the server speaks HTTPS only.
    /// Env: CASENOTE_TLS_CERT.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`. Env: CASENOTE_TLS_KEY.
    pub tls_key: Option<PathBuf>,
    /// The site's time zone: every time shown in pages, CSVs and PDFs is in it, and "today"
    /// (pull lists, working days) is its date. Env: CASENOTE_TIMEZONE.
    pub timezone: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// SQLite file; created on first run. Env: CASENOTE_DATABASE.
    pub path: PathBuf,
    /// Read connections (parallel lookups). Env: CASENOTE_READERS.
    pub readers: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Hours a sign-in session lasts. Env: CASENOTE_SESSION_HOURS.
    pub session_hours: u64,
    /// Failed sign-ins per user name within `login_window_secs` before each further attempt
    /// for that name waits (1 s, doubling up to `login_max_delay_secs`). Nobody is locked out.
    pub login_max_failures: u32,
    /// The window over which failures are counted, in seconds.
    pub login_window_secs: u64,
    /// Longest wait per attempt for a user name with many recent failures, in seconds.
    pub login_max_delay_secs: u64,
    /// Failed sign-ins from one client address within the window (any user names) after which
    /// that address is refused (429) until the window moves on.
    pub login_max_failures_per_address: u32,
}

/// `[shelf_audit]`: when folders a shelf audit did not find are reported missing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShelfAuditConfig {
    /// Hours after an audit closes before a folder it did not find, and that nobody has
    /// scanned since, is reported missing. Env: CASENOTE_SHELF_AUDIT_MISSING_AFTER_HOURS.
    pub missing_after_hours: u64,
    /// Instead of hours: working days (weekends, Scottish bank holidays and `[requests]
    /// local_holidays` skipped) after the day the audit closed. Env:
    /// CASENOTE_SHELF_AUDIT_MISSING_AFTER_WORKING_DAYS.
    pub missing_after_working_days: Option<u32>,
    /// How often the server looks for folders due to be reported missing, in seconds. Env:
    /// CASENOTE_SHELF_AUDIT_CHECK_SECS.
    pub check_secs: u64,
}

impl Default for ShelfAuditConfig {
    fn default() -> Self {
        Self {
            missing_after_hours: 72,
            missing_after_working_days: None,
            check_secs: 300,
        }
    }
}

/// The audit log's key and anchors (docs/security.md, "Audit log").
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// File holding the key the audit chain is signed with (hex; created with 32 random bytes,
    /// mode 0600, if missing). Keep it outside the database's directory and its backups.
    /// Default: `<database>.audit-key`. Env: CASENOTE_AUDIT_KEY_FILE.
    pub key_file: Option<PathBuf>,
    /// Earlier keys, after a rotation, so that `audit-verify` can check older rows.
    pub old_key_files: Vec<PathBuf>,
    /// Append-only file the chain head is written to (also logged as "audit chain head").
    /// Default: `<database>.audit-anchors`. Env: CASENOTE_AUDIT_ANCHOR_FILE.
    pub anchor_file: Option<PathBuf>,
    /// How often the chain head is anchored, in seconds (and once at shutdown).
    pub anchor_interval_secs: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            key_file: None,
            old_key_files: Vec::new(),
            anchor_file: None,
            anchor_interval_secs: 300,
        }
    }
}

impl Config {
    /// The audit key file in use.
    pub fn audit_key_path(&self) -> PathBuf {
        self.audit
            .key_file
            .clone()
            .unwrap_or_else(|| crate::storage::default_audit_key_path(&self.database.path))
    }

    /// The audit anchor file in use.
    pub fn audit_anchor_path(&self) -> PathBuf {
        self.audit
            .anchor_file
            .clone()
            .unwrap_or_else(|| crate::storage::default_anchor_path(&self.database.path))
    }
}

/// `[privacy]`: the rules of the Caldicott guardian's privacy report (`reports::privacy`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacyConfig {
    /// A request, appointment or admission this many days before or after a lookup, at one of
    /// the user's locations, makes the lookup legitimate (0-365).
    /// Env: CASENOTE_PRIVACY_RELATIONSHIP_WINDOW_DAYS.
    pub relationship_window_days: i64,
    /// Weeks of the user's own history that make their norm of lookups per day (1-26).
    /// Env: CASENOTE_PRIVACY_NORM_WEEKS.
    pub norm_weeks: i64,
    /// How many standard deviations above the user's mean a day must be to be unusual
    /// (more than 0, at most 10). Env: CASENOTE_PRIVACY_NORM_SD_FACTOR.
    pub norm_sd_factor: f64,
    /// A day with at most this many lookups is never unusual, whatever the norm (at least 1).
    /// Env: CASENOTE_PRIVACY_MIN_DAILY_LOOKUPS.
    pub min_daily_lookups: i64,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        Self {
            relationship_window_days: 14,
            norm_weeks: 4,
            norm_sd_factor: 3.0,
            min_daily_lookups: 50,
        }
    }
}

impl PrivacyConfig {
    /// Check the values make sense; the error names the setting.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if !(0..=365).contains(&self.relationship_window_days) {
            return Err("relationship_window_days must be 0-365".into());
        }
        if !(1..=26).contains(&self.norm_weeks) {
            return Err("norm_weeks must be 1-26".into());
        }
        if !(self.norm_sd_factor > 0.0 && self.norm_sd_factor <= 10.0) {
            return Err("norm_sd_factor must be more than 0 and at most 10".into());
        }
        if self.min_daily_lookups < 1 {
            return Err("min_daily_lookups must be at least 1".into());
        }
        Ok(())
    }

    /// The volume rule in words.
    pub fn volume_rule(&self) -> String {
        format!(
            "a day is unusual when the user's lookups exceed the larger of {} and their daily mean \
             plus {} standard deviations over the previous {} weeks (quiet days count as 0)",
            self.min_daily_lookups, self.norm_sd_factor, self.norm_weeks
        )
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportsConfig {
    /// Default for "folders out of the library longer than N days".
    pub out_of_library_days: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrintingConfig {
    /// Label size (mm, `WIDTHxHEIGHT`) used when a printer is registered without one, and for
    /// previews without a printer. Env: CASENOTE_PRINT_DEFAULT_STOCK.
    pub default_stock: String,
    /// 203 or 300 dots per inch, as `default_stock`. Env: CASENOTE_PRINT_DEFAULT_DPI.
    pub default_dpi: u32,
    /// How long to wait for a printer to connect and answer its status (`~HS`) before the job
    /// fails with a timeout. Env: CASENOTE_PRINT_STATUS_TIMEOUT_MS.
    pub status_timeout_ms: u64,
    /// Labels of a batch sent per step; progress is recorded after each step.
    /// Env: CASENOTE_PRINT_BATCH_CHUNK.
    pub batch_chunk: usize,
    /// Allow `file://` printer addresses (tests, capture). Off by default: a file printer writes
    /// wherever the server may write.
    pub allow_file_printers: bool,
}

impl Default for PrintingConfig {
    fn default() -> Self {
        Self {
            default_stock: "100x50".into(),
            default_dpi: 203,
            status_timeout_ms: 3000,
            batch_chunk: 25,
            allow_file_printers: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RequestsConfig {
    /// Target from request to delivery for emergency requests, in minutes (clock time: wards
    /// admit at night and at weekends).
    pub emergency_minutes: i64,
    /// Target for urgent requests, in minutes (clock time).
    pub urgent_minutes: i64,
    /// Target for routine requests, in working days: due at the same time of day this many
    /// working days later (weekends, Scottish bank holidays and `local_holidays` skipped).
    /// Env: CASENOTE_REQUESTS_ROUTINE_WORKING_DAYS.
    pub routine_working_days: i64,
    /// Older setting: a routine target in clock hours. When set it is used instead of
    /// `routine_working_days` (and ignores weekends and holidays); leave it unset.
    pub routine_hours: Option<i64>,
    /// Routine requests still not delivered this many working days after they were made are
    /// escalated (raised to urgent, flagged on the desk, audited). 0 turns escalation off.
    /// Env: CASENOTE_REQUESTS_ESCALATE_AFTER_WORKING_DAYS.
    pub escalate_after_working_days: i64,
    /// How often (seconds) the server sweeps for stale requests (escalations, and requests for
    /// clinics that have passed). Env: CASENOTE_REQUESTS_STALE_CHECK_SECS.
    pub stale_check_secs: u64,
    /// Pull lists are prepared for clinic sessions this many working days ahead (Mon-Fri).
    pub pull_list_days_ahead: i64,
    /// Location code discharged patients' notes go to for clinical coding.
    pub coding_location: String,
    /// How often (seconds) the server looks for requests that have become overdue.
    pub overdue_check_secs: u64,
    /// Local holidays on top of Scotland's bank holidays (which are built in), as dates
    /// `YYYY-MM-DD`: not working days for pull lists, routine targets and escalations.
    /// Env: CASENOTE_REQUESTS_LOCAL_HOLIDAYS (dates separated by commas).
    pub local_holidays: Vec<chrono::NaiveDate>,
}

impl Default for RequestsConfig {
    fn default() -> Self {
        Self {
            emergency_minutes: 30,
            urgent_minutes: 240,
            routine_working_days: 2,
            routine_hours: None,
            escalate_after_working_days: 3,
            stale_check_secs: 300,
            pull_list_days_ahead: 2,
            coding_location: "LCODING".into(),
            overdue_check_secs: 30,
            local_holidays: Vec::new(),
        }
    }
}

impl RequestsConfig {
    /// A target as clock time in milliseconds for an urgency (emergency, urgent, routine);
    /// a routine target in working days counts 24 hours a day here. Due times are computed
    /// with working days by `workflow::requests::due_after`.
    pub fn target_ms(&self, urgency: &str) -> i64 {
        match urgency {
            "emergency" => self.emergency_minutes * 60_000,
            "urgent" => self.urgent_minutes * 60_000,
            _ => match self.routine_hours {
                Some(h) => h * 3_600_000,
                None => self.routine_working_days * 86_400_000,
            },
        }
    }

    /// Check the values make sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Requests(m.into()));
        if !(0..=10_080).contains(&self.emergency_minutes) {
            return bad("emergency_minutes must be 0..=10080");
        }
        if !(0..=43_200).contains(&self.urgent_minutes) {
            return bad("urgent_minutes must be 0..=43200");
        }
        if !(0..=60).contains(&self.routine_working_days) {
            return bad("routine_working_days must be 0..=60");
        }
        if self.routine_hours.is_some_and(|h| !(1..=2000).contains(&h)) {
            return bad("routine_hours must be 1..=2000 (or left out)");
        }
        if !(0..=60).contains(&self.escalate_after_working_days) {
            return bad("escalate_after_working_days must be 0..=60 (0: never)");
        }
        if self.stale_check_secs == 0 {
            return bad("stale_check_secs must be at least 1");
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Hl7Config {
    /// Address for the MLLP listener (ADT and SIU feeds); not started when unset.
    /// Env: CASENOTE_HL7_LISTEN.
    pub listen: Option<String>,
    /// Largest message accepted, in bytes; larger ones are answered AR.
    pub max_message_bytes: usize,
    /// A connection with nothing received for this long is closed.
    pub idle_timeout_secs: u64,
    /// MSH-3 and MSH-4 of our acknowledgements.
    pub sending_application: String,
    pub sending_facility: String,
    /// HL7 point-of-care codes (PV1-3.1, AIL-3.1) to tracker location codes.
    /// A code not listed here is looked up as a location code.
    pub locations: std::collections::BTreeMap<String, String>,
    /// Character set of messages whose MSH-18 is empty: `UNICODE UTF-8` (default), `8859/1`,
    /// `8859/15` or `ASCII`. Env: CASENOTE_HL7_DEFAULT_CHARSET.
    pub default_charset: String,
    /// Assigning authorities (PID-3.4, or its first sub-component) and identifier type codes
    /// (PID-3.5) that mark the CHI number among PID-3's repetitions. Empty: `CHI`, `NNSCO`.
    pub chi_authorities: Vec<String>,
    /// Time zone of HL7 times written without an offset (an IANA name). Default
    /// `Europe/London`. Env: CASENOTE_HL7_TIMEZONE.
    pub timezone: String,
    /// Which national number identifies the patient in PID-3: `chi` (Scotland, default),
    /// `nhs_number` (England, Wales, Isle of Man feeds) or `chi_or_nhs_number` (the CHI when
    /// the message carries one, else the NHS number). Env: CASENOTE_HL7_PATIENT_NUMBER.
    pub patient_number: PatientNumberKind,
    /// Assigning authorities / type codes that mark the NHS number among PID-3's repetitions.
    /// Empty: `NHS`, `NHSNBR`, `2.16.840.1.113883.2.1.4.1` (the NHS number's OID).
    pub nhs_authorities: Vec<String>,
}

crate::vocabulary! {
    /// The national patient number an HL7 feed identifies patients by (`[hl7] patient_number`).
    #[derive(Default)]
    pub enum PatientNumberKind {
        /// Community Health Index number (NHS Scotland).
        #[default]
        Chi = "chi",
        /// NHS number (England, Wales, Isle of Man).
        NhsNumber = "nhs_number",
        /// The CHI when the message carries one, otherwise the NHS number.
        ChiOrNhsNumber = "chi_or_nhs_number",
    }
}

impl Default for Hl7Config {
    fn default() -> Self {
        Self {
            listen: None,
            max_message_bytes: 1024 * 1024,
            idle_timeout_secs: 300,
            sending_application: "CASENOTE".into(),
            sending_facility: "TRACKER".into(),
            locations: Default::default(),
            default_charset: "UNICODE UTF-8".into(),
            chi_authorities: Vec::new(),
            timezone: "Europe/London".into(),
            patient_number: PatientNumberKind::Chi,
            nhs_authorities: Vec::new(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 8 * 1024 * 1024,
            max_clock_skew_secs: 120,
            trusted_proxies: Vec::new(),
            secure_cookies: true,
            tls_cert: None,
            tls_key: None,
            timezone: "Europe/London".into(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("casenote.db"),
            readers: 4,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            session_hours: 12,
            login_max_failures: 5,
            login_window_secs: 300,
            login_max_delay_secs: 30,
            login_max_failures_per_address: 30,
        }
    }
}

impl Default for ReportsConfig {
    fn default() -> Self {
        Self {
            out_of_library_days: 14,
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: String,
        source: toml::de::Error,
    },
    #[error("environment variable {name}: {message}")]
    Env { name: &'static str, message: String },
    #[error("identifiers: {0}")]
    Identifiers(String),
    #[error("printing: {0}")]
    Printing(String),
    #[error("{0}")]
    Lifecycle(String),
    #[error("server: {0}")]
    Server(String),
    #[error("hl7: {0}")]
    Hl7(String),
    #[error("device_health: {0}")]
    DeviceHealth(String),
    #[error("privacy: {0}")]
    Privacy(String),
    #[error("requests: {0}")]
    Requests(String),
}

fn env_parse<T: std::str::FromStr>(name: &'static str, slot: &mut T) -> Result<(), ConfigError> {
    if let Ok(v) = std::env::var(name) {
        *slot = v.parse().map_err(|_| ConfigError::Env {
            name,
            message: format!("{v:?} is not a valid value"),
        })?;
    }
    Ok(())
}

impl Config {
    /// Load from `path` (if given), then apply environment overrides.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut cfg = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.display().to_string(),
                    source,
                })?;
                toml::from_str(&text).map_err(|source| ConfigError::Parse {
                    path: p.display().to_string(),
                    source,
                })?
            }
            None => Config::default(),
        };
        env_parse("CASENOTE_LISTEN", &mut cfg.server.listen)?;
        env_parse("CASENOTE_MAX_BODY_BYTES", &mut cfg.server.max_body_bytes)?;
        env_parse(
            "CASENOTE_MAX_CLOCK_SKEW_SECS",
            &mut cfg.server.max_clock_skew_secs,
        )?;
        env_parse("CASENOTE_SECURE_COOKIES", &mut cfg.server.secure_cookies)?;
        env_parse("CASENOTE_DATABASE", &mut cfg.database.path)?;
        env_parse("CASENOTE_READERS", &mut cfg.database.readers)?;
        env_parse(
            "CASENOTE_RETENTION_FIGURES_EVERY_MINUTES",
            &mut cfg.retention.figures_every_minutes,
        )?;
        env_parse("CASENOTE_SESSION_HOURS", &mut cfg.auth.session_hours)?;
        let dh = &mut cfg.device_health;
        env_parse("CASENOTE_DEVICE_HEALTH_WINDOW_HOURS", &mut dh.window_hours)?;
        env_parse(
            "CASENOTE_DEVICE_HEALTH_BELOW_NORMAL_RATIO",
            &mut dh.below_normal_ratio,
        )?;
        env_parse(
            "CASENOTE_DEVICE_HEALTH_SILENT_AFTER_HOURS",
            &mut dh.silent_after_hours,
        )?;
        env_parse(
            "CASENOTE_DEVICE_HEALTH_MIN_HISTORY_DAYS",
            &mut dh.min_history_days,
        )?;
        env_parse("CASENOTE_DEVICE_HEALTH_HISTORY_DAYS", &mut dh.history_days)?;
        env_parse(
            "CASENOTE_DEVICE_HEALTH_MIN_NORM_READS",
            &mut dh.min_norm_reads,
        )?;
        dh.validate().map_err(ConfigError::DeviceHealth)?;
        let pr = &mut cfg.privacy;
        env_parse(
            "CASENOTE_PRIVACY_RELATIONSHIP_WINDOW_DAYS",
            &mut pr.relationship_window_days,
        )?;
        env_parse("CASENOTE_PRIVACY_NORM_WEEKS", &mut pr.norm_weeks)?;
        env_parse("CASENOTE_PRIVACY_NORM_SD_FACTOR", &mut pr.norm_sd_factor)?;
        env_parse(
            "CASENOTE_PRIVACY_MIN_DAILY_LOOKUPS",
            &mut pr.min_daily_lookups,
        )?;
        pr.validate().map_err(ConfigError::Privacy)?;
        let rq = &mut cfg.requests;
        env_parse(
            "CASENOTE_REQUESTS_ROUTINE_WORKING_DAYS",
            &mut rq.routine_working_days,
        )?;
        env_parse(
            "CASENOTE_REQUESTS_ESCALATE_AFTER_WORKING_DAYS",
            &mut rq.escalate_after_working_days,
        )?;
        env_parse(
            "CASENOTE_REQUESTS_STALE_CHECK_SECS",
            &mut rq.stale_check_secs,
        )?;
        if let Ok(v) = std::env::var("CASENOTE_REQUESTS_LOCAL_HOLIDAYS") {
            rq.local_holidays = v
                .split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(|d| {
                    chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| ConfigError::Env {
                        name: "CASENOTE_REQUESTS_LOCAL_HOLIDAYS",
                        message: format!("{d:?} is not a date written YYYY-MM-DD"),
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        rq.validate()?;
        if let Ok(v) = std::env::var("CASENOTE_TLS_CERT") {
            cfg.server.tls_cert = Some(PathBuf::from(v)).filter(|p| !p.as_os_str().is_empty());
        }
        if let Ok(v) = std::env::var("CASENOTE_TLS_KEY") {
            cfg.server.tls_key = Some(PathBuf::from(v)).filter(|p| !p.as_os_str().is_empty());
        }
        if cfg.server.tls_cert.is_some() != cfg.server.tls_key.is_some() {
            return Err(ConfigError::Server(
                "set both tls_cert and tls_key (CASENOTE_TLS_CERT, CASENOTE_TLS_KEY), or neither"
                    .into(),
            ));
        }
        if let Ok(v) = std::env::var("CASENOTE_HL7_LISTEN") {
            cfg.hl7.listen = Some(v).filter(|s| !s.is_empty());
        }
        if let Ok(v) = std::env::var("CASENOTE_HL7_DEFAULT_CHARSET") {
            cfg.hl7.default_charset = v;
        }
        if let Ok(v) = std::env::var("CASENOTE_HL7_TIMEZONE") {
            cfg.hl7.timezone = v;
        }
        if let Ok(v) = std::env::var("CASENOTE_AUDIT_KEY_FILE") {
            cfg.audit.key_file = Some(PathBuf::from(v)).filter(|p| !p.as_os_str().is_empty());
        }
        if let Ok(v) = std::env::var("CASENOTE_AUDIT_ANCHOR_FILE") {
            cfg.audit.anchor_file = Some(PathBuf::from(v)).filter(|p| !p.as_os_str().is_empty());
        }
        if let Ok(v) = std::env::var("CASENOTE_HL7_PATIENT_NUMBER") {
            cfg.hl7.patient_number = v
                .parse()
                .map_err(|e| ConfigError::Hl7(format!("CASENOTE_HL7_PATIENT_NUMBER: {e}")))?;
        }
        env_parse("CASENOTE_TIMEZONE", &mut cfg.server.timezone)?;
        if cfg.server.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(ConfigError::Server(format!(
                "timezone {:?} is not a time zone name such as Europe/London",
                cfg.server.timezone
            )));
        }
        if cfg.hl7.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(ConfigError::Hl7(format!(
                "timezone {:?} is not a time zone name such as Europe/London",
                cfg.hl7.timezone
            )));
        }
        if let Ok(v) = std::env::var("CASENOTE_GS1_COMPANY_PREFIX") {
            cfg.identifiers.gs1_company_prefix = Some(v).filter(|s| !s.is_empty());
        }
        env_parse(
            "CASENOTE_CONTAINER_ASSET_TYPE",
            &mut cfg.containers.grai_asset_type,
        )?;
        env_parse(
            "CASENOTE_PRINT_DEFAULT_STOCK",
            &mut cfg.printing.default_stock,
        )?;
        env_parse("CASENOTE_PRINT_DEFAULT_DPI", &mut cfg.printing.default_dpi)?;
        env_parse(
            "CASENOTE_PRINT_STATUS_TIMEOUT_MS",
            &mut cfg.printing.status_timeout_ms,
        )?;
        env_parse("CASENOTE_PRINT_BATCH_CHUNK", &mut cfg.printing.batch_chunk)?;
        let sa = &mut cfg.shelf_audit;
        env_parse(
            "CASENOTE_SHELF_AUDIT_MISSING_AFTER_HOURS",
            &mut sa.missing_after_hours,
        )?;
        if let Ok(v) = std::env::var("CASENOTE_SHELF_AUDIT_MISSING_AFTER_WORKING_DAYS") {
            sa.missing_after_working_days = match v.trim() {
                "" => None,
                t => Some(t.parse().map_err(|_| ConfigError::Env {
                    name: "CASENOTE_SHELF_AUDIT_MISSING_AFTER_WORKING_DAYS",
                    message: format!("{v:?} is not a whole number of days"),
                })?),
            };
        }
        env_parse("CASENOTE_SHELF_AUDIT_CHECK_SECS", &mut sa.check_secs)?;
        cfg.identifiers
            .folder
            .validate()
            .map_err(|e| ConfigError::Identifiers(e.to_string()))?;
        if let Some(p) = &cfg.identifiers.gs1_company_prefix {
            let digits = 12usize.saturating_sub(p.len());
            let at = cfg.containers.grai_asset_type;
            if (digits == 0 && at != 0) || (digits > 0 && at.to_string().len() > digits) {
                return Err(ConfigError::Identifiers(format!(
                    "containers.grai_asset_type {at} does not fit in the {digits} digit(s) the GS1 company prefix {p} leaves of 12"
                )));
            }
        }
        cfg.printing.validate()?;
        cfg.retention
            .validate()
            .map_err(|e| ConfigError::Lifecycle(format!("retention: {e}")))?;
        Ok(cfg)
    }
}

impl PrintingConfig {
    /// Check the values make sense (stock parses, timeout and chunk in range).
    pub fn validate(&self) -> Result<(), ConfigError> {
        label_printer::LabelStock::parse(&self.default_stock, self.default_dpi)
            .map_err(|e| ConfigError::Printing(format!("default_stock/default_dpi: {e}")))?;
        if !(100..=120_000).contains(&self.status_timeout_ms) {
            return Err(ConfigError::Printing(
                "status_timeout_ms must be 100..=120000".into(),
            ));
        }
        if !(1..=1000).contains(&self.batch_chunk) {
            return Err(ConfigError::Printing("batch_chunk must be 1..=1000".into()));
        }
        Ok(())
    }

    pub fn timeouts(&self) -> label_printer::printers::Timeouts {
        let t = std::time::Duration::from_millis(self.status_timeout_ms);
        label_printer::printers::Timeouts {
            connect: t,
            read: t,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_file_parses() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tracker-server.example.toml");
        let c = Config::load(Some(&p)).unwrap();
        assert_eq!(c.identifiers.folder.prefix, "F");
        assert_eq!(c.printing.default_stock, "100x50");
        assert_eq!(c.printing.batch_chunk, 25);
        assert_eq!(c.requests.emergency_minutes, 30);
        assert_eq!(c.requests.urgent_minutes, 240);
        assert_eq!(c.requests.routine_working_days, 2);
        assert_eq!(c.requests.routine_hours, None);
        assert_eq!(c.requests.escalate_after_working_days, 3);
        assert_eq!(c.hl7.max_message_bytes, 1024 * 1024);
        assert_eq!(
            c.hl7.locations.get("W5").map(String::as_str),
            Some("LWARD5")
        );
        assert_eq!(c.coding.backlog_weeks, vec![4, 6, 13]);
        assert_eq!(c.external_requests.ahra_days, 40);
        assert_eq!(
            c.device_health,
            crate::ledger::read_norms::DeviceHealthConfig::default(),
            "the example shows the defaults"
        );
        assert_eq!(
            c.privacy,
            PrivacyConfig::default(),
            "the example shows the privacy defaults"
        );
        let names: Vec<&str> = c.retention.rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "maternity",
                "mental_health",
                "deceased",
                "children",
                "adult"
            ]
        );
        let shipped = crate::lifecycle::retention::RetentionConfig::default();
        assert_eq!(
            serde_json::to_value(&c.retention.rules).unwrap(),
            serde_json::to_value(&shipped.rules).unwrap()
        );
    }

    #[test]
    fn device_health_settings_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.toml");
        std::fs::write(
            &p,
            "[device_health]\nwindow_hours = 8\nmin_norm_reads = 50\n",
        )
        .unwrap();
        let c = Config::load(Some(&p)).unwrap();
        assert_eq!(
            (c.device_health.window_hours, c.device_health.min_norm_reads),
            (8, 50)
        );
        std::fs::write(&p, "[device_health]\nbelow_normal_ratio = 1.5\n").unwrap();
        let e = Config::load(Some(&p)).unwrap_err().to_string();
        assert!(e.contains("device_health: below_normal_ratio"), "{e}");
    }

    #[test]
    fn request_settings_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.toml");
        std::fs::write(
            &p,
            "[requests]\nroutine_working_days = 1\nescalate_after_working_days = 5\nlocal_holidays = [\"2026-09-28\"]\n",
        )
        .unwrap();
        let c = Config::load(Some(&p)).unwrap();
        assert_eq!(c.requests.routine_working_days, 1);
        assert_eq!(c.requests.escalate_after_working_days, 5);
        assert_eq!(
            c.requests.local_holidays,
            [chrono::NaiveDate::from_ymd_opt(2026, 9, 28).unwrap()]
        );
        std::fs::write(&p, "[requests]\nescalate_after_working_days = -1\n").unwrap();
        let e = Config::load(Some(&p)).unwrap_err().to_string();
        assert!(e.contains("requests: escalate_after_working_days"), "{e}");
    }

    #[test]
    fn privacy_settings_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.toml");
        std::fs::write(
            &p,
            "[privacy]\nrelationship_window_days = 30\nmin_daily_lookups = 80\n",
        )
        .unwrap();
        let c = Config::load(Some(&p)).unwrap();
        assert_eq!(
            (
                c.privacy.relationship_window_days,
                c.privacy.min_daily_lookups
            ),
            (30, 80)
        );
        std::fs::write(&p, "[privacy]\nnorm_weeks = 0\n").unwrap();
        let e = Config::load(Some(&p)).unwrap_err().to_string();
        assert!(e.contains("privacy: norm_weeks"), "{e}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = toml::from_str::<Config>("[server]\nlisten = 'x'\nport = 3\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("port"), "{e}");
    }
}
