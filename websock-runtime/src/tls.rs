//! TLS on the listener (rustls): loading a certificate chain and key from PEM files, and the
//! ALPN protocols that let a client choose HTTP/2 or HTTP/1.1 during the handshake.

use std::{io, path::Path, sync::Arc};
use tokio_rustls::rustls::{
    self,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
};

/// The ALPN protocols a websock server speaks, HTTP/2 first (RFC 7301, RFC 9113 §3.2).
pub(crate) const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// A rustls server configuration from PEM files: `cert`, the certificate chain (leaf first),
/// and `key`, its private key (PKCS#8, PKCS#1 or SEC1), with rustls' safe defaults (TLS 1.2
/// and 1.3, the `ring` provider) and ALPN for HTTP/2 and HTTP/1.1. Give it to
/// [`Server::tls`](crate::Server::tls).
///
/// ```no_run
/// # fn f(router: websock_runtime::Router) -> std::io::Result<()> {
/// let tls = websock_runtime::tls_config_from_pem("cert.pem", "key.pem")?;
/// let server = websock_runtime::Server::new(router).tls(tls);
/// # Ok(()) }
/// ```
///
/// # Errors
/// When a file cannot be read, holds no certificate or no key, or the key does not match.
pub fn tls_config_from_pem(
    cert: impl AsRef<Path>,
    key: impl AsRef<Path>,
) -> io::Result<rustls::ServerConfig> {
    let (cert, key) = (cert.as_ref(), key.as_ref());
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|error| invalid(cert, &error))?;
    if chain.is_empty() {
        return Err(invalid(cert, &"no CERTIFICATE section"));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|error| invalid(key, &error))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| {
            builder
                .with_no_client_auth()
                .with_single_cert(chain, key_der)
        })
        .map_err(|error| invalid(key, &error))?;
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

fn invalid(path: &Path, error: &dyn std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("TLS: {}: {error}", path.display()),
    )
}
