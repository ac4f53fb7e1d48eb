//! Errors of the TLS layer: files that cannot be used, and handshakes that
//! fail, each naming its cause. (The command line adds which flag to
//! change; this layer does not know the flags.)

use std::path::PathBuf;

/// Which of the PEM files of [`crate::tls::TlsSettings`] an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PemFile {
    /// The CA bundle of [`crate::tls::Trust::CaFile`].
    CaBundle,
    /// The client certificate of [`crate::tls::ClientIdentity`].
    ClientCertificate,
    /// The client's private key.
    ClientKey,
}

impl std::fmt::Display for PemFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PemFile::CaBundle => "CA bundle",
            PemFile::ClientCertificate => "client certificate",
            PemFile::ClientKey => "client key",
        })
    }
}

/// Everything that can go wrong while setting up or performing TLS.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file named on the command line could not be read.
    #[error("cannot read {what} {path}: {source}")]
    FileUnreadable {
        /// Which file it is.
        what: PemFile,
        /// The file as given.
        path: PathBuf,
        /// The I/O or PEM error.
        source: std::io::Error,
    },

    /// A PEM file holds no item of the kind wanted.
    #[error("{what} {path} holds no {kind} in PEM format")]
    FileEmpty {
        /// Which file it is.
        what: PemFile,
        /// The file as given.
        path: PathBuf,
        /// What was looked for ("certificate", "private key").
        kind: &'static str,
    },

    /// A certificate in the CA bundle was rejected as a trust anchor.
    #[error("CA bundle {path}: unusable CA certificate: {reason}")]
    BadCaCertificate {
        /// The file as given.
        path: PathBuf,
        /// Why rustls rejected it.
        reason: String,
    },

    /// The client certificate and key do not go together, or rustls refused them.
    #[error("client certificate and key: {reason}")]
    BadClientIdentity {
        /// Why rustls refused the pair.
        reason: String,
    },

    /// rustls could not be set up at all (its crypto provider supports none
    /// of the protocol versions asked for): nothing the user gave is wrong.
    #[error("TLS set-up failed: {reason}")]
    Setup {
        /// What rustls reported.
        reason: String,
    },

    /// The name to verify is not a valid DNS name or IP address.
    #[error("invalid TLS server name '{name}'")]
    InvalidServerName {
        /// The name as given (the server name setting, or the host).
        name: String,
    },

    /// The broker's certificate chain does not lead to a trusted CA.
    #[error("TLS handshake with {peer} failed: certificate signed by an unknown authority")]
    UnknownAuthority {
        /// host:port of the broker.
        peer: String,
    },

    /// The broker's certificate is not valid for the expected name.
    #[error("TLS handshake with {peer} failed: the certificate is not valid for the name '{name}'")]
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

    /// The connect deadline passed during the handshake.
    #[error("TLS handshake with {peer} failed: timed out")]
    TimedOut {
        /// host:port of the broker.
        peer: String,
    },

    /// Any other handshake failure (alerts, protocol errors, I/O).
    #[error("TLS handshake with {peer} failed: {reason}")]
    Handshake {
        /// host:port of the broker.
        peer: String,
        /// What rustls or the socket reported.
        reason: String,
    },
}
