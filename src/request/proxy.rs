//! The egress proxy (`--proxy`, `COURIER_PROXY`, [`ExecutorOptions::proxy`](super::ExecutorOptions::proxy)):
//! its address and credentials, and the loopback relay that keeps the destination
//! policy in front of it.
//!
//! reqwest's own proxy support asks the proxy for `CONNECT name:port` and lets the
//! proxy resolve the name, out of the policy's reach. So courier's clients use a
//! relay on loopback as their proxy instead: reqwest asks it for `CONNECT name:port`
//! (https) or sends it an absolute-form request (http); the relay resolves the
//! name once, checks every address against the policy (as the resolver of a direct
//! connection does), and only then opens the operator's proxy and asks it for
//! `CONNECT <checked address>:<port>`, with the proxy's credentials. The name goes
//! out only inside the tunnel: in TLS (SNI) and the `Host` header. A refused
//! destination never reaches the proxy. The relay answers only the executor's own
//! clients (a random token of its own in `Proxy-Authorization`), and says why a
//! connection failed through `Relay::failure_since`, since reqwest's error cannot
//! carry it.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use http_body_util::{BodyExt, Empty, combinators::BoxBody};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::destination::{Destinations, Lookup};
use super::exchange::Failure;
use super::log::Redactor;
use crate::events::EventKind;

/// The longest status line and headers the proxy may answer a `CONNECT` with.
const MAX_PROXY_ANSWER: usize = 16 * 1024;

/// Destinations whose last failure is kept before the older ones are forgotten.
const MAX_FAILURES: usize = 1024;

/// How long a failure is kept once there are [`MAX_FAILURES`].
const FAILURE_KEPT: Duration = Duration::from_secs(60);

/// The relay's threads: it only copies bytes and parses request heads.
const RELAY_THREADS: usize = 2;

/// The most of the proxy's reason phrase shown in an error.
const MAX_REASON: usize = 100;

/// The addresses of one name the proxy is asked for before the relay gives up.
const MAX_ADDRESSES_TRIED: usize = 4;

/// What a local process may hold of the relay: it answers only the executor's
/// clients, but anything on the machine can connect to it.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    /// How long a connection may take to send a request's head, and may sit idle
    /// between requests. The executor's clients write the head at once; a
    /// connection that says nothing is closed after this.
    header_timeout: Duration,
    /// Connections read from at once; more wait in the listen backlog. The
    /// executor's own are bounded by its concurrency, and a tunnel, once open,
    /// no longer counts.
    connections: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds { header_timeout: Duration::from_secs(10), connections: 1024 }
    }
}

/// An egress proxy, `http://[user:password@]host:port`. Its address is the
/// operator's and is not subject to the destination policy; its password is shown
/// nowhere (`Debug` and `Display` write `[redacted]`).
#[derive(Clone, PartialEq, Eq)]
pub struct EgressProxy {
    host: String,
    port: u16,
    user: Option<String>,
    password: Option<String>,
}

impl EgressProxy {
    /// The `Proxy-Authorization` value sent to the proxy, when it has credentials.
    fn authorization(&self) -> Option<String> {
        let user = self.user.as_deref()?;
        let credentials = format!("{user}:{}", self.password.as_deref().unwrap_or_default());
        Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials)))
    }

    /// `text` without the proxy's password, in any form a redactor knows (as
    /// written, percent-encoded, in the Base64 of `Proxy-Authorization`).
    fn redact(&self, text: &str) -> String {
        let Some(authorization) = self.authorization() else { return text.to_owned() };
        let redactor = Redactor::default();
        redactor.add_credential(&authorization);
        redactor.redact(text)
    }

    /// The proxy's host and port, as connected to.
    fn address(&self) -> (&str, u16) {
        (self.host.trim_start_matches('[').trim_end_matches(']'), self.port)
    }
}

impl fmt::Display for EgressProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("http://")?;
        if let Some(user) = &self.user {
            write!(f, "{user}:[redacted]@")?;
        }
        write!(f, "{}:{}", self.host, self.port)
    }
}

impl fmt::Debug for EgressProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("EgressProxy").field(&self.to_string()).finish()
    }
}

impl FromStr for EgressProxy {
    type Err = String;

    /// `http://[user:password@]host:port`; the user and password percent-encoded
    /// as in any URL. An error never repeats the text, which may hold the password.
    fn from_str(text: &str) -> Result<Self, String> {
        let form = "the proxy is http://[user:password@]host:port";
        let url = url::Url::parse(text.trim()).map_err(|error| format!("not a URL ({error}); {form}"))?;
        if url.scheme() != "http" {
            // Not the scheme itself: in `user:password@host` without one, it is the user.
            return Err(format!("the scheme is not http; {form}"));
        }
        let host = url.host_str().filter(|host| !host.is_empty()).ok_or_else(|| format!("no host; {form}"))?;
        let port = url.port_or_known_default().ok_or_else(|| format!("no port; {form}"))?;
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err(format!("a path, query or fragment after the port; {form}"));
        }
        let decode =
            |text: &str| percent_encoding::percent_decode_str(text).decode_utf8().map(|text| text.into_owned());
        let user = match url.username() {
            "" => None,
            user => Some(decode(user).map_err(|_| format!("the user is not UTF-8 once decoded; {form}"))?),
        };
        let password = match url.password() {
            None => None,
            Some(password) => {
                Some(decode(password).map_err(|_| format!("the password is not UTF-8 once decoded; {form}"))?)
            }
        };
        if password.is_some() && user.is_none() {
            return Err(format!("a password without a user; {form}"));
        }
        Ok(EgressProxy { host: host.to_owned(), port, user, password })
    }
}

/// What failed, for which destination, and when.
type Failures = Mutex<HashMap<(String, u16), (Instant, Failure)>>;

/// The relay on loopback between an executor's clients and the egress proxy.
/// Dropping it stops it.
pub(crate) struct Relay {
    address: SocketAddr,
    token: String,
    bounds: Bounds,
    state: Arc<State>,
    /// Dropped with the relay, which stops its runtime and every tunnel.
    _stop: tokio::sync::oneshot::Sender<()>,
}

struct State {
    proxy: EgressProxy,
    policy: Destinations,
    lookup: Lookup,
    /// The `Proxy-Authorization` value the executor's clients send the relay.
    expected: String,
    /// The longest opening a tunnel may take (the executor's longest request).
    limit: Duration,
    failures: Failures,
}

impl Relay {
    /// Starts a relay on a loopback port of its own, on a runtime of its own (two
    /// threads): it outlives the runtime of the request that started it, as the
    /// executor's pooled clients do.
    pub(crate) fn start(
        proxy: EgressProxy,
        policy: Destinations,
        lookup: Lookup,
        limit: Duration,
    ) -> std::io::Result<Relay> {
        Relay::start_bounded(proxy, policy, lookup, limit, Bounds::default())
    }

    fn start_bounded(
        proxy: EgressProxy,
        policy: Destinations,
        lookup: Lookup,
        limit: Duration,
        bounds: Bounds,
    ) -> std::io::Result<Relay> {
        let listener = std::net::TcpListener::bind((IpAddr::from([127, 0, 0, 1]), 0))?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(RELAY_THREADS)
            .thread_name("courier-proxy-relay")
            .enable_all()
            .build()?;
        let token = crate::request::new_idempotency_key();
        let expected =
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("courier:{token}")));
        let state = Arc::new(State { proxy, policy, lookup, expected, limit, failures: Mutex::default() });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = state.clone();
        std::thread::Builder::new().name("courier-proxy-relay".into()).spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = TcpListener::from_std(listener) else { return };
                tokio::select! {
                    () = accept(listener, serving, bounds) => {}
                    _ = stopped => {}
                }
            });
        })?;
        Ok(Relay { address, token, bounds, state, _stop: stop })
    }

    /// The proxy a client of the executor is given: this relay.
    pub(crate) fn reqwest_proxy(&self) -> reqwest::Result<reqwest::Proxy> {
        Ok(reqwest::Proxy::all(format!("http://{}", self.address))?.basic_auth("courier", &self.token))
    }

    /// How long a client of the relay may keep a connection to it idle: half the
    /// relay's header timeout, after which the relay closes it. A client that
    /// reused a connection as the relay closed it would lose the request it
    /// wrote (reqwest keeps idle connections 90 s by default).
    pub(crate) fn client_idle(&self) -> Duration {
        self.bounds.header_timeout / 2
    }

    /// Why the relay failed a connection to `url`'s host and port at or after
    /// `since`: the refusal, the proxy's refusal, or the error opening it.
    pub(crate) fn failure_since(&self, url: &str, since: Instant) -> Option<Failure> {
        let url = url::Url::parse(url).ok()?;
        let key = (bare(url.host_str()?), url.port_or_known_default()?);
        let failures = self.state.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        failures.get(&key).filter(|(at, _)| *at >= since).map(|(_, failure)| failure.clone())
    }
}

/// A host without the brackets of an IPv6 address, lowercase.
fn bare(host: &str) -> String {
    host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase()
}

async fn accept(listener: TcpListener, state: Arc<State>, bounds: Bounds) {
    let connections = Arc::new(tokio::sync::Semaphore::new(bounds.connections));
    loop {
        let Ok(permit) = connections.clone().acquire_owned().await else { return };
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors, say: wait rather than spin.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let upstream: Upstream = Arc::new(tokio::sync::Mutex::new(None));
            let service = hyper::service::service_fn(move |request| {
                let (state, upstream) = (state.clone(), upstream.clone());
                async move { state.handle(request, &upstream).await }
            });
            // A failed connection closes: reqwest reports it, the executor asks why.
            let _ = hyper::server::conn::http1::Builder::new()
                // The destination's answer goes back as it came: no Date of the relay's.
                .auto_date_header(false)
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(bounds.header_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}

/// One reqwest connection's tunnel for plain-http requests: its destination and sender.
type Upstream = Arc<tokio::sync::Mutex<Option<(String, hyper::client::conn::http1::SendRequest<Incoming>)>>>;

type Answer = Response<BoxBody<Bytes, hyper::Error>>;

/// Why the relay closed a connection instead of answering.
#[derive(Debug)]
struct Closed(&'static str);

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Closed {}

impl State {
    async fn handle(&self, mut request: Request<Incoming>, upstream: &Upstream) -> Result<Answer, Closed> {
        let given = request.headers_mut().remove(header::PROXY_AUTHORIZATION);
        if given.as_ref().map(|value| value.as_bytes()) != Some(self.expected.as_bytes()) {
            return Err(Closed("not the executor's client"));
        }
        let authority = request.uri().authority().cloned().ok_or(Closed("no destination"))?;
        let default_port = if request.method() == Method::CONNECT { None } else { Some(80) };
        let port = authority.port_u16().or(default_port).ok_or(Closed("no port"))?;
        let host = bare(authority.host());
        if request.method() == Method::CONNECT {
            let tunnel = self.open(&host, port).await?;
            tokio::spawn(async move {
                if let Ok(upgraded) = hyper::upgrade::on(request).await {
                    let mut tunnel = tunnel;
                    let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(upgraded), &mut tunnel).await;
                }
            });
            return Ok(Response::new(Empty::new().map_err(|never| match never {}).boxed()));
        }
        self.forward(request, &host, port, upstream).await
    }

    /// A plain-http request (absolute-form) sent on a tunnel to its checked
    /// destination, in origin form; the tunnel serves the connection's next
    /// requests to the same destination.
    async fn forward(
        &self,
        mut request: Request<Incoming>,
        host: &str,
        port: u16,
        upstream: &Upstream,
    ) -> Result<Answer, Closed> {
        let target = format!("{host}:{port}");
        let mut upstream = upstream.lock().await;
        let reusable = match upstream.as_mut() {
            Some((to, sender)) if *to == target => sender.ready().await.is_ok(),
            _ => false,
        };
        if !reusable {
            let tunnel = self.open(host, port).await?;
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tunnel))
                .await
                .map_err(|_| Closed("the tunnel failed"))?;
            tokio::spawn(connection);
            *upstream = Some((target, sender));
        }
        let (_, sender) = upstream.as_mut().ok_or(Closed("no tunnel"))?;
        let path = request.uri().path_and_query().map_or("/", |path| path.as_str());
        *request.uri_mut() = path.parse().map_err(|_| Closed("not a path"))?;
        request.headers_mut().remove("proxy-connection");
        let response = sender.send_request(request).await.map_err(|_| Closed("the destination failed"))?;
        Ok(response.map(BodyExt::boxed))
    }

    /// A tunnel to `host` on `port` through the proxy, to an address checked
    /// first; a failure is recorded for the executor.
    async fn open(&self, host: &str, port: u16) -> Result<TcpStream, Closed> {
        let opening = tokio::time::timeout(self.limit, self.try_open(host, port));
        let result = opening.await.unwrap_or_else(|_| {
            Err(Failure {
                kind: EventKind::ConnectTimeout,
                message: format!("the proxy {} did not open a tunnel to {host} port {port} in time", self.proxy),
                refused: false,
                connection: true,
            })
        });
        result.map_err(|failure| {
            record(&self.failures, (host.to_owned(), port), failure);
            Closed("the tunnel was not opened")
        })
    }

    /// Tries the addresses `host` resolves to that the policy allows, in the
    /// resolver's order, until the proxy reaches one: a proxy that answers it
    /// could not reach an address (5xx) is asked for the next, as a direct
    /// connection tries the next address. Any other refusal ends the tries.
    async fn try_open(&self, host: &str, port: u16) -> Result<TcpStream, Failure> {
        let addresses = self.checked_addresses(host, port).await?;
        let mut last = None;
        for address in addresses.into_iter().take(MAX_ADDRESSES_TRIED) {
            match self.connect_through(host, SocketAddr::new(address, port)).await {
                Ok(stream) => return Ok(stream),
                Err(Unopened { failure, try_next: true }) => last = Some(failure),
                Err(Unopened { failure, try_next: false }) => return Err(failure),
            }
        }
        Err(last.unwrap_or_else(|| Failure::exception(format!("{host} resolved to no address"))))
    }

    /// One `CONNECT` to `target` through the proxy.
    async fn connect_through(&self, host: &str, target: SocketAddr) -> Result<TcpStream, Unopened> {
        let proxy = &self.proxy;
        let failure =
            |message: String| Failure { kind: EventKind::Exception, message, refused: false, connection: true };
        let mut stream = TcpStream::connect(proxy.address()).await.map_err(|error| Unopened {
            failure: failure(format!("cannot connect to the proxy {proxy}: {error}")),
            try_next: false,
        })?;
        let mut ask = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
        if let Some(authorization) = proxy.authorization() {
            ask.push_str(&format!("Proxy-Authorization: {authorization}\r\n"));
        }
        ask.push_str("\r\n");
        let lost = |error: std::io::Error| Unopened {
            failure: failure(format!("the proxy {proxy} failed while opening a tunnel to {target} ({host}): {error}")),
            try_next: false,
        };
        stream.write_all(ask.as_bytes()).await.map_err(lost)?;
        let (status, reason) = read_answer(&mut stream).await.map_err(lost)?;
        if (200..300).contains(&status) {
            return Ok(stream);
        }
        // A proxy may echo what it was sent: its credentials go before anything else.
        let reason = shown_reason(status, &proxy.redact(&reason));
        Err(Unopened {
            failure: failure(format!(
                "the proxy {proxy} refused to open a tunnel to {target} ({host}): {status} {reason}; nothing was sent"
            )),
            try_next: (500..600).contains(&status),
        })
    }

    /// The addresses `host` resolves to that the policy allows on `port` (an
    /// address written as the host is checked as it is).
    async fn checked_addresses(&self, host: &str, port: u16) -> Result<Vec<IpAddr>, Failure> {
        let shown = |address: IpAddr| if address.is_ipv6() { format!("[{address}]") } else { address.to_string() };
        if let Ok(address) = host.parse::<IpAddr>() {
            self.policy.check_address(&shown(address), address, port).map_err(Failure::refused)?;
            return Ok(vec![address]);
        }
        let resolved = (self.lookup)(host.to_owned())
            .await
            .map_err(|error| Failure::exception(format!("cannot resolve {host}: {error}")))?;
        self.policy.allowed_addresses(host, resolved.into_iter(), port).map_err(Failure::refused)
    }
}

/// Why one address was not tunnelled to, and whether the next may be.
struct Unopened {
    failure: Failure,
    try_next: bool,
}

/// Records the last failure for a destination, keeping at most [`MAX_FAILURES`]:
/// those older than [`FAILURE_KEPT`] go first, then the oldest — a spec whose
/// host is a chat variable can fail toward many names within a minute.
fn record(failures: &Failures, destination: (String, u16), failure: Failure) {
    let mut failures = failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if failures.len() >= MAX_FAILURES && !failures.contains_key(&destination) {
        // Read within moments of being written: the old ones are no one's.
        failures.retain(|_, (at, _)| at.elapsed() < FAILURE_KEPT);
        if failures.len() >= MAX_FAILURES {
            let oldest = failures.iter().min_by_key(|(_, (at, _))| *at).map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                failures.remove(&oldest);
            }
        }
    }
    failures.insert(destination, (Instant::now(), failure));
}

/// Reads the proxy's answer to `CONNECT` up to the blank line (and not a byte of
/// the tunnel after it): its status and reason phrase, as it came (see [`shown_reason`]).
async fn read_answer(stream: &mut TcpStream) -> std::io::Result<(u16, String)> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_PROXY_ANSWER {
            return Err(std::io::Error::other(format!("its answer is longer than {MAX_PROXY_ANSWER} bytes")));
        }
        let byte = stream.read_u8().await?;
        head.push(byte);
    }
    let line = head.split(|byte| *byte == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.trim_end().splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let status = parts.next().and_then(|status| status.parse::<u16>().ok()).filter(|_| version.starts_with("HTTP/"));
    let status = status.ok_or_else(|| std::io::Error::other("its answer is not HTTP"))?;
    Ok((status, parts.next().unwrap_or_default().to_owned()))
}

/// A proxy's reason phrase as an error shows it: printable, shortened, the
/// status's own phrase when it gave none. Given redacted: the proxy may echo what
/// it was sent, and a filtered or cut secret is one no redaction recognises.
fn shown_reason(status: u16, redacted: &str) -> String {
    let reason: String = redacted.chars().filter(|c| c.is_ascii_graphic() || *c == ' ').take(MAX_REASON).collect();
    match reason.trim() {
        "" => StatusCode::from_u16(status).ok().and_then(|code| code.canonical_reason()).unwrap_or("").to_owned(),
        reason => reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    fn relay(bounds: Bounds) -> Relay {
        let proxy: EgressProxy = "http://127.0.0.1:9".parse().unwrap();
        let lookup = super::super::destination::system_lookup();
        Relay::start_bounded(proxy, Destinations::default(), lookup, Duration::from_secs(5), bounds).unwrap()
    }

    /// Whether the relay closed `stream` within `wait` (it sends nothing first:
    /// a connection it will not serve gets no answer).
    fn closed_within(stream: &mut std::net::TcpStream, wait: Duration) -> bool {
        stream.set_read_timeout(Some(wait)).unwrap();
        let mut rest = Vec::new();
        match stream.read_to_end(&mut rest) {
            Ok(_) => true,
            Err(error) => error.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }

    /// A local process that connects and says nothing is closed after the
    /// header timeout (without it, the connection, a descriptor and a task, stayed
    /// for ever); the watchdog is the read timeout.
    #[test]
    fn a_connection_that_sends_no_request_is_closed() {
        let bounds = Bounds { header_timeout: Duration::from_millis(500), ..Bounds::default() };
        let relay = relay(bounds);
        let mut silent = std::net::TcpStream::connect(relay.address).unwrap();
        assert!(closed_within(&mut silent, Duration::from_secs(20)), "a silent connection stayed open");
    }

    /// A CONNECT proxy on loopback: records each request line, answers with the
    /// status `answer` gives its target, and on a 200 opens the tunnel.
    async fn connect_proxy(answer: fn(&str) -> u16) -> (EgressProxy, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = format!("http://{}", listener.local_addr().unwrap()).parse().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorded = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let recorded = recorded.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    while !head.ends_with(b"\r\n\r\n") {
                        head.push(client.read_u8().await?);
                    }
                    let line = String::from_utf8_lossy(&head).lines().next().unwrap_or_default().to_owned();
                    let target = line.split(' ').nth(1).unwrap_or_default().to_owned();
                    recorded.lock().unwrap().push(line);
                    let status = answer(&target);
                    client.write_all(format!("HTTP/1.1 {status} Test\r\n\r\n").as_bytes()).await?;
                    if status == 200 {
                        let mut upstream = TcpStream::connect(target).await?;
                        tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
                    }
                    Ok::<_, std::io::Error>(())
                });
            }
        });
        (proxy, seen)
    }

    #[test]
    fn a_name_is_tunnelled_to_its_next_address_when_the_proxy_cannot_reach_one() {
        let two: Lookup =
            Arc::new(|_| Box::pin(async { Ok(vec![IpAddr::from([127, 0, 0, 2]), IpAddr::from([127, 0, 0, 3])]) }));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let open = |proxy: EgressProxy| {
            let limit = Duration::from_secs(5);
            let relay =
                Relay::start_bounded(proxy, Destinations::allowing_private(), two.clone(), limit, Bounds::default());
            runtime.block_on(relay.unwrap().state.try_open("api.example", 443))
        };
        let unreachable_first = |target: &str| if target.starts_with("127.0.0.2:") { 502 } else { 200 };
        let (proxy, seen) = runtime.block_on(connect_proxy(unreachable_first));
        assert!(open(proxy).is_ok());
        assert_eq!(*seen.lock().unwrap(), ["CONNECT 127.0.0.2:443 HTTP/1.1", "CONNECT 127.0.0.3:443 HTTP/1.1"]);
        // A proxy that refuses the request itself (407) is not asked for another address.
        let (proxy, seen) = runtime.block_on(connect_proxy(|_| 407));
        let refused = open(proxy).expect_err("a 407 opens nothing");
        assert!(refused.message.contains("407"), "{}", refused.message);
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    /// An HTTP/1.1 server answering `ok`, keeping connections alive.
    async fn destination() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let answer = hyper::service::service_fn(|_| async {
                    Ok::<_, std::convert::Infallible>(Response::new(http_body_util::Full::new(Bytes::from_static(
                        b"ok",
                    ))))
                });
                tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), answer));
            }
        });
        address
    }

    /// The relay closes a connection idle for its header timeout; a client that
    /// kept it longer would, now and then, write a request on it as it closed and
    /// lose it (about one in ten with requests spaced at the timeout). Clients
    /// kept to `client_idle` never do.
    #[test]
    fn a_relayed_client_never_writes_on_a_connection_the_relay_is_closing() {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(async {
            let ((proxy, _), target) = (connect_proxy(|_| 200).await, destination().await);
            let bounds = Bounds { header_timeout: Duration::from_millis(100), ..Bounds::default() };
            let lookup = super::super::destination::system_lookup();
            let limit = Duration::from_secs(5);
            let relay = Relay::start_bounded(proxy, Destinations::allowing_private(), lookup, limit, bounds).unwrap();
            let client = reqwest::Client::builder()
                .proxy(relay.reqwest_proxy().unwrap())
                .pool_idle_timeout(relay.client_idle())
                .build()
                .unwrap();
            let mut failed = Vec::new();
            for turn in 0..100u64 {
                let sent = client.post(format!("http://{target}/")).body("x").send().await;
                if let Err(error) = sent.and_then(reqwest::Response::error_for_status) {
                    failed.push(error.to_string());
                }
                // Idle for about the relay's header timeout: when it closes idle connections.
                tokio::time::sleep(Duration::from_millis(98 + turn % 5)).await;
            }
            assert!(failed.is_empty(), "{} of 100 failed: {:?}", failed.len(), failed.first());
        });
    }

    /// Past the cap, a connection waits unserved until one of those held closes.
    #[test]
    fn connections_past_the_cap_wait_for_one_to_close() {
        let relay = relay(Bounds { header_timeout: Duration::from_secs(60), connections: 2 });
        let mut held: Vec<_> = (0..2).map(|_| std::net::TcpStream::connect(relay.address).unwrap()).collect();
        // Served: a request without the relay's token is closed at once.
        let ask =
            |stream: &mut std::net::TcpStream| stream.write_all(b"GET http://x.org/ HTTP/1.1\r\nHost: x.org\r\n\r\n");
        let mut waiting = std::net::TcpStream::connect(relay.address).unwrap();
        ask(&mut waiting).unwrap();
        assert!(!closed_within(&mut waiting, Duration::from_millis(500)), "served past the cap");
        held.pop();
        assert!(closed_within(&mut waiting, Duration::from_secs(20)), "not served once a connection closed");
        // The twin: under the cap, the same request is closed at once.
        drop(held);
        let mut served = std::net::TcpStream::connect(relay.address).unwrap();
        ask(&mut served).unwrap();
        assert!(closed_within(&mut served, Duration::from_secs(20)));
    }

    /// Failures toward many names within a minute (a host from a chat variable)
    /// keep the relay's memory bounded, and the newest is still the one read.
    #[test]
    fn failures_toward_many_destinations_stay_bounded() {
        let failures = Failures::default();
        for at in 0..MAX_FAILURES * 3 {
            let failure = Failure::exception(format!("cannot resolve h{at}.example"));
            record(&failures, (format!("h{at}.example"), 443), failure);
        }
        let failures = failures.lock().unwrap();
        assert!(failures.len() <= MAX_FAILURES, "{} failures kept", failures.len());
        let newest = format!("h{}.example", MAX_FAILURES * 3 - 1);
        let kept = failures.get(&(newest.clone(), 443)).map(|(_, failure)| failure.message.as_str());
        assert_eq!(kept, Some(format!("cannot resolve {newest}").as_str()));
        // The twin: fewer than the limit are all kept.
        drop(failures);
        let few = Failures::default();
        for at in 0..10 {
            record(&few, (format!("h{at}.example"), 80), Failure::exception("refused"));
        }
        assert_eq!(few.lock().unwrap().len(), 10);
    }

    #[test]
    fn proxies_parse_and_never_show_their_password() {
        let proxy: EgressProxy = "http://ops:p%40ss w0rd@proxy.internal:3128".parse().unwrap();
        assert_eq!(proxy.address(), ("proxy.internal", 3128));
        assert_eq!(proxy.to_string(), "http://ops:[redacted]@proxy.internal:3128");
        assert!(!format!("{proxy:?}").contains("w0rd"));
        let expected = base64::engine::general_purpose::STANDARD.encode("ops:p@ss w0rd");
        assert_eq!(proxy.authorization().unwrap(), format!("Basic {expected}"));
        let open: EgressProxy = "http://[::1]:8080".parse().unwrap();
        assert_eq!(open.address(), ("::1", 8080));
        assert_eq!(open.authorization(), None);
        for bad in [
            "proxy:3128",
            "https://ops:s3cret@proxy:3128",
            "http://ops:s3cret@proxy:3128/path",
            "http://:s3cret@proxy:3128",
            "socks5://ops:s3cret@proxy:1080",
        ] {
            let error = bad.parse::<EgressProxy>().expect_err(bad);
            assert!(!error.contains("s3cret"), "{bad}: {error}");
            assert!(error.contains("http://[user:password@]host:port"), "{bad}: {error}");
        }
    }
}
