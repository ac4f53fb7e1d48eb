//! Builds the rustls client configuration from plain settings: trust anchors
//! (Mozilla's roots, a PEM bundle, or nothing checked at all), and an optional
//! client certificate for mutual TLS.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use super::{PemFile, TlsError};

/// Which certificates the broker's chain is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Mozilla's root store, as shipped by `webpki-roots`.
    WebPki,
    /// The certificates of this PEM bundle only (`--cafile`).
    CaFile(PathBuf),
    /// No verification at all (`--insecure`); the caller warns the user.
    Insecure,
}

/// A client certificate and its private key, for mutual TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// PEM file with the certificate chain, leaf first (`--certfile`).
    pub cert: PathBuf,
    /// PEM file with the private key (`--keyfile`).
    pub key: PathBuf,
}

/// Everything needed to open a TLS session to a broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// Trust anchors for the broker certificate.
    pub trust: Trust,
    /// Name sent as SNI and verified in the certificate; the host when `None`.
    pub server_name: Option<String>,
    /// Client certificate for mutual TLS, if any.
    pub identity: Option<ClientIdentity>,
}

/// Builds a rustls configuration from `settings`, reading the PEM files it names.
pub fn client_config(settings: &TlsSettings) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup {
            reason: e.to_string(),
        })?;
    let builder = match &settings.trust {
        Trust::WebPki => {
            let roots = RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            builder.with_root_certificates(roots)
        }
        Trust::CaFile(path) => builder.with_root_certificates(load_ca_file(path)?),
        Trust::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate { provider })),
    };
    let config = match &settings.identity {
        None => builder.with_no_client_auth(),
        Some(identity) => {
            let chain = load_certificates(PemFile::ClientCertificate, &identity.cert)?;
            let key = load_private_key(&identity.key)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| TlsError::BadClientIdentity {
                    reason: e.to_string(),
                })?
        }
    };
    Ok(Arc::new(config))
}

/// Parses `name` as the TLS server name (DNS name or IP address).
pub(crate) fn server_name(name: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(name.to_string()).map_err(|_| TlsError::InvalidServerName {
        name: name.to_string(),
    })
}

fn load_ca_file(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certificates(PemFile::CaBundle, path)? {
        roots.add(cert).map_err(|e| TlsError::BadCaCertificate {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}

fn load_certificates(what: PemFile, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let unreadable = |source| TlsError::FileUnreadable {
        what,
        path: path.to_path_buf(),
        source,
    };
    let bytes = std::fs::read(path).map_err(unreadable)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable(pem_error(e)))?;
    if certs.is_empty() {
        return Err(TlsError::FileEmpty {
            what,
            path: path.to_path_buf(),
            kind: "certificate",
        });
    }
    Ok(certs)
}

fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::FileUnreadable {
        what: PemFile::ClientKey,
        path: path.to_path_buf(),
        source,
    })?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => TlsError::FileEmpty {
            what: PemFile::ClientKey,
            path: path.to_path_buf(),
            kind: "private key",
        },
        other => TlsError::FileUnreadable {
            what: PemFile::ClientKey,
            path: path.to_path_buf(),
            source: pem_error(other),
        },
    })
}

fn pem_error(e: rustls_pki_types::pem::Error) -> std::io::Error {
    match e {
        rustls_pki_types::pem::Error::Io(io) => io,
        other => std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{other:?}")),
    }
}

/// The `--insecure` verifier: any certificate is accepted, but handshake
/// signatures are still checked so the session itself is sound.
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
