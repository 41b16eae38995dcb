//! The egress proxy (`--proxy`, `COURIER_PROXY`, `ExecutorOptions::proxy`) against a
//! real CONNECT proxy written here over tokio, which records every request line and
//! `Proxy-Authorization` it gets: the proxy is asked for the checked address, never
//! the name; a refused destination never reaches it; a proxy that refuses is no
//! response; its password appears nowhere. https goes through end to end to TLS
//! servers of a test CA (`tests/tls_support`) that the spec trusts with `[tls] ca`,
//! mutual TLS included, the client key appearing nowhere either. With
//! `COURIER_TEST_TINYPROXY=1`, http and https through Debian's tinyproxy.
#![cfg(feature = "cli")]

mod common;
mod tls_support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use common::{BlockingServer as Server, compile, context_with_secrets, write_spec};
use courier::Context;
use courier::request::{Cookies, Destinations, EgressProxy, Executor, ExecutorOptions, Outcome};
use serde_json::Value as Json;
use tls_support::{Leaf, Received, TestCa, TlsServer, assert_no_key};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::{any, path};
use wiremock::{Mock, ResponseTemplate};

/// What the proxy was asked: the request line and the `Proxy-Authorization` value.
#[derive(Debug, Clone)]
struct Seen {
    line: String,
    authorization: Option<String>,
}

/// A CONNECT proxy on loopback. With credentials, a request without them is
/// answered 407. It tunnels only to an address (a name is answered 502).
struct TestProxy {
    address: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    _runtime: tokio::runtime::Runtime,
}

impl TestProxy {
    fn start(credentials: Option<&str>) -> TestProxy {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let address = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let expected = credentials.map(|credentials| format!("Basic {}", base64(credentials)));
        let recorded = seen.clone();
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(tunnel(stream, recorded.clone(), expected.clone()));
            }
        });
        TestProxy { address, seen, _runtime: runtime }
    }

    fn url(&self, credentials: Option<&str>) -> String {
        match credentials {
            Some(credentials) => format!("http://{credentials}@{}", self.address),
            None => format!("http://{}", self.address),
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn lines(&self) -> Vec<String> {
        self.seen().into_iter().map(|seen| seen.line).collect()
    }
}

/// A request's head, read up to its blank line and not a byte further (the
/// tunnel's bytes follow it); `None` when the connection ends first.
async fn read_head(stream: &mut tokio::net::TcpStream) -> Option<String> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(stream.read_u8().await.ok()?);
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

async fn tunnel(mut stream: tokio::net::TcpStream, seen: Arc<Mutex<Vec<Seen>>>, expected: Option<String>) {
    let Some(head) = read_head(&mut stream).await else { return };
    let line = head.lines().next().unwrap_or_default().to_owned();
    let authorization = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("proxy-authorization").then(|| value.trim().to_owned())
    });
    seen.lock().unwrap().push(Seen { line: line.clone(), authorization: authorization.clone() });
    if expected.is_some() && authorization != expected {
        let answer = "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\n\
                      Content-Length: 0\r\nConnection: close\r\n\r\n";
        let _ = stream.write_all(answer.as_bytes()).await;
        return;
    }
    let target = line.strip_prefix("CONNECT ").and_then(|rest| rest.split(' ').next()).unwrap_or_default();
    let Ok(target) = target.parse::<SocketAddr>() else {
        let _ = stream.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n").await;
        return;
    };
    let Ok(mut destination) = tokio::net::TcpStream::connect(target).await else {
        let _ = stream.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n").await;
        return;
    };
    if stream.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await.is_ok() {
        let _ = tokio::io::copy_bidirectional(&mut stream, &mut destination).await;
    }
}

fn base64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Loopback 127.0.0.1 only: `localhost` may also resolve to `::1`, which is refused,
/// so that the checked address the proxy is asked for is known.
fn loopback_v4() -> Destinations {
    Destinations::public_only().with("127.0.0.1".parse().unwrap())
}

fn executor(destinations: Destinations, proxy: &str) -> Executor {
    let proxy: EgressProxy = proxy.parse().unwrap();
    Executor::with_options(ExecutorOptions { destinations, proxy: Some(proxy), ..ExecutorOptions::default() })
}

fn run(executor: &Executor, toml: &str) -> Outcome {
    run_in(executor, toml, &Context::default())
}

/// Runs the spec with `context` (its secrets).
fn run_in(executor: &Executor, toml: &str, context: &Context) -> Outcome {
    let request = compile(toml);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(executor.execute(&request, &courier::Variables::new(), context, &mut Cookies::new()))
}

fn port_of(uri: &str) -> u16 {
    uri.rsplit(':').next().unwrap().parse().unwrap()
}

#[test]
fn http_goes_through_the_proxy_as_a_connect_to_the_checked_address() {
    let server = Server::start();
    server.mount(Mock::given(path("/hook")).respond_with(ResponseTemplate::new(200).set_body_string("ok")));
    let port = port_of(&server.uri());
    let proxy = TestProxy::start(None);
    let executor = executor(loopback_v4(), &proxy.url(None));
    let spec = format!("url = \"http://localhost:{port}/hook?q=1\"\n");
    for _ in 0..2 {
        let outcome = run(&executor, &spec);
        assert_eq!(outcome.status, Some(200), "{:?}", outcome.error);
    }
    // The name is resolved and checked by courier; the proxy gets the address.
    let lines = proxy.lines();
    assert!(!lines.is_empty());
    for line in &lines {
        assert_eq!(line, &format!("CONNECT 127.0.0.1:{port} HTTP/1.1"));
    }
    let received = server.received();
    assert_eq!(received.len(), 2);
    for request in received {
        // Inside the tunnel: origin form, and the name in Host.
        assert_eq!(request.url.path(), "/hook");
        assert_eq!(request.url.query(), Some("q=1"));
        assert_eq!(request.headers.get("host").unwrap(), &format!("localhost:{port}"));
        assert!(request.headers.get("proxy-authorization").is_none());
    }
}

/// A server that records the first bytes it gets (a TLS ClientHello) and closes.
fn hello_recorder() -> (u16, Arc<Mutex<Vec<u8>>>, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let bytes = Arc::new(Mutex::new(Vec::new()));
    let recorded = bytes.clone();
    let thread = std::thread::spawn(move || {
        use std::io::Read;
        // Nothing may come (a broken build): give up after a while rather than hang.
        listener.set_nonblocking(true).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(_) if std::time::Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                Err(_) => return,
            }
        };
        stream.set_nonblocking(false).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buffer = [0u8; 4096];
        let read = stream.read(&mut buffer).unwrap_or(0);
        recorded.lock().unwrap().extend_from_slice(&buffer[..read]);
    });
    (port, bytes, thread)
}

/// https is tunnelled to the checked address too, and the name goes out only
/// inside the tunnel, in the TLS ClientHello (SNI), as the bytes that cross the
/// tunnel show: the server here reads the ClientHello and closes. The complete
/// https runs are below.
#[test]
fn https_is_tunnelled_to_the_checked_address_with_the_name_only_in_tls() {
    let (port, hello, thread) = hello_recorder();
    let proxy = TestProxy::start(None);
    let executor = executor(loopback_v4(), &proxy.url(None));
    let outcome = run(&executor, &format!("url = \"https://localhost:{port}/\"\ntimeout = \"5s\"\n"));
    assert_eq!(outcome.status, None);
    thread.join().unwrap();
    assert_eq!(proxy.lines(), vec![format!("CONNECT 127.0.0.1:{port} HTTP/1.1")]);
    let hello = hello.lock().unwrap().clone();
    assert_eq!(hello.first(), Some(&0x16), "a TLS handshake record came through the tunnel");
    assert!(hello.windows(b"localhost".len()).any(|window| window == b"localhost"), "SNI names the host");
}

/// The `[tls]` lines of a spec for `server`: its CA as PEM text, then `more`.
fn https_spec(server: &TlsServer, ca: &TestCa, more: &str) -> String {
    format!("url = \"{}\"\ntimeout = \"10s\"\n[tls]\nca = '''\n{}'''\n{more}", server.url(), ca.pem())
}

/// The client certificate and key of a spec, from secrets.
const CLIENT_IDENTITY: &str = "client_cert = '${secret(\"CLIENT_CERT\")}'\nclient_key = '${secret(\"CLIENT_KEY\")}'\n";

/// What a TLS server on `port` receives for `/orders` from courier through the
/// proxy: the name in SNI and `Host`.
fn received_by_name(port: u16, presented: bool) -> Received {
    Received {
        target: "/orders".to_owned(),
        presented,
        sni: Some("localhost".to_owned()),
        host: Some(format!("localhost:{port}")),
    }
}

/// Every line the proxy got is the CONNECT to the checked address (and there is one).
fn assert_only_connects_to(proxy: &TestProxy, port: u16) {
    let lines = proxy.lines();
    assert!(!lines.is_empty(), "the proxy was never asked");
    for line in lines {
        assert_eq!(line, format!("CONNECT 127.0.0.1:{port} HTTP/1.1"));
    }
}

/// https through the proxy end to end: the spec's `[tls] ca` trusts the server's
/// test CA; the proxy is asked for the checked address; the server gets the name
/// in SNI and `Host`. The twin without `ca` fails the handshake through the same
/// proxy, so the 200 is the spec's CA at work over the tunnel.
#[test]
fn https_through_the_proxy_completes_with_the_specs_ca() {
    let ca = TestCa::new("server CA");
    let server = TlsServer::start(&ca.leaf("server"), None);
    let port = server.address.port();
    let proxy = TestProxy::start(None);
    let executor = executor(loopback_v4(), &proxy.url(None));

    let untrusted = run(&executor, &format!("url = \"{}\"\ntimeout = \"10s\"\n", server.url()));
    assert_eq!(untrusted.status, None);
    let error = untrusted.error.unwrap();
    assert!(error.contains("UnknownIssuer") || error.contains("no CA certificate is trusted"), "{error}");
    assert!(server.received().is_empty());

    for _ in 0..2 {
        let outcome = run(&executor, &https_spec(&server, &ca, ""));
        assert_eq!(outcome.status, Some(200), "{:?}", outcome.error);
    }
    assert_eq!(server.received(), vec![received_by_name(port, false); 2]);
    assert_only_connects_to(&proxy, port);
}

/// Mutual TLS through the proxy: the certificate from secrets is presented to the
/// server at the end of the tunnel (200). The twin without a client certificate is
/// refused by the server's handshake and nothing reaches it.
#[test]
fn mutual_tls_through_the_proxy_is_answered_with_the_certificate_and_refused_without() {
    let (ca, clients) = (TestCa::new("server CA"), TestCa::new("client CA"));
    let server = TlsServer::start(&ca.leaf("server"), Some(&clients));
    let port = server.address.port();
    let proxy = TestProxy::start(Some(&format!("{USER}:{PASSWORD}")));
    let executor = executor(loopback_v4(), &proxy.url(Some(&credentials(PASSWORD))));
    let client = clients.leaf("tenant-7");
    let context = context_with_secrets(&[("CLIENT_CERT", &client.cert), ("CLIENT_KEY", &client.key)]);

    let without = run_in(&executor, &https_spec(&server, &ca, ""), &context);
    assert_eq!(without.status, None);
    let error = without.error.clone().unwrap();
    assert!(error.contains("CertificateRequired"), "{error}");
    assert!(server.received().is_empty(), "no request got past the handshake");

    let with = run_in(&executor, &https_spec(&server, &ca, CLIENT_IDENTITY), &context);
    assert_eq!(with.status, Some(200), "{:?}", with.error);
    assert_eq!(server.received(), vec![received_by_name(port, true)]);
    assert_only_connects_to(&proxy, port);
    for seen in proxy.seen() {
        assert_eq!(seen.authorization, Some(format!("Basic {}", base64(&format!("{USER}:{PASSWORD}")))));
    }
    for outcome in [&without, &with] {
        let shown = format!("{} {outcome:?}", serde_json::to_string(outcome).unwrap());
        assert_no_key(&client.key, "the outcome", shown.as_bytes());
        assert_no_password("the outcome", &shown);
    }
}

/// `courier send --proxy` with a `[tls]` spec (its CA a file beside it, the client
/// certificate and key from secrets), `--debug` and a store: a certificate the
/// server does not accept is refused in the handshake and kept for replay; the
/// twin with the right one is answered 200 through the proxy. Neither the proxy
/// password nor either key is in any output or the store, in any form.
#[test]
fn send_with_mutual_tls_through_the_proxy_shows_neither_the_key_nor_the_password() {
    let (ca, clients, strangers) = (TestCa::new("server CA"), TestCa::new("client CA"), TestCa::new("stranger CA"));
    let server = TlsServer::start(&ca.leaf("server"), Some(&clients));
    let port = server.address.port();
    let proxy = TestProxy::start(Some(&format!("{USER}:{PASSWORD}")));
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("ca.pem"), ca.pem()).unwrap();
    let spec =
        write_spec(folder.path(), &format!("url = \"{}\"\n[tls]\nca = \"ca.pem\"\n{CLIENT_IDENTITY}", server.url()));
    let store = folder.path().join("replay.db");
    let (spec, store) = (spec.to_str().unwrap(), store.to_str().unwrap());
    let proxy_url = proxy.url(Some(&credentials(PASSWORD)));
    let send = |identity: &Leaf| {
        let secrets =
            [("COURIER_SECRET_CLIENT_CERT", identity.cert.as_str()), ("COURIER_SECRET_CLIENT_KEY", &identity.key)];
        courier(&["send", spec, "--debug", "--store", store, "--proxy", &proxy_url], &secrets)
    };

    let stranger = strangers.leaf("stranger");
    let refused = send(&stranger);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    let outcome: Json = serde_json::from_slice(&refused.stdout).unwrap();
    assert_eq!(outcome["status"], Json::Null, "{outcome}");
    assert_eq!(outcome["replay"]["state"], "failed", "{outcome}");
    assert!(server.received().is_empty(), "no request got past the handshake");

    let client = clients.leaf("tenant-7");
    let sent = send(&client);
    assert_eq!(sent.status.code(), Some(0), "{}", text(&sent.stderr));
    let outcome: Json = serde_json::from_slice(&sent.stdout).unwrap();
    assert_eq!(outcome["status"], 200, "{outcome}");
    // --debug is in effect: the log holds the request's headers and the response's body.
    assert!(outcome["log"][0]["request"]["headers"].is_object(), "{outcome}");
    assert_eq!(server.received(), vec![received_by_name(port, true)]);
    assert_only_connects_to(&proxy, port);

    let mut outputs = vec![
        ("refused stdout", refused.stdout.clone()),
        ("refused stderr", refused.stderr.clone()),
        ("sent stdout", sent.stdout.clone()),
        ("sent stderr", sent.stderr.clone()),
    ];
    for entry in std::fs::read_dir(folder.path()).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().starts_with("replay.db") {
            outputs.push(("the replay store", std::fs::read(entry.path()).unwrap()));
        }
    }
    assert!(outputs.iter().any(|(what, _)| *what == "the replay store"));
    for (what, bytes) in &outputs {
        assert_no_key(&stranger.key, what, bytes);
        assert_no_key(&client.key, what, bytes);
        assert_no_password(what, &String::from_utf8_lossy(bytes));
    }
}

#[test]
fn a_refused_destination_never_reaches_the_proxy() {
    let server = Server::start();
    server.mount(Mock::given(any()).respond_with(ResponseTemplate::new(200)));
    let port = port_of(&server.uri());
    let proxy = TestProxy::start(None);
    let refusing = executor(Destinations::public_only(), &proxy.url(None));
    for url in
        [format!("http://localhost:{port}/"), format!("http://127.0.0.1:{port}/"), format!("https://localhost:{port}/")]
    {
        let outcome = run(&refusing, &format!("url = \"{url}\"\n"));
        assert_eq!(outcome.status, None, "{url}");
        assert!(outcome.refused, "{url}: {:?}", outcome.error);
        let error = outcome.error.unwrap();
        assert!(error.contains("courier refused to connect to"), "{url}: {error}");
        assert!(error.contains("a loopback address"), "{url}: {error}");
    }
    assert!(proxy.seen().is_empty(), "the proxy was asked: {:?}", proxy.seen());
    assert!(server.received().is_empty());
    // The twin: the same destination allowed goes through the proxy.
    let allowing = executor(loopback_v4(), &proxy.url(None));
    let outcome = run(&allowing, &format!("url = \"http://localhost:{port}/\"\n"));
    assert_eq!(outcome.status, Some(200), "{:?}", outcome.error);
    assert_eq!(proxy.lines(), vec![format!("CONNECT 127.0.0.1:{port} HTTP/1.1")]);
}

/// Each redirect hop is checked before the proxy is asked for it.
#[test]
fn a_redirect_to_a_refused_destination_stops_before_the_proxy() {
    let server = Server::start();
    let port = port_of(&server.uri());
    server.mount(
        Mock::given(path("/away"))
            .respond_with(ResponseTemplate::new(302).insert_header("Location", "http://127.0.0.2:9/inside")),
    );
    server
        .mount(Mock::given(path("/here")).respond_with(
            ResponseTemplate::new(302).insert_header("Location", format!("http://localhost:{port}/end")),
        ));
    server.mount(Mock::given(path("/end")).respond_with(ResponseTemplate::new(200)));
    let proxy = TestProxy::start(None);
    let executor = executor(loopback_v4(), &proxy.url(None));
    let outcome = run(&executor, &format!("url = \"http://localhost:{port}/away\"\n"));
    assert_eq!(outcome.status, None);
    assert!(outcome.error.unwrap().contains("courier refused to connect to 127.0.0.2"));
    assert_eq!(proxy.lines(), vec![format!("CONNECT 127.0.0.1:{port} HTTP/1.1")]);
    // The twin: a redirect to an allowed destination is followed through the proxy.
    let outcome = run(&executor, &format!("url = \"http://localhost:{port}/here\"\n"));
    assert_eq!(outcome.status, Some(200), "{:?}", outcome.error);
    assert_eq!(server.received().iter().filter(|request| request.url.path() == "/end").count(), 1);
}

const USER: &str = "ops";
const PASSWORD: &str = "Pr0xy p@ss:w0rd/ü";

/// The password in every form it could be written in.
fn password_forms() -> Vec<String> {
    let encoded: String =
        percent_encoding::utf8_percent_encode(PASSWORD, percent_encoding::NON_ALPHANUMERIC).to_string();
    vec![
        PASSWORD.to_owned(),
        encoded.clone(),
        encoded.to_lowercase(),
        base64(&format!("{USER}:{PASSWORD}")),
        serde_json::to_string(PASSWORD).unwrap(),
        "Pr0xy".to_owned(),
    ]
}

fn credentials(password: &str) -> String {
    let encoded = percent_encoding::utf8_percent_encode(password, percent_encoding::NON_ALPHANUMERIC);
    format!("{USER}:{encoded}")
}

#[test]
fn a_proxy_that_refuses_is_no_response_and_the_twin_with_its_credentials_goes_through() {
    let server = Server::start();
    server.mount(Mock::given(any()).respond_with(ResponseTemplate::new(200)));
    let port = port_of(&server.uri());
    let proxy = TestProxy::start(Some(&format!("{USER}:{PASSWORD}")));
    let spec = format!("url = \"http://localhost:{port}/\"\n");
    let wrong = executor(loopback_v4(), &proxy.url(Some(&credentials("wrong"))));
    let outcome = run(&wrong, &spec);
    assert_eq!(outcome.status, None);
    let error = outcome.error.clone().unwrap();
    assert!(error.contains("proxy") && error.contains("refused") && error.contains("407"), "{error}");
    assert!(!outcome.refused, "not courier's refusal");
    assert!(server.received().is_empty());
    // https is told apart the same way.
    let outcome = run(&wrong, &format!("url = \"https://localhost:{port}/\"\n"));
    let error = outcome.error.unwrap();
    assert!(error.contains("proxy") && error.contains("refused") && error.contains("407"), "{error}");

    let right = executor(loopback_v4(), &proxy.url(Some(&credentials(PASSWORD))));
    let outcome = run(&right, &spec);
    assert_eq!(outcome.status, Some(200), "{:?}", outcome.error);
    let last = proxy.seen().pop().unwrap();
    assert_eq!(last.line, format!("CONNECT 127.0.0.1:{port} HTTP/1.1"));
    assert_eq!(last.authorization, Some(format!("Basic {}", base64(&format!("{USER}:{PASSWORD}")))));
    let debug = format!("{right:?} {:?}", right.options());
    for form in password_forms() {
        assert!(!debug.contains(&form), "{form} in {debug}");
    }
}

/// A proxy that cannot open the tunnel (502) is no response either.
#[test]
fn a_proxy_that_cannot_reach_the_destination_is_no_response() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let proxy = TestProxy::start(None);
    let executor = executor(loopback_v4(), &proxy.url(None));
    let outcome = run(&executor, &format!("url = \"http://localhost:{closed}/\"\n"));
    assert_eq!(outcome.status, None);
    let error = outcome.error.unwrap();
    assert!(error.contains("refused to open a tunnel to 127.0.0.1") && error.contains("502"), "{error}");
    assert_eq!(proxy.lines(), vec![format!("CONNECT 127.0.0.1:{closed} HTTP/1.1")]);
}

fn courier(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_courier"));
    command.args(args).current_dir(env!("CARGO_MANIFEST_DIR")).env("COURIER_ALLOW", "127.0.0.1");
    for name in ["COURIER_PROXY", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"] {
        command.env_remove(name);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("courier runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_no_password(what: &str, text: &str) {
    for form in password_forms() {
        assert!(!text.contains(&form), "the proxy password ({form}) is in {what}: {text}");
    }
}

#[test]
fn send_and_replay_through_the_proxy_and_its_password_appears_nowhere() {
    let server = Server::start();
    server.mount(Mock::given(any()).respond_with(ResponseTemplate::new(200).set_body_string("{\"ok\": true}")));
    let port = port_of(&server.uri());
    let proxy = TestProxy::start(Some(&format!("{USER}:{PASSWORD}")));
    let folder = tempfile::tempdir().unwrap();
    let spec = write_spec(folder.path(), &format!("method = \"POST\"\nurl = \"http://localhost:{port}/hook\"\n"));
    let store = folder.path().join("replay.db");
    let (spec, store) = (spec.to_str().unwrap(), store.to_str().unwrap());
    let wrong_url = proxy.url(Some(&credentials("nope")));

    let refused = courier(&["send", spec, "--debug", "--store", store, "--proxy", &wrong_url], &[]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    let outcome: Json = serde_json::from_slice(&refused.stdout).unwrap();
    assert_eq!(outcome["status"], Json::Null);
    let error = outcome["error"].as_str().unwrap();
    assert!(error.contains("the proxy") && error.contains("refused") && error.contains("407"), "{error}");
    assert!(text(&refused.stderr).contains("407"), "{}", text(&refused.stderr));
    assert!(server.received().is_empty());

    // The twin, through COURIER_PROXY, with the right password: the kept request
    // is sent by `replay run --proxy`, the new one by `send`.
    let right_url = proxy.url(Some(&credentials(PASSWORD)));
    let sent = courier(&["send", spec, "--debug", "--store", store], &[("COURIER_PROXY", &right_url)]);
    assert_eq!(sent.status.code(), Some(0), "{}", text(&sent.stderr));
    let listed = courier(&["replay", "--store", store, "list", "--format", "json"], &[]);
    let records: Json = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(records.as_array().map(Vec::len), Some(1), "the refused send was kept: {records}");
    let replayed = courier(&["replay", "--store", store, "run", "--all", "--proxy", &right_url], &[]);
    assert_eq!(replayed.status.code(), Some(0), "{}", text(&replayed.stderr));
    assert_eq!(server.received().len(), 2);
    for seen in proxy.seen() {
        assert_eq!(seen.line, format!("CONNECT 127.0.0.1:{port} HTTP/1.1"));
    }

    let mut outputs = vec![
        ("refused stdout", text(&refused.stdout)),
        ("refused stderr", text(&refused.stderr)),
        ("sent stdout", text(&sent.stdout)),
        ("sent stderr", text(&sent.stderr)),
        ("list", text(&listed.stdout)),
        ("replay stdout", text(&replayed.stdout)),
        ("replay stderr", text(&replayed.stderr)),
    ];
    // The store with its journal files (a SQLite WAL holds recent writes).
    for entry in std::fs::read_dir(folder.path()).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().starts_with("replay.db") {
            outputs.push(("the replay store", text(&std::fs::read(entry.path()).unwrap())));
        }
    }
    for (what, text) in outputs {
        assert_no_password(what, &text);
    }
    for request in server.received() {
        let headers = format!("{:?}", request.headers);
        assert_no_password("the destination's request", &headers);
    }
}

#[test]
fn http_proxy_variables_are_ignored_and_a_bad_proxy_is_told_without_its_password() {
    let server = Server::start();
    server.mount(Mock::given(any()).respond_with(ResponseTemplate::new(200)));
    let port = port_of(&server.uri());
    let folder = tempfile::tempdir().unwrap();
    let spec = write_spec(folder.path(), &format!("url = \"http://localhost:{port}/\"\n"));
    let spec = spec.to_str().unwrap();
    let proxy = TestProxy::start(None);
    let environment = [
        ("HTTP_PROXY", proxy.url(None)),
        ("HTTPS_PROXY", proxy.url(None)),
        ("ALL_PROXY", proxy.url(None)),
        ("http_proxy", proxy.url(None)),
    ];
    let environment: Vec<(&str, &str)> = environment.iter().map(|(name, value)| (*name, value.as_str())).collect();
    let direct = courier(&["send", spec], &environment);
    assert_eq!(direct.status.code(), Some(0), "{}", text(&direct.stderr));
    assert!(proxy.seen().is_empty(), "HTTP_PROXY was used: {:?}", proxy.seen());
    // The twin: COURIER_PROXY is used.
    let mut through = environment.clone();
    let url = proxy.url(None);
    through.push(("COURIER_PROXY", &url));
    let proxied = courier(&["send", spec], &through);
    assert_eq!(proxied.status.code(), Some(0), "{}", text(&proxied.stderr));
    assert_eq!(proxy.lines(), vec![format!("CONNECT 127.0.0.1:{port} HTTP/1.1")]);

    let secret_url = format!("https://{}@{}", credentials(PASSWORD), proxy.address);
    for (args, env) in [
        (vec!["send", spec, "--proxy", secret_url.as_str()], vec![]),
        (vec!["send", spec], vec![("COURIER_PROXY", secret_url.as_str())]),
        (vec!["worker", "--until-empty", "--store", "/nonexistent/x.db", "--proxy", secret_url.as_str()], vec![]),
        (vec!["serve", "--listen", "127.0.0.1:0", "--proxy", secret_url.as_str()], vec![]),
    ] {
        let output = courier(&args, &env);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", text(&output.stderr));
        let message = text(&output.stderr);
        assert!(message.contains("http://[user:password@]host:port"), "{message}");
        assert_no_password("a usage error", &message);
    }
}

/// Whether the runs through tinyproxy were asked for; if not, says what is skipped.
fn tinyproxy_wanted(what: &str) -> bool {
    if std::env::var("COURIER_TEST_TINYPROXY").as_deref() == Ok("1") {
        return true;
    }
    eprintln!("skipped: {what} through tinyproxy (set COURIER_TEST_TINYPROXY=1 with tinyproxy installed)");
    false
}

/// tinyproxy's password in these tests.
const TINYPROXY_PASSWORD: &str = "tinyPr0xyPass";

/// Debian's tinyproxy on a free loopback port, with Basic credentials, tunnelling
/// only to `connect_port`, logging into `folder`; stopped when dropped.
struct Tinyproxy {
    port: u16,
    log: std::path::PathBuf,
    process: std::process::Child,
}

impl Tinyproxy {
    fn start(folder: &Path, connect_port: u16) -> Tinyproxy {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = folder.join("tinyproxy.log");
        let config = folder.join("tinyproxy.conf");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 30\nLogFile \"{}\"\nLogLevel Info\nMaxClients 10\n\
                 Allow 127.0.0.1\nConnectPort {connect_port}\nBasicAuth {USER} {TINYPROXY_PASSWORD}\nPidFile \"{}\"\n",
                log.display(),
                folder.join("tinyproxy.pid").display(),
            ),
        )
        .unwrap();
        let binary = if Path::new("/usr/bin/tinyproxy").exists() { "/usr/bin/tinyproxy" } else { "tinyproxy" };
        let process =
            Command::new(binary).args(["-d", "-c", config.to_str().unwrap()]).spawn().expect("tinyproxy runs");
        let tinyproxy = Tinyproxy { port, log, process };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "tinyproxy did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        tinyproxy
    }

    fn url(&self, password: &str) -> String {
        format!("http://{USER}:{password}@127.0.0.1:{}", self.port)
    }

    /// Its log: the CONNECT lines it got.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its log shows the checked address for `port`, never the name.
    fn assert_asked_for_the_address(&self, port: u16) {
        let log = self.log();
        assert!(log.contains(&format!("CONNECT 127.0.0.1:{port}")), "{log}");
        assert!(!log.contains(&format!("localhost:{port}")), "tinyproxy was given the name: {log}");
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn assert_no_tinyproxy_password(outputs: &[&Output]) {
    for output in outputs {
        for stream in [&output.stdout, &output.stderr] {
            assert!(!text(stream).contains(TINYPROXY_PASSWORD));
        }
    }
}

/// Through Debian's tinyproxy (`COURIER_TEST_TINYPROXY=1`; `.ci/run` installs it):
/// a request with the proxy's credentials goes through, one without is refused
/// (401 or 407), and tinyproxy's log shows the checked address, not the name.
#[test]
fn through_tinyproxy() {
    if !tinyproxy_wanted("the run") {
        return;
    }
    let server = Server::start();
    server.mount(Mock::given(any()).respond_with(ResponseTemplate::new(200)));
    let port = port_of(&server.uri());
    let folder = tempfile::tempdir().unwrap();
    let tinyproxy = Tinyproxy::start(folder.path(), port);
    let spec = write_spec(folder.path(), &format!("url = \"http://localhost:{port}/via-tinyproxy\"\n"));
    let spec = spec.to_str().unwrap();
    let refused = courier(&["send", spec, "--proxy", &tinyproxy.url("nope")], &[]);
    let sent = courier(&["send", spec, "--proxy", &tinyproxy.url(TINYPROXY_PASSWORD)], &[]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    // tinyproxy answers a CONNECT with wrong credentials 401 (some versions 407).
    let message = text(&refused.stderr);
    assert!(
        message.contains("refused to open a tunnel") && (message.contains(" 401 ") || message.contains(" 407 ")),
        "{message}"
    );
    assert_eq!(sent.status.code(), Some(0), "{}", text(&sent.stderr));
    let received = server.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].url.path(), "/via-tinyproxy");
    assert_eq!(received[0].headers.get("host").unwrap(), &format!("localhost:{port}"));
    tinyproxy.assert_asked_for_the_address(port);
    assert_no_tinyproxy_password(&[&refused, &sent]);
}

/// https through tinyproxy (`COURIER_TEST_TINYPROXY=1`): the spec's `[tls] ca` (a
/// file beside it) trusts the server's test CA, the server is answered 200 with the
/// name in SNI and `Host`, and tinyproxy was asked for the checked address. The twin
/// without `ca`, through the same tinyproxy, fails the handshake.
#[test]
fn https_through_tinyproxy() {
    if !tinyproxy_wanted("the https run") {
        return;
    }
    let ca = TestCa::new("server CA");
    let server = TlsServer::start(&ca.leaf("server"), None);
    let port = server.address.port();
    let folder = tempfile::tempdir().unwrap();
    let tinyproxy = Tinyproxy::start(folder.path(), port);
    std::fs::write(folder.path().join("ca.pem"), ca.pem()).unwrap();
    let untrusted = folder.path().join("untrusted.toml");
    std::fs::write(&untrusted, format!("url = \"{}\"\ntimeout = \"10s\"\n", server.url())).unwrap();
    let trusted =
        write_spec(folder.path(), &format!("url = \"{}\"\ntimeout = \"10s\"\n[tls]\nca = \"ca.pem\"\n", server.url()));
    let proxy = tinyproxy.url(TINYPROXY_PASSWORD);

    let failed = courier(&["send", untrusted.to_str().unwrap(), "--proxy", &proxy], &[]);
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed.stderr));
    let error = text(&failed.stderr);
    assert!(error.contains("UnknownIssuer") || error.contains("no CA certificate is trusted"), "{error}");
    assert!(server.received().is_empty());

    let sent = courier(&["send", trusted.to_str().unwrap(), "--proxy", &proxy], &[]);
    assert_eq!(sent.status.code(), Some(0), "{}", text(&sent.stderr));
    let outcome: Json = serde_json::from_slice(&sent.stdout).unwrap();
    assert_eq!(outcome["status"], 200, "{outcome}");
    assert_eq!(server.received(), vec![received_by_name(port, false)]);
    tinyproxy.assert_asked_for_the_address(port);
    assert_no_tinyproxy_password(&[&failed, &sent]);
}

/// `POST /v1/send` with `body` on `address`: the whole answer, status line first.
fn post_send(address: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        stream,
        "POST /v1/send HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

#[test]
fn the_worker_and_serve_send_through_the_proxy() {
    let server = Server::start();
    server.mount(Mock::given(any()).respond_with(ResponseTemplate::new(200)));
    let port = port_of(&server.uri());
    let proxy = TestProxy::start(Some(&format!("{USER}:{PASSWORD}")));
    let proxy_url = proxy.url(Some(&credentials(PASSWORD)));
    let folder = tempfile::tempdir().unwrap();
    let spec =
        write_spec(folder.path(), &format!("method = \"POST\"\nurl = \"http://localhost:{port}/order/${{n}}\"\n"));
    let lines = folder.path().join("lines.jsonl");
    std::fs::write(&lines, "{\"n\": \"1\"}\n{\"n\": \"2\"}\n").unwrap();
    let store = folder.path().join("queue.db");
    let (spec, lines, store) = (spec.to_str().unwrap(), lines.to_str().unwrap(), store.to_str().unwrap());
    let queued = courier(&["enqueue", spec, "--store", store, "--vars-jsonl", lines], &[]);
    assert_eq!(queued.status.code(), Some(0), "{}", text(&queued.stderr));
    let worked = courier(&["worker", "--until-empty", "--store", store, "--proxy", &proxy_url], &[]);
    assert_eq!(worked.status.code(), Some(0), "{}", text(&worked.stderr));
    let mut paths: Vec<String> = server.received().iter().map(|request| request.url.path().to_owned()).collect();
    paths.sort();
    assert_eq!(paths, vec!["/order/1", "/order/2"]);
    assert!(!proxy.seen().is_empty());
    for seen in proxy.seen() {
        assert_eq!(seen.line, format!("CONNECT 127.0.0.1:{port} HTTP/1.1"));
    }
    assert_no_password("the worker's stdout", &text(&worked.stdout));
    assert_no_password("the worker's stderr", &text(&worked.stderr));

    let mut serve = Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(["serve", "--listen", "127.0.0.1:0", "--allow-send", "--allow", "127.0.0.1"])
        .env("COURIER_PROXY", &proxy_url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(serve.stdout.take().unwrap()), &mut line).unwrap();
    let address = line.split("http://").nth(1).and_then(|rest| rest.split('/').next()).unwrap().to_owned();
    let before = proxy.seen().len();
    let body = serde_json::json!({ "spec": format!("url = \"http://localhost:{port}/from-serve\"\n") }).to_string();
    let answer = post_send(&address, &body);
    let _ = serve.kill();
    let _ = serve.wait();
    assert!(answer.contains("\"status\":200"), "{answer}");
    assert_no_password("serve's answer", &answer);
    let seen = proxy.seen();
    assert_eq!(seen.len(), before + 1);
    assert_eq!(seen[before].line, format!("CONNECT 127.0.0.1:{port} HTTP/1.1"));
    assert!(server.received().iter().any(|request| request.url.path() == "/from-serve"));
}

/// The OAuth2 token request goes through the proxy too, checked first: a token URL
/// whose port is not allowed is refused with courier's refusal, the proxy untouched.
#[test]
fn the_token_request_is_checked_before_the_proxy() {
    let server = Server::start();
    server.mount(
        Mock::given(path("/oauth/token")).respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"access_token": "t1", "token_type": "bearer", "expires_in": 3600})),
        ),
    );
    server.mount(Mock::given(path("/api")).respond_with(ResponseTemplate::new(200)));
    let port = port_of(&server.uri());
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let proxy = TestProxy::start(None);
    let only_the_server = Destinations::public_only().with(format!("127.0.0.1:{port}").parse().unwrap());
    let executor = executor(only_the_server, &proxy.url(None));
    let spec = |token_port: u16| {
        format!(
            "url = \"http://localhost:{port}/api\"\n[auth]\ntype = \"oauth2\"\n\
             token_url = \"http://localhost:{token_port}/oauth/token\"\nclient_id = \"bot\"\n"
        )
    };
    let outcome = run(&executor, &spec(closed));
    assert_eq!(outcome.status, None);
    let error = outcome.error.unwrap();
    assert!(error.contains("getting an OAuth2 token: courier refused to connect to localhost port"), "{error}");
    assert!(proxy.seen().is_empty(), "{:?}", proxy.seen());
    // The twin: the token URL on the allowed port.
    let outcome = run(&executor, &spec(port));
    assert_eq!(outcome.status, Some(200), "{:?}", outcome.error);
    let received = server.received();
    assert_eq!(received.last().unwrap().headers.get("authorization").unwrap(), "Bearer t1");
    assert!(proxy.lines().iter().all(|line| line == &format!("CONNECT 127.0.0.1:{port} HTTP/1.1")));
    assert!(!proxy.lines().is_empty());
}

/// A proxy that refuses every tunnel with a reason phrase echoing what it was
/// sent: the `Proxy-Authorization` value, the credentials it decodes to, and the
/// password alone.
fn echoing_proxy(runtime: &tokio::runtime::Runtime) -> SocketAddr {
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let address = listener.local_addr().unwrap();
    runtime.spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let head = read_head(&mut stream).await.unwrap_or_default();
            let given = head
                .lines()
                .find_map(|line| line.strip_prefix("Proxy-Authorization: "))
                .unwrap_or("none")
                .to_owned();
            let decoded = given
                .strip_prefix("Basic ")
                .and_then(|encoded| base64::engine::general_purpose::STANDARD.decode(encoded).ok())
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .unwrap_or_default();
            let password = decoded.split_once(':').map(|(_, password)| password).unwrap_or_default();
            let answer = format!(
                "HTTP/1.1 407 denied {password} for {given} ({decoded})\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    address
}

/// A proxy that echoes its credentials in its reason phrase: the error keeps the
/// phrase (the twin: its words are shown) but never the password, in any form,
/// even where the phrase is shortened or its non-ASCII letters dropped.
#[test]
fn a_proxy_echoing_its_credentials_in_its_refusal_shows_no_password() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let address = echoing_proxy(&runtime);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let executor = executor(loopback_v4(), &format!("http://{}@{address}", credentials(PASSWORD)));
    for scheme in ["http", "https"] {
        let outcome = run(&executor, &format!("url = \"{scheme}://localhost:{port}/\"\n"));
        assert_eq!(outcome.status, None);
        let error = outcome.error.unwrap();
        assert!(error.contains("refused to open a tunnel") && error.contains("407 denied"), "{error}");
        assert_no_password("the refusal", &error);
        assert!(!error.contains("w0rd"), "a part of the password is in the refusal: {error}");
    }
    // The twin: without credentials, the proxy's own words come through.
    let open = Executor::with_options(ExecutorOptions {
        destinations: loopback_v4(),
        proxy: Some(format!("http://{address}").parse().unwrap()),
        ..ExecutorOptions::default()
    });
    let outcome = run(&open, &format!("url = \"http://localhost:{port}/\"\n"));
    let error = outcome.error.unwrap();
    assert!(error.contains("407 denied  for none ()"), "{error}");
}
