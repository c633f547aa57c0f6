//! Loading certificates and private keys from PEM files.

use std::fmt;
use std::path::Path;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::TlsError;

fn read_pem_file(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

fn pem_error(path: &Path, what: impl fmt::Display) -> TlsError {
    TlsError::Pem {
        path: path.to_owned(),
        what: what.to_string(),
    }
}

/// Loads every certificate (`-----BEGIN CERTIFICATE-----` section) of a PEM file, in
/// order: for a server or client chain, the end-entity certificate first, then the
/// intermediates; for a CA file, the trusted CAs. Other sections are ignored.
///
/// # Errors
/// The file cannot be read, is malformed PEM, or holds no certificate.
pub fn load_certificates(path: impl AsRef<Path>) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let path = path.as_ref();
    let pem = read_pem_file(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, e))?;
    if certs.is_empty() {
        return Err(pem_error(path, "no certificate found"));
    }
    Ok(certs)
}

/// Loads the first private key of a PEM file: PKCS#8 (`BEGIN PRIVATE KEY`), PKCS#1
/// (`BEGIN RSA PRIVATE KEY`) or SEC1 (`BEGIN EC PRIVATE KEY`). Encrypted keys are not
/// supported.
///
/// # Errors
/// The file cannot be read, is malformed PEM, or holds no private key.
pub fn load_private_key(path: impl AsRef<Path>) -> Result<PrivateKeyDer<'static>, TlsError> {
    let path = path.as_ref();
    let pem = read_pem_file(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => pem_error(path, "no private key found"),
        e => pem_error(path, e),
    })
}

/// A root store holding every certificate of the PEM file `path`.
pub(super) fn load_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certificates(path)? {
        roots.add(cert)?;
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;
    use crate::transport::tls::test_pki::pki;

    #[test]
    fn pem_files_load_and_errors_name_the_file() {
        let pki = pki("pem");
        let d = &pki.dir;
        assert_eq!(load_certificates(d.join("cert.pem")).unwrap().len(), 1);
        load_private_key(d.join("key.pem")).unwrap();

        let e = load_certificates(d.join("empty.pem")).unwrap_err();
        assert!(
            e.to_string().ends_with("empty.pem: no certificate found"),
            "{e}"
        );
        let e = load_private_key(d.join("cert.pem")).unwrap_err();
        assert!(
            e.to_string().ends_with("cert.pem: no private key found"),
            "{e}"
        );
        let e = load_certificates(d.join("missing.pem")).unwrap_err();
        assert!(
            matches!(e, TlsError::Read { ref source, .. } if source.kind() == io::ErrorKind::NotFound),
            "{e}"
        );
    }
}
