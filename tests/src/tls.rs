//! Test certificates, made at test time with rcgen (never committed), written as PEM
//! files to a temporary directory that is removed when the [`TestPki`] drops.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use easynet::tls::rustls::ServerConfig;
use easynet::tls::rustls::pki_types::CertificateDer;
use easynet::tls::{self, ClientTls};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};

/// The names the test server certificate is valid for.
pub const SERVER_NAMES: [&str; 2] = ["localhost", "easynet.test"];

/// A small PKI for one test:
/// - `ca`: the test CA, which issued `server` and `client`;
/// - `server`: valid for `localhost`, `easynet.test`, `127.0.0.1` and `::1`;
/// - `client`: a client certificate (CN `easynet test client`), for mutual TLS;
/// - `other_ca`: an unrelated CA, which issued `other_client`: trusting only it, or
///   presenting `other_client`, must fail.
///
/// Each field is the path of a PEM file in [`dir`](Self::dir).
pub struct TestPki {
    dir: PathBuf,
    /// The test CA's certificate.
    pub ca: PathBuf,
    /// The server's certificate (issued by `ca`).
    pub server_cert: PathBuf,
    /// The server's private key.
    pub server_key: PathBuf,
    /// The client's certificate (issued by `ca`).
    pub client_cert: PathBuf,
    /// The client's private key.
    pub client_key: PathBuf,
    /// An unrelated CA's certificate.
    pub other_ca: PathBuf,
    /// A client certificate issued by `other_ca`.
    pub other_client_cert: PathBuf,
    /// Its private key.
    pub other_client_key: PathBuf,
    server_der: CertificateDer<'static>,
    client_der: CertificateDer<'static>,
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

fn leaf_params(
    common_name: &str,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("leaf params");
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    for name in names {
        params.subject_alt_names.push(match name.parse() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName((*name).try_into().expect("a DNS name")),
        });
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = true;
    params
}

impl TestPki {
    /// Makes fresh keys and certificates and writes them to a new temporary directory.
    pub fn new() -> TestPki {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "easynet-test-pki-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the PKI directory");
        let write = |name: &str, pem: String| {
            let path = dir.join(name);
            std::fs::write(&path, pem).expect("write a PEM file");
            path
        };

        let ca_key = KeyPair::generate().expect("CA key");
        let ca = CertifiedIssuer::self_signed(ca_params("easynet test CA"), ca_key).expect("CA");
        let server_key = KeyPair::generate().expect("server key");
        let server = leaf_params(
            "easynet test server",
            &[SERVER_NAMES[0], SERVER_NAMES[1], "127.0.0.1", "::1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
        .signed_by(&server_key, &ca)
        .expect("server certificate");
        let client_key = KeyPair::generate().expect("client key");
        let client = leaf_params(
            "easynet test client",
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
        )
        .signed_by(&client_key, &ca)
        .expect("client certificate");

        let other_key = KeyPair::generate().expect("other CA key");
        let other =
            CertifiedIssuer::self_signed(ca_params("some other CA"), other_key).expect("other CA");
        let other_client_key = KeyPair::generate().expect("other client key");
        let other_client = leaf_params("stranger", &[], ExtendedKeyUsagePurpose::ClientAuth)
            .signed_by(&other_client_key, &other)
            .expect("other client certificate");

        TestPki {
            ca: write("ca.pem", ca.as_ref().pem()),
            server_cert: write("server.pem", server.pem()),
            server_key: write("server-key.pem", server_key.serialize_pem()),
            client_cert: write("client.pem", client.pem()),
            client_key: write("client-key.pem", client_key.serialize_pem()),
            other_ca: write("other-ca.pem", other.as_ref().pem()),
            other_client_cert: write("other-client.pem", other_client.pem()),
            other_client_key: write("other-client-key.pem", other_client_key.serialize_pem()),
            server_der: server.der().clone(),
            client_der: client.der().clone(),
            dir,
        }
    }

    /// The directory holding the PEM files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The server certificate, DER.
    pub fn server_der(&self) -> &CertificateDer<'static> {
        &self.server_der
    }

    /// The client certificate, DER.
    pub fn client_der(&self) -> &CertificateDer<'static> {
        &self.client_der
    }

    /// A server config presenting `server_cert`, asking for no client certificate.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        tls::server_config_from_pem(&self.server_cert, &self.server_key).expect("server config")
    }

    /// A server config presenting `server_cert` and requiring a client certificate
    /// issued by `ca` (mutual TLS).
    pub fn mtls_server_config(&self) -> Arc<ServerConfig> {
        tls::server_config_with_client_auth(&self.server_cert, &self.server_key, &self.ca)
            .expect("mutual TLS server config")
    }

    /// Client settings trusting `ca` only.
    pub fn client_tls(&self) -> ClientTls {
        ClientTls::builder()
            .ca_file(&self.ca)
            .expect("load the CA")
            .build()
            .expect("client settings")
    }

    /// Client settings trusting `ca` and presenting `client_cert`.
    pub fn mtls_client_tls(&self) -> ClientTls {
        ClientTls::builder()
            .ca_file(&self.ca)
            .expect("load the CA")
            .client_cert_files(&self.client_cert, &self.client_key)
            .expect("load the client certificate")
            .build()
            .expect("client settings")
    }
}

impl Default for TestPki {
    fn default() -> Self {
        TestPki::new()
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
