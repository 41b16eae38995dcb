//! Support for the TLS tests (`tests/tls.rs`, and https through the egress proxy in
//! `tests/proxy.rs`): test certificate authorities made with rcgen, and an HTTPS
//! server on loopback that records each request with the name its client asked for
//! in the handshake (SNI), its `Host` header, and whether it presented a certificate;
//! and the check that a private key appears nowhere, in any form it could leak in.

#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};

/// A test certificate authority.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its private key, PEM.
pub struct Leaf {
    pub cert: String,
    pub key: String,
}

impl TestCa {
    /// A self-signed CA named `name`, with a fresh key.
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        TestCa { issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap() }
    }

    /// The CA's certificate, PEM (what a spec's `[tls] ca` holds).
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// The CA's certificate, DER.
    pub fn der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// A certificate for `localhost` and 127.0.0.1 (a server's, or a client's).
    pub fn leaf(&self, name: &str) -> Leaf {
        let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf { cert: cert.pem(), key: key.serialize_pem() }
    }
}

/// One request a [`TlsServer`] answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Its path and query.
    pub target: String,
    /// Whether its client presented a certificate.
    pub presented: bool,
    /// The name its client sent in the handshake (SNI).
    pub sni: Option<String>,
    /// Its `Host` header.
    pub host: Option<String>,
}

/// An HTTPS server on loopback answering `{"ok": true}`; with `clients`, it asks
/// for a client certificate issued by that CA and refuses the handshake without one.
pub struct TlsServer {
    pub address: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Accepts connections, each over TLS, and answers every request on them.
async fn serve(
    listener: tokio::net::TcpListener,
    config: Arc<rustls::ServerConfig>,
    received: Arc<Mutex<Vec<Received>>>,
    redirect: Option<(u16, String)>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let (acceptor, received, redirect) = (acceptor.clone(), received.clone(), redirect.clone());
        tokio::spawn(async move {
            // A refused handshake ends here: the client sees the alert.
            let Ok(tls) = acceptor.accept(stream).await else { return };
            let connection = tls.get_ref().1;
            let presented = connection.peer_certificates().is_some_and(|certs| !certs.is_empty());
            let sni = connection.server_name().map(str::to_owned);
            let service = service_fn(move |request: Request<Incoming>| {
                let (received, redirect, sni) = (received.clone(), redirect.clone(), sni.clone());
                async move {
                    let target = request.uri().path_and_query().map(ToString::to_string).unwrap_or_default();
                    let host = request.headers().get("host").and_then(|host| host.to_str().ok()).map(str::to_owned);
                    received.lock().unwrap().push(Received { target, presented, sni, host });
                    let mut response = Response::new(Full::new(Bytes::from_static(b"{\"ok\": true}")));
                    if let Some((status, location)) = redirect {
                        *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                        response.headers_mut().insert("location", location.parse().unwrap());
                    }
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(tls), service).await;
        });
    }
}

impl TlsServer {
    /// A server with the certificate `server`, requiring a client certificate of
    /// `clients` when given.
    pub fn start(server: &Leaf, clients: Option<&TestCa>) -> TlsServer {
        TlsServer::start_with(server, clients, false, None)
    }

    /// A server whose client certificate is `optional` (asked for, not required),
    /// answering `302` to `redirect` when given.
    pub fn start_with(server: &Leaf, clients: Option<&TestCa>, optional: bool, redirect: Option<String>) -> TlsServer {
        TlsServer::answering(server, clients, optional, redirect.map(|location| (302, location)))
    }

    /// A server like [`TlsServer::start_with`] answering `status` with a
    /// `Location` when given (a redirect, or a `202` job to poll).
    pub fn answering(
        server: &Leaf,
        clients: Option<&TestCa>,
        optional: bool,
        redirect: Option<(u16, String)>,
    ) -> TlsServer {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = match clients {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                roots.add(ca.der()).unwrap();
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let verifier = if optional { verifier.allow_unauthenticated() } else { verifier };
                let verifier = verifier.build().unwrap();
                builder.with_client_cert_verifier(verifier)
            }
        };
        let chain = vec![CertificateDer::from_pem_slice(server.cert.as_bytes()).unwrap()];
        let key = PrivateKeyDer::from_pem_slice(server.key.as_bytes()).unwrap();
        let config = Arc::new(builder.with_single_cert(chain, key).unwrap());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let address = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let shared = received.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        // Its own runtime on its own thread, so that a test's runtime can drop it.
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                tokio::select! {
                    _ = serve(listener, config, shared, redirect) => {}
                    _ = stopped => {}
                }
            });
        });
        TlsServer { address, received, stop: Some(stop), thread: Some(thread) }
    }

    /// `https://localhost:PORT/orders`.
    pub fn url(&self) -> String {
        format!("https://localhost:{}/orders", self.address.port())
    }

    /// Each request's target and whether its client presented a certificate.
    pub fn seen(&self) -> Vec<(String, bool)> {
        self.received().into_iter().map(|request| (request.target, request.presented)).collect()
    }

    /// Every request, in order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// Every form the key could leak in: as it is, its Base64 body lines, Base64,
/// percent-encoded, JSON-escaped.
pub fn key_forms(key: &str) -> Vec<String> {
    let json = serde_json::Value::from(key).to_string();
    let mut forms = vec![
        key.to_owned(),
        json[1..json.len() - 1].to_owned(),
        base64::engine::general_purpose::STANDARD.encode(key),
        percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC).to_string(),
    ];
    // The key's own Base64 lines (its DER), which any dump of the key would show.
    forms.extend(key.lines().filter(|line| !line.starts_with("-----") && line.len() > 16).map(str::to_owned));
    forms
}

/// Fails when any form of `key` (see [`key_forms`]) is in `bytes`, found in `place`.
pub fn assert_no_key(key: &str, place: &str, bytes: &[u8]) {
    for form in key_forms(key) {
        let found = bytes.windows(form.len()).any(|window| window == form.as_bytes());
        assert!(!found, "the key ({} bytes of it) is in {place}", form.len());
    }
}
