//! Users, roles, sessions and API tokens. Passwords are hashed with argon2; tokens are 256-bit
//! random values stored only as SHA-256 hashes.

use crate::{util::now_ms, Error, Result};
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a person (or a device) does; decides what they may see and change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Porter,
    Library,
    Clinician,
    RecordsManager,
    Admin,
    /// Bridges and printers (API tokens only).
    Device,
}

/// The roles as the values of a command-line option (`--role`), listed in `--help`.
impl clap::ValueEnum for Role {
    fn value_variants<'a>() -> &'a [Self] {
        &Self::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Porter,
        Role::Library,
        Role::Clinician,
        Role::RecordsManager,
        Role::Admin,
        Role::Device,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Porter => "porter",
            Role::Library => "library",
            Role::Clinician => "clinician",
            Role::RecordsManager => "records_manager",
            Role::Admin => "admin",
            Role::Device => "device",
        }
    }

    pub fn parse(s: &str) -> Result<Role> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(
                    "role",
                    format!("{s:?} is not a role; use porter, library, clinician, records_manager, admin or device"),
                )
            })
    }
}

/// Things a caller may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Send scan events.
    IngestEvents,
    /// See where a folder is (patient details only with `ReadPatient`).
    LocateFolders,
    /// See patient identity and demographics, search patients.
    ReadPatient,
    /// Register patients, folders; change folder status.
    EditRecords,
    /// Merge patients.
    MergePatients,
    /// Create and change locations.
    ManageLocations,
    /// Users and API tokens.
    ManageUsers,
    /// Read the audit log.
    ReadAudit,
    /// Reports on folders out of the library, devices.
    ReadReports,
    /// Device heartbeats.
    ReportDeviceHealth,
    /// Register label printers.
    ManagePrinters,
    /// Print and reprint labels, retry failed print jobs, preview labels.
    PrintLabels,
    /// Ask for a patient's notes to be sent somewhere; see the desk queue.
    RequestNotes,
    /// Clinic sessions, bookings, pull lists; record ADT/SIU messages by hand.
    ManageAppointments,
    /// Escalations and temporary folders for missing notes.
    ManageMissing,
    /// Clinical coding: the coding queue, episodes and their codes.
    CodeEpisodes,
    /// Load the ICD-10 and OPCS-4 code lists.
    ManageCodeLists,
    /// Scanning batches, document uploads, QA and the paper's disposition.
    ManageDigitisation,
    /// Open scanned documents (each view is audited).
    ViewScannedDocuments,
    /// Retention review, legal holds, destruction requests and approvals.
    ManageRetention,
    /// GP and professional queries, subject access and Access to Health Records Act requests.
    ManageExternalRequests,
    /// The Caldicott guardian's privacy report: lookups with no legitimate relationship, of
    /// same-name and flagged patients, unusual volumes, and the audit rows behind each line.
    ReviewPrivacy,
    /// Set and clear patient flags (staff, VIP) that the privacy report watches.
    FlagPatients,
}

impl Permission {
    pub fn describe(self) -> &'static str {
        match self {
            Permission::IngestEvents => "send scan events",
            Permission::LocateFolders => "locate folders",
            Permission::ReadPatient => "read patient details",
            Permission::EditRecords => "register or change patients and folders",
            Permission::MergePatients => "merge patients",
            Permission::ManageLocations => "manage locations",
            Permission::ManageUsers => "manage users and tokens",
            Permission::ReadAudit => "read the audit log",
            Permission::ReadReports => "read reports",
            Permission::ReportDeviceHealth => "report device health",
            Permission::ManagePrinters => "manage label printers",
            Permission::PrintLabels => "print labels",
            Permission::RequestNotes => "request case notes",
            Permission::ManageAppointments => "manage clinics, appointments and pull lists",
            Permission::ManageMissing => "manage missing notes and temporary folders",
            Permission::CodeEpisodes => "code episodes",
            Permission::ManageCodeLists => "load clinical code lists",
            Permission::ManageDigitisation => "manage scanning and digitisation",
            Permission::ViewScannedDocuments => "view scanned documents",
            Permission::ManageRetention => "manage retention, legal holds and destruction",
            Permission::ManageExternalRequests => {
                "manage subject access and other external requests"
            }
            Permission::ReviewPrivacy => "review the privacy (Caldicott) report",
            Permission::FlagPatients => "flag patients as staff or VIP",
        }
    }
}

/// The one table of who may do what.
pub fn allows(role: Role, p: Permission) -> bool {
    use Permission::*;
    use Role::*;
    match p {
        IngestEvents => matches!(role, Device | Porter | Library | RecordsManager | Admin),
        LocateFolders => matches!(role, Porter | Library | Clinician | RecordsManager | Admin),
        ReadPatient => matches!(role, Library | Clinician | RecordsManager | Admin),
        EditRecords => matches!(role, Library | RecordsManager | Admin),
        MergePatients | ManageLocations | ReadAudit => matches!(role, RecordsManager | Admin),
        ManageUsers | ManagePrinters => role == Admin,
        ReadReports | PrintLabels => matches!(role, Library | RecordsManager | Admin),
        ReportDeviceHealth => matches!(role, Device | Admin),
        RequestNotes => matches!(role, Clinician | Library | RecordsManager | Admin),
        ManageAppointments => matches!(role, Library | RecordsManager | Admin),
        ManageMissing => matches!(role, RecordsManager | Admin),
        CodeEpisodes | ManageDigitisation | ManageExternalRequests => {
            matches!(role, Library | RecordsManager | Admin)
        }
        ManageCodeLists | ManageRetention => matches!(role, RecordsManager | Admin),
        ViewScannedDocuments => matches!(role, Library | Clinician | RecordsManager | Admin),
        // (the report re-presents the audit log, which only these roles may read)
        ReviewPrivacy | FlagPatients => matches!(role, RecordsManager | Admin),
    }
}

/// Who is calling.
#[derive(Debug, Clone, Serialize)]
pub struct Principal {
    /// `user:<name>` or `token:<name>`.
    pub actor: String,
    pub role: Role,
}

impl Principal {
    pub fn require(&self, p: Permission) -> Result<()> {
        if allows(self.role, p) {
            Ok(())
        } else {
            Err(Error::Forbidden {
                role: self.role.as_str().into(),
                action: p.describe().into(),
            })
        }
    }
    pub fn can(&self, p: Permission) -> bool {
        allows(self.role, p)
    }
    /// The principal used by command-line maintenance.
    pub fn system() -> Self {
        Self {
            actor: "system:cli".into(),
            role: Role::Admin,
        }
    }
}

pub fn hash_password(password: &str) -> Result<String> {
    if password.chars().count() < 8 {
        return Err(Error::invalid("password", "must be at least 8 characters"));
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::internal(format!("password hashing failed: {e}")))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A fresh random token with a readable prefix (`ct_` for API tokens, `cs_` for sessions).
pub fn new_token(prefix: &str) -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    format!("{prefix}{}", hex::encode(b))
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn valid_username(u: &str) -> Result<()> {
    if u.is_empty()
        || u.len() > 64
        || !u
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(Error::invalid(
            "username",
            "must be 1-64 letters, digits, '.', '_' or '-'",
        ));
    }
    Ok(())
}

/// Create a user (the hash is computed before the call, outside the writer).
pub fn insert_user(
    c: &Connection,
    username: &str,
    display_name: &str,
    role: Role,
    password_hash: &str,
) -> Result<i64> {
    valid_username(username)?;
    if role == Role::Device {
        return Err(Error::invalid(
            "role",
            "device is for API tokens, not people",
        ));
    }
    let exists: bool = c
        .query_row("SELECT 1 FROM users WHERE username=?1", [username], |_| {
            Ok(true)
        })
        .optional()?
        .unwrap_or(false);
    if exists {
        return Err(Error::conflict(
            "username",
            format!("user {username:?} already exists"),
        ));
    }
    c.execute(
        "INSERT INTO users(username, display_name, role, password_hash, created_at) VALUES (?1,?2,?3,?4,?5)",
        params![username, display_name, role.as_str(), password_hash, crate::util::now_rfc3339()],
    )?;
    Ok(c.last_insert_rowid())
}

/// A user as listed for administrators (never the hash).
#[derive(Debug, Clone, Serialize)]
pub struct UserRow {
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub active: bool,
}

pub fn list_users(c: &Connection) -> Result<Vec<UserRow>> {
    let mut st =
        c.prepare("SELECT username, display_name, role, active FROM users ORDER BY username")?;
    let v = st
        .query_map([], |r| {
            Ok(UserRow {
                username: r.get(0)?,
                display_name: r.get(1)?,
                role: r.get(2)?,
                active: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(v)
}

/// Look up a user's id, role and hash for sign-in.
pub fn user_for_login(c: &Connection, username: &str) -> Result<Option<(i64, Role, String)>> {
    let row = c
        .query_row(
            "SELECT id, role, password_hash FROM users WHERE username=?1 AND active=1",
            [username],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            },
        )
        .optional()?;
    row.map(|(id, role, h)| Ok((id, Role::parse(&role)?, h)))
        .transpose()
}

pub fn insert_session(c: &Connection, token: &str, user_id: i64, hours: u64) -> Result<i64> {
    let now = now_ms();
    let expires = now + (hours as i64) * 3_600_000;
    c.execute("DELETE FROM sessions WHERE expires_at < ?1", [now])?;
    c.execute(
        "INSERT INTO sessions(token_hash, user_id, created_at, expires_at) VALUES (?1,?2,?3,?4)",
        params![token_hash(token), user_id, now, expires],
    )?;
    Ok(expires)
}

pub fn delete_session(c: &Connection, token: &str) -> Result<()> {
    c.execute(
        "DELETE FROM sessions WHERE token_hash=?1",
        [token_hash(token)],
    )?;
    Ok(())
}

pub fn insert_api_token(c: &Connection, name: &str, role: Role, token: &str) -> Result<()> {
    valid_username(name)
        .map_err(|_| Error::invalid("name", "must be 1-64 letters, digits, '.', '_' or '-'"))?;
    let n = c.execute(
        "INSERT OR IGNORE INTO api_tokens(name, role, token_hash, created_at) VALUES (?1,?2,?3,?4)",
        params![
            name,
            role.as_str(),
            token_hash(token),
            crate::util::now_rfc3339()
        ],
    )?;
    if n == 0 {
        return Err(Error::conflict(
            "name",
            format!("a token named {name:?} already exists"),
        ));
    }
    Ok(())
}

/// Resolve a bearer token (session or API token) to a principal.
pub fn authenticate(c: &Connection, token: &str) -> Result<Principal> {
    let h = token_hash(token);
    if token.starts_with("cs_") {
        let row = c
            .prepare_cached(
                "SELECT u.username, u.role FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.token_hash=?1 AND s.expires_at > ?2 AND u.active=1",
            )?
            .query_row(params![h, now_ms()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .optional()?;
        if let Some((u, role)) = row {
            return Ok(Principal {
                actor: format!("user:{u}"),
                role: Role::parse(&role)?,
            });
        }
    } else if token.starts_with("ct_") {
        let row = c
            .prepare_cached(
                "SELECT name, role FROM api_tokens WHERE token_hash=?1 AND revoked_at IS NULL",
            )?
            .query_row([h], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .optional()?;
        if let Some((n, role)) = row {
            return Ok(Principal {
                actor: format!("token:{n}"),
                role: Role::parse(&role)?,
            });
        }
    }
    Err(Error::Unauthorized)
}

/// Sign-in throttling (`[auth]`). Two parts:
///
/// * **per client address**: more than `max_per_address` failures from one address within the
///   window are refused (429) until the oldest leaves the window, whatever the user names
///   tried, so guessing across many accounts is slowed;
/// * **per user name**: after `free` failures within the window, each attempt for that name is
///   made to wait, 1 s, then 2, 4, ... up to `max_delay_secs`, before the password is even
///   checked. Nobody is locked out: the right password still signs in after the wait, so a
///   stranger cannot shut a user out by failing on purpose.
pub struct LoginLimiter {
    free: u32,
    max_per_address: u32,
    max_delay_ms: i64,
    window_ms: i64,
    by_user: std::sync::Mutex<std::collections::HashMap<String, Vec<i64>>>,
    by_address: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, Vec<i64>>>,
}

impl LoginLimiter {
    pub fn new(free: u32, max_per_address: u32, max_delay_secs: u64, window_secs: u64) -> Self {
        Self {
            free,
            max_per_address: max_per_address.max(1),
            max_delay_ms: max_delay_secs as i64 * 1000,
            window_ms: window_secs as i64 * 1000,
            by_user: Default::default(),
            by_address: Default::default(),
        }
    }

    /// Whether this attempt may go ahead, and how long it must wait first.
    pub fn check(
        &self,
        username: &str,
        addr: Option<std::net::IpAddr>,
    ) -> Result<std::time::Duration> {
        let now = now_ms();
        if let Some(ip) = addr {
            let mut m = self.by_address.lock().expect("limiter lock");
            let v = m.entry(ip).or_default();
            v.retain(|t| now - t < self.window_ms);
            if v.len() as u32 >= self.max_per_address {
                let wait = (v[0] + self.window_ms - now) / 1000 + 1;
                return Err(Error::RateLimited(wait.max(1) as u64));
            }
        }
        let mut m = self.by_user.lock().expect("limiter lock");
        let v = m.entry(username.to_string()).or_default();
        v.retain(|t| now - t < self.window_ms);
        let n = v.len() as u32;
        if n < self.free.max(1) {
            return Ok(std::time::Duration::ZERO);
        }
        let delay = (1000i64 << (n - self.free.max(1)).min(20)).min(self.max_delay_ms);
        Ok(std::time::Duration::from_millis(delay.max(0) as u64))
    }

    pub fn failed(&self, username: &str, addr: Option<std::net::IpAddr>) {
        let now = now_ms();
        if let Some(ip) = addr {
            self.by_address
                .lock()
                .expect("limiter lock")
                .entry(ip)
                .or_default()
                .push(now);
        }
        self.by_user
            .lock()
            .expect("limiter lock")
            .entry(username.to_string())
            .or_default()
            .push(now);
    }

    /// A successful sign-in clears that user's failures (not the address's).
    pub fn succeeded(&self, username: &str) {
        self.by_user.lock().expect("limiter lock").remove(username);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse!", &h));
        assert!(hash_password("short").is_err());
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = new_token("ct_");
        let b = new_token("ct_");
        assert_ne!(a, b);
        assert_eq!(a.len(), 3 + 64);
        assert_ne!(token_hash(&a), a);
    }

    #[test]
    fn role_table() {
        assert!(allows(Role::Device, Permission::IngestEvents));
        assert!(!allows(Role::Device, Permission::ReadPatient));
        assert!(!allows(Role::Porter, Permission::ReadPatient));
        assert!(allows(Role::Porter, Permission::LocateFolders));
        assert!(!allows(Role::Clinician, Permission::EditRecords));
        assert!(!allows(Role::RecordsManager, Permission::ManageUsers));
        assert!(allows(Role::Admin, Permission::ManageUsers));
    }

    #[test]
    fn limiter_delays_users_and_refuses_addresses() {
        use std::time::Duration;
        let ip: std::net::IpAddr = "10.0.0.9".parse().unwrap();
        let other: std::net::IpAddr = "10.0.0.10".parse().unwrap();
        let l = LoginLimiter::new(3, 10, 8, 60);
        for _ in 0..3 {
            assert_eq!(l.check("a", Some(other)).unwrap(), Duration::ZERO);
            l.failed("a", Some(other));
        }
        // a growing delay, capped, never a refusal
        let mut delays = Vec::new();
        for _ in 0..5 {
            delays.push(l.check("a", None).unwrap().as_secs());
            l.failed("a", None);
        }
        assert_eq!(delays, [1, 2, 4, 8, 8]);
        assert_eq!(l.check("b", None).unwrap(), Duration::ZERO);
        l.succeeded("a");
        assert_eq!(l.check("a", None).unwrap(), Duration::ZERO);
        // ten failures from one address, whatever the names: that address is refused
        for i in 0..10 {
            l.failed(&format!("user{i}"), Some(ip));
        }
        assert!(matches!(
            l.check("fresh", Some(ip)),
            Err(Error::RateLimited(_))
        ));
        assert!(l.check("fresh", Some(other)).is_ok());
    }
}
