//! Domain errors. Every refusal names the field (where there is one) and the reason. Errors
//! that are the server's fault keep their cause as the error's source; they are logged once, by
//! the error-logging middleware ([`log_errors`]) around every route, not where they are
//! converted.

/// A boxed cause of an internal error.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error from the domain layer; [`Error::kind`] says how the faces report it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{what} not found")]
    NotFound { what: String },
    /// The request is valid but clashes with the state of the records (`field` names what
    /// clashes: the existing CHI, the request's state, the folder).
    #[error("{message}")]
    Conflict { field: String, message: String },
    #[error("not signed in or the token is not valid")]
    Unauthorized,
    #[error("your role ({role}) may not {action}")]
    Forbidden { role: String, action: String },
    #[error("too many attempts; try again in {0} seconds")]
    RateLimited(u64),
    /// SQLite refused or failed a statement.
    #[error("database: {0}")]
    Database(#[source] rusqlite::Error),
    /// A task on a blocking thread (password hashing, a database read, a printer) panicked or
    /// was cancelled.
    #[error("a background task failed: {0}")]
    Blocking(#[source] tokio::task::JoinError),
    /// Anything else that is the server's fault: `what` says what was being done.
    #[error("{what}")]
    Internal {
        what: String,
        #[source]
        source: Option<Cause>,
    },
}

/// How an error is reported: the stable `code` of the JSON API and the HTTP status of both faces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidField,
    NotFound,
    Conflict,
    Unauthorized,
    Forbidden,
    RateLimited,
    /// The server's fault; the caller sees a fixed sentence, the log gets the cause.
    Internal,
}

impl ErrorKind {
    /// The stable error code sent in `{"error": {"code": ...}}`.
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidField => "invalid_field",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::RateLimited => "rate_limited",
            Self::Internal => "storage",
        }
    }

    pub fn status(self) -> axum::http::StatusCode {
        use axum::http::StatusCode as S;
        match self {
            Self::InvalidField => S::UNPROCESSABLE_ENTITY,
            Self::NotFound => S::NOT_FOUND,
            Self::Conflict => S::CONFLICT,
            Self::Unauthorized => S::UNAUTHORIZED,
            Self::Forbidden => S::FORBIDDEN,
            Self::RateLimited => S::TOO_MANY_REQUESTS,
            Self::Internal => S::INTERNAL_SERVER_ERROR,
        }
    }
}

/// What the caller is told about an internal error (the details go to the log only).
pub const INTERNAL_MESSAGE: &str =
    "the database could not complete the request; nothing was changed";

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
    /// A clash with the state of the records, about `field`.
    pub fn conflict(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Conflict {
            field: field.into(),
            message: message.into(),
        }
    }
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound { what: what.into() }
    }
    /// An internal error with no underlying cause.
    pub fn internal(what: impl Into<String>) -> Self {
        Self::Internal {
            what: what.into(),
            source: None,
        }
    }
    /// An internal error caused by `source`, while doing `what`.
    pub fn internal_from(what: impl Into<String>, source: impl Into<Cause>) -> Self {
        Self::Internal {
            what: what.into(),
            source: Some(source.into()),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Invalid { .. } => ErrorKind::InvalidField,
            Self::NotFound { .. } => ErrorKind::NotFound,
            Self::Conflict { .. } => ErrorKind::Conflict,
            Self::Unauthorized => ErrorKind::Unauthorized,
            Self::Forbidden { .. } => ErrorKind::Forbidden,
            Self::RateLimited(_) => ErrorKind::RateLimited,
            Self::Database(_) | Self::Blocking(_) | Self::Internal { .. } => ErrorKind::Internal,
        }
    }

    /// The field a refusal is about, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } | Self::Conflict { field, .. } => Some(field),
            _ => None,
        }
    }

    /// What the caller may be told: the refusal itself, or a fixed sentence for internal
    /// errors.
    pub fn public_message(&self) -> String {
        match self {
            Self::Invalid { message, .. } => message.clone(),
            Self::Conflict { message, .. } => message.clone(),
            e if e.kind() == ErrorKind::Internal => INTERNAL_MESSAGE.to_string(),
            e => e.to_string(),
        }
    }

    /// The error and all its causes, for the log: `a: b: c`.
    pub fn chain(&self) -> String {
        let mut s = self.to_string();
        let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(self);
        while let Some(e) = cur {
            let m = e.to_string();
            if !s.contains(&m) {
                s.push_str(": ");
                s.push_str(&m);
            }
            cur = e.source();
        }
        s
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Self::Database(e)
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Self::Blocking(e)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The full cause of an internal error, carried in the response's extensions from where the
/// error became a response to [`log_errors`], which logs it.
#[derive(Debug, Clone)]
pub struct InternalCause(pub String);

/// Middleware: log every internal error once, with its whole cause chain, the method and the
/// path (never the body: it may hold patient data).
pub async fn log_errors(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let res = next.run(req).await;
    if let Some(InternalCause(cause)) = res.extensions().get::<InternalCause>() {
        tracing::error!(%method, %path, status = res.status().as_u16(), error = %cause, "request failed");
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_errors_keep_their_source() {
        let e: Error = rusqlite::Error::InvalidQuery.into();
        assert_eq!(e.kind(), ErrorKind::Internal);
        assert!(std::error::Error::source(&e).is_some());
        assert_eq!(e.public_message(), INTERNAL_MESSAGE);
        let io = std::io::Error::other("disk full");
        let e = Error::internal_from("cannot store the document", io);
        assert_eq!(e.chain(), "cannot store the document: disk full");
    }

    #[test]
    fn refusals_name_the_field() {
        let e = Error::invalid("chi", "must be 10 digits");
        assert_eq!(e.kind().code(), "invalid_field");
        assert_eq!(e.field(), Some("chi"));
        assert_eq!(e.public_message(), "must be 10 digits");
    }
}
