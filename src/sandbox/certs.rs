//! A sandbox's own small PKI for `--tls`, made with rcgen: a CA, a server
//! certificate for `localhost` and `127.0.0.1`, and a client certificate
//! whose CN is the user SASL EXTERNAL logs in as.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use serde::{Deserialize, Serialize};

use super::error::{Result, SandboxError, io_error};
use super::node::ServerTls;

/// The client certificate's CN, and the passwordless broker user that SASL
/// EXTERNAL maps it to.
pub const CLIENT_CN: &str = "amqpctl-client";

/// The PEM files [`generate`] writes (keys are PKCS#8, ECDSA P-256).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Pki {
    /// The CA: what clients pass as `--cafile`, and what the broker trusts
    /// client certificates from.
    pub ca: PathBuf,
    /// The server certificate (`localhost`, `127.0.0.1`).
    pub server_cert: PathBuf,
    /// Its key.
    pub server_key: PathBuf,
    /// The client certificate, CN [`CLIENT_CN`].
    pub client_cert: PathBuf,
    /// Its key.
    pub client_key: PathBuf,
}

impl Pki {
    /// What a node's TLS listener needs.
    pub fn server(&self) -> ServerTls {
        ServerTls {
            ca: self.ca.clone(),
            cert: self.server_cert.clone(),
            key: self.server_key.clone(),
        }
    }
}

/// Generates a CA, a server and a client certificate into `dir`.
pub fn generate(dir: &Path) -> Result<Pki> {
    let write = |name: &str, pem: &str| -> Result<PathBuf> {
        let path = dir.join(name);
        fs::write(&path, pem).map_err(io_error("write", &path))?;
        Ok(path)
    };
    let ca = new_ca("amqpctl sandbox CA")?;
    let (server_cert, server_key) = leaf(
        &ca,
        "localhost",
        &["localhost", "127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
    )?;
    let (client_cert, client_key) = leaf(&ca, CLIENT_CN, &[], ExtendedKeyUsagePurpose::ClientAuth)?;
    Ok(Pki {
        ca: write("ca.pem", &ca.pem())?,
        server_cert: write("server.pem", &server_cert)?,
        server_key: write("server.key", &server_key)?,
        client_cert: write("client.pem", &client_cert)?,
        client_key: write("client.key", &client_key)?,
    })
}

fn failed(e: rcgen::Error) -> SandboxError {
    SandboxError::Certificates(e.to_string())
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

fn new_ca(cn: &str) -> Result<CertifiedIssuer<'static, KeyPair>> {
    let mut params = CertificateParams::default();
    params.distinguished_name = name(cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().map_err(failed)?;
    CertifiedIssuer::self_signed(params, key).map_err(failed)
}

/// The PEM certificate and PKCS#8 PEM key of a new end-entity certificate.
fn leaf(
    issuer: &Issuer<'_, KeyPair>,
    cn: &str,
    sans: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> Result<(String, String)> {
    let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(sans).map_err(failed)?;
    params.distinguished_name = name(cn);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().map_err(failed)?;
    let cert = params.signed_by(&key, issuer).map_err(failed)?;
    Ok((cert.pem(), key.serialize_pem()))
}
