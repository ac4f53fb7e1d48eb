//! Errors of the TLS layer: files that cannot be used, and handshakes that
//! fail, each worded so that the user knows which flag to change.

use std::path::PathBuf;

/// Everything that can go wrong while setting up or performing TLS.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file named on the command line could not be read.
    #[error("cannot read {what} {path}: {source}")]
    FileUnreadable {
        /// Which flag's file it is ("--cafile", "--certfile", "--keyfile").
        what: &'static str,
        /// The file as given.
        path: PathBuf,
        /// The I/O or PEM error.
        source: std::io::Error,
    },

    /// A PEM file holds no item of the kind wanted.
    #[error("{what} {path} holds no {kind} in PEM format")]
    FileEmpty {
        /// Which flag's file it is.
        what: &'static str,
        /// The file as given.
        path: PathBuf,
        /// What was looked for ("certificate", "private key").
        kind: &'static str,
    },

    /// A certificate in `--cafile` was rejected as a trust anchor.
    #[error("--cafile {path}: unusable CA certificate: {reason}")]
    BadCaCertificate {
        /// The file as given.
        path: PathBuf,
        /// Why rustls rejected it.
        reason: String,
    },

    /// The client certificate and key do not go together, or rustls refused them.
    #[error("--certfile/--keyfile: {reason}")]
    BadClientIdentity {
        /// Why rustls refused the pair.
        reason: String,
    },

    /// The name to verify is not a valid DNS name or IP address.
    #[error("invalid TLS server name '{name}'")]
    InvalidServerName {
        /// The name as given (`--subjectname` or the host).
        name: String,
    },

    /// The broker's certificate chain does not lead to a trusted CA.
    #[error(
        "TLS handshake with {peer} failed: certificate signed by an unknown authority: use --cafile FILE or --insecure"
    )]
    UnknownAuthority {
        /// host:port of the broker.
        peer: String,
    },

    /// The broker's certificate is not valid for the expected name.
    #[error(
        "TLS handshake with {peer} failed: the certificate is not valid for the name '{name}': use --subjectname NAME"
    )]
    NameMismatch {
        /// host:port of the broker.
        peer: String,
        /// The name that was verified.
        name: String,
    },

    /// The broker's certificate has expired or is not valid yet.
    #[error("TLS handshake with {peer} failed: the certificate {reason}")]
    CertificateNotValidNow {
        /// host:port of the broker.
        peer: String,
        /// "has expired" or "is not valid yet".
        reason: &'static str,
    },

    /// The server answered the TLS hello with an AMQP protocol header: the
    /// port is a plain AMQP listener.
    #[error(
        "TLS handshake with {peer} failed: the server answered in plain AMQP (its protocol header), not TLS"
    )]
    PlainAmqp {
        /// host:port of the broker.
        peer: String,
    },

    /// Any other handshake failure (alerts, protocol errors, I/O, timeout).
    #[error("TLS handshake with {peer} failed: {reason}")]
    Handshake {
        /// host:port of the broker.
        peer: String,
        /// What rustls or the socket reported.
        reason: String,
    },
}
