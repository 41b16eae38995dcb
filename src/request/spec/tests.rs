use super::*;
use crate::eval::Engine;
use crate::request::body::CompiledBody;

fn load(toml: &str) -> Result<CompiledRequest, SpecError> {
    CompiledRequest::from_toml(&Engine::new(), toml, Path::new("."))
}

fn problems(toml: &str) -> Vec<(String, String)> {
    let error = load(toml).expect_err("the spec is refused");
    error.problems.into_iter().map(|problem| (problem.field, problem.message)).collect()
}

/// Each problem's field with its line and column in the spec's text.
fn places(toml: &str) -> Vec<(String, u32, u32)> {
    let error = load(toml).expect_err("the spec is refused");
    error
        .problems
        .into_iter()
        .map(|problem| {
            let span = problem.span.expect("placed");
            (problem.field, span.line, span.column)
        })
        .collect()
}

fn has(problems: &[(String, String)], field: &str, text: &str) -> bool {
    problems.iter().any(|(f, message)| f == field && message.contains(text))
}

#[test]
fn the_full_example_of_the_docs_loads() {
    let spec = r#"
        method = "POST"
        url = "${shop_url}/customers/${customer_id}/files"
        timeout = "20s"
        connect_timeout = "5s"
        read_timeout = "10s"
        debug = false
        queue = false
        cookies = ["SESSIONID"]
        [headers]
        X-Shop = "${shop_id}"
        [body]
        type = "multipart"
        file = "${upload_url}"
        file_name = "receipt.jpg"
        content_type = "image/jpeg"
        field = "document"
        [body.fields]
        customer = "${customer_id}"
        [auth]
        type = "oauth2"
        token_url = "https://auth.example.org/oauth/token"
        grant_type = "client_credentials"
        client_id = "chat-bot"
        client_secret = "${client_secret}"
        scope = "customers:write"
        client_auth = "header"
        header_prefix = "Bearer"
        [[mappings]]
        source = "store_address.city"
        target = "city"
        [[response_headers]]
        header = "X-Request-Id"
        target = "request_id"
    "#;
    let request = load(spec).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(request.method(), Method::Post);
    assert_eq!(request.timeouts(), Timeouts::default());
}

#[test]
fn durations_are_humantime() {
    let request =
        load("url = \"https://x.org\"\ntimeout = \"1m\"\nconnect_timeout = \"500ms\"\nread_timeout = \"2s\"").unwrap();
    assert_eq!(
        request.timeouts(),
        Timeouts { total: Duration::from_secs(60), connect: Duration::from_millis(500), read: Duration::from_secs(2) }
    );
    let found = problems("url = \"https://x.org\"\ntimeout = \"20 parsecs\"\nread_timeout = \"0s\"");
    assert!(has(&found, "timeout", "\"20 parsecs\" is not a duration"), "{found:?}");
    assert!(has(&found, "read_timeout", "longer than zero"), "{found:?}");
}

#[test]
fn redirects_default_to_five_and_are_bounded() {
    assert_eq!(load("url = \"https://x.org\"").unwrap().redirects(), DEFAULT_REDIRECTS);
    assert_eq!(load("url = \"https://x.org\"\nredirects = 0").unwrap().redirects(), 0);
    let found = problems("url = \"https://x.org\"\nredirects = 21");
    assert!(has(&found, "redirects", "more than the 20 redirects"), "{found:?}");
    let found = problems("url = \"https://x.org\"\nredirects = -1");
    assert_eq!(found[0].0, "redirects", "{found:?}");
}

#[test]
fn unknown_fields_and_a_missing_url_are_refused_with_their_place() {
    let found = problems("url = \"https://x.org\"\nmethd = \"GET\"");
    assert!(found[0].1.contains("unknown field `methd`"), "{found:?}");
    assert_eq!(places("url = \"https://x.org\"\nmethd = \"GET\""), [("methd".to_owned(), 2, 1)]);
    let found = problems("method = \"GET\"");
    assert!(found[0].1.contains("missing field `url`"), "{found:?}");
    let found = problems("url = \"https://x.org\"\n[auth]\ntype = \"basic\"\nusername = \"a\"\npasword = \"b\"");
    assert!(found[0].1.contains("unknown field `pasword`"), "{found:?}");
    let found = problems("url = \"https://x.org\"\n[body]\ntype = \"xml\"");
    assert!(found[0].1.contains("unknown variant `xml`"), "{found:?}");
}

#[test]
fn a_body_needs_a_method_that_takes_one() {
    let found = problems("method = \"GET\"\nurl = \"https://x.org\"\nbody = \"json\"\npayload = \"{}\"");
    assert!(has(&found, "body", "a GET request has no body"), "{found:?}");
    let found = problems("method = \"FETCH\"\nurl = \"https://x.org\"");
    assert!(has(&found, "method", "\"FETCH\""), "{found:?}");
    assert_eq!(load("method = \"patch\"\nurl = \"https://x.org\"").unwrap().method(), Method::Patch);
}

#[test]
fn a_bad_json_payload_is_placed_at_its_line_and_column() {
    let found = problems(
        "method = \"POST\"\nurl = \"https://x.org\"\nbody = \"json\"\npayload = '''\n{\n  \"a\": ${a},\n  \"b\": ]\n}'''",
    );
    assert!(has(&found, "payload", "expected a JSON value, found `]`"), "{found:?}");
    // Line 3, column 8 of the payload is line 7, column 8 of the file.
    let found = places(
        "method = \"POST\"\nurl = \"https://x.org\"\nbody = \"json\"\npayload = '''\n{\n  \"a\": ${a},\n  \"b\": ]\n}'''",
    );
    assert_eq!(found, [("payload".to_owned(), 7, 8)]);
    let found =
        problems("method = \"POST\"\nurl = \"https://x.org\"\nbody = \"json\"\npayload_file = \"does-not-exist.json\"");
    assert!(has(&found, "payload_file", "cannot read") && found[0].1.contains("does-not-exist.json"), "{found:?}");
}

#[test]
fn template_errors_name_their_field() {
    let found = problems(
        "url = \"https://x.org/${id\"\n[headers]\nX-A = \"${toInterger(x)}\"\n[[mappings]]\nsource = \"a..b\"\ntarget = \"t\"",
    );
    assert!(has(&found, "url", "never closed"), "{found:?}");
    assert!(has(&found, "headers.X-A", "unknown function toInterger"), "{found:?}");
    assert!(has(&found, "mappings[0].source", "not a field path"), "{found:?}");
}

#[test]
fn an_invalid_jsonpath_source_is_a_load_error_at_its_place() {
    let toml = "url = \"https://x.org\"\n[[mappings]]\nsource = \"$.items[*].id\"\ntarget = \"ids\"\n\n[[mappings]]\nsource = \"$.items[\"\ntarget = \"t\"";
    let found = problems(toml);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(has(&found, "mappings[1].source", "invalid JSONPath query"), "{found:?}");
    assert_eq!(places(toml), [("mappings[1].source".to_owned(), 7, 10)]);
}

#[test]
fn fields_that_do_not_apply_are_refused() {
    let found =
        problems("method = \"POST\"\nurl = \"https://x.org\"\n[body]\ntype = \"json\"\npayload = \"{}\"\nfile = \"a\"");
    assert!(has(&found, "body.file", "does not apply to a json body"), "{found:?}");
    let found = problems("url = \"https://x.org\"\n[auth]\ntype = \"bearer\"\ntoken = \"t\"\nusername = \"u\"");
    assert!(has(&found, "auth.username", "does not apply to bearer auth"), "{found:?}");
    let found = problems("url = \"https://x.org\"\n[auth]\ntype = \"oauth2\"\nclient_id = \"c\"");
    assert!(has(&found, "auth.token_url", "needs token_url"), "{found:?}");
    let found = problems(
        "url = \"https://x.org\"\n[auth]\ntype = \"oauth2\"\ntoken_url = \"https://a.org\"\nclient_id = \"c\"\ngrant_type = \"password\"",
    );
    assert!(has(&found, "auth.username", "needs username"), "{found:?}");
    let found = problems("method = \"POST\"\nurl = \"https://x.org\"\n[body]\ntype = \"multipart\"");
    assert!(has(&found, "body.file", "needs a file"), "{found:?}");
    let found = problems("method = \"POST\"\nurl = \"https://x.org\"\nbody = \"form\"");
    assert!(has(&found, "body", "only for json"), "{found:?}");
    let found = problems("url = \"https://x.org\"\nqueue = true\n[[mappings]]\nsource = \"a\"\ntarget = \"b\"");
    assert!(has(&found, "mappings", "no mappings"), "{found:?}");
}

#[test]
fn toml_keeps_the_order_of_headers_form_fields_and_parts() {
    let spec = "method = \"POST\"\nurl = \"https://x.org\"\n[headers]\nZ-Last = \"1\"\nA-First = \"2\"\nM = \"3\"\n\
                [body]\ntype = \"form\"\n[body.fields]\nzeta = \"1\"\nalpha = \"2\"\n";
    let request = load(spec).unwrap();
    let headers: Vec<&str> = request.headers.iter().map(|(_, name, _)| name.as_str()).collect();
    assert_eq!(headers, ["Z-Last", "A-First", "M"]);
    let Some(CompiledBody::Form(fields)) = &request.body else { panic!("a form body") };
    let names: Vec<&str> = fields.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["zeta", "alpha"]);
    let spec = "method = \"POST\"\nurl = \"https://x.org\"\n[body]\ntype = \"multipart\"\nfile = \"a.jpg\"\n\
                [body.fields]\nzeta = \"1\"\nalpha = \"2\"\n";
    let Some(CompiledBody::File(file)) = load(spec).unwrap().body else { panic!("a file body") };
    let names: Vec<&str> = file.fields.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["zeta", "alpha"]);
}

#[test]
fn strict_in_the_spec_makes_its_templates_strict() {
    let request = load("url = \"https://x.org/${id}\"\nstrict = true").unwrap();
    let variables = crate::Variables::new();
    let error = request.url.render(&variables, &crate::Context::default()).unwrap_err();
    assert_eq!(error.message(), "variable id is not set");
    let relaxed = load("url = \"https://x.org/${id}?q=1\"").unwrap();
    // Not strict: the unset id is empty, and a hole that is a whole path segment may not be.
    let error = relaxed.url.render(&variables, &crate::Context::default()).unwrap_err();
    assert!(error.message().contains("empty path segment"), "{error}");
}

#[test]
fn specs_load_from_json_too() {
    let request = CompiledRequest::from_json(
        &Engine::new(),
        r#"{"method": "POST", "url": "https://x.org", "body": {"type": "form", "fields": {"a": "1"}}}"#,
        Path::new("."),
    )
    .unwrap();
    assert_eq!(request.method(), Method::Post);
}

#[test]
fn sign_poll_and_digest_fields_are_checked_at_their_places() {
    let signed = "method = \"POST\"\nurl = \"https://x.org\"\n[headers]\nWebhook-Signature = \"v1,x\"\n\
                  [sign]\nscheme = \"standard-webhooks\"\nsecret = '${secret(\"S\")}'\n";
    let found = problems(signed);
    assert!(has(&found, "headers.Webhook-Signature", "set by [sign] on every attempt"), "{found:?}");
    assert_eq!(places(signed), [("headers.Webhook-Signature".to_owned(), 4, 21)]);
    // The twin: without [sign], the header is the spec's own.
    assert!(load("url = \"https://x.org\"\n[headers]\nWebhook-Signature = \"v1,x\"\n").is_ok());
    let digest = "url = \"https://x.org\"\n[auth]\ntype = \"digest\"\nusername = \"u\"\ntoken = \"t\"\n";
    let found = problems(digest);
    assert!(has(&found, "auth.token", "does not apply to digest auth"), "{found:?}");
    assert!(has(&found, "auth.password", "digest auth needs password"), "{found:?}");
    let queued = "method = \"POST\"\nurl = \"https://x.org\"\nqueue = true\n[poll]\n";
    assert!(has(&problems(queued), "poll", "a queued request"), "{:?}", problems(queued));
    let request = load("url = \"https://x.org\"\n[sign]\nscheme = \"standard-webhooks\"\nsecret = \"${s}\"\n").unwrap();
    assert!(request.is_signed());
}
