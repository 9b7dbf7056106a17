//! Configuration: a TOML file (see `tracker-server.example.toml`), then environment overrides.

use label_printer::identifiers::scan::ScanConfig;
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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port to listen on. Env: CASENOTE_LISTEN.
    pub listen: String,
    /// Largest request body accepted, in bytes. Env: CASENOTE_MAX_BODY_BYTES.
    pub max_body_bytes: usize,
    /// Mark the sign-in cookie Secure (sent only over HTTPS, and to localhost). Keep true in
    /// production behind TLS. Env: CASENOTE_SECURE_COOKIES.
    pub secure_cookies: bool,
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
    /// Failed sign-ins allowed per user name within `login_window_secs`.
    pub login_max_failures: u32,
    pub login_window_secs: u64,
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

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 8 * 1024 * 1024,
            secure_cookies: true,
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
        env_parse("CASENOTE_SECURE_COOKIES", &mut cfg.server.secure_cookies)?;
        env_parse("CASENOTE_DATABASE", &mut cfg.database.path)?;
        env_parse("CASENOTE_READERS", &mut cfg.database.readers)?;
        env_parse("CASENOTE_SESSION_HOURS", &mut cfg.auth.session_hours)?;
        if let Ok(v) = std::env::var("CASENOTE_GS1_COMPANY_PREFIX") {
            cfg.identifiers.gs1_company_prefix = Some(v).filter(|s| !s.is_empty());
        }
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
        cfg.identifiers
            .folder
            .validate()
            .map_err(|e| ConfigError::Identifiers(e.to_string()))?;
        cfg.printing.validate()?;
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
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = toml::from_str::<Config>("[server]\nlisten = 'x'\nport = 3\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("port"), "{e}");
    }
}
