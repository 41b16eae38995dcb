//! `[tls]`: the CAs a request trusts besides (or instead of) the system's, and the
//! client certificate it presents for mutual TLS — checked when the spec loads,
//! rendered when the request is sent (the key normally comes from a secret), and
//! whether this machine has a system CA store at all.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use super::body::{FieldError, stays_inside};
use super::spec::{Problems, RequestSpec, read_limited};
use crate::error::{Error, ErrorKind};
use crate::eval::Engine;
use crate::functions::Context;
use crate::template::{Template, TemplateKind};
use crate::variables::VariableSource;

/// A spec's `[tls]`, checked: its CA certificates read and parsed, its client
/// certificate and key compiled as templates.
#[derive(Debug, Clone)]
pub(crate) struct CompiledTls {
    /// The certificates of `ca`.
    pub(crate) ca: Cas,
    /// Where `ca` came from, for a dry run: the file's name, or "PEM text".
    pub(crate) ca_written: Option<String>,
    /// Trust only `ca`, not the system's roots.
    pub(crate) ca_only: bool,
    /// The client certificate and its key.
    pub(crate) client: Option<ClientIdentity>,
}

/// The templates of a client certificate and its key.
#[derive(Debug, Clone)]
pub(crate) struct ClientIdentity {
    pub(crate) cert: Template,
    pub(crate) key: Template,
}

/// The CA certificates of a spec's `ca` (DER), shared by every send of the spec,
/// and their digest (computed once: a bundle may be large).
#[derive(Debug, Clone)]
pub(crate) struct Cas {
    pub(crate) certs: Arc<[CertificateDer<'static>]>,
    digest: [u8; 32],
}

impl Cas {
    fn new(certs: Vec<CertificateDer<'static>>) -> Self {
        let mut digest = Sha256::new();
        for cert in &certs {
            digest.update((cert.len() as u64).to_be_bytes());
            digest.update(cert.as_ref());
        }
        Cas { certs: Arc::from(certs), digest: digest.finalize().into() }
    }

    /// Whether there is none.
    pub(crate) fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }
}

/// The TLS of one send: what it trusts and the identity it presents, rendered.
#[derive(Clone)]
pub(crate) struct TlsSetup {
    /// The CA certificates trusted for it.
    pub(crate) ca: Cas,
    /// Trust only `ca`.
    pub(crate) ca_only: bool,
    /// The client certificate chain and its key, PEM, one after the other (what
    /// `reqwest::Identity::from_pem` reads).
    identity: Option<Vec<u8>>,
    /// Where the key starts in `identity`.
    key_at: usize,
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The identity holds a private key: never shown.
        f.debug_struct("TlsSetup")
            .field("ca", &self.ca.certs.len())
            .field("ca_only", &self.ca_only)
            .field("identity", &self.identity.is_some())
            .finish()
    }
}

impl TlsSetup {
    /// The identity's PEM (certificate chain, then key), when it has one.
    pub(crate) fn identity_pem(&self) -> Option<&[u8]> {
        self.identity.as_deref()
    }

    /// Whether it presents a client certificate.
    pub(crate) fn has_identity(&self) -> bool {
        self.identity.is_some()
    }

    /// The client key's PEM, as rendered.
    pub(crate) fn key_pem(&self) -> Option<&[u8]> {
        self.identity.as_deref().and_then(|pem| pem.get(self.key_at..))
    }

    /// A digest of everything it holds, with or without its identity: the key of
    /// the pooled client built for it (a digest, so the pool's keys hold no key).
    pub(crate) fn fingerprint(&self, with_identity: bool) -> [u8; 32] {
        let mut digest = Sha256::new();
        digest.update([u8::from(self.ca_only)]);
        digest.update(self.ca.digest);
        if let Some(identity) = self.identity.as_ref().filter(|_| with_identity) {
            digest.update(b"identity");
            digest.update(identity);
        }
        digest.finalize().into()
    }
}

/// The longest `ca` file read, in bytes: a bundle of a few hundred certificates.
const MAX_CA_BYTES: usize = 1 << 20;

/// Checks and compiles a spec's `[tls]`, recording each problem at its field.
pub(crate) fn compile(
    engine: &Engine,
    spec: &RequestSpec,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<CompiledTls> {
    let tls = spec.tls.as_ref()?;
    let (ca, ca_written) = match &tls.ca {
        None => (Cas::new(Vec::new()), None),
        Some(written) => {
            let (text, shown) = read_ca(written, base_dir).map_err(|message| problems.push("tls.ca", message)).ok()?;
            let certs = ca_certificates(text.as_bytes(), &shown).map_err(|message| problems.push("tls.ca", message));
            (Cas::new(certs.ok()?), Some(shown))
        }
    };
    if tls.ca_only && ca.is_empty() {
        problems.push("tls.ca_only", "ca_only = true trusts only the spec's ca, and it has none: add ca");
    }
    let template = |field: &str, source: &str, problems: &mut Problems| {
        problems.template(field, TemplateKind::Text, source, Template::compile(engine, source))
    };
    let client = match (&tls.client_cert, &tls.client_key) {
        (None, None) => None,
        (Some(_), None) => {
            problems.push("tls.client_cert", "a client certificate needs its key: add client_key");
            None
        }
        (None, Some(_)) => {
            problems.push("tls.client_key", "a client key needs its certificate: add client_cert");
            None
        }
        (Some(cert), Some(key)) => {
            // A literal (no template in it) is checked now; a rendered one when sent.
            let checked = match (is_literal(cert), is_literal(key)) {
                (true, true) => client_pair(cert.as_bytes(), key.as_bytes()),
                (true, false) => client_chain(cert.as_bytes()).map_err(|message| ("tls.client_cert", message)),
                (false, true) => client_key(key.as_bytes()).map(drop).map_err(|message| ("tls.client_key", message)),
                (false, false) => Ok(()),
            };
            if let Err((field, message)) = checked {
                problems.push(field, message);
            }
            let cert = template("tls.client_cert", cert, problems);
            let key = template("tls.client_key", key, problems);
            Some(ClientIdentity { cert: cert?, key: key? })
        }
    };
    Some(CompiledTls { ca, ca_written, ca_only: tls.ca_only, client })
}

fn is_literal(source: &str) -> bool {
    !source.contains("${")
}

/// Whether a spec's `ca` is PEM written in it, not the name of a file beside it.
pub(crate) fn ca_is_pem(written: &str) -> bool {
    written.trim_start().starts_with("-----BEGIN")
}

/// The text of `ca` and how to name it: PEM written in the spec, or a file beside it.
fn read_ca(written: &str, base_dir: &Path) -> Result<(String, String), String> {
    if ca_is_pem(written) {
        return Ok((written.to_owned(), "PEM text".to_owned()));
    }
    let file = Path::new(written);
    let inside = file.components().all(|part| matches!(part, std::path::Component::Normal(_)));
    if !inside {
        return Err(format!(
            "{written:?} is neither PEM text (-----BEGIN CERTIFICATE-----) nor a relative path inside the spec's folder (no .., not absolute)"
        ));
    }
    let path = base_dir.join(file);
    stays_inside(base_dir, &path).map_err(|message| format!("{written}: {message}"))?;
    let text = read_limited(&path)?;
    if text.len() > MAX_CA_BYTES {
        return Err(format!("{written} is larger than {MAX_CA_BYTES} bytes"));
    }
    Ok((text, written.to_owned()))
}

/// The certificates of a CA bundle, each checked as a trust anchor.
fn ca_certificates(pem: &[u8], shown: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = certificates(pem).map_err(|why| format!("{shown}: {why}"))?;
    let mut store = rustls::RootCertStore::empty();
    for (position, cert) in certs.iter().enumerate() {
        store.add(cert.clone()).map_err(|error| {
            format!("{shown}: certificate {} is not a CA certificate courier can trust: {error}", position + 1)
        })?;
    }
    Ok(certs)
}

/// The certificates in PEM text; an error when there is none or one is broken.
fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|_| "is not valid PEM (a -----BEGIN CERTIFICATE----- block is broken)".to_owned())?;
    if certs.is_empty() {
        return Err("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned());
    }
    Ok(certs)
}

/// Checks a client certificate chain; the message names what is wrong, never the text.
fn client_chain(pem: &[u8]) -> Result<(), String> {
    certificates(pem).map(drop).map_err(|why| format!("the client certificate {why}"))
}

/// Reads a client key's PEM; the message names what is wrong, never the text.
fn client_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|_| {
        "is not a PEM private key (-----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY)".to_owned()
    })
}

/// Checks a client certificate and its key: each readable, the key one rustls
/// signs with, and the key of the chain's first certificate. The error names the
/// field and what is wrong (rustls's reasons quote no key material).
fn client_pair(cert: &[u8], key: &[u8]) -> Result<(), (&'static str, String)> {
    let chain = certificates(cert).map_err(|why| ("tls.client_cert", format!("the client certificate {why}")))?;
    let key = client_key(key).map_err(|message| ("tls.client_key", message))?;
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    match rustls::sign::CertifiedKey::from_der(chain, key, &provider) {
        Ok(_) => Ok(()),
        Err(rustls::Error::InconsistentKeys(_)) => {
            Err(("tls.client_key", "is not the key of tls.client_cert (their public keys differ)".to_owned()))
        }
        Err(error) => Err(("tls.client_key", format!("cannot be used with tls.client_cert: {error}"))),
    }
}

impl CompiledTls {
    /// Renders the client certificate and key (their secrets resolved through
    /// `context`) and checks them: the TLS of one send. An error names the field,
    /// never its value.
    pub(crate) fn render(&self, variables: &dyn VariableSource, context: &Context) -> Result<TlsSetup, FieldError> {
        let mut key_at = 0;
        let identity = match &self.client {
            None => None,
            Some(client) => {
                let cert =
                    client.cert.render(variables, context).map_err(|error| ("tls.client_cert".to_owned(), error))?;
                let key =
                    client.key.render(variables, context).map_err(|error| ("tls.client_key".to_owned(), error))?;
                client_pair(cert.as_bytes(), key.as_bytes())
                    .map_err(|(field, why)| (field.to_owned(), invalid(why)))?;
                let mut pem = cert.into_bytes();
                pem.push(b'\n');
                key_at = pem.len();
                pem.extend_from_slice(key.as_bytes());
                Some(pem)
            }
        };
        Ok(TlsSetup { ca: self.ca.clone(), ca_only: self.ca_only, identity, key_at })
    }

    /// What a dry run shows of it: where `ca` came from and how many certificates
    /// it holds, `ca_only`, and whether a client certificate is presented.
    pub(crate) fn describe(&self) -> Vec<(String, String)> {
        let mut shown = Vec::new();
        if let Some(written) = &self.ca_written {
            let count = match self.ca.certs.len() {
                1 => "1 certificate".to_owned(),
                count => format!("{count} certificates"),
            };
            shown.push(("ca".to_owned(), format!("{written} ({count})")));
        }
        shown.push(("ca_only".to_owned(), self.ca_only.to_string()));
        if self.client.is_some() {
            shown.push(("client_cert".to_owned(), "presented to the request's origin".to_owned()));
            shown.push(("client_key".to_owned(), super::log::REDACTED.to_owned()));
        }
        shown
    }
}

fn invalid(why: String) -> Error {
    Error::new(ErrorKind::Render, why)
}

/// Whether this machine has a system CA store with any certificate in it (read
/// once): rustls's platform verifier cannot be built without one, so courier then
/// trusts only a spec's `ca` (`docs/security.md`). `SSL_CERT_FILE` and
/// `SSL_CERT_DIR` name the store when set, as they do for OpenSSL.
pub fn system_roots_present() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    *PRESENT.get_or_init(|| !rustls_native_certs::load_native_certs().certs.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_key_is_refused_without_quoting_it() {
        let key = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n-----END PRIVATE KE";
        let message = client_key(key.as_bytes()).unwrap_err();
        assert!(message.contains("not a PEM private key"), "{message}");
        assert!(!message.contains("bm90"), "{message}");
        assert!(client_chain(b"no certificate here").unwrap_err().contains("holds no PEM certificate"));
    }

    #[test]
    fn a_pem_framed_key_that_is_no_key_is_refused_and_the_certificate_alone_passes() {
        let cert = "-----BEGIN CERTIFICATE-----\nMIIBoTCCAUegAwIBAgIUftMgjacSNsC1qeSAhULBciG32XMwCgYIKoZIzj0EAwIw\nHTEbMBkGA1UEAwwSRXhhbXBsZSBQcml2YXRlIENBMCAXDTI2MTIwNTAxMzUzN1oY\nDzIxMjYxMTExMDEzNTM3WjAdMRswGQYDVQQDDBJFeGFtcGxlIFByaXZhdGUgQ0Ew\nWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATMlUhP1lEL6AOD5iidf6TkXzt3HGI3\nDcDpbfeBSLLq+/Vktqaai8WLt9YF6AgQ5BMp9jFiQ4RaUarmDlNtaDuWo2MwYTAd\nBgNVHQ4EFgQUXfnkREwxM0OTZ7wcWuE3JHoc8BwwHwYDVR0jBBgwFoAUXfnkREwx\nM0OTZ7wcWuE3JHoc8BwwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAQYw\nCgYIKoZIzj0EAwIDSAAwRQIgHbiRKrYWIWElphGD8PYu0EqxE/UkVTbLjZ8+j3TA\nnsQCIQDUh6oIbs/jwxthPLrjiqCue8XPc+JlfgreZHv7iQy+XA==\n-----END CERTIFICATE-----\n";
        assert!(client_chain(cert.as_bytes()).is_ok());
        let garbage = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbCwgc2VjcmV0\n-----END PRIVATE KEY-----\n";
        let (field, message) = client_pair(cert.as_bytes(), garbage.as_bytes()).unwrap_err();
        assert_eq!(field, "tls.client_key");
        assert!(message.contains("cannot be used"), "{message}");
        assert!(!message.contains("bm90"), "{message}");
    }
}
