//! The secret the audit chain is keyed with, and HMAC-SHA-256. Kept apart from [`crate::audit`]
//! so that the database layer can give the key to its writer thread without depending on the
//! audit log itself.

use crate::{Error, Result};
use sha2::{Digest, Sha256};

/// HMAC-SHA-256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// The secret the audit chain is keyed with. Its id (the first 8 bytes of the SHA-256 of the
/// key, in hex) is stored with each row, so that rows keyed before a rotation are checked with
/// the old key.
#[derive(Clone)]
pub struct AuditKey {
    pub id: String,
    secret: Vec<u8>,
}

impl AuditKey {
    pub fn from_secret(secret: Vec<u8>) -> Self {
        let id = hex::encode(&Sha256::digest(&secret)[..8]);
        Self { id, secret }
    }

    /// Read the key file (hex), or create it with 32 random bytes, readable only by this
    /// user (0600), when it does not exist.
    pub fn load_or_create(path: &std::path::Path) -> Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                use rand::RngCore;
                let mut secret = vec![0u8; 32];
                rand::thread_rng().fill_bytes(&mut secret);
                let mut o = std::fs::OpenOptions::new();
                o.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    o.mode(0o600);
                }
                let mut f = o.open(path).map_err(|e| {
                    Error::internal_from(
                        format!("cannot create the audit key {}", path.display()),
                        e,
                    )
                })?;
                std::io::Write::write_all(&mut f, format!("{}\n", hex::encode(&secret)).as_bytes())
                    .map_err(|e| Error::internal_from("cannot write the audit key", e))?;
                tracing::info!(path = %path.display(), "audit key created; back it up apart from the database");
                Ok(Self::from_secret(secret))
            }
            Err(e) => Err(Error::internal_from(
                format!("cannot read the audit key {}", path.display()),
                e,
            )),
        }
    }

    /// Read an existing key file (for `audit-verify` and old keys after a rotation).
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::internal_from(format!("cannot read the audit key {}", path.display()), e)
        })?;
        Self::parse(path, &text)
    }

    fn parse(path: &std::path::Path, text: &str) -> Result<Self> {
        let secret = hex::decode(text.trim())
            .ok()
            .filter(|s| s.len() >= 16)
            .ok_or_else(|| {
                Error::invalid(
                    "audit.key_file",
                    format!(
                        "{} does not hold a hex key of at least 16 bytes",
                        path.display()
                    ),
                )
            })?;
        Ok(Self::from_secret(secret))
    }

    /// HMAC-SHA-256 of `message` under this key, in hex.
    pub fn mac_hex(&self, message: &[u8]) -> String {
        hex::encode(hmac_sha256(&self.secret, message))
    }
}

thread_local! {
    /// The key of the writer connection on this thread (set by the database's writer thread).
    static WRITER_KEY: std::cell::RefCell<Option<AuditKey>> = const { std::cell::RefCell::new(None) };
}

/// Key the audit rows written on this thread (the writer thread calls this once).
pub fn use_key_on_this_thread(key: Option<AuditKey>) {
    WRITER_KEY.with(|k| *k.borrow_mut() = key);
}

/// Run `f` with this thread's writer key, if any.
pub fn with_writer_key<T>(f: impl FnOnce(Option<&AuditKey>) -> T) -> T {
    WRITER_KEY.with(|k| f(k.borrow().as_ref()))
}
