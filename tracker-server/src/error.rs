//! Domain errors. Every refusal names the field (where there is one) and the reason.

/// An error from the domain layer; HTTP maps it to a status and a stable code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("{0}")]
    Conflict(String),
    #[error("not signed in or the token is not valid")]
    Unauthorized,
    #[error("your role ({role}) may not {action}")]
    Forbidden { role: String, action: String },
    #[error("too many attempts; try again in {0} seconds")]
    RateLimited(u64),
    #[error("database: {0}")]
    Storage(String),
}

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound { what: what.into() }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Self::Storage(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
