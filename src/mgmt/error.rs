//! `MgmtError`: what went wrong talking to the management API, sorted by
//! what the user can do about it (enable the plugin, fix the login, ask an
//! administrator).

/// An error of the management API layer. URLs in it never carry
/// credentials.
#[derive(Debug, thiserror::Error)]
pub enum MgmtError {
    /// Nothing answered HTTP there: the plugin is off, or the URL is wrong.
    #[error(
        "cannot reach the management API at {url} ({reason}); enable it with: rabbitmq-plugins enable rabbitmq_management"
    )]
    Unreachable {
        /// The API's base URL.
        url: String,
        /// What the HTTP client saw (refused, timed out, TLS).
        reason: String,
    },

    /// Something answered, but not RabbitMQ's management API.
    #[error(
        "{url} answers HTTP {status} for /api/whoami: not RabbitMQ's management API; enable it with: rabbitmq-plugins enable rabbitmq_management"
    )]
    NoApi {
        /// The API's base URL.
        url: String,
        /// The HTTP status it answered.
        status: u16,
    },

    /// The API refused the credentials (or the user lacks a management tag).
    #[error("the management API refused the login of '{user}': {reason}")]
    Login {
        /// The user name tried.
        user: String,
        /// The broker's reason.
        reason: String,
    },

    /// Logged in, but the broker refused this operation (a `monitoring`
    /// user closing a connection).
    #[error("(HTTP {status}) {reason}")]
    Refused {
        /// 401 or 403.
        status: u16,
        /// The broker's reason, on one line.
        reason: String,
    },

    /// What the request named does not exist (a vhost, a connection).
    #[error("{what} not found")]
    NotFound {
        /// What was asked for.
        what: String,
    },

    /// Any other HTTP error status.
    #[error("the management API answered HTTP {status} for {path}: {reason}")]
    Http {
        /// The status.
        status: u16,
        /// The request path.
        path: String,
        /// The broker's reason.
        reason: String,
    },

    /// The answer was not the JSON expected.
    #[error("unexpected answer from the management API for {path}: {reason}")]
    BadAnswer {
        /// The request path.
        path: String,
        /// What was wrong with it.
        reason: String,
    },
}
