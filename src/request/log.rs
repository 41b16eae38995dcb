//! The request log and redaction: the entries a run writes (method, URL, status,
//! duration; with `debug` also payloads, headers and bodies), and the `Redactor`
//! that learns every secret a template resolves and replaces it with `[redacted]`
//! in everything a run hands back.

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use percent_encoding::utf8_percent_encode;
use serde::Serialize;

use crate::functions::SecretResolver;

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// Longest body kept in a debug log entry, in bytes.
const MAX_LOGGED_BODY: usize = 64 << 10;

/// One log entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogEntry {
    /// When.
    pub time: DateTime<Utc>,
    /// What happened, in words.
    pub message: String,
    /// The request's method, for entries about a request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The request's URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The response status, when one came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// How long the request took, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// The request's `X-B3-TraceId`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// With `debug`: the request's headers and payload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<Exchange>,
    /// With `debug`: the response's headers and body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<Exchange>,
}

impl LogEntry {
    /// An entry that is only a message.
    pub fn note(message: impl Into<String>) -> Self {
        LogEntry {
            time: Utc::now(),
            message: message.into(),
            method: None,
            url: None,
            status: None,
            duration_ms: None,
            trace_id: None,
            request: None,
            response: None,
        }
    }
}

/// Headers and body of a request or response, as a debug log keeps them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Exchange {
    /// Header name → value (repeated headers joined with `, `); credentials redacted.
    pub headers: IndexMap<String, String>,
    /// The body as text (binary bytes replaced), cut at 64 KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

impl Exchange {
    /// Keeps headers (redacting credentials) and a body.
    pub(crate) fn new<'a>(headers: impl IntoIterator<Item = (&'a str, String)>, body: Option<&[u8]>) -> Self {
        let mut kept: IndexMap<String, String> = IndexMap::new();
        for (name, value) in headers {
            let value = if is_credential_header(name) { REDACTED.to_owned() } else { value };
            kept.entry(name.to_owned())
                .and_modify(|existing| {
                    existing.push_str(", ");
                    existing.push_str(&value);
                })
                .or_insert(value);
        }
        Exchange { headers: kept, body: body.map(body_text) }
    }
}

/// Whether a header carries credentials, and is always redacted.
pub(crate) fn is_credential_header(name: &str) -> bool {
    ["authorization", "proxy-authorization", "cookie", "set-cookie"]
        .iter()
        .any(|credential| name.eq_ignore_ascii_case(credential))
}

fn body_text(bytes: &[u8]) -> String {
    let kept = &bytes[..bytes.len().min(MAX_LOGGED_BODY)];
    let mut text = String::from_utf8_lossy(kept).into_owned();
    if kept.len() < bytes.len() {
        text.push_str(&format!("… ({} more bytes)", bytes.len() - kept.len()));
    }
    text
}

/// The secrets of one run, in every form they may be written: as they are,
/// JSON-escaped (also twice, and `\u`-escaped character by character),
/// percent-encoded, form-encoded, and Base64-encoded — alone or as part of a longer
/// text, as in a Basic credential. A JSON text that escapes only some characters of
/// a secret with `\u` is read unescaped too.
#[derive(Debug, Default)]
pub(crate) struct Redactor {
    forms: Mutex<Vec<String>>,
    /// The secrets among them that are bound to hosts.
    bindings: super::destination::Bindings,
    /// How often a template asked for a secret (whether or not it was known).
    lookups: std::sync::atomic::AtomicUsize,
    /// The request headers whose templates asked for a secret, lowercase.
    secret_headers: Mutex<Vec<String>>,
    /// The secrets as they are, for the unescaped reading of JSON text.
    secrets: Mutex<Vec<String>>,
    /// The names of the secrets templates resolved, in order (see [`Redactor::taint`]).
    resolved: Mutex<Vec<String>>,
    /// The secrets the request carries by taint: every one a template of its URL,
    /// headers, body or `Authorization` called, whatever became of its value.
    carried: Mutex<Vec<String>>,
    /// The secrets the OAuth2 token request carries by taint.
    carried_to_token: Mutex<Vec<String>>,
}

/// Which request a template's secrets go out with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Carrier {
    /// The request itself (and its redirect hops within its origin).
    Request,
    /// The OAuth2 token request.
    TokenRequest,
}

/// Shortest secret whose Base64 is looked for inside longer Base64 text: shorter
/// ones would leave too few characters to tell them from other text.
const MIN_EMBEDDED_BASE64: usize = 6;

impl Redactor {
    /// Learns a secret; an empty one redacts nothing.
    pub(crate) fn add(&self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        let candidates = forms_of(secret);
        let mut forms = self.forms.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        forms.extend(candidates.into_iter().filter(|form| !form.is_empty()));
        // The longest first, so that no shorter form leaves part of a longer one.
        forms.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        forms.dedup();
        drop(forms);
        let mut secrets = self.secrets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        secrets.push(secret.to_owned());
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        secrets.dedup();
    }

    /// Learns a credential courier made (an `Authorization` value): the whole value,
    /// the part after its scheme, and for Basic the decoded `user:password` and the
    /// password alone.
    pub(crate) fn add_credential(&self, value: &str) {
        self.add(value);
        let Some((scheme, rest)) = value.split_once(' ') else { return };
        let rest = rest.trim();
        self.add(rest);
        if scheme.eq_ignore_ascii_case("basic")
            && let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(rest)
            && let Ok(decoded) = String::from_utf8(decoded)
        {
            if let Some((_, password)) = decoded.split_once(':') {
                self.add(password);
            }
            self.add(&decoded);
        }
    }

    /// Whether any secret was learnt.
    pub(crate) fn is_empty(&self) -> bool {
        self.forms.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).is_empty()
    }

    /// Whether `text` holds any secret, in any form.
    pub(crate) fn holds_secret(&self, text: &str) -> bool {
        let forms = self.forms.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        forms.iter().any(|form| text.contains(form.as_str()))
    }

    /// How often a template of the run asked for a secret so far.
    pub(crate) fn lookups(&self) -> usize {
        self.lookups.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Records that the header `name`'s template asked for a secret: it holds a
    /// credential, even when its value does not show the secret (a hash, a signature).
    pub(crate) fn mark_secret_header(&self, name: &str) {
        let mut names = self.secret_headers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let name = name.to_ascii_lowercase();
        if !names.contains(&name) {
            names.push(name);
        }
    }

    /// Whether the header `name`'s template asked for a secret.
    pub(crate) fn is_secret_header(&self, name: &str) -> bool {
        let names = self.secret_headers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        names.iter().any(|marked| marked.eq_ignore_ascii_case(name))
    }

    /// The secrets of the run that are bound to hosts.
    pub(crate) fn bindings(&self) -> &super::destination::Bindings {
        &self.bindings
    }

    /// How many secrets templates resolved so far: a mark for [`Redactor::taint`].
    pub(crate) fn resolved(&self) -> usize {
        self.resolved.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).len()
    }

    /// Records that the secrets resolved since `mark` go out with `carrier`: a
    /// template that called `secret("K")` carries K, however it transformed the value.
    pub(crate) fn taint(&self, mark: usize, carrier: Carrier) {
        let resolved = self.resolved.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let carried = match carrier {
            Carrier::Request => &self.carried,
            Carrier::TokenRequest => &self.carried_to_token,
        };
        let mut carried = carried.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for name in resolved.iter().skip(mark) {
            if !carried.contains(name) {
                carried.push(name.clone());
            }
        }
    }

    /// The names of the secrets `carrier` carries by taint.
    pub(crate) fn carried(&self, carrier: Carrier) -> Vec<String> {
        let carried = match carrier {
            Carrier::Request => &self.carried,
            Carrier::TokenRequest => &self.carried_to_token,
        };
        carried.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// `text` with every secret replaced.
    pub(crate) fn redact(&self, text: &str) -> String {
        let forms = self.forms.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut text = text.to_owned();
        for form in forms.iter() {
            if text.contains(form.as_str()) {
                text = text.replace(form.as_str(), REDACTED);
            }
        }
        drop(forms);
        if text.contains("\\u") {
            let secrets = self.secrets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            text = redact_unescaped(&text, &secrets);
        }
        text
    }

    /// Redacts a string in place.
    pub(crate) fn redact_in_place(&self, text: &mut String) {
        let redacted = self.redact(text);
        *text = redacted;
    }
}

/// Every form a secret may be written in: as it is, JSON-escaped (once and twice),
/// Debug-escaped, shortened and escaped as error messages quote it, percent- and
/// form-encoded, `\u`-escaped, and Base64-encoded.
pub(crate) fn forms_of(secret: &str) -> Vec<String> {
    let json = serde_json::Value::String(secret.to_owned()).to_string();
    let json_twice = serde_json::Value::String(json[1..json.len() - 1].to_owned()).to_string();
    let debug = format!("{secret:?}");
    // Error messages quote values shortened and escaped (`Value::describe`): that
    // prefix, without its quotes and ellipsis, must not survive either.
    let described = crate::Value::from(secret).describe();
    let described = described.trim_end_matches('"').trim_end_matches('…').trim_start_matches('"');
    let mut candidates = vec![
        secret.to_owned(),
        json[1..json.len() - 1].to_owned(),
        json_twice[1..json_twice.len() - 1].to_owned(),
        debug[1..debug.len() - 1].to_owned(),
        described.to_owned(),
        utf8_percent_encode(secret, crate::value::URL_COMPONENT).to_string(),
        url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
        unicode_escaped(secret, false),
        unicode_escaped(secret, true),
    ];
    // Python's `json.dumps` (ASCII only): every non-ASCII character as `\u`, the
    // rest as JSON escapes it; and that escaped again, as when a service quotes the
    // JSON body it was sent inside its own JSON answer.
    let ascii = ascii_json(secret);
    let ascii_twice = serde_json::Value::String(ascii.clone()).to_string();
    candidates.push(ascii_twice[1..ascii_twice.len() - 1].to_owned());
    candidates.push(ascii);
    candidates.extend(base64_forms(secret.as_bytes()));
    candidates
}

/// `text` as JSON string content with only ASCII left (Python's `json.dumps`):
/// quotes, backslashes and control characters escaped, non-ASCII characters as
/// `\u` escapes of their UTF-16 units in lower-case hex.
fn ascii_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(character),
            other => {
                let mut units = [0u16; 2];
                for unit in other.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out
}

/// Every character as a JSON `\u` escape (UTF-16 code units), in lower or upper hex.
fn unicode_escaped(text: &str, upper: bool) -> String {
    text.encode_utf16().map(|unit| if upper { format!("\\u{unit:04X}") } else { format!("\\u{unit:04x}") }).collect()
}

/// The Base64 forms of a secret, in the standard and the URL-safe alphabet: the
/// whole encoding with and without padding, and — for secrets long enough — the
/// characters that depend only on the secret when it starts at each of the three
/// byte offsets inside a longer encoded text (`user:secret` in a Basic credential,
/// `base64Encode("x" + secret)`).
fn base64_forms(secret: &[u8]) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let mut forms: Vec<String> =
        [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD].iter().map(|engine| engine.encode(secret)).collect();
    if secret.len() >= MIN_EMBEDDED_BASE64 {
        for offset in 0..3usize {
            let mut shifted = vec![0u8; offset];
            shifted.extend_from_slice(secret);
            // Output character i covers input bits 6i..6i+6; keep those wholly
            // inside the secret's bits 8·offset..8·(offset+len).
            let first = (8 * offset).div_ceil(6);
            let end = 8 * (offset + secret.len()) / 6;
            for engine in [STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
                let encoded = engine.encode(&shifted);
                if let Some(middle) = encoded.get(first..end) {
                    forms.push(middle.to_owned());
                }
            }
        }
    }
    forms
}

/// Redacts the secrets found in `text` read as JSON string content (escapes such
/// as `\u0041` and `\"` decoded), replacing the escaped text they came from.
fn redact_unescaped(text: &str, secrets: &[String]) -> String {
    let (decoded, origins) = json_unescaped(text);
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for secret in secrets {
        for (start, found) in decoded.match_indices(secret.as_str()) {
            let end = start + found.len();
            spans.push((origins[start], origins[end]));
        }
    }
    if spans.is_empty() {
        return text.to_owned();
    }
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (start, end) in spans {
        if start < copied {
            copied = copied.max(end);
            continue;
        }
        out.push_str(&text[copied..start]);
        out.push_str(REDACTED);
        copied = end;
    }
    out.push_str(&text[copied..]);
    out
}

/// `text` with its JSON escapes decoded, and for each byte of the result (and its
/// end) the byte of `text` it came from.
fn json_unescaped(text: &str) -> (String, Vec<usize>) {
    let mut decoded = String::with_capacity(text.len());
    let mut origins = Vec::with_capacity(text.len() + 1);
    let mut rest = text.char_indices().peekable();
    while let Some((at, c)) = rest.next() {
        let (character, consumed) = if c == '\\' { unescape_at(&text[at..]) } else { (Some(c), c.len_utf8()) };
        match character {
            Some(character) => {
                for _ in 0..character.len_utf8() {
                    origins.push(at);
                }
                decoded.push(character);
                while rest.peek().is_some_and(|(next, _)| *next < at + consumed) {
                    rest.next();
                }
            }
            None => {
                origins.push(at);
                decoded.push(c);
            }
        }
    }
    origins.push(text.len());
    (decoded, origins)
}

/// The character a JSON escape at the start of `text` stands for, and its length.
fn unescape_at(text: &str) -> (Option<char>, usize) {
    let hex = |from: usize| text.get(from..from + 4).and_then(|digits| u16::from_str_radix(digits, 16).ok());
    match text.as_bytes().get(1) {
        Some(b'u') => match hex(2) {
            Some(high @ 0xD800..=0xDBFF) if text.get(6..8) == Some("\\u") => match hex(8) {
                Some(low @ 0xDC00..=0xDFFF) => (char::decode_utf16([high, low]).next().and_then(Result::ok), 12),
                _ => (None, 1),
            },
            Some(unit) => (char::from_u32(u32::from(unit)), 6),
            None => (None, 1),
        },
        Some(b'"') => (Some('"'), 2),
        Some(b'\\') => (Some('\\'), 2),
        Some(b'/') => (Some('/'), 2),
        Some(b'n') => (Some('\n'), 2),
        Some(b't') => (Some('\t'), 2),
        Some(b'r') => (Some('\r'), 2),
        Some(b'b') => (Some('\u{8}'), 2),
        Some(b'f') => (Some('\u{c}'), 2),
        _ => (None, 1),
    }
}

/// The host's secret resolver, wrapped to tell the [`Redactor`] every value it gives.
pub(crate) struct RecordingResolver {
    inner: Option<Arc<dyn SecretResolver>>,
    redactor: Arc<Redactor>,
}

impl RecordingResolver {
    pub(crate) fn new(inner: Option<Arc<dyn SecretResolver>>, redactor: Arc<Redactor>) -> Self {
        RecordingResolver { inner, redactor }
    }
}

impl SecretResolver for RecordingResolver {
    fn resolve(&self, name: &str) -> Option<String> {
        self.redactor.lookups.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let inner = self.inner.as_ref()?;
        let value = inner.resolve(name)?;
        self.redactor.add(&value);
        self.redactor.resolved.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(name.to_owned());
        if let Some(hosts) = inner.allowed_hosts(name) {
            self.redactor.bindings.record(name, forms_of(&value), &hosts);
        }
        Some(value)
    }

    fn allowed_hosts(&self, name: &str) -> Option<Vec<String>> {
        self.inner.as_ref()?.allowed_hosts(name)
    }

    fn how_to_set(&self, name: &str) -> Option<String> {
        self.inner.as_ref()?.how_to_set(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_shortened_in_an_error_message_is_redacted() {
        let secret = "eyJhbGciOiJIUzI1NiJ9.".repeat(8) + "\u{1}";
        let redactor = Redactor::default();
        redactor.add(&secret);
        let message = format!("cannot convert {} to an integer", crate::Value::from(secret.as_str()).describe());
        let redacted = redactor.redact(&message);
        assert!(!redacted.contains("eyJhbGciOiJIUzI1NiJ9.eyJ"), "{redacted}");
        let debug = redactor.redact(&format!("{secret:?}"));
        assert!(!debug.contains("eyJhbGci"), "{debug}");
    }

    #[test]
    fn every_form_of_a_secret_is_redacted() {
        let redactor = Redactor::default();
        redactor.add("p@ss \"word\"");
        assert_eq!(redactor.redact("a p@ss \"word\" b"), "a [redacted] b");
        assert_eq!(redactor.redact(r#"{"x":"p@ss \"word\""}"#), r#"{"x":"[redacted]"}"#);
        assert_eq!(redactor.redact("?q=p%40ss%20%22word%22"), "?q=[redacted]");
        assert_eq!(redactor.redact("q=p%40ss+%22word%22"), "q=[redacted]");
        redactor.add("");
        assert_eq!(redactor.redact("nothing here"), "nothing here");
    }

    #[test]
    fn base64_of_a_secret_inside_longer_text_is_redacted_at_every_offset() {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let redactor = Redactor::default();
        redactor.add("hunter2-horse");
        for prefix in ["", "a", "ab", "abc:", "user:"] {
            for encoded in [
                STANDARD.encode(format!("{prefix}hunter2-horse!")),
                URL_SAFE_NO_PAD.encode(format!("{prefix}hunter2-horse")),
            ] {
                let redacted = redactor.redact(&format!("Basic {encoded}"));
                assert!(redacted.contains(REDACTED), "{prefix:?}: {redacted}");
                let left: String = redacted.replace(REDACTED, "");
                // What is left: the prefix's characters, a few at each edge, padding.
                assert!(left.len() <= "Basic ".len() + prefix.len() * 2 + 6, "{prefix:?}: {redacted}");
            }
        }
    }

    #[test]
    fn a_partly_unicode_escaped_secret_is_redacted() {
        let redactor = Redactor::default();
        redactor.add("s\"cret");
        let text = r#"{"echo": "s\u0022c\u0072et", "other": "\u0041"}"#;
        assert_eq!(redactor.redact(text), r#"{"echo": "[redacted]", "other": "\u0041"}"#);
    }

    #[test]
    fn credential_headers_are_redacted_in_the_log() {
        let exchange = Exchange::new(
            [("Authorization", "Bearer abc".to_owned()), ("Set-Cookie", "a=b".to_owned()), ("X-A", "1".to_owned())],
            Some(b"body"),
        );
        assert_eq!(exchange.headers["Authorization"], REDACTED);
        assert_eq!(exchange.headers["Set-Cookie"], REDACTED);
        assert_eq!(exchange.headers["X-A"], "1");
    }
}
