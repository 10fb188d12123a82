//! TLS for `wss://` and `https://`: rustls with the `ring` provider, the Mozilla roots
//! (webpki-roots) plus any roots the application adds (e.g. a self-signed development CA).

use std::sync::{Arc, Once};

use rustls::pki_types::CertificateDer;

/// Installs `ring` as the process-wide rustls provider once (if the application has not
/// installed one), so every rustls user in the process (reqwest included) has a provider.
pub(crate) fn ensure_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // Err means another provider is installed already, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A client TLS configuration trusting the Mozilla roots and `extra_roots` (DER certificates).
pub(crate) fn client_config(extra_roots: &[Vec<u8>]) -> Arc<rustls::ClientConfig> {
    ensure_provider();
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    for der in extra_roots {
        if let Err(e) = roots.add(CertificateDer::from(der.clone())) {
            tracing::warn!(error = %e, "ignoring an extra root certificate that does not parse");
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth());
    match config {
        Ok(config) => Arc::new(config),
        // ring supports the safe default versions; this cannot fail with it.
        Err(e) => unreachable!("ring rejected the default TLS versions: {e}"),
    }
}

/// An HTTP client using `tls` for `https://` URLs.
pub(crate) fn http_client(tls: &rustls::ClientConfig) -> reqwest::Client {
    reqwest::Client::builder().use_preconfigured_tls(tls.clone()).build().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "falling back to a default HTTP client");
        reqwest::Client::new()
    })
}
