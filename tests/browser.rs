//! The playground page in a real browser: Debian's Chromium, headless, driven
//! through the DevTools protocol against a server this test starts on loopback.
//! Each state is kept as a screenshot under `target/screenshots/`.
//!
//! Runs when `COURIER_TEST_BROWSER=1` (CI sets it after installing chromium);
//! otherwise it says what it skipped and passes.
#![cfg(feature = "serve")]

#[path = "browser_support/cdp.rs"]
mod cdp;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use cdp::Browser;
use courier::request::{Destinations, ExecutorOptions};
use courier::serve::{ServeOptions, serve};
use serde_json::{Value, json};

fn browser_tests_on() -> bool {
    if std::env::var_os("COURIER_TEST_BROWSER").is_some() {
        return true;
    }
    // Written to stderr directly: the test harness hides what eprintln! prints in a passing test.
    let note = format!("skipped: the browser tests (set COURIER_TEST_BROWSER=1 with {} installed)\n", cdp::CHROMIUM);
    let _ = std::io::Write::write_all(&mut std::io::stderr(), note.as_bytes());
    false
}

/// Starts `courier serve` on a free loopback port; it lives as long as the test process.
fn start_server() -> String {
    start_server_with(ServeOptions::default())
}

/// Starts `courier serve` with `options` on a free loopback port.
fn start_server_with(options: ServeOptions) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.set_nonblocking(true).expect("a non-blocking listener");
    let address = listener.local_addr().expect("its address");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
            serve(listener, options).await.expect("the server runs");
        });
    });
    format!("http://{address}/")
}

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots")
}

/// Replaces the template in the editor by typing `text` into it.
fn type_template(browser: &mut Browser, text: &str) {
    browser.eval("(() => { const e = document.getElementById('template'); e.focus(); e.select(); })()");
    browser.type_text(text);
}

/// The page after its catalog and first result arrived.
fn open_page(width: u32, height: u32) -> Browser {
    let url = start_server();
    let mut browser = Browser::open(&url, width, height);
    browser.wait_for(
        "page-loaded",
        "document.querySelectorAll('#gutter div').length > 0 && catalog.length > 0",
        &screenshots(),
    );
    browser
}

const NEWSLETTER: &str = r#"{
  "email": ${email},
  "firstName": ${firstname},
  "marketingOptIn": ${toBoolean(consent_newsletter)},
  "consumption": ${toInteger(consumption)}
}"#;

#[test]
fn playground_renders_marks_completes_and_maps_in_chromium() {
    if !browser_tests_on() {
        return;
    }
    let folder = screenshots();
    let mut browser = open_page(1280, 800);

    // Typing a template shows the rendered JSON, with test values typed into the variables panel.
    for (name, value) in [("consent_newsletter", "true"), ("consumption", "42")] {
        browser.click("#add-variable");
        browser.type_text(name);
        browser.eval("document.querySelector('#variables tr:last-child td:nth-child(2) input').focus()");
        browser.type_text(value);
    }
    type_template(&mut browser, NEWSLETTER);
    let shown = browser.wait_for(
        "rendered",
        // The page opens with a shorter template: wait for the one typed here.
        "(() => { try { const v = JSON.parse(document.getElementById('result').textContent); \
         return 'consumption' in v ? v : null; } catch (_) { return null; } })()",
        &folder,
    );
    assert_eq!(
        shown,
        json!({ "email": "ada@example.org", "firstName": "Ada", "marketingOptIn": true, "consumption": 42 })
    );
    browser.screenshot(&folder.join("1-rendered.png"));

    // A typo shows a marker at its line, and the problem list says "did you mean".
    type_template(&mut browser, &NEWSLETTER.replace("toInteger", "toInterger"));
    let marked = browser.wait_for(
        "typo-marked",
        "[...document.querySelectorAll('#gutter .marker-error')].map(e => e.dataset.line)",
        &folder,
    );
    assert_eq!(marked, json!(["5"]), "only line 5 holds the typo");
    let problems = browser.eval("document.getElementById('diagnostics').textContent");
    let problems = problems.as_str().unwrap_or_default();
    assert!(problems.contains("line 5, column 20") && problems.contains("did you mean toInteger?"), "{problems}");
    assert_eq!(browser.eval("document.querySelectorAll('#backdrop mark').length"), json!(1));
    browser.screenshot(&folder.join("2-typo-marked.png"));
    // The fix is one click away, and the payload renders again.
    browser.click("#diagnostics .apply");
    browser.wait_for(
        "typo-fixed",
        "(() => { try { return JSON.parse(document.getElementById('result').textContent).consumption === 42; } \
         catch (_) { return false; } })()",
        &folder,
    );
    assert_eq!(browser.eval("document.getElementById('template').value"), json!(NEWSLETTER));
    assert_eq!(browser.eval("document.querySelectorAll('#gutter .marker').length"), json!(0));

    // Completion offers toInteger with its signature; Enter inserts it.
    type_template(&mut browser, "{\n  \"consumption\": ${toInt");
    let offered = browser.wait_for(
        "completion",
        "!document.getElementById('completion').hidden && [...document.querySelectorAll('#completion li')].map(e => e.textContent)",
        &folder,
    );
    let offered: Vec<&str> = offered.as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(
        offered.first().is_some_and(|first| first.starts_with("toInteger") && first.contains("toInteger(")),
        "{offered:?}"
    );
    browser.screenshot(&folder.join("3-completion.png"));
    browser.press("Enter", 13);
    let template = browser.eval("document.getElementById('template').value");
    assert_eq!(template, json!("{\n  \"consumption\": ${toInteger("));
    // The problems follow the text: the old typo is gone, the open hole is marked.
    browser.wait_for(
        "problems-follow",
        "(t => t.includes('never closed') && !t.includes('toInterger'))(document.getElementById('diagnostics').textContent)",
        &folder,
    );

    // Variable names come from the panel, offered first.
    type_template(&mut browser, "Hello ${consu");
    let offered = browser.wait_for(
        "variable-completion",
        "!document.getElementById('completion').hidden && [...document.querySelectorAll('#completion li')].map(e => e.dataset.name)",
        &folder,
    );
    assert_eq!(offered[0], json!("consumption"), "{offered}");
    browser.press("Escape", 27);
    assert_eq!(browser.eval("document.getElementById('completion').hidden"), json!(true));

    // After a `.`, the collection operations, past the `}` of a map literal too.
    type_template(&mut browser, "${{'a': [1]}.a.stream().fil");
    let offered = browser.wait_for(
        "operation-completion",
        "!document.getElementById('completion').hidden && [...document.querySelectorAll('#completion li')].map(e => e.dataset.name)",
        &folder,
    );
    assert_eq!(offered, json!(["filter"]));
    browser.press("Enter", 13);
    assert_eq!(browser.eval("document.getElementById('template').value"), json!("${{'a': [1]}.a.stream().filter("));

    // Clicking a field of the sample response adds a mapping row with its path.
    browser.wait_for("fields", "document.querySelector('#fields button[data-path=\"price.amount\"]')", &folder);
    browser.click("#fields button[data-path=\"price.amount\"]");
    let row =
        browser.wait_for("mapped", "[...document.querySelectorAll('#mappings tr input')].map(e => e.value)", &folder);
    assert_eq!(row, json!(["price.amount", "price_amount"]));
    browser.wait_for("settled", "!document.querySelector('.stale')", &folder);
    let toml = browser.eval("document.getElementById('mappings-toml').textContent");
    assert_eq!(toml, json!("[[mappings]]\nsource = \"price.amount\"\ntarget = \"price_amount\"\n"));
    browser.screenshot(&folder.join("4-mapped.png"));

    // The dry run of a whole spec shows the request that would be sent.
    browser.click("#dry-run");
    let shown = browser.wait_for("dry-run", "document.getElementById('dry-run-result').textContent", &folder);
    let shown = shown.as_str().unwrap_or_default();
    assert!(shown.starts_with("POST https://api.example.org/subscribers\n"), "{shown}");
    assert!(shown.contains("{ \"email\": \"ada@example.org\", \"firstName\": \"Ada\" }"), "{shown}");
    browser.screenshot(&folder.join("5-dry-run.png"));
}

/// Replaces the spec in the dry-run box by typing `text` into it.
fn type_spec(browser: &mut Browser, text: &str) {
    browser.eval("(() => { const e = document.getElementById('spec'); e.focus(); e.select(); })()");
    browser.type_text(text);
}

#[test]
fn playground_offers_apply_only_for_certain_fixes_in_the_right_editor_and_no_cli_advice() {
    if !browser_tests_on() {
        return;
    }
    let folder = screenshots();
    let mut browser = open_page(1280, 800);
    let template = "{\n  \"email\": ${email},\n  \"firstName\": ${firstname}\n}";
    browser.wait_for("first-render", "document.getElementById('result').textContent.includes('Ada')", &folder);

    // A spec's misspelt field: its certain fix is applied to the spec, not to the template.
    type_spec(&mut browser, "url = \"https://api.example.org/x\"\ntimeot = \"5s\"\n");
    browser.click("#dry-run");
    let offered = browser.wait_for(
        "spec-apply",
        "[...document.querySelectorAll('#spec-diagnostics .apply')].map(e => e.textContent)",
        &folder,
    );
    assert_eq!(offered, json!(["Apply: write timeout"]), "one button, naming the field");
    browser.click("#spec-diagnostics .apply");
    assert_eq!(
        browser.eval("document.getElementById('spec').value"),
        json!("url = \"https://api.example.org/x\"\ntimeout = \"5s\"\n")
    );
    assert_eq!(browser.eval("document.getElementById('template').value"), json!(template), "the template is untouched");

    // A variable the panel lacks: "did you mean firstname?" is a guess, listed without Apply.
    type_template(&mut browser, "{ \"name\": ${lastname} }");
    let listed = browser.wait_for(
        "guess-listed",
        "(t => t.includes('did you mean firstname?') && t)(document.getElementById('diagnostics').textContent)",
        &folder,
    );
    assert!(listed.as_str().is_some(), "{listed}");
    assert_eq!(browser.eval("document.querySelectorAll('#diagnostics .apply').length"), json!(0));

    // Strict mode's advice names the page's controls, not the command line's options.
    browser.click("#strict");
    let advice = browser.wait_for(
        "strict-advice",
        "(t => t.includes('not set') && t)(document.getElementById('diagnostics').textContent)",
        &folder,
    );
    let advice = advice.as_str().unwrap_or_default();
    assert!(advice.contains("Variables panel") && !advice.contains("--"), "{advice}");
    browser.screenshot(&folder.join("7-certain-fixes.png"));
}

/// A shop on loopback that answers every request with `body` (JSON) and counts them.
fn start_shop(body: &'static str) -> (String, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let address = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            counted.fetch_add(1, Ordering::SeqCst);
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    (format!("http://{address}"), count)
}

#[test]
fn playground_sends_the_request_and_maps_a_field_of_the_real_response() {
    if !browser_tests_on() {
        return;
    }
    let folder = screenshots();
    let (shop, sent) = start_shop(r#"{"product_id": "123", "price": {"amount": 99.95, "currency": "CHF"}}"#);
    let options = ServeOptions {
        allow_send: true,
        executor: ExecutorOptions { destinations: Destinations::allowing_private(), ..ExecutorOptions::default() },
        ..ServeOptions::default()
    };
    let url = start_server_with(options);
    let mut browser = Browser::open(&url, 1280, 800);
    browser.wait_for(
        "page-loaded",
        "document.querySelectorAll('#gutter div').length > 0 && catalog.length > 0",
        &folder,
    );

    // Fill in the spec, send it for real: status and body of the real response.
    browser.eval(&format!(
        "document.getElementById('spec').value = {}",
        json!(format!("url = \"{shop}/products/${{product_id}}/price\"\n"))
    ));
    browser.click("#add-variable");
    browser.type_text("product_id");
    browser.eval("document.querySelector('#variables tr:last-child td:nth-child(2) input').focus()");
    browser.type_text("123");
    browser.click("#send");
    let shown = browser.wait_for(
        "sent",
        "(t => t.includes('Status 200') && t)(document.getElementById('send-result').textContent)",
        &folder,
    );
    assert!(shown.as_str().unwrap().contains("99.95"), "{shown}");
    // The response's headers too, whether or not the spec says debug.
    assert!(shown.as_str().unwrap().to_ascii_lowercase().contains("content-type: application/json"), "{shown}");
    browser.screenshot(&folder.join("8-sent.png"));

    // A field of the real response (not of the page's sample) is a click away from a mapping.
    browser.wait_for(
        "real-fields",
        "[...document.querySelectorAll('#fields button')].some(b => b.textContent.includes('CHF'))",
        &folder,
    );
    assert!(
        browser.eval("document.getElementById('sample-response').value").as_str().unwrap().contains("CHF"),
        "the real response is the one mapped"
    );
    browser.click("#fields button[data-path=\"price.amount\"]");
    let row =
        browser.wait_for("mapped", "[...document.querySelectorAll('#mappings tr input')].map(e => e.value)", &folder);
    assert_eq!(row, json!(["price.amount", "price_amount"]));

    // Sent again with the mapping: the mapped variable holds the real value, as the response spelt it.
    browser.click("#send");
    browser.wait_for(
        "mapped-variable",
        "(t => t.includes('price_amount = 99.95') && t)(document.getElementById('send-result').textContent)",
        &folder,
    );
    assert_eq!(sent.load(Ordering::SeqCst), 2, "two real requests reached the shop");
    browser.screenshot(&folder.join("9-mapped-variable.png"));
}

#[test]
fn playground_is_readable_in_a_narrow_window() {
    if !browser_tests_on() {
        return;
    }
    let mut browser = open_page(420, 900);
    // One column: no panel is wider than the window.
    let widest = browser
        .eval("Math.max(...[...document.querySelectorAll('section')].map(s => s.getBoundingClientRect().right))");
    assert!(widest.as_f64().unwrap() <= 420.0, "a panel ends at {widest}");
    assert_eq!(browser.eval("document.documentElement.scrollWidth <= 420"), json!(true));
    browser.screenshot(&screenshots().join("6-narrow.png"));
}

#[test]
fn a_page_on_another_origin_cannot_use_the_server() {
    if !browser_tests_on() {
        return;
    }
    // A server that sends, and may reach loopback: what a foreign page would abuse.
    let executor = courier::request::ExecutorOptions {
        destinations: courier::request::Destinations::allowing_private(),
        ..Default::default()
    };
    let target = start_server_with(ServeOptions { allow_send: true, executor, ..ServeOptions::default() });
    // Where the abused server would send: a listener that records any connection.
    let trap = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let spec = format!(
        "method = \"POST\"\nurl = \"http://{}/steal\"\nbody = \"json\"\npayload = '{{}}'\n",
        trap.local_addr().unwrap()
    );
    // The attacker's page: another origin (another port).
    let foreign = start_server();
    let mut browser = Browser::open(&foreign, 800, 600);
    browser.wait_for(
        "foreign-page",
        "document.readyState === 'complete' && location.href.startsWith('http')",
        &screenshots(),
    );
    let script = format!(
        r#"(async () => {{
            const target = {target:?};
            const body = JSON.stringify({{ spec: {spec:?} }});
            const results = [];
            // A "simple" request: sent without a preflight, its answer unreadable.
            try {{
                const r = await fetch(target + "v1/send", {{ method: "POST", mode: "no-cors",
                    headers: {{ "content-type": "text/plain" }}, body }});
                results.push("simple:" + r.type);
            }} catch (e) {{ results.push("simple:failed"); }}
            // A JSON request: preflighted, and the answer read if the server let it.
            for (const route of ["v1/send", "v1/dry-run", "v1/eval"]) {{
                try {{
                    const r = await fetch(target + route, {{ method: "POST",
                        headers: {{ "content-type": "application/json" }}, body }});
                    results.push(route + ":" + r.status + ":" + (await r.text()));
                }} catch (e) {{ results.push(route + ":failed"); }}
            }}
            return results;
        }})()"#
    );
    let results = browser.eval(&script);
    assert_eq!(
        results,
        json!(["simple:opaque", "v1/send:failed", "v1/dry-run:failed", "v1/eval:failed"]),
        "the foreign page read an answer"
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    match trap.accept() {
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the server sent a foreign page's request: {other:?}"),
    }
}
