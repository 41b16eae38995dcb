//! The transport: the pooled reqwest clients (one per connect and read limit,
//! port and TLS setup, each with the destination-checking resolver), one HTTP exchange sent and
//! its whole answer read under the limits, how a failure is classified into an
//! event, and the run's log of the exchanges in flight.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;

use super::super::destination;
use super::super::exchange::{Failure, name_the_limit, read_body};
use super::super::log::{Exchange, LogEntry};
use super::super::proxy::Relay;
use super::super::redirect::Hop;
use super::super::spec::Timeouts;
use super::super::tls::{TlsSetup, system_roots_present};
use super::super::trace::Outgoing;
use super::{Executor, MAX_CLIENTS};
use crate::events::EventKind;

/// A whole response.
pub(super) struct Response {
    pub(super) status: u16,
    pub(super) headers: HeaderMap,
    pub(super) body: Vec<u8>,
    /// The hop that got this answer, when redirects led to it (a Digest challenge
    /// is answered there, not at the first URL).
    pub(super) redirected: Option<Box<Hop>>,
}

/// The log of one run, the HTTP request in flight (which a timeout interrupts),
/// the trace its requests belong to, and the TLS its requests use.
pub(super) struct Run {
    pub(super) debug: bool,
    pub(super) log: Vec<LogEntry>,
    pub(super) in_flight: Option<InFlight>,
    pub(super) trace: Outgoing,
    /// The spec's `[tls]`, rendered: the CAs trusted and the client certificate.
    pub(super) tls: Option<Arc<TlsSetup>>,
    /// The origin of the request's first hop, the only one its client certificate
    /// goes to — whatever a redirect or a polled `Location` leads to later.
    pub(super) origin: Option<url::Origin>,
}

pub(super) struct InFlight {
    pub(super) method: String,
    pub(super) url: String,
    pub(super) trace_id: String,
    pub(super) started: Instant,
    pub(super) request: Option<Exchange>,
}

impl Run {
    /// A run's start: an empty log, and its trace (see [`Outgoing::start`]).
    pub(super) fn new(debug: bool) -> Self {
        Run { debug, log: Vec::new(), in_flight: None, trace: Outgoing::start(), tls: None, origin: None }
    }

    pub(super) fn start(&mut self, method: &str, url: &str, trace_id: &str, headers: &HeaderMap, body: Option<&[u8]>) {
        let request = self.debug.then(|| Exchange::new(header_pairs(headers), body));
        self.in_flight = Some(InFlight {
            method: method.to_owned(),
            url: url.to_owned(),
            trace_id: trace_id.to_owned(),
            started: Instant::now(),
            request,
        });
    }

    pub(super) fn finish(&mut self, result: Result<&Response, &Failure>) {
        let Some(flight) = self.in_flight.take() else {
            return;
        };
        let elapsed = flight.started.elapsed();
        let duration_ms = elapsed.as_millis() as u64;
        let (message, status, response) = match result {
            Ok(response) => (
                format!("{} {} → {} in {duration_ms} ms", flight.method, flight.url, response.status),
                Some(response.status),
                self.debug.then(|| Exchange::new(header_pairs(&response.headers), Some(&response.body))),
            ),
            Err(failure) => (
                format!("{} {} failed after {duration_ms} ms: {}", flight.method, flight.url, failure.message),
                None,
                None,
            ),
        };
        self.log.push(LogEntry {
            method: Some(flight.method),
            url: Some(flight.url),
            status,
            duration_ms: Some(duration_ms),
            trace_id: Some(flight.trace_id),
            request: flight.request,
            response,
            ..LogEntry::note(message)
        });
    }

    pub(super) fn interrupt(&mut self, why: &str) {
        let failure = Failure::exception(why);
        self.finish(Err(&failure));
    }
}

pub(super) fn header_pairs(headers: &HeaderMap) -> impl Iterator<Item = (&str, String)> {
    headers.iter().map(|(name, value)| (name.as_str(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
}

/// The failure of a request that ran out of its whole time limit; the HTTP request
/// in flight is logged as interrupted.
pub(super) fn timed_out(total: Duration, run: &mut Run) -> Failure {
    let total = humantime::format_duration(total);
    let message = format!("no response within the timeout of {total} (the spec's timeout = \"{total}\" ran out)");
    run.interrupt(&message);
    Failure { kind: EventKind::Timeout, message, refused: false, connection: false }
}

/// The key of a pooled client: connect and read limits, port, and the digest of
/// its TLS setup (see [`TlsSetup::fingerprint`]).
pub(super) type ClientKey = (Duration, Duration, u16, Option<[u8; 32]>);

/// The TLS of one client: `tls` (with its client certificate only when
/// `identity`), or none (the system's roots).
#[derive(Clone, Copy)]
pub(super) struct ClientTls<'a> {
    pub(super) setup: Option<&'a TlsSetup>,
    pub(super) identity: bool,
}

impl<'a> ClientTls<'a> {
    /// The setup of a run, with its client certificate when `identity`.
    pub(super) fn of(run: &'a Run, identity: bool) -> Self {
        ClientTls { setup: run.tls.as_deref(), identity }
    }

    fn key(&self) -> Option<[u8; 32]> {
        self.setup.map(|setup| setup.fingerprint(self.identity))
    }

    /// An https URL with no CA to check its certificate against fails before it
    /// is sent, saying why, rather than in the handshake.
    fn check_trust(&self, url: &url::Url) -> Result<(), Failure> {
        let spec_ca = self.setup.is_some_and(|setup| !setup.ca.is_empty());
        if url.scheme() == "https" && !spec_ca && !system_roots_present() {
            return Err(Failure::exception(format!(
                "cannot check the certificate of {}: no CA certificate is trusted. This machine has no system CA store \
                 (none found at SSL_CERT_FILE, SSL_CERT_DIR or the usual places) and the spec's [tls] gives no ca; \
                 nothing was sent",
                url.host_str().unwrap_or_default()
            )));
        }
        Ok(())
    }

    /// Why a client could not be built, with reqwest's and rustls's reasons (which
    /// name what is wrong, never a key's bytes).
    fn setup_failed(&self, error: &reqwest::Error) -> Failure {
        let reasons = Failure::from_reqwest(error).message;
        let message = if self.identity && self.setup.is_some_and(TlsSetup::has_identity) {
            format!(
                "cannot set up the HTTP client with the spec's client certificate (is tls.client_key the key of \
                 tls.client_cert?): {reasons}; nothing was sent"
            )
        } else {
            format!("cannot set up the HTTP client: {reasons}; nothing was sent")
        };
        Failure::exception(message)
    }

    /// `builder` trusting what the setup says and presenting its client certificate.
    fn apply(&self, builder: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder, Failure> {
        let ca = self.setup.map(|setup| &setup.ca.certs[..]).unwrap_or_default();
        let ca_only = self.setup.is_some_and(|setup| setup.ca_only);
        let certificates = ca
            .iter()
            .map(|der| reqwest::Certificate::from_der(der))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| Failure::exception(format!("tls.ca: cannot be used: {error}")))?;
        // Without a system store, rustls's platform verifier cannot be built: trust `ca` alone.
        let builder = if ca_only || !system_roots_present() {
            builder.tls_certs_only(certificates)
        } else if certificates.is_empty() {
            builder
        } else {
            builder.tls_certs_merge(certificates)
        };
        let identity = self.setup.and_then(TlsSetup::identity_pem).filter(|_| self.identity);
        match identity {
            None => Ok(builder),
            Some(pem) => {
                // Its error text is reqwest's, which never quotes the key.
                let identity = reqwest::Identity::from_pem(pem).map_err(|error| {
                    Failure::exception(format!("tls.client_cert and tls.client_key cannot be used together: {error}"))
                })?;
                Ok(builder.identity(identity))
            }
        }
    }
}

impl Executor {
    /// The client to send `url` with: the host's (after resolving its name and
    /// checking every address, see [`Executor::with_client`]) or courier's own.
    pub(super) async fn client_for(
        &self,
        url: &url::Url,
        timeouts: &Timeouts,
        port: u16,
        tls: ClientTls<'_>,
    ) -> Result<reqwest::Client, Failure> {
        let Some(client) = &self.inner.host_client else {
            tls.check_trust(url)?;
            return self.client(timeouts, port, tls);
        };
        if tls.setup.is_some() {
            return Err(Failure::exception(
                "the spec's [tls] needs courier's own HTTP client, and this executor sends through the host's \
                 (Executor::with_client): give that client the CA and certificate instead; nothing was sent",
            ));
        }
        if let Some(url::Host::Domain(name)) = url.host() {
            let resolved = destination::system_lookup()(name.to_owned())
                .await
                .map_err(|error| Failure::exception(format!("cannot resolve {name}: {error}")))?;
            let policy = &self.inner.options.destinations;
            policy.check_every_address(name, &resolved, port).map_err(Failure::refused)?;
        }
        Ok(client.clone())
    }

    /// The pooled client for a request's connect and read limits, destination
    /// port and TLS. Its resolver checks every address a name resolves to against the
    /// destination policy (for that port), it follows no redirect (courier follows
    /// them, checking each hop) and uses no proxy of reqwest's (one would resolve
    /// names unchecked): an egress proxy is reached through courier's relay, which
    /// checks first (see [`super::super::proxy`]).
    pub(super) fn client(
        &self,
        timeouts: &Timeouts,
        port: u16,
        tls: ClientTls<'_>,
    ) -> Result<reqwest::Client, Failure> {
        // A saved record's limits were checked when its spec was; the host's cap holds anyway.
        let cap = self.inner.options.max_timeout;
        let key: ClientKey = (timeouts.connect.min(cap), timeouts.read.min(cap), port, tls.key());
        let mut clients = self.inner.clients.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let resolver = destination::CheckedResolver::new(
            self.inner.options.destinations.clone(),
            port,
            destination::system_lookup(),
        );
        let builder = tls
            .apply(reqwest::Client::builder())?
            .connect_timeout(key.0)
            .read_timeout(key.1)
            .user_agent(concat!("courier/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(resolver));
        let client = self.through_relay(builder)?.build().map_err(|error| tls.setup_failed(&error))?;
        if clients.len() < MAX_CLIENTS {
            clients.insert(key, client.clone());
        }
        Ok(client)
    }

    /// Sends one HTTP request and reads the whole answer, logging it.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn attempt(
        &self,
        request: reqwest::RequestBuilder,
        method: &str,
        url: &str,
        mut headers: HeaderMap,
        body: Option<Vec<u8>>,
        read_timeout: Duration,
        run: &mut Run,
    ) -> Result<Response, Failure> {
        let trace = run.trace.next();
        trace.insert_into(&mut headers);
        run.start(method, url, &trace.trace_hex(), &headers, body.as_deref());
        let mut request = request.headers(headers);
        if let Some(body) = body {
            request = request.body(body);
        }
        let result = async {
            let started = Instant::now();
            let response = request.send().await.map_err(|error| {
                // Through the egress proxy, the relay knows why (reqwest's error cannot say).
                let relayed = self.relay_failure(url, started);
                relayed.unwrap_or_else(|| name_the_limit(Failure::from_reqwest(&error), read_timeout))
            })?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = read_body(response, read_timeout, self.inner.options.max_response_bytes).await?;
            Ok(Response { status, headers, body, redirected: None })
        }
        .await;
        run.finish(result.as_ref());
        result
    }

    /// The client builder with the egress proxy's relay as its proxy, the relay
    /// started on first use; the builder as it is without a proxy.
    fn through_relay(&self, builder: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder, Failure> {
        let Some(proxy) = &self.inner.options.proxy else { return Ok(builder) };
        let mut relay = self.inner.relay.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let relay = match &*relay {
            Some(relay) => relay.clone(),
            None => {
                let options = &self.inner.options;
                let lookup = destination::system_lookup();
                let started = Relay::start(proxy.clone(), options.destinations.clone(), lookup, options.max_timeout)
                    .map_err(|error| {
                        Failure::exception(format!("cannot start the relay to the proxy {proxy}: {error}"))
                    })?;
                relay.insert(Arc::new(started)).clone()
            }
        };
        let relayed = relay
            .reqwest_proxy()
            .map_err(|error| Failure::exception(format!("cannot set up the relay to the proxy {proxy}: {error}")))?;
        // The relay closes idle connections; a pooled one must be dropped first.
        Ok(builder.proxy(relayed).pool_idle_timeout(relay.client_idle()))
    }

    /// Why the egress proxy's relay failed the connection to `url` since `started`.
    pub(super) fn relay_failure(&self, url: &str, started: Instant) -> Option<Failure> {
        let relay = self.inner.relay.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()?;
        relay.failure_since(url, started)
    }
}
