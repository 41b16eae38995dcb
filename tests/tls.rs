//! `[tls]` against real TLS servers on loopback, with certificates from test CAs
//! made with rcgen (`tests/tls_support`): a CA trusted besides or instead of the system's, a client
//! certificate for mutual TLS from secrets (never in any output or store), and
//! courier on a machine with no system CA store at all. Every refused case has a
//! twin that passes.
#![cfg(feature = "cli")]

mod replay_support;
mod tls_support;

use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use replay_support::{Server, stderr, stdout};
use tls_support::{Leaf, TestCa, TlsServer, assert_no_key};

fn write(folder: &Path, name: &str, text: &str) {
    std::fs::write(folder.join(name), text).unwrap();
}

fn outcome(output: &Output) -> serde_json::Value {
    serde_json::from_str(&stdout(output)).unwrap_or_else(|_| panic!("not JSON: {}\n{}", stdout(output), stderr(output)))
}

/// `courier send NAME` in `folder`, with the client certificate and key as secrets.
fn send(folder: &Path, spec: &str, client: Option<&Leaf>, extra: &[&str]) -> Output {
    let mut command = replay_support::courier(folder);
    command.args(["send", spec]).args(extra);
    if let Some(client) = client {
        command.env("COURIER_SECRET_CLIENT_CERT", &client.cert).env("COURIER_SECRET_CLIENT_KEY", &client.key);
    }
    command.output().unwrap()
}

/// A server of its own test CA that asks for a client certificate issued by the
/// returned client CA, and a folder holding the server's CA as `ca.pem`.
fn mtls_server() -> (TestCa, TlsServer, tempfile::TempDir) {
    let (ca, clients) = (TestCa::new("server CA"), TestCa::new("client CA"));
    let server = TlsServer::start(&ca.leaf("server"), Some(&clients));
    let folder = tempfile::tempdir().unwrap();
    write(folder.path(), "ca.pem", &ca.pem());
    (clients, server, folder)
}

const MTLS: &str = "[tls]\nca = \"ca.pem\"\nclient_cert = '${secret(\"CLIENT_CERT\")}'\n\
                    client_key = '${secret(\"CLIENT_KEY\")}'\n";

#[test]
fn a_server_that_asks_for_a_client_certificate_refuses_a_request_without_one_and_answers_one_with_it() {
    let (clients, server, folder) = mtls_server();
    write(folder.path(), "plain.toml", &format!("url = \"{}\"\n[tls]\nca = \"ca.pem\"\n", server.url()));
    write(folder.path(), "mtls.toml", &format!("url = \"{}\"\n{MTLS}", server.url()));

    let refused = send(folder.path(), "plain.toml", None, &[]);
    let answer = outcome(&refused);
    assert_eq!(answer["status"], serde_json::Value::Null, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("CertificateRequired"), "{answer}");
    assert!(server.seen().is_empty(), "no request got past the handshake");

    let client = clients.leaf("tenant-7");
    let accepted = send(folder.path(), "mtls.toml", Some(&client), &[]);
    assert_eq!(outcome(&accepted)["status"], 200, "{}", stdout(&accepted));
    assert_eq!(server.seen(), [("/orders".to_owned(), true)]);
}

#[test]
fn ca_only_with_the_wrong_ca_is_refused_and_with_the_right_one_succeeds() {
    let (ca, other) = (TestCa::new("server CA"), TestCa::new("another CA"));
    let server = TlsServer::start(&ca.leaf("server"), None);
    let folder = tempfile::tempdir().unwrap();
    write(folder.path(), "right.pem", &ca.pem());
    write(folder.path(), "wrong.pem", &other.pem());
    for name in ["right", "wrong"] {
        let spec = format!("url = \"{}\"\n[tls]\nca = \"{name}.pem\"\nca_only = true\n", server.url());
        write(folder.path(), &format!("{name}.toml"), &spec);
    }
    let wrong = outcome(&send(folder.path(), "wrong.toml", None, &[]));
    assert!(wrong["error"].as_str().unwrap().contains("UnknownIssuer"), "{wrong}");
    let right = outcome(&send(folder.path(), "right.toml", None, &[]));
    assert_eq!(right["status"], 200, "{right}");
}

#[test]
fn a_server_of_a_private_ca_fails_without_ca_and_answers_with_it_given_as_text_or_file() {
    let ca = TestCa::new("private CA");
    let server = TlsServer::start(&ca.leaf("server"), None);
    let folder = tempfile::tempdir().unwrap();
    write(folder.path(), "none.toml", &format!("url = \"{}\"\n", server.url()));
    write(folder.path(), "ca.pem", &ca.pem());
    write(folder.path(), "file.toml", &format!("url = \"{}\"\n[tls]\nca = \"ca.pem\"\n", server.url()));
    let inline = format!("url = \"{}\"\n[tls]\nca = '''\n{}'''\n", server.url(), ca.pem());
    write(folder.path(), "text.toml", &inline);
    let untrusted = outcome(&send(folder.path(), "none.toml", None, &[]));
    let error = untrusted["error"].as_str().unwrap();
    // On a machine with a system store the server's CA is unknown to it; without one, nothing is trusted.
    assert!(error.contains("UnknownIssuer") || error.contains("no CA certificate is trusted"), "{untrusted}");
    for spec in ["file.toml", "text.toml"] {
        let trusted = outcome(&send(folder.path(), spec, None, &[]));
        assert_eq!(trusted["status"], 200, "{spec}: {trusted}");
    }
    assert_eq!(server.seen().len(), 2);
}

/// `courier` as on a machine with no system CA store: the root loader's
/// `SSL_CERT_FILE` names an empty file and `SSL_CERT_DIR` an empty folder.
fn without_system_roots(folder: &Path, spec: &str) -> Output {
    let empty = folder.join("empty-store");
    std::fs::create_dir_all(&empty).unwrap();
    write(folder, "empty-store.pem", "");
    replay_support::courier(folder)
        .args(["send", spec])
        .env("SSL_CERT_FILE", folder.join("empty-store.pem"))
        .env("SSL_CERT_DIR", &empty)
        .output()
        .unwrap()
}

#[test]
fn without_a_system_ca_store_plain_http_and_a_spec_ca_work_and_other_https_fails_clearly() {
    let ca = TestCa::new("private CA");
    let tls = TlsServer::start(&ca.leaf("server"), None);
    let plain = Server::start();
    let folder = tempfile::tempdir().unwrap();
    write(folder.path(), "ca.pem", &ca.pem());
    write(folder.path(), "http.toml", &format!("url = \"{}\"\n", plain.url("/orders")));
    write(folder.path(), "https.toml", &format!("url = \"{}\"\n", tls.url()));
    write(folder.path(), "ca.toml", &format!("url = \"{}\"\n[tls]\nca = \"ca.pem\"\n", tls.url()));
    write(folder.path(), "only.toml", &format!("url = \"{}\"\n[tls]\nca = \"ca.pem\"\nca_only = true\n", tls.url()));

    let http = without_system_roots(folder.path(), "http.toml");
    assert_eq!(outcome(&http)["status"], 200, "{}{}", stdout(&http), stderr(&http));
    let https = without_system_roots(folder.path(), "https.toml");
    assert_eq!(https.status.code(), Some(1), "a failed send, not a crash: {}", stderr(&https));
    let error = outcome(&https)["error"].as_str().unwrap().to_owned();
    assert!(error.contains("no CA certificate is trusted") && error.contains("no system CA store"), "{error}");
    assert!(tls.seen().is_empty());
    for spec in ["ca.toml", "only.toml"] {
        let trusted = without_system_roots(folder.path(), spec);
        assert_eq!(outcome(&trusted)["status"], 200, "{spec}: {}", stdout(&trusted));
    }
    assert_eq!(tls.seen().len(), 2);
}

#[test]
fn a_failed_mtls_request_is_kept_without_its_key_and_replayed_with_the_secret_as_it_is_then() {
    let (clients, server, folder) = mtls_server();
    let strangers = TestCa::new("stranger CA");
    write(folder.path(), "mtls.toml", &format!("url = \"{}\"\ndebug = true\n{MTLS}", server.url()));
    // First with a certificate the server does not accept: the handshake fails, the request is kept.
    let stranger = strangers.leaf("stranger");
    let failed = send(folder.path(), "mtls.toml", Some(&stranger), &["--store", "replay.db", "--debug"]);
    let answer = outcome(&failed);
    assert_eq!(answer["replay"]["state"], "failed", "{answer}");
    assert!(server.seen().is_empty());
    for (place, bytes) in [("stdout", failed.stdout.as_slice()), ("stderr", failed.stderr.as_slice())] {
        assert_no_key(&stranger.key, place, bytes);
    }
    for entry in std::fs::read_dir(folder.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with("replay.db") {
            assert_no_key(&stranger.key, &path.display().to_string(), &std::fs::read(&path).unwrap());
        }
    }
    // Replayed with the secrets as they are now (a certificate the server accepts).
    let client = clients.leaf("tenant-7");
    let mut replay = replay_support::courier(folder.path());
    replay.args(["replay", "run", "--all", "--store", "replay.db"]);
    replay.env("COURIER_SECRET_CLIENT_CERT", &client.cert).env("COURIER_SECRET_CLIENT_KEY", &client.key);
    let replayed = replay.output().unwrap();
    assert!(replayed.status.success(), "{}{}", stdout(&replayed), stderr(&replayed));
    assert_eq!(server.seen(), [("/orders".to_owned(), true)]);
    assert_no_key(&client.key, "the replay's output", &[replayed.stdout, replayed.stderr].concat());
}

#[test]
fn a_key_secret_that_is_not_pem_fails_naming_the_field_and_never_the_value() {
    let (clients, server, folder) = mtls_server();
    write(folder.path(), "mtls.toml", &format!("url = \"{}\"\n{MTLS}", server.url()));
    let client = clients.leaf("tenant-7");
    let broken = Leaf { cert: client.cert.clone(), key: "not-a-key-but-a-secret-all-the-same".to_owned() };
    let output = send(folder.path(), "mtls.toml", Some(&broken), &["--debug"]);
    let error = outcome(&output)["error"].as_str().unwrap().to_owned();
    assert!(error.contains("tls.client_key") && error.contains("not a PEM private key"), "{error}");
    assert!(!stdout(&output).contains("not-a-key") && !stderr(&output).contains("not-a-key"), "{}", stdout(&output));
    assert!(server.seen().is_empty());
    // A key that is PEM but not the certificate's: said so, the key not shown.
    let other = clients.leaf("another");
    let mismatched = Leaf { cert: client.cert.clone(), key: other.key.clone() };
    let output = send(folder.path(), "mtls.toml", Some(&mismatched), &["--debug"]);
    let error = outcome(&output)["error"].as_str().unwrap().to_owned();
    assert!(error.contains("tls.client_key: is not the key of tls.client_cert"), "{error}");
    assert_no_key(&other.key, "the outcome", &output.stdout);
    assert!(server.seen().is_empty());
    let fixed = send(folder.path(), "mtls.toml", Some(&client), &[]);
    assert_eq!(outcome(&fixed)["status"], 200, "{}", stdout(&fixed));
}

#[test]
fn check_places_tls_problems_and_fixes_a_misspelt_field() {
    let folder = tempfile::tempdir().unwrap();
    let check = |text: &str| {
        write(folder.path(), "spec.toml", text);
        let output = replay_support::courier(folder.path()).args(["check", "spec.toml"]).output().unwrap();
        (output.status.code(), format!("{}{}", stdout(&output), stderr(&output)))
    };
    let (code, text) = check("url = \"https://x.org\"\n[tls]\nclent_cert = '${secret(\"C\")}'\n");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("spec.toml:3:1") && text.contains("did you mean `client_cert`?"), "{text}");
    let (code, text) = check("url = \"https://x.org\"\n[tls]\nca = \"-----BEGIN CERTIFICATE-----\\nbroken\"\n");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("spec.toml:3:6") && text.contains("tls.ca"), "{text}");
    let (code, text) = check("url = \"https://x.org\"\n[tls]\nca = \"missing.pem\"\nca_only = true\n");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("tls.ca") && text.contains("missing.pem"), "{text}");
    let ca = TestCa::new("a CA");
    write(folder.path(), "ca.pem", &ca.pem());
    let (code, text) = check(
        "url = \"https://x.org\"\n[tls]\nca = \"ca.pem\"\nca_only = true\nclient_cert = '${secret(\"C\")}'\n\
         client_key = '${secret(\"K\")}'\n",
    );
    assert_eq!(code, Some(0), "{text}");
    // A certificate and key written literally are checked when the spec loads: a key
    // that is not the certificate's is an error there (and a key in the text a warning).
    let (mine, other) = (ca.leaf("mine"), ca.leaf("other"));
    let literal = |key: &str| {
        format!("url = \"https://x.org\"\n[tls]\nclient_cert = '''\n{}'''\nclient_key = '''\n{key}'''\n", mine.cert)
    };
    let (code, text) = check(&literal(&other.key));
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("tls.client_key: is not the key of tls.client_cert"), "{text}");
    let (code, text) = check(&literal(&mine.key));
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("a private key written in the spec"), "{text}");
}

/// Secrets from a map, as a host gives them.
struct MapSecrets(std::collections::HashMap<String, String>);

impl courier::functions::SecretResolver for MapSecrets {
    fn resolve(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_executor_keeps_a_client_per_tls_setup_so_a_certificate_goes_only_with_its_spec() {
    use courier::request::{CompiledRequest, Cookies, Destinations, Executor, ExecutorOptions};
    use courier::{Context, Engine, Variables};
    let (clients, server, folder) = mtls_server();
    let engine = Engine::new();
    let load = |text: String| CompiledRequest::from_text(&engine, &text, folder.path()).unwrap();
    let without = load(format!("url = \"{}\"\n[tls]\nca = \"ca.pem\"\n", server.url()));
    let with = load(format!("url = \"{}\"\n{MTLS}", server.url()));
    let client = clients.leaf("tenant-7");
    let secrets = [("CLIENT_CERT", client.cert.clone()), ("CLIENT_KEY", client.key.clone())];
    let secrets = MapSecrets(secrets.into_iter().map(|(name, value)| (name.to_owned(), value)).collect());
    let context = Context::default().with_secrets(Arc::new(secrets));
    let options = ExecutorOptions { destinations: Destinations::allowing_private(), ..Default::default() };
    let executor = Executor::with_options(options);
    let variables = Variables::new();
    let mut statuses = Vec::new();
    // The same host and port, one executor: the certificate's client is never the other spec's.
    for request in [&without, &with, &without, &with] {
        let outcome = executor.execute(request, &variables, &context, &mut Cookies::new()).await;
        assert_no_key(&client.key, "the outcome", serde_json::to_string(&outcome).unwrap().as_bytes());
        assert_no_key(&client.key, "the outcome's Debug", format!("{outcome:?}").as_bytes());
        statuses.push(outcome.status);
    }
    assert_eq!(statuses, [None, Some(200), None, Some(200)]);
    assert_eq!(server.seen(), [("/orders".to_owned(), true), ("/orders".to_owned(), true)]);
}

#[test]
fn the_client_certificate_goes_to_the_requests_origin_and_not_to_another_a_redirect_leads_to() {
    let (ca, clients) = (TestCa::new("server CA"), TestCa::new("client CA"));
    let leaf = ca.leaf("server");
    // Both ask for a certificate without requiring one, and note whether it came.
    let elsewhere = TlsServer::start_with(&leaf, Some(&clients), true, None);
    let redirecting = TlsServer::start_with(&leaf, Some(&clients), true, Some(elsewhere.url()));
    let folder = tempfile::tempdir().unwrap();
    write(folder.path(), "ca.pem", &ca.pem());
    write(folder.path(), "redirected.toml", &format!("url = \"{}\"\n{MTLS}", redirecting.url()));
    write(folder.path(), "direct.toml", &format!("url = \"{}\"\n{MTLS}", elsewhere.url()));
    let client = clients.leaf("tenant-7");
    let redirected = send(folder.path(), "redirected.toml", Some(&client), &[]);
    assert_eq!(outcome(&redirected)["status"], 200, "{}", stdout(&redirected));
    assert_eq!(redirecting.seen(), [("/orders".to_owned(), true)], "the request's own origin gets it");
    assert_eq!(elsewhere.seen(), [("/orders".to_owned(), false)], "another origin does not");
    let direct = send(folder.path(), "direct.toml", Some(&client), &[]);
    assert_eq!(outcome(&direct)["status"], 200, "{}", stdout(&direct));
    assert_eq!(elsewhere.seen().last(), Some(&("/orders".to_owned(), true)), "sent to it directly, it does");
}

/// A `202` job whose `Location` is at another origin is polled without the client
/// certificate, as a redirect there is: it goes to the request's own origin only.
#[test]
fn a_polled_location_at_another_origin_gets_no_client_certificate() {
    let (ca, clients) = (TestCa::new("server CA"), TestCa::new("client CA"));
    let leaf = ca.leaf("server");
    let elsewhere = TlsServer::start_with(&leaf, Some(&clients), true, None);
    let accepting = TlsServer::answering(&leaf, Some(&clients), true, Some((202, elsewhere.url())));
    let folder = tempfile::tempdir().unwrap();
    write(folder.path(), "ca.pem", &ca.pem());
    let poll = "[poll]\ninterval = \"10ms\"\n";
    write(folder.path(), "job.toml", &format!("url = \"{}\"\n{poll}{MTLS}", accepting.url()));
    let client = clients.leaf("tenant-7");
    let polled = send(folder.path(), "job.toml", Some(&client), &[]);
    assert_eq!(outcome(&polled)["status"], 200, "{}", stdout(&polled));
    assert_eq!(accepting.seen(), [("/orders".to_owned(), true)], "the request's own origin gets it");
    assert_eq!(elsewhere.seen(), [("/orders".to_owned(), false)], "the job's other origin does not");
    // The twin: a job at the request's own origin is polled with it.
    let own = TlsServer::answering(&leaf, Some(&clients), true, Some((202, "/orders?done=1".to_owned())));
    write(folder.path(), "own.toml", &format!("url = \"{}\"\n{poll}max_polls = 2\n{MTLS}", own.url()));
    let polled = send(folder.path(), "own.toml", Some(&client), &[]);
    assert_eq!(outcome(&polled)["status"], serde_json::Value::Null, "{}", stdout(&polled));
    assert_eq!(
        own.seen(),
        [("/orders".to_owned(), true), ("/orders?done=1".to_owned(), true), ("/orders?done=1".to_owned(), true)]
    );
}

/// A body file fetched from the web before the request is another request, at
/// another origin: the request's own origin is still its first hop's, which gets
/// the client certificate.
#[test]
fn a_body_file_from_the_web_leaves_the_client_certificate_to_the_requests_origin() {
    let (ca, clients) = (TestCa::new("server CA"), TestCa::new("client CA"));
    let leaf = ca.leaf("server");
    let files = Server::start();
    let service = TlsServer::start(&leaf, Some(&clients));
    let folder = tempfile::tempdir().unwrap();
    write(folder.path(), "ca.pem", &ca.pem());
    let spec = format!(
        "method = \"POST\"\nurl = \"{}\"\n[body]\ntype = \"octet-stream\"\nfile = \"{}\"\n{MTLS}",
        service.url(),
        files.url("/report.bin")
    );
    write(folder.path(), "upload.toml", &spec);
    let sent = send(folder.path(), "upload.toml", Some(&clients.leaf("tenant-7")), &[]);
    assert_eq!(outcome(&sent)["status"], 200, "{}", stdout(&sent));
    assert_eq!(files.seen().len(), 1, "the file was fetched");
    assert_eq!(service.seen(), [("/orders".to_owned(), true)], "the request's origin gets the certificate");
}

/// `courier import curl` maps curl's `--cacert`, `--cert` and `--key`: the CA is
/// written into the spec, the certificate and key become secrets, and the spec
/// then reaches a server that requires the client certificate, as curl does with
/// the same files (when curl is installed).
#[test]
fn an_imported_curl_command_with_cacert_cert_and_key_sends_the_client_certificate() {
    let (clients, server, folder) = mtls_server();
    let client = clients.leaf("tenant-7");
    write(folder.path(), "client.pem", &client.cert);
    write(folder.path(), "client.key", &client.key);
    let command = format!("curl --cacert ca.pem --cert client.pem --key client.key {}", server.url());

    let imported = replay_support::courier(folder.path()).args(["import", "curl", &command]).output().unwrap();
    assert!(imported.status.success(), "{}", stderr(&imported));
    for secret in ["LOCALHOST_CLIENT_CERT", "LOCALHOST_CLIENT_KEY"] {
        assert!(stderr(&imported).contains(&format!("COURIER_SECRET_{secret}")), "{}", stderr(&imported));
    }
    assert_no_key(&client.key, "the imported spec", stdout(&imported).as_bytes());
    write(folder.path(), "imported.toml", &stdout(&imported));

    let mut send = replay_support::courier(folder.path());
    send.args(["send", "imported.toml"])
        .env("COURIER_SECRET_LOCALHOST_CLIENT_CERT", &client.cert)
        .env("COURIER_SECRET_LOCALHOST_CLIENT_KEY", &client.key);
    let sent = send.output().unwrap();
    assert_eq!(outcome(&sent)["status"], 200, "{}", stdout(&sent));
    assert_eq!(server.seen(), [("/orders".to_owned(), true)]);

    let curl = std::process::Command::new("curl")
        .current_dir(folder.path())
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", "ca.pem"])
        .args(["--cert", "client.pem", "--key", "client.key", &server.url()])
        .output();
    match curl {
        Ok(curl) => {
            assert_eq!(String::from_utf8_lossy(&curl.stdout), "200", "{}", stderr(&curl));
            assert_eq!(server.seen(), [("/orders".to_owned(), true), ("/orders".to_owned(), true)]);
        }
        Err(_) => eprintln!("skipped: curl's side of the comparison (curl is not installed)"),
    }
}
