//! The destination policy through the executor, on loopback: several 127.0.0.x
//! addresses play several hosts, and a listener on each refused address proves that
//! nothing connected to it.
#![cfg(feature = "sqlite")]

mod common;

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{IpAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{compile, event_names};
use courier::functions::SecretResolver;
use courier::replay::{ReplayStore, SqliteStore};
use courier::request::{Cookies, Destinations, Entry, Executor, ExecutorOptions, Outcome};
use courier::{Context, Variables};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// A listener on `ip` that accepts nothing: [`Self::assert_untouched`] proves that
/// no connection reached it.
struct Trap {
    listener: TcpListener,
}

impl Trap {
    fn on(ip: &str) -> Trap {
        let listener = TcpListener::bind((ip, 0)).unwrap_or_else(|error| panic!("bind {ip}: {error}"));
        listener.set_nonblocking(true).expect("non-blocking");
        Trap { listener }
    }

    fn port(&self) -> u16 {
        self.listener.local_addr().unwrap().port()
    }

    fn url(&self, host: &str) -> String {
        format!("http://{host}:{}/trap", self.port())
    }

    fn assert_untouched(&self) {
        match self.listener.accept() {
            Err(error) if error.kind() == ErrorKind::WouldBlock => {}
            Ok((_, from)) => panic!("something connected to {:?} from {from}", self.listener.local_addr()),
            Err(error) => panic!("accept failed: {error}"),
        }
    }
}

/// A wiremock server listening on `ip`, answering every request with `response`.
async fn server_on(ip: &str, response: ResponseTemplate) -> MockServer {
    let listener = TcpListener::bind((ip, 0)).unwrap_or_else(|error| panic!("bind {ip}: {error}"));
    let server = MockServer::builder().listener(listener).start().await;
    Mock::given(any()).respond_with(response).mount(&server).await;
    server
}

async fn received(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.expect("recording is on")
}

fn executor_allowing(entries: &[&str]) -> Executor {
    let mut destinations = Destinations::public_only();
    for entry in entries {
        destinations.allow(entry.parse::<Entry>().unwrap());
    }
    Executor::with_options(ExecutorOptions { destinations, ..ExecutorOptions::default() })
}

async fn send_with(executor: &Executor, spec: &str, context: &Context) -> Outcome {
    executor.execute(&compile(spec), &Variables::new(), context, &mut Cookies::new()).await
}

async fn send(executor: &Executor, spec: &str) -> Outcome {
    send_with(executor, spec, &Context::default()).await
}

/// A refusal: nothing answered, one `api_exception`, a message that says courier
/// refused (naming `names`), and nothing that reads like a network failure.
fn assert_refused(outcome: &Outcome, names: &[&str]) {
    assert_eq!(outcome.status, None, "{outcome:?}");
    assert_eq!(event_names(outcome), ["api_exception"], "{outcome:?}");
    assert!(outcome.refused, "{outcome:?}");
    let error = outcome.error.as_deref().expect("an error");
    assert!(error.starts_with("courier refused"), "{error}");
    for name in names {
        assert!(error.contains(name), "{error} names {name}");
    }
    for network in ["tcp connect error", "os error", "error sending request", "dns error"] {
        assert!(!error.contains(network), "{error}");
    }
    assert_eq!(outcome.events[0].error.as_deref(), Some(error));
}

#[tokio::test]
async fn by_default_loopback_in_every_spelling_is_refused_and_nothing_connects() {
    let trap = Trap::on("127.0.0.3");
    let executor = Executor::new();
    for host in ["127.0.0.3", "2130706435", "0x7f000003", "127.0.3", "[::ffff:127.0.0.3]", "[::ffff:7f00:3]"] {
        let outcome = send(&executor, &format!("url = \"{}\"", trap.url(host))).await;
        assert_refused(&outcome, &["loopback address"]);
        trap.assert_untouched();
    }
}

#[tokio::test]
async fn ipv6_loopback_is_refused_by_default_and_reached_when_allowed() {
    let Ok(listener) = TcpListener::bind("[::1]:0") else {
        eprintln!("no IPv6 loopback on this machine: nothing to test");
        return;
    };
    listener.set_nonblocking(true).unwrap();
    let trap = Trap { listener };
    let outcome = send(&Executor::new(), &format!("url = \"{}\"", trap.url("[::1]"))).await;
    assert_refused(&outcome, &["[::1] port", "::1 is a loopback address"]);
    trap.assert_untouched();
    let server = server_on("::1", ResponseTemplate::new(200)).await;
    let url = format!("url = \"http://[::1]:{}/ok\"", server.address().port());
    assert_refused(&send(&executor_allowing(&["127.0.0.0/8"]), &url).await, &["::1 is a loopback address"]);
    assert_eq!(send(&executor_allowing(&["::1"]), &url).await.status, Some(200));
    assert_refused(&send(&executor_allowing(&["[::1]:1"]), &url).await, &["::1 is a loopback address"]);
}

#[tokio::test]
async fn never_reachable_ranges_stay_refused_whatever_is_allowed() {
    // 0.0.0.0 reaches this host's listeners, so a listener on every address proves it.
    let trap = Trap::on("0.0.0.0");
    let everything = executor_allowing(&["private", "0.0.0.0/0", "::/0"]);
    for host in ["0.0.0.0", "0", "[::]", "[::ffff:0.0.0.0]"] {
        let outcome = send(&everything, &format!("url = \"{}\"", trap.url(host))).await;
        assert_refused(&outcome, &["courier never connects to it"]);
    }
    trap.assert_untouched();
    let started = Instant::now();
    for (url, rule) in [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
        ("http://[fd00:ec2::254]/", "is a cloud metadata address"),
        ("http://100.100.100.200/", "is a cloud metadata address"),
        ("http://[::ffff:a9fe:a9fe]/", "carries 169.254.169.254) is a cloud metadata address"),
        ("http://255.255.255.255/", "the broadcast address"),
        ("http://224.0.0.1/", "a multicast address"),
    ] {
        let outcome = send(&everything, &format!("url = \"{url}\"")).await;
        assert_refused(&outcome, &[rule, "courier never connects to it"]);
    }
    // Refused before any connection is tried: no connect timeout was waited for.
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

#[tokio::test]
async fn the_private_group_is_refused_by_default_with_its_rule() {
    let executor = Executor::new();
    for (url, rule) in [
        ("http://10.1.2.3/", "a private (RFC 1918) address"),
        ("http://192.168.0.1/", "a private (RFC 1918) address"),
        ("http://100.64.0.1/", "a shared (CGNAT) address"),
        ("http://169.254.1.1/", "a link-local address"),
        ("http://[fe80::1]/", "a link-local address"),
        ("http://[fd12::1]/", "a unique-local address"),
        ("http://[64:ff9b::a00:1]/", "a private (RFC 1918) address"),
        ("http://[2002:c0a8:1::1]/", "a private (RFC 1918) address"),
        ("http://198.18.0.1/", "a benchmarking address"),
        ("http://240.0.0.1/", "a reserved address"),
    ] {
        let outcome = send(&executor, &format!("url = \"{url}\"\nconnect_timeout = \"100ms\"")).await;
        assert_refused(&outcome, &[rule, "reachable only when an allow entry covers it"]);
    }
}

#[tokio::test]
async fn an_allowed_address_is_reached_and_no_other() {
    let server = server_on("127.0.0.2", ResponseTemplate::new(200)).await;
    let trap = Trap::on("127.0.0.3");
    let executor = executor_allowing(&["127.0.0.2"]);
    let outcome = send(&executor, &format!("url = \"{}/ok\"", server.uri())).await;
    assert_eq!(outcome.status, Some(200), "{outcome:?}");
    let outcome = send(&executor, &format!("url = \"{}\"", trap.url("127.0.0.3"))).await;
    assert_refused(&outcome, &["127.0.0.3"]);
    trap.assert_untouched();
}

#[tokio::test]
async fn a_port_entry_allows_that_port_only() {
    let server = server_on("127.0.0.2", ResponseTemplate::new(200)).await;
    let trap = Trap::on("127.0.0.2");
    let port = server.address().port();
    let executor = executor_allowing(&[&format!("127.0.0.2:{port}")]);
    assert_eq!(send(&executor, &format!("url = \"{}/ok\"", server.uri())).await.status, Some(200));
    let outcome = send(&executor, &format!("url = \"{}\"", trap.url("127.0.0.2"))).await;
    assert_refused(&outcome, &[&format!("port {}", trap.port())]);
    trap.assert_untouched();
}

#[tokio::test]
async fn a_host_name_entry_exempts_what_that_name_resolves_to_on_that_port() {
    let server = server_on("127.0.0.1", ResponseTemplate::new(200)).await;
    let port = server.address().port();
    let by_name = format!("url = \"http://localhost:{port}/ok\"");
    let refused = send(&Executor::new(), &by_name).await;
    assert_refused(&refused, &["localhost", "127.0.0.1", "loopback address"]);
    assert_eq!(send(&executor_allowing(&["localhost"]), &by_name).await.status, Some(200));
    assert_eq!(send(&executor_allowing(&[&format!("localhost:{port}")]), &by_name).await.status, Some(200));
    let other_port = send(&executor_allowing(&[&format!("localhost:{}", port ^ 1)]), &by_name).await;
    assert_refused(&other_port, &["localhost"]);
    // The entry names the host, not its addresses for every other name.
    let by_address = send(&executor_allowing(&["localhost"]), &format!("url = \"{}/ok\"", server.uri())).await;
    assert_refused(&by_address, &["127.0.0.1"]);
    assert_eq!(received(&server).await.len(), 2);
}

#[tokio::test]
async fn a_redirect_to_a_refused_host_stops_before_connecting() {
    let trap = Trap::on("127.0.0.3");
    let target = trap.url("127.0.0.3");
    let server = server_on("127.0.0.2", ResponseTemplate::new(302).insert_header("Location", target.as_str())).await;
    let outcome = send(&executor_allowing(&["127.0.0.2"]), &format!("url = \"{}/start\"", server.uri())).await;
    assert_refused(&outcome, &["127.0.0.3", "loopback address"]);
    assert_eq!(received(&server).await.len(), 1);
    trap.assert_untouched();
    // Nor to the metadata service, nor from https to http (checked before the policy).
    let metadata =
        server_on("127.0.0.2", ResponseTemplate::new(307).insert_header("Location", "http://169.254.169.254/")).await;
    let outcome = send(&executor_allowing(&["private"]), &format!("url = \"{}/start\"", metadata.uri())).await;
    assert_refused(&outcome, &["cloud metadata address"]);
}

/// A server on 127.0.0.2 whose every path `/hop/N` redirects to `/hop/N+1`.
async fn endless_redirects() -> MockServer {
    struct Next;
    impl wiremock::Respond for Next {
        fn respond(&self, request: &Request) -> ResponseTemplate {
            let hop: u32 = request.url.path().trim_start_matches("/hop/").parse().unwrap_or(0);
            ResponseTemplate::new(302).insert_header("Location", format!("/hop/{}", hop + 1).as_str())
        }
    }
    let listener = TcpListener::bind(("127.0.0.2", 0)).unwrap();
    let server = MockServer::builder().listener(listener).start().await;
    Mock::given(any()).respond_with(Next).mount(&server).await;
    server
}

#[tokio::test]
async fn five_redirects_are_followed_by_default_and_redirects_sets_the_number() {
    let executor = executor_allowing(&["127.0.0.2"]);
    for (field, requests) in [("", 6), ("redirects = 0\n", 1), ("redirects = 2\n", 3)] {
        let server = endless_redirects().await;
        let mut spec = format!("{field}url = \"{}/hop/0\"\n", server.uri());
        spec.push_str("debug = true\n");
        let outcome = send(&executor, &spec).await;
        assert_eq!(outcome.status, Some(302), "{field}: {outcome:?}");
        assert_eq!(outcome.error, None);
        let paths: Vec<String> = received(&server).await.iter().map(|request| request.url.path().to_owned()).collect();
        let expected: Vec<String> = (0..requests).map(|hop| format!("/hop/{hop}")).collect();
        assert_eq!(paths, expected, "{field}");
        let hops = outcome.log.iter().filter(|entry| entry.message.starts_with("redirect ")).count();
        assert_eq!(hops, requests - 1, "the log lists every hop: {:?}", outcome.log);
    }
}

/// Secrets by name, some bound to hosts.
struct BoundSecrets {
    values: HashMap<&'static str, &'static str>,
    hosts: HashMap<&'static str, Vec<String>>,
}

impl SecretResolver for BoundSecrets {
    fn resolve(&self, name: &str) -> Option<String> {
        self.values.get(name).map(|value| value.to_string())
    }

    fn allowed_hosts(&self, name: &str) -> Option<Vec<String>> {
        self.hosts.get(name).cloned()
    }
}

fn secrets(bound: &[(&'static str, &str)]) -> Context {
    let values = HashMap::from([("API_KEY", "k3y-s3cret"), ("TOKEN", "t0ken-s3cret")]);
    let hosts = bound.iter().map(|(name, hosts)| (*name, vec![hosts.to_string()])).collect();
    Context::default().with_secrets(Arc::new(BoundSecrets { values, hosts }))
}

#[tokio::test]
async fn a_hop_to_another_allowed_origin_is_followed_without_the_credentials() {
    let second = server_on("127.0.0.4", ResponseTemplate::new(200)).await;
    let first = server_on(
        "127.0.0.2",
        ResponseTemplate::new(302).insert_header("Location", format!("{}/landing", second.uri()).as_str()),
    )
    .await;
    let spec = format!(
        "url = \"{}/start\"\ncookies = [\"SID\"]\n[headers]\nX-Api-Key = \"${{secret(\\\"API_KEY\\\")}}\"\nX-Shop = \"42\"\nX-Signature = \"${{sha256(secret(\\\"API_KEY\\\"))}}\"\n\
         [auth]\ntype = \"bearer\"\ntoken = \"${{secret(\\\"TOKEN\\\")}}\"\n",
        first.uri()
    );
    let executor = executor_allowing(&["127.0.0.2", "127.0.0.4"]);
    let mut cookies = Cookies::new();
    cookies.insert("SID".into(), "session-1".into());
    let outcome = executor.execute(&compile(&spec), &Variables::new(), &secrets(&[]), &mut cookies).await;
    assert_eq!(outcome.status, Some(200), "{outcome:?}");
    let at_first = &received(&first).await[0];
    assert_eq!(at_first.headers.get("x-api-key").unwrap(), "k3y-s3cret");
    assert!(at_first.headers.contains_key("authorization") && at_first.headers.contains_key("cookie"));
    let at_second = &received(&second).await[0];
    assert_eq!(at_second.url.path(), "/landing");
    assert_eq!(at_second.headers.get("x-shop").unwrap(), "42");
    assert!(at_first.headers.contains_key("x-signature"));
    for credential in ["x-api-key", "x-signature", "authorization", "cookie"] {
        assert!(!at_second.headers.contains_key(credential), "{credential} followed: {:?}", at_second.headers);
    }
    let note = outcome.log.iter().find(|entry| entry.message.starts_with("redirect 1 of at most 5")).expect("a hop");
    assert!(note.message.contains("another origin"), "{}", note.message);
}

#[tokio::test]
async fn a_body_is_not_sent_again_to_another_origin() {
    let trap = Trap::on("127.0.0.4");
    let first =
        server_on("127.0.0.2", ResponseTemplate::new(307).insert_header("Location", trap.url("127.0.0.4").as_str()))
            .await;
    let spec = format!(
        "method = \"POST\"\nurl = \"{}/orders\"\nbody = \"json\"\npayload = '{{\"card\": \"4111\"}}'\n",
        first.uri()
    );
    let outcome = send(&executor_allowing(&["private"]), &spec).await;
    assert_refused(&outcome, &["307", "body again to another origin"]);
    trap.assert_untouched();
}

#[tokio::test]
async fn a_secret_bound_to_other_hosts_is_never_sent() {
    let trap = Trap::on("127.0.0.4");
    let spec =
        format!("url = \"{}\"\n[headers]\nX-Api-Key = \"${{secret(\\\"API_KEY\\\")}}\"\n", trap.url("127.0.0.4"));
    let executor = executor_allowing(&["private"]);
    let outcome = send_with(&executor, &spec, &secrets(&[("API_KEY", "127.0.0.2")])).await;
    assert_refused(&outcome, &["the secret API_KEY to 127.0.0.4", "bound to 127.0.0.2"]);
    assert!(!format!("{outcome:?}").contains("k3y-s3cret"));
    trap.assert_untouched();

    // Its own host gets it; a redirect from there to another host, carrying it in the
    // URL, stops before connecting.
    let leak = format!("{}?key=k3y-s3cret", trap.url("127.0.0.4"));
    let own = server_on("127.0.0.2", ResponseTemplate::new(302).insert_header("Location", leak.as_str())).await;
    let spec = format!("url = \"{}/start\"\n[headers]\nX-Api-Key = \"${{secret(\\\"API_KEY\\\")}}\"\n", own.uri());
    let outcome = send_with(&executor, &spec, &secrets(&[("API_KEY", "127.0.0.2")])).await;
    assert_refused(&outcome, &["the secret API_KEY to 127.0.0.4"]);
    assert_eq!(received(&own).await.len(), 1);
    trap.assert_untouched();
}

#[tokio::test]
async fn the_token_request_follows_no_redirect() {
    let trap = Trap::on("127.0.0.4");
    let token =
        server_on("127.0.0.2", ResponseTemplate::new(307).insert_header("Location", trap.url("127.0.0.4").as_str()))
            .await;
    let api = server_on("127.0.0.3", ResponseTemplate::new(200)).await;
    let spec = format!(
        "url = \"{}/api\"\n[auth]\ntype = \"oauth2\"\ntoken_url = \"{}/token\"\nclient_id = \"bot\"\nclient_secret = \"${{secret(\\\"API_KEY\\\")}}\"\n",
        api.uri(),
        token.uri()
    );
    let outcome = send_with(&executor_allowing(&["private"]), &spec, &secrets(&[])).await;
    assert_eq!(outcome.status, None);
    assert!(outcome.error.as_deref().unwrap().contains("answered 307"), "{outcome:?}");
    assert_eq!(received(&token).await.len(), 1);
    assert!(received(&api).await.is_empty());
    trap.assert_untouched();
    // And a token URL the policy refuses is not asked at all.
    let spec = spec.replace(&token.uri(), &trap.url("127.0.0.4").replace("/trap", ""));
    let outcome = send_with(&executor_allowing(&["127.0.0.3"]), &spec, &secrets(&[])).await;
    assert_refused(&outcome, &["127.0.0.4"]);
    trap.assert_untouched();
}

#[tokio::test]
async fn a_body_file_on_the_web_is_checked_too() {
    let trap = Trap::on("127.0.0.3");
    let api = server_on("127.0.0.2", ResponseTemplate::new(200)).await;
    let spec = format!(
        "method = \"POST\"\nurl = \"{}/upload\"\n[body]\ntype = \"octet-stream\"\nfile = \"{}\"\n",
        api.uri(),
        trap.url("127.0.0.3")
    );
    let outcome = send(&executor_allowing(&["127.0.0.2"]), &spec).await;
    assert_refused(&outcome, &["127.0.0.3"]);
    assert!(received(&api).await.is_empty());
    trap.assert_untouched();
}

#[tokio::test]
async fn a_refused_request_is_not_kept_for_replay() {
    let folder = tempfile::tempdir().unwrap();
    let store: Arc<dyn ReplayStore> = Arc::new(SqliteStore::new(folder.path().join("replay.db")));
    let trap = Trap::on("127.0.0.3");
    let delivery = courier::replay::Delivery::new(Executor::new()).with_store(store.clone());
    let spec = compile(&format!("method = \"POST\"\nurl = \"{}\"", trap.url("127.0.0.3")));
    let outcome = delivery.execute(&spec, &Variables::new(), &Context::default(), &mut Cookies::new()).await;
    assert_refused(&outcome, &["127.0.0.3"]);
    assert_eq!(outcome.replay, None);
    assert!(store.list().unwrap().is_empty());
    trap.assert_untouched();
}

#[test]
fn the_librarys_default_refuses_the_private_group() {
    let default = ExecutorOptions::default().destinations;
    assert_eq!(default, Destinations::public_only());
    let loopback: IpAddr = "127.0.0.1".parse().unwrap();
    assert!(default.check_address("127.0.0.1", loopback, 80).is_err());
    assert!(Executor::new().options().destinations.entries().is_empty());
}

#[tokio::test]
async fn a_bound_secret_is_refused_to_other_hosts_whatever_became_of_its_value() {
    let trap = Trap::on("127.0.0.4");
    let executor = executor_allowing(&["private"]);
    let bound = secrets(&[("API_KEY", "127.0.0.2")]);
    let url = trap.url("127.0.0.4");
    let transformed = [
        "stringToUpperCase(secret(\\\"API_KEY\\\"))",
        "stringToLowerCase(secret(\\\"API_KEY\\\"))",
        "capitalize(secret(\\\"API_KEY\\\"))",
        "substring(secret(\\\"API_KEY\\\"), 1, 6)",
        "stringReplace(secret(\\\"API_KEY\\\"), \\\"s3\\\", \\\"S-3\\\")",
        "\\\"x\\\" += secret(\\\"API_KEY\\\") += \\\"y\\\"",
        "sha256(secret(\\\"API_KEY\\\"))",
    ];
    for expression in transformed {
        let places = [
            format!("url = \"{url}?k=${{{expression}}}\"\n"),
            format!("url = \"{url}\"\n[headers]\nX-K = \"${{{expression}}}\"\n"),
            format!(
                "method = \"POST\"\nurl = \"{url}\"\n[body]\ntype = \"form\"\n[body.fields]\nk = \"${{{expression}}}\"\n"
            ),
            format!("url = \"{url}\"\n[auth]\ntype = \"bearer\"\ntoken = \"${{{expression}}}\"\n"),
        ];
        for spec in places {
            let outcome = send_with(&executor, &spec, &bound).await;
            assert_refused(&outcome, &["the secret API_KEY to 127.0.0.4", "bound to 127.0.0.2"]);
            trap.assert_untouched();
        }
    }
    // Its own host gets it in any form.
    let own = server_on("127.0.0.2", ResponseTemplate::new(200)).await;
    let spec = format!("url = \"{}/x\"\n[headers]\nX-K = \"${{capitalize(secret(\\\"API_KEY\\\"))}}\"\n", own.uri());
    let outcome = send_with(&executor, &spec, &bound).await;
    assert_eq!(outcome.status, Some(200), "{outcome:?}");
    // An OAuth2 client secret bound to the token host goes there; the request
    // carries only the token, so the API on another host is not refused for it.
    let token = server_on(
        "127.0.0.2",
        ResponseTemplate::new(200)
            .set_body_raw(r#"{"access_token": "tok-123456", "expires_in": 60}"#, "application/json"),
    )
    .await;
    let api = server_on("127.0.0.3", ResponseTemplate::new(200)).await;
    let spec = format!(
        "url = \"{}/api\"\n[auth]\ntype = \"oauth2\"\ntoken_url = \"{}/token\"\nclient_id = \"bot\"\nclient_secret = \"${{stringToUpperCase(secret(\\\"API_KEY\\\"))}}\"\n",
        api.uri(),
        token.uri()
    );
    let outcome = send_with(&executor, &spec, &bound).await;
    assert_eq!(outcome.status, Some(200), "{outcome:?}");
    // ... but a token URL on another host is refused the client secret.
    let spec = spec.replace(&token.uri(), &trap.url("127.0.0.4").replace("/trap", ""));
    let outcome = send_with(&executor, &spec, &bound).await;
    assert_refused(&outcome, &["the secret API_KEY to 127.0.0.4"]);
    trap.assert_untouched();
}
