//! Test PKI generated with rcgen: a trusted CA, server and client certificates signed by
//! it, an expired server certificate, and an untrusted CA with a certificate of its own.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, date_time_ymd,
};

/// Common name of the client certificates, and the broker user that SASL EXTERNAL maps them to.
pub const CLIENT_CN: &str = amqpctl::sandbox::CLIENT_CN;

/// Paths of the PEM files written by [`generate`]. Private keys are PKCS#8 (ECDSA P-256).
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// The test CA the broker trusts (`ca.pem`).
    pub ca: PathBuf,
    /// Server certificate for `localhost` and `127.0.0.1`, signed by the test CA.
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// Client certificate with CN [`CLIENT_CN`], signed by the test CA.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A CA nobody trusts (`untrusted_ca.pem`).
    pub untrusted_ca: PathBuf,
    /// Certificate with CN [`CLIENT_CN`] and SANs `localhost`/`127.0.0.1`, usable for client
    /// and server authentication, signed by the untrusted CA.
    pub untrusted_client_cert: PathBuf,
    pub untrusted_client_key: PathBuf,
    /// Server certificate for `localhost` and `127.0.0.1`, signed by the test CA, that
    /// expired on 2001-01-01.
    pub expired_server_cert: PathBuf,
    pub expired_server_key: PathBuf,
}

/// Generates a fresh set of certificates and keys into `dir`.
pub fn generate(dir: &Path) -> CertFiles {
    let write = |name: &str, pem: &str| {
        let path = dir.join(name);
        fs::write(&path, pem).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    };
    let server_names = ["localhost", "127.0.0.1"];
    let server = [ExtendedKeyUsagePurpose::ServerAuth];
    let client = [ExtendedKeyUsagePurpose::ClientAuth];
    let both = [
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];

    let ca = new_ca("amqpctl test CA");
    let untrusted_ca = new_ca("amqpctl untrusted CA");
    let (server_cert, server_key) = leaf(&ca, "localhost", &server_names, &server, false);
    let (client_cert, client_key) = leaf(&ca, CLIENT_CN, &[], &client, false);
    let (untrusted_cert, untrusted_key) =
        leaf(&untrusted_ca, CLIENT_CN, &server_names, &both, false);
    let (expired_cert, expired_key) = leaf(&ca, "localhost", &server_names, &server, true);

    CertFiles {
        ca: write("ca.pem", &ca.pem()),
        server_cert: write("server.pem", &server_cert),
        server_key: write("server.key", &server_key),
        client_cert: write("client.pem", &client_cert),
        client_key: write("client.key", &client_key),
        untrusted_ca: write("untrusted_ca.pem", &untrusted_ca.pem()),
        untrusted_client_cert: write("untrusted_client.pem", &untrusted_cert),
        untrusted_client_key: write("untrusted_client.key", &untrusted_key),
        expired_server_cert: write("expired_server.pem", &expired_cert),
        expired_server_key: write("expired_server.key", &expired_key),
    }
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

fn new_ca(cn: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::default();
    params.distinguished_name = name(cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().expect("generate CA key");
    CertifiedIssuer::self_signed(params, key).expect("self-sign CA")
}

/// Returns the PEM certificate and PKCS#8 PEM key of a new end-entity certificate.
fn leaf(
    issuer: &Issuer<'_, KeyPair>,
    cn: &str,
    sans: &[&str],
    usages: &[ExtendedKeyUsagePurpose],
    expired: bool,
) -> (String, String) {
    let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(sans).expect("valid SANs");
    params.distinguished_name = name(cn);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = usages.to_vec();
    params.use_authority_key_identifier_extension = true;
    if expired {
        params.not_before = date_time_ymd(2000, 1, 1);
        params.not_after = date_time_ymd(2001, 1, 1);
    }
    let key = KeyPair::generate().expect("generate key");
    let cert = params.signed_by(&key, issuer).expect("sign certificate");
    (cert.pem(), key.serialize_pem())
}
