//! TLS on the server's port: the certificate chain and key from PEM files (`server.tls_cert`,
//! `server.tls_key`), and a reload that swaps them for new connections while the open ones
//! keep theirs.

use std::{path::PathBuf, sync::Arc};

use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use tokio::sync::watch;

/// Where the certificate chain and its key are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first (`server.tls_cert`).
    pub cert: PathBuf,
    /// PEM private key of the leaf (`server.tls_key`).
    pub key: PathBuf,
}

/// Why the certificate or key cannot be used; names the key of the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("server.tls_cert: {path:?} cannot be used: {problem}")]
    Cert { path: PathBuf, problem: String },
    #[error("server.tls_key: {path:?} cannot be used: {problem}")]
    Key { path: PathBuf, problem: String },
}

/// The TLS side of the listener: the configuration new connections get, replaced by
/// [`Tls::reload`].
#[derive(Debug)]
pub struct Tls {
    files: TlsFiles,
    /// The current configuration; a handshake takes a reference to it and keeps it.
    current: watch::Sender<Arc<ServerConfig>>,
}

impl Tls {
    /// Reads both files now, so a bad one stops the start.
    pub fn load(files: TlsFiles) -> Result<Self, TlsError> {
        let config = server_config(&files)?;
        Ok(Self {
            files,
            current: watch::Sender::new(config),
        })
    }

    /// Reads both files again and uses them for connections from now on; on failure the
    /// current pair stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = server_config(&self.files)?;
        self.current.send_replace(config);
        Ok(())
    }

    /// The configuration a handshake starting now gets.
    pub(crate) fn config(&self) -> Arc<ServerConfig> {
        self.current.borrow().clone()
    }
}

/// A server configuration for the pair: TLS 1.2 and 1.3, ALPN `http/1.1` only (hyper serves
/// HTTP/1 here, and WebSockets need it).
fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, TlsError> {
    let cert_error = |problem: String| TlsError::Cert {
        path: files.cert.clone(),
        problem,
    };
    let key_error = |problem: String| TlsError::Key {
        path: files.key.clone(),
        problem,
    };
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| cert_error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_error(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_error("no PEM certificate in the file".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| key_error(e.to_string()))?;
    // ring builds in seconds where aws-lc-rs compiles a C library for minutes; it lacks the
    // post-quantum key exchange, which is what its deprecation is about.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| cert_error(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        // The key parsed: what fails now is the pair (an unsupported key, or not the
        // certificate's).
        .map_err(|e| key_error(format!("{e} (does it belong to server.tls_cert?)")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
