//! `courier import curl` against the real `curl`: each command, taken from a
//! public API's documentation, is run by curl and its imported spec by
//! `courier send`, both against the same loopback server, and what arrived is
//! compared — method, URL, the headers the command sets, the body.
//!
//! Runs when the `curl` binary is installed (CI installs it); otherwise it says
//! what it skipped and passes.
#![cfg(feature = "cli")]

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Output};

use common::{BlockingServer as Server, write_spec};
use wiremock::ResponseTemplate;

/// A documented curl command, its service's base URL (replaced by the test
/// server's) and the credentials it holds (given back to courier as secrets).
struct Case {
    name: &'static str,
    base: &'static str,
    command: &'static str,
    credentials: &'static [&'static str],
}

const CASES: &[Case] = &[
    // Stripe, "Create a customer" (docs.stripe.com/api/customers/create).
    Case {
        name: "stripe",
        base: "https://api.stripe.com",
        command: r#"curl https://api.stripe.com/v1/customers \
  -u "sk_test_BQokikJOvBiI2HlWgH4olfQ2:" \
  -d name="Jenny Rosen" \
  --data-urlencode email="jennyrosen@example.com""#,
        credentials: &["sk_test_BQokikJOvBiI2HlWgH4olfQ2"],
    },
    // GitHub, "Create an issue" (docs.github.com/en/rest/issues/issues).
    Case {
        name: "github",
        base: "https://api.github.com",
        command: r#"curl -L \
  -X POST \
  -H "Accept: application/vnd.github+json" \
  -H "Authorization: Bearer <YOUR-TOKEN>" \
  -H "X-GitHub-Api-Version: 2022-11-28" \
  https://api.github.com/repos/OWNER/REPO/issues \
  -d '{"title":"Found a bug","body":"I'\''m having a problem with this.","assignees":["octocat"],"milestone":1,"labels":["bug"]}'"#,
        credentials: &["<YOUR-TOKEN>"],
    },
    // GitHub, "Search repositories", with the query given as -G data.
    Case {
        name: "github-search",
        base: "https://api.github.com",
        command: r#"curl -G https://api.github.com/search/repositories \
  --data-urlencode "q=tetris language:assembly" -d sort=stars \
  -H "Accept: application/vnd.github+json""#,
        credentials: &[],
    },
    // Slack, chat.postMessage (api.slack.com/methods/chat.postMessage).
    Case {
        name: "slack",
        base: "https://slack.com",
        command: r#"curl -X POST -H 'Authorization: Bearer xoxb-1234-56789abcdefghijklmnop' \
-H 'Content-type: application/json; charset=utf-8' \
--data '{"channel":"C123ABC456","text":"I hope the tour went well, Mr. Wonka."}' \
https://slack.com/api/chat.postMessage"#,
        credentials: &["xoxb-1234-56789abcdefghijklmnop"],
    },
    // Twilio, "Send an SMS" (twilio.com/docs/messaging/api/message-resource).
    Case {
        name: "twilio",
        base: "https://api.twilio.com",
        command: r#"curl -X POST "https://api.twilio.com/2010-04-01/Accounts/ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX/Messages.json" \
--data-urlencode "Body=Hi there" \
--data-urlencode "From=+15017122661" \
--data-urlencode "To=+15558675310" \
-u ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:your_auth_token"#,
        credentials: &["your_auth_token"],
    },
    // Mailgun, "Send an email" (documentation.mailgun.com): multipart text parts only.
    Case {
        name: "mailgun",
        base: "https://api.mailgun.net",
        command: r#"curl -s --user 'api:YOUR_API_KEY' \
    https://api.mailgun.net/v3/YOUR_DOMAIN_NAME/messages \
    -F from='Excited User <mailgun@YOUR_DOMAIN_NAME>' \
    -F to=YOU@YOUR_DOMAIN_NAME \
    -F subject='Hello' \
    -F text='Testing some Mailgun awesomeness!'"#,
        credentials: &["YOUR_API_KEY"],
    },
    // OpenAI, "Create chat completion" (platform.openai.com/docs/api-reference), with curl's --json,
    // a cookie, time limits and --compressed.
    Case {
        name: "openai-json",
        base: "https://api.openai.com",
        command: r#"curl https://api.openai.com/v1/chat/completions \
  -H "Authorization: Bearer sk-proj-abc123" \
  --json '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello!"}]}' \
  -b 'session=a1b2; theme=dark' -m 2.92 --connect-timeout 1.5 --compressed -sS"#,
        credentials: &["sk-proj-abc123"],
    },
];

fn curl_installed() -> bool {
    let found = Command::new("curl").arg("--version").output().is_ok_and(|output| output.status.success());
    if !found {
        // Written to stderr directly: the test harness hides what eprintln! prints in a passing test.
        let note = "skipped: the curl comparison tests (install curl to run them)\n";
        let _ = std::io::Write::write_all(&mut std::io::stderr(), note.as_bytes());
    }
    found
}

fn courier(args: &[&str], env: &[(String, String)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_courier"));
    command.args(args).env("COURIER_ALLOW", "private");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("courier runs")
}

/// What arrived, as compared: method, path and query, headers, body.
#[derive(Debug)]
struct Arrived {
    method: String,
    target: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

fn arrived(server: &Server) -> Arrived {
    let received = server.received();
    assert_eq!(received.len(), 1, "one request");
    let request = &received[0];
    let target = match request.url.query() {
        Some(query) => format!("{}?{query}", request.url.path()),
        None => request.url.path().to_owned(),
    };
    let headers = request
        .headers
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    Arrived { method: request.method.to_string(), target, headers, body: request.body.clone() }
}

/// Headers either side adds on its own, not named by the command: the client's
/// name, the framing, curl's `--compressed`, courier's trace context and the
/// `Idempotency-Key` its replay store gives every request (docs/replay.md).
const OWN_HEADERS: &[&str] =
    &["host", "user-agent", "content-length", "accept-encoding", "x-b3-traceid", "traceparent", "idempotency-key"];

/// The body with each side's multipart boundary replaced by one name.
fn comparable_body(arrived: &Arrived) -> Vec<u8> {
    let content_type = arrived.headers.get("content-type").cloned().unwrap_or_default();
    let body = String::from_utf8_lossy(&arrived.body).into_owned();
    match content_type.split_once("boundary=") {
        Some((_, boundary)) => body.replace(boundary, "BOUNDARY").into_bytes(),
        None => arrived.body.clone(),
    }
}

fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// Imports `command`, checks no credential is printed, and sends the spec with the
/// credentials as the secrets the notes name; returns the spec and the notes.
fn send_imported(command: &str, credentials: &[&str]) -> (String, String) {
    let folder = tempfile::tempdir().unwrap();
    let imported = courier(&["import", "curl", command], &[]);
    let notes = String::from_utf8_lossy(&imported.stderr).into_owned();
    let spec = String::from_utf8_lossy(&imported.stdout).into_owned();
    assert_eq!(imported.status.code(), Some(0), "{spec}\n{notes}");
    for credential in credentials {
        assert!(!spec.contains(credential) && !notes.contains(credential), "a credential is printed: {spec}\n{notes}");
    }
    // The notes name the variables to set, in the order the credentials were moved.
    let names: Vec<String> = notes
        .split_whitespace()
        .filter(|word| word.starts_with("COURIER_SECRET_"))
        .map(|word| word.trim_end_matches(|c: char| !c.is_ascii_alphanumeric() && c != '_').to_owned())
        .collect();
    assert_eq!(names.len(), credentials.len(), "one secret per credential: {notes}");
    let env: Vec<(String, String)> = names.into_iter().zip(credentials.iter().map(|value| value.to_string())).collect();
    let path = write_spec(folder.path(), &spec);
    let sent = courier(&["send", path.to_str().unwrap()], &env);
    assert_eq!(
        sent.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&sent.stdout),
        String::from_utf8_lossy(&sent.stderr)
    );
    (spec, notes)
}

#[test]
fn imported_specs_send_what_curl_sends_for_documented_examples() {
    if !curl_installed() {
        return;
    }
    for case in CASES {
        let curl_server = Server::answering(ResponseTemplate::new(200), 10, ResponseTemplate::new(200));
        let command = case.command.replace(case.base, &curl_server.uri());
        let curl_command = command.replace("\\\n", " ");
        let output = Command::new("sh").args(["-c", &format!("{curl_command} -o /dev/null")]).output().unwrap();
        assert!(output.status.success(), "{}: curl: {}", case.name, String::from_utf8_lossy(&output.stderr));
        let by_curl = arrived(&curl_server);

        let courier_server = Server::answering(ResponseTemplate::new(200), 10, ResponseTemplate::new(200));
        let command = case.command.replace(case.base, &courier_server.uri());
        let (spec, notes) = send_imported(&command, case.credentials);
        let by_courier = arrived(&courier_server);
        let context = format!("{}:\n{spec}\n{notes}\ncurl: {by_curl:?}\ncourier: {by_courier:?}", case.name);

        assert_eq!(by_courier.method, by_curl.method, "{context}");
        assert_eq!(by_courier.target, by_curl.target, "{context}");
        for (name, value) in &by_curl.headers {
            let curl_default = name == "accept" && value == "*/*";
            if OWN_HEADERS.contains(&name.as_str()) || curl_default || name == "content-type" {
                continue;
            }
            assert_eq!(by_courier.headers.get(name), Some(value), "{name}: {context}");
        }
        for name in by_courier.headers.keys() {
            let known = OWN_HEADERS.contains(&name.as_str()) || by_curl.headers.contains_key(name);
            assert!(known, "courier sent {name} that curl did not: {context}");
        }
        let media = |arrived: &Arrived| {
            let content_type = arrived.headers.get("content-type").cloned().unwrap_or_default();
            content_type.split("; boundary=").next().unwrap_or_default().to_owned()
        };
        assert_eq!(media(&by_courier), media(&by_curl), "{context}");
        let form = media(&by_curl) == "application/x-www-form-urlencoded"
            && serde_json::from_slice::<serde_json::Value>(&by_curl.body).is_err();
        if form {
            // Form data: the same fields in the same order; courier writes them in its encoding.
            assert_eq!(form_fields(&by_courier.body), form_fields(&by_curl.body), "{context}");
        } else {
            assert_eq!(comparable_body(&by_courier), comparable_body(&by_curl), "{context}");
        }
    }
}

#[test]
fn the_imported_spec_keeps_limits_cookies_and_redirects_exactly() {
    let imported = courier(
        &["import", "curl", "curl -sSL --max-redirs 3 -m 2.92 --connect-timeout 0.25 -b 'a=1' https://x.org/p"],
        &[],
    );
    let spec = String::from_utf8_lossy(&imported.stdout);
    assert_eq!(imported.status.code(), Some(0), "{spec}");
    for line in ["timeout = \"2s 920ms\"", "connect_timeout = \"250ms\"", "redirects = 3", "Cookie = \"a=1\""] {
        assert!(spec.lines().any(|written| written == line), "{line}: {spec}");
    }
    // Without -L, curl answers the 3xx itself: so does the spec.
    let imported = courier(&["import", "curl", "curl https://x.org/p"], &[]);
    assert!(String::from_utf8_lossy(&imported.stdout).contains("redirects = 0\n"));
}

#[test]
fn unsupported_options_are_listed_with_status_1_and_the_rest_is_printed() {
    let imported =
        courier(&["import", "curl", "curl -k --proxy http://p:3128 -T f -H 'X-Kept: 1' https://x.org/p"], &[]);
    let (spec, notes) = (String::from_utf8_lossy(&imported.stdout), String::from_utf8_lossy(&imported.stderr));
    assert_eq!(imported.status.code(), Some(1), "{notes}");
    assert!(notes.contains("not imported: -k") && notes.contains("not imported: -T f"), "{notes}");
    assert!(notes.contains("note: --proxy http://p:3128: the proxy is the operator's"), "{notes}");
    assert!(spec.contains("X-Kept = \"1\"") && spec.contains("url = \"https://x.org/p\""), "{spec}");
}

#[test]
fn the_command_is_read_from_standard_input_with_dash() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(["import", "curl", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"curl -X DELETE \\\n  https://x.org/items/7\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let spec = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{spec}");
    assert!(spec.starts_with("method = \"DELETE\"\nurl = \"https://x.org/items/7\"\n"), "{spec}");
}
