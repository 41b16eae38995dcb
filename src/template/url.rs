//! The url context: request URLs.
//!
//! How a hole is encoded depends on where it stands, which is decided at compile
//! time from the literal text before it:
//!
//! - a hole that starts the URL (`${shop_url}/items`) is the base URL, inserted as it is;
//! - any other hole (in the host, the path, the query or the fragment) is
//!   percent-encoded as one component: every byte but the unreserved `A-Z a-z 0-9
//!   - . _ ~` is written `%XX`, so a value can never add a `/`, `?`, `&`, `=` or `#`.
//!   A space is `%20` in every position (`+` means a space only to some query parsers).
//!
//! The rendered URL must be an absolute http(s) URL: it is checked with the `url`
//! crate, refusing what that crate would silently repair (a tab or line break it would
//! drop, a space it would encode), and a path segment that is `.` or `..`, which would
//! move the request to another path. The result is the URL as an HTTP client sends it.
//!
//! Parsing the whole URL again at every render is most of a render's cost, so it is
//! skipped when it cannot change or refuse anything: compiling decides whether the
//! literal text is already in the form the `url` crate gives (checked by parsing it
//! once, with `x` for each hole), and a hole in the path, query or fragment adds only
//! unreserved characters and `%XX`, which no parser changes. What is left to check at
//! render time is what the holes add: a base value (parsed again unless it is a plain
//! `http(s)://host[:port][/path]`, see [`plain_base`]), a hole in the authority (always
//! parsed again), and `.`/`..` or empty path segments.

use std::cell::Cell;
use std::ops::Range;

use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use url::{SyntaxViolation, Url};

use super::Template;
use crate::diagnostics::{Diagnostic, Severity};
use crate::error::{Error, ErrorKind};
use crate::eval::Engine;
use crate::functions::Context;
use crate::syntax::literal_pieces;
use crate::syntax::{LineIndex, Span};
use crate::value::{URL_COMPONENT, Value};
use crate::variables::VariableSource;

/// Where a hole stands in a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UrlPosition {
    /// At the very start: the base URL, inserted as it is.
    Base,
    /// Between `//` and the path: user, host or port.
    Authority,
    /// In the path.
    Path,
    /// In the query, after `?`.
    Query,
    /// In the fragment, after `#`.
    Fragment,
}

/// A compiled url-context template: immutable, `Send + Sync`.
///
/// ```
/// use courier::{Context, Engine, Variables};
/// use courier::template::UrlTemplate;
///
/// let template = UrlTemplate::compile(&Engine::new(), "${base}/products/${id}?q=${q}").unwrap();
/// let variables = Variables::from_strings([("base", "https://shop.example.org"), ("id", "a/b"), ("q", "x & y")]);
/// let url = template.render(&variables, &Context::default()).unwrap();
/// assert_eq!(url, "https://shop.example.org/products/a%2Fb?q=x%20%26%20y");
/// ```
#[derive(Debug, Clone)]
pub struct UrlTemplate {
    template: Template,
    positions: Box<[UrlPosition]>,
    /// Whether the literal text is in the `url` crate's form whatever the path, query
    /// and fragment holes hold, so that a render with a plain base (or none) need not
    /// be parsed again (see [`canonical_literals`]).
    canonical_literals: bool,
}

impl UrlTemplate {
    /// Compiles a url-context template. The literal text must be valid in a URL (no
    /// space, no stray `%`), and must start with `http://` or `https://` unless a hole
    /// starts the template; what breaks these rules is an error of kind
    /// [`ErrorKind::Render`] here, before any variable is known.
    pub fn compile(engine: &Engine, source: &str) -> Result<UrlTemplate, Error> {
        let template = Template::compile(engine, source)?;
        let holes: Vec<Range<usize>> = template.hole_spans().map(|span| span.range()).collect();
        let layout = analyze(source, &holes);
        if let Some(diagnostic) = layout.diagnostics.iter().find(|d| d.severity == Severity::Error) {
            return Err(Error::from_diagnostic(diagnostic, ErrorKind::Render, template.source_arc()));
        }
        let canonical_literals = canonical_literals(source, &holes, &layout.positions);
        Ok(UrlTemplate { template, positions: layout.positions.into_boxed_slice(), canonical_literals })
    }

    /// The source it was compiled from.
    pub fn source(&self) -> &str {
        self.template.source()
    }

    /// Renders the URL, each hole encoded for its position, and checks the result.
    pub fn render(&self, variables: &dyn VariableSource, context: &Context) -> Result<String, Error> {
        let template = &self.template;
        let runtime = template.runtime(variables, context);
        let mut positions = self.positions.iter().copied();
        let mut written: Vec<(Range<usize>, Span, UrlPosition)> = Vec::with_capacity(self.positions.len());
        // Room for the literal text and typical values at once, instead of growing
        // from nothing (four reallocations for a short URL); never past the URL limit.
        let mut out = String::with_capacity((2 * self.template.source().len()).clamp(64, MAX_URL_BYTES));
        template.render_with(
            &runtime,
            |value, span, out| {
                let position = positions.next().unwrap_or(UrlPosition::Path);
                let start = out.len();
                match position {
                    UrlPosition::Base => value.write_text(out),
                    _ => encode_component(value, out),
                }
                written.push((start..out.len(), span, position));
                Ok(())
            },
            &mut out,
        )?;
        if out.len() > MAX_URL_BYTES {
            // The URL itself is not quoted: it is what is too long to show.
            let message = format!("the URL would be {} bytes, more than the limit of {MAX_URL_BYTES}", out.len());
            return Err(Error::new(ErrorKind::Limit, message).at(self.whole_span(), template.source_arc()));
        }
        if let Some((span, message)) = swallowing_base(&out, &written).or_else(|| empty_segment(&out, &written)) {
            return Err(Error::new(ErrorKind::Render, message).at(span, template.source_arc()));
        }
        let base_is_plain = || match written.first() {
            Some((range, _, UrlPosition::Base)) => plain_base(&out[range.clone()]),
            _ => true,
        };
        if self.canonical_literals && base_is_plain() {
            // Nothing a parser would change or refuse: only dot segments are left to find.
            return match dot_segment(&out) {
                None => Ok(out),
                Some(at) => {
                    let span = Problem::dot_segment(at).blame(&written).unwrap_or_else(|| self.whole_span());
                    Err(Error::new(ErrorKind::Render, DOT_SEGMENT).at(span, template.source_arc()))
                }
            };
        }
        validate(&out).map_err(|problem| {
            let span = problem.blame(&written).unwrap_or_else(|| self.whole_span());
            Error::new(ErrorKind::Render, problem.message).at(span, template.source_arc())
        })
    }

    fn whole_span(&self) -> Span {
        let source = self.template.source();
        LineIndex::new(source).span(0, source.len() as u32)
    }
}

/// Longest URL rendered, in bytes: more than servers accept (8 KiB is common), far
/// less than the HTTP client's own limit (64 KiB), and short enough to keep in a log,
/// an event and a replay record.
pub const MAX_URL_BYTES: usize = 16 << 10;

/// A base value with a `?` or `#` followed by more of the template: the author's
/// path after it would become part of the query or the fragment.
fn swallowing_base(out: &str, written: &[(Range<usize>, Span, UrlPosition)]) -> Option<(Span, &'static str)> {
    let (range, span, _) = written.iter().find(|(.., position)| *position == UrlPosition::Base)?;
    let swallows = range.end < out.len() && out[range.clone()].contains(['?', '#']);
    swallows.then_some((
        *span,
        "the base URL holds a `?` or `#`, so the path written after it would become part of its query or fragment",
    ))
}

/// A path hole whose value is empty and is a whole segment: `/users/${id}/delete`
/// with an empty id would send `/users//delete`, another resource.
fn empty_segment(out: &str, written: &[(Range<usize>, Span, UrlPosition)]) -> Option<(Span, &'static str)> {
    written.iter().find_map(|(range, span, position)| {
        let whole_segment = *position == UrlPosition::Path
            && range.is_empty()
            && out[..range.start].ends_with('/')
            && (out[range.end..].is_empty() || out[range.end..].starts_with(['/', '?', '#']));
        whole_segment.then_some((*span, "the value is empty, which would leave an empty path segment in the URL"))
    })
}

/// Whether a rendered URL made of `source`'s literal text is already in the `url`
/// crate's form whatever its path, query and fragment holes hold (they add only
/// unreserved characters and `%XX`). Decided once by parsing the literal text with
/// `x` for each hole, after `http://h` when a base hole starts it. A hole in the
/// authority, or a base followed by anything but a path, leaves the question open.
fn canonical_literals(source: &str, holes: &[Range<usize>], positions: &[UrlPosition]) -> bool {
    if positions.contains(&UrlPosition::Authority) {
        return false;
    }
    let base_first = positions.first() == Some(&UrlPosition::Base);
    let mut sample = String::new();
    for (number, piece) in literal_pieces(source, holes).enumerate() {
        sample.extend(piece.chars.iter().map(|(_, c)| *c));
        if number < holes.len() {
            sample.push_str(if number == 0 && base_first { "http://h" } else { "x" });
        }
    }
    if base_first && !sample["http://h".len()..].starts_with('/') {
        return false;
    }
    Url::parse(&sample).is_ok_and(|url| url.as_str() == sample)
}

/// Whether a base value is a URL the `url` crate would keep as it is and that the
/// literal path after it cannot change: `http://` or `https://`, a lower-case ASCII
/// host name whose last label starts with a letter (so it is not read as an IPv4
/// address) and that has no `--` where IDNA looks (`xn--`), an optional port that is
/// not the scheme's default, and a path of characters no parser encodes. Anything
/// else is parsed as before.
fn plain_base(base: &str) -> bool {
    let (rest, default_port) = match (base.strip_prefix("https://"), base.strip_prefix("http://")) {
        (Some(rest), _) => (rest, "443"),
        (None, Some(rest)) => (rest, "80"),
        (None, None) => return false,
    };
    let host_end = rest.find([':', '/']).unwrap_or(rest.len());
    let (host, mut rest) = rest.split_at(host_end);
    if !plain_host(host) {
        return false;
    }
    if let Some(after_colon) = rest.strip_prefix(':') {
        let port_end = after_colon.find('/').unwrap_or(after_colon.len());
        let port = &after_colon[..port_end];
        let valid = !port.is_empty()
            && port.len() <= 5
            && port.bytes().all(|b| b.is_ascii_digit())
            && !port.starts_with('0')
            && port.parse::<u32>().is_ok_and(|number| number <= 65535)
            && port != default_port;
        if !valid {
            return false;
        }
        rest = &after_colon[port_end..];
    }
    rest.is_empty()
        || (rest.starts_with('/')
            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~!$&()*+,;=:@/".contains(&b)))
}

/// A host name as [`plain_base`] wants it.
fn plain_host(host: &str) -> bool {
    let label_ok = |label: &str| {
        let bytes = label.as_bytes();
        (1..=63).contains(&bytes.len())
            && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
            && bytes[0] != b'-'
            && bytes[bytes.len() - 1] != b'-'
            && bytes.get(2..4) != Some(b"--")
    };
    (1..=253).contains(&host.len())
        && host.split('.').all(label_ok)
        && host.rsplit('.').next().is_some_and(|last| last.as_bytes()[0].is_ascii_lowercase())
}

/// Percent-encodes a value's string form as one URL component.
fn encode_component(value: &Value, out: &mut String) {
    match value {
        Value::Str(text) => out.extend(utf8_percent_encode(text, URL_COMPONENT)),
        other => out.extend(utf8_percent_encode(&other.to_text(), URL_COMPONENT)),
    }
}

/// What the compile-time analysis found: each hole's position, and the problems of
/// the literal text.
pub(crate) struct UrlLayout {
    pub(crate) positions: Vec<UrlPosition>,
    pub(crate) diagnostics: Vec<Diagnostic>,
}

/// Decides each hole's position from the literal text before it, and checks the
/// literal text. `holes` are the byte ranges of the `${...}`, in order.
pub(crate) fn analyze(source: &str, holes: &[Range<usize>]) -> UrlLayout {
    let index = LineIndex::new(source);
    let mut diagnostics = Vec::new();
    let base_first = holes.first().is_some_and(|hole| hole.start == 0);
    let mut state = if base_first { UrlPosition::Path } else { UrlPosition::Authority };
    let mut positions = Vec::with_capacity(holes.len());
    let mut scheme_checked = base_first;
    for (number, piece) in literal_pieces(source, holes).enumerate() {
        let mut skip = 0;
        if !scheme_checked {
            scheme_checked = true;
            let start: String = piece.chars.iter().take(8).map(|(_, c)| c.to_ascii_lowercase()).collect();
            match ["https://", "http://"].into_iter().find(|prefix| start.starts_with(prefix)) {
                Some(prefix) => skip = prefix.len(),
                None => {
                    let message = "a URL template must start with http:// or https://, or with a hole that gives \
                                   the base URL (${base_url}/...)";
                    diagnostics.push(Diagnostic::error("render", message, index.span(0, piece.range.end as u32)));
                }
            }
        }
        let mut reported = false;
        for (i, &(at, c)) in piece.chars.iter().enumerate().skip(skip) {
            if !reported && let Some(message) = invalid_literal(c, &piece.chars[i + 1..]) {
                let end = at + c.len_utf8();
                let mut diagnostic = Diagnostic::error("render", message, index.span(at as u32, end as u32));
                // OpenAPI's path parameter `{id}`, where courier's hole `${id}` was meant.
                if let Some(name) = openapi_parameter(c, &piece.chars[i + 1..]) {
                    diagnostic.message =
                        format!("a URL cannot hold `{{`: `{{{name}}}` is an OpenAPI path parameter, not a hole");
                    diagnostic = diagnostic.with_suggestion(format!("write ${{{name}}}"));
                }
                diagnostics.push(diagnostic);
                reported = true;
            }
            state = match (state, c) {
                (UrlPosition::Authority | UrlPosition::Base, '/') => UrlPosition::Path,
                (UrlPosition::Authority | UrlPosition::Base | UrlPosition::Path, '?') => UrlPosition::Query,
                (_, '#') => UrlPosition::Fragment,
                (state, _) => state,
            };
        }
        if number < holes.len() {
            positions.push(if number == 0 && base_first { UrlPosition::Base } else { state });
        }
    }
    // With a literal scheme, the URL's shape is known now: check it with holes as `x`.
    if !base_first && diagnostics.is_empty() {
        let mut sample = String::new();
        for piece in literal_pieces(source, holes) {
            sample.extend(piece.chars.iter().map(|(_, c)| *c));
            if piece.range.end < source.len() {
                sample.push('x');
            }
        }
        if let Err(problem) = validate(&sample) {
            diagnostics.push(Diagnostic::error("render", problem.message, index.span(0, source.len() as u32)));
        }
    }
    diagnostics.sort_by_key(|diagnostic| (diagnostic.span.start, diagnostic.span.end));
    UrlLayout { positions, diagnostics }
}

/// The name of `{name}` when `c` is its `{` and `rest` the text after it.
fn openapi_parameter(c: char, rest: &[(usize, char)]) -> Option<String> {
    if c != '{' {
        return None;
    }
    let name: String = rest.iter().map(|(_, c)| *c).take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    let closed = rest.get(name.chars().count()).is_some_and(|(_, c)| *c == '}');
    (!name.is_empty() && closed).then_some(name)
}

/// Why a literal character cannot stand in a URL template, if it cannot; `rest` is
/// the literal text after it.
fn invalid_literal(c: char, rest: &[(usize, char)]) -> Option<String> {
    if c == '%' {
        let escape = rest.len() >= 2 && rest[..2].iter().all(|(_, c)| c.is_ascii_hexdigit());
        return (!escape)
            .then(|| "a `%` in a URL starts a percent-escape such as %20; write %25 for a literal `%`".into());
    }
    let what = match c {
        ' ' => "a space".to_owned(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        '"' | '<' | '>' | '\\' | '^' | '`' | '{' | '|' | '}' => format!("`{c}`"),
        _ => return None,
    };
    let encoded: String = utf8_percent_encode(c.encode_utf8(&mut [0; 4]), NON_ALPHANUMERIC).collect();
    Some(format!("a URL cannot hold {what}; write it percent-encoded as {encoded}"))
}

/// A problem with a rendered URL, and where in it.
struct Problem {
    message: String,
    /// The byte range of the rendered URL at fault, when known.
    at: Option<Range<usize>>,
    /// Blame the base or host hole (what the `url` crate refuses comes from there).
    authority: bool,
}

impl Problem {
    fn new(message: impl Into<String>, authority: bool) -> Self {
        Problem { message: message.into(), at: None, authority }
    }

    /// A `.` or `..` path segment at `at`.
    fn dot_segment(at: Range<usize>) -> Self {
        Problem { message: DOT_SEGMENT.into(), at: Some(at), authority: false }
    }

    /// The span of the hole to blame.
    fn blame(&self, written: &[(Range<usize>, Span, UrlPosition)]) -> Option<Span> {
        if let Some(at) = &self.at {
            return written.iter().find(|(range, ..)| range.start < at.end && at.start < range.end).map(|(_, s, _)| *s);
        }
        if self.authority {
            let base = written.iter().find(|(.., p)| matches!(p, UrlPosition::Base | UrlPosition::Authority));
            return base.map(|(_, span, _)| *span);
        }
        None
    }
}

/// Checks that `text` is an absolute http(s) URL that the `url` crate reads without
/// repairing it, with no `.` or `..` path segment; gives the URL as it is sent.
fn validate(text: &str) -> Result<String, Problem> {
    let violation: Cell<Option<SyntaxViolation>> = Cell::new(None);
    let record = |found: SyntaxViolation| {
        // Credentials in the URL are legal (if unwise); everything else is a repair.
        if found != SyntaxViolation::EmbeddedCredentials && violation.get().is_none() {
            violation.set(Some(found));
        }
    };
    let url = Url::options().syntax_violation_callback(Some(&record)).parse(text).map_err(|error| match error {
        url::ParseError::RelativeUrlWithoutBase => {
            Problem::new("the URL must be absolute, starting with http:// or https://", true)
        }
        other => Problem::new(format!("the URL is not valid: {other}"), true),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Problem::new(format!("the URL must be http or https, not {}", url.scheme()), true));
    }
    if let Some(found) = violation.get() {
        return Err(Problem::new(format!("the URL is not well-formed: {}", found.description()), true));
    }
    if let Some(at) = dot_segment(text) {
        return Err(Problem::dot_segment(at));
    }
    Ok(url.into())
}

/// Why a `.` or `..` path segment is refused.
const DOT_SEGMENT: &str = "a path segment of the URL is `.` or `..`, which would send the request to another path";

/// The byte range of a `.` or `..` path segment (also percent-encoded) in a URL that
/// the `url` crate accepted without repairs, so it is `scheme://authority/path...`.
fn dot_segment(text: &str) -> Option<Range<usize>> {
    let after_scheme = text.find("://")? + 3;
    let path_start = after_scheme + text[after_scheme..].find(['/', '?', '#'])?;
    let path_end = path_start + text[path_start..].find(['?', '#']).unwrap_or(text.len() - path_start);
    let mut offset = path_start;
    for segment in text[path_start..path_end].split('/') {
        let decoded = percent_decode_str(segment).decode_utf8_lossy();
        if decoded == "." || decoded == ".." {
            return Some(offset..offset + segment.len());
        }
        offset += segment.len() + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_openapi_path_parameter_is_named_with_the_hole_meant() {
        let layout = analyze("https://x.org/users/{id}/orders", &[]);
        let found = &layout.diagnostics[0];
        assert!(found.message.contains("OpenAPI path parameter"), "{found:?}");
        assert_eq!(found.suggestion.as_deref(), Some("write ${id}"));
    }
    use crate::variables::Variables;

    fn render(source: &str, pairs: &[(&str, &str)]) -> Result<String, Error> {
        UrlTemplate::compile(&Engine::new(), source)?
            .render(&Variables::from_strings(pairs.iter().copied()), &Context::default())
    }

    fn compile_error(source: &str) -> String {
        UrlTemplate::compile(&Engine::new(), source).unwrap_err().to_string()
    }

    #[test]
    fn holes_are_encoded_by_position() {
        let url = render(
            "https://${host}.example.org/a/${p}/b?${k}=${v}&x=1#${f}",
            &[("host", "shop"), ("p", "1 2/3?#%"), ("k", "a=b"), ("v", "x & y+z"), ("f", "frag ment")],
        );
        assert_eq!(
            url.unwrap(),
            "https://shop.example.org/a/1%202%2F3%3F%23%25/b?a%3Db=x%20%26%20y%2Bz&x=1#frag%20ment"
        );
        let template = UrlTemplate::compile(&Engine::new(), "${b}/p/${x}?q=${y}#${z}").unwrap();
        use UrlPosition::*;
        assert_eq!(&*template.positions, [Base, Path, Query, Fragment]);
    }

    #[test]
    fn the_base_hole_is_inserted_as_is() {
        let url = render("${base}/items/${id}", &[("base", "https://shop.example.org/api/v1"), ("id", "7")]);
        assert_eq!(url.unwrap(), "https://shop.example.org/api/v1/items/7");
        let url = render("${base}", &[("base", "https://Shop.Example.org")]);
        assert_eq!(url.unwrap(), "https://shop.example.org/", "the URL as it is sent");
    }

    #[test]
    fn the_result_must_be_an_absolute_http_url() {
        for (base, expected) in [
            ("ftp://x.org", "must be http or https, not ftp"),
            ("/relative", "must be absolute"),
            ("", "must be absolute"),
            ("https://exa mple.org", "not valid"),
            ("https://x.org/a\nb", "tabs or newlines are ignored"),
            ("https://x.org/a b", "non-URL code point"),
            ("https:x.org", "expected //"),
            ("https://x.org\\a", "backslash"),
            ("https://x.org:99999", "not valid"),
        ] {
            let error = render("${base}/p", &[("base", base)]).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Render, "{base:?}");
            assert!(error.message().contains(expected), "{base:?}: {error}");
            assert_eq!(error.span().unwrap().range(), 0..7, "blames the base hole");
        }
        assert_eq!(render("${base}", &[("base", "https://u:p@x.org/")]).unwrap(), "https://u:p@x.org/");
    }

    #[test]
    fn dot_segments_are_refused() {
        for id in [".", ".."] {
            let error = render("${base}/a/${id}/b", &[("base", "https://x.org"), ("id", id)]).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Render);
            assert!(error.message().contains("`.` or `..`"), "{error}");
            assert_eq!(error.span().unwrap().range(), 10..15, "blames the path hole");
        }
        // Encoded dots are dots to a URL parser; an encoded `%` is not.
        let error = render("${base}/a/b", &[("base", "https://x.org/%2e%2E")]).unwrap_err();
        assert!(error.message().contains("`.` or `..`"), "{error}");
        let url = render("https://x.org/a/${id}", &[("id", "%2e%2E")]).unwrap();
        assert_eq!(url, "https://x.org/a/%252e%252E");
        assert_eq!(render("https://x.org/a/${id}", &[("id", "...")]).unwrap(), "https://x.org/a/...");
        assert!(compile_error("https://x.org/a/../${id}").contains("`.` or `..`"));
    }

    #[test]
    fn literal_text_is_checked_at_compile_time() {
        assert!(compile_error("shop.example.org/${x}").contains("must start with http:// or https://"));
        assert_eq!(
            compile_error("https://x.org/a b/${x}"),
            "line 1, column 16: a URL cannot hold a space; write it percent-encoded as %20"
        );
        assert!(compile_error("https://x.org/100%/${x}").contains("write %25"));
        assert!(compile_error("https://x.org:99999/${x}").contains("not valid"));
        assert!(UrlTemplate::compile(&Engine::new(), "HTTPS://x.org/%20/${x}").is_ok());
        assert!(compile_error("${b}/a{b}").contains("`{`"));
    }

    #[test]
    fn plain_bases_are_those_no_parser_changes() {
        for base in ["https://shop.example.org", "http://a.b:8080/api/v1/", "https://a-1.b2.example/x;y=1,2@:~"] {
            assert!(plain_base(base), "{base}");
            assert_eq!(Url::parse(base).unwrap().as_str().trim_end_matches('/'), base.trim_end_matches('/'));
        }
        for base in [
            "https://Shop.example.org",
            "HTTPS://shop.example.org",
            "http://127.0.0.1:8080",
            "http://0x7f.1",
            "http://a.1",
            "https://xn--bcher-kva.example",
            "http://a.b:80",
            "https://a.b:443",
            "http://a.b:080",
            "http://a.b:65536",
            "https://a.b/%2e",
            "https://a.b?x",
            "https://a.b#x",
            "https://u@a.b",
            "https://a..b",
            "https://-a.b",
            "https://a.b/'",
            "https://a.b/ä",
            "ftp://a.b",
        ] {
            assert!(!plain_base(base), "{base}");
        }
    }

    #[test]
    fn literal_text_known_canonical_at_compile_time() {
        let canonical = |source: &str| UrlTemplate::compile(&Engine::new(), source).unwrap().canonical_literals;
        assert!(canonical("${shop_url}/products/${product_id}/price?currency=${currency}"));
        assert!(canonical("https://x.org/a/${p}?q=${q}#${f}"));
        assert!(canonical("${b}/a'b"));
        assert!(!canonical("${b}"), "the url crate adds the path");
        assert!(!canonical("${b}?q=${x}"), "the query may follow a path or not");
        assert!(!canonical("https://${host}.example.org/"), "a host hole is parsed");
        assert!(!canonical("https://X.org/${p}"), "the url crate lower-cases the host");
        assert!(!canonical("https://x.org:443/${p}"), "the default port is dropped");
        assert!(!canonical("${b}/p?q='${x}"), "a quote in a query is encoded");
        assert!(!canonical("https://x.org/ä/${p}"), "non-ASCII is encoded");
    }

    /// The same template with the parse after every render, as before the fast path.
    fn always_parsed(template: &UrlTemplate) -> UrlTemplate {
        UrlTemplate { canonical_literals: false, ..template.clone() }
    }

    fn outcome(template: &UrlTemplate, variables: &Variables) -> Result<String, (String, Option<Span>)> {
        template.render(variables, &Context::default()).map_err(|error| (error.message().to_owned(), error.span()))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Skipping the parse changes no render: the same URL, or the same error at
        /// the same place, as parsing every rendered URL.
        #[test]
        fn skipping_the_parse_changes_nothing(
            base in proptest::prop_oneof![
                "https?://[a-z0-9]{1,3}([.][a-z0-9-]{1,3}){0,2}(:(80|443|8080|080|65536))?(/[a-z0-9.~-]{0,3}){0,2}",
                "(https?|HTTP|ftp)://(xn--[a-z]{2}[.]|u@)?([a-z0-9XY-]{0,4}[.]?){1,3}\
                 (:(80|443|8080|080|0|65536|[0-9]{1,5}))?\
                 (/([a-zA-Z0-9%'~:@\\|\t -]{0,3}|[.]{1,2}|%2[eE]|ä)){0,3}[?#]?",
            ],
            id in "[a-z0-9.%/ -]{0,4}",
            query in "[a-z0-9.%/&=' -]{0,4}",
        ) {
            let variables = Variables::from_strings([("base", base.as_str()), ("id", id.as_str()), ("q", query.as_str())]);
            for source in ["${base}/products/${id}/price?currency=${q}", "${base}/${id}", "https://x.org/a/${id}?q=${q}#${q}"] {
                let template = UrlTemplate::compile(&Engine::new(), source).unwrap();
                proptest::prop_assert_eq!(outcome(&template, &variables), outcome(&always_parsed(&template), &variables));
            }
        }
    }

    #[test]
    fn values_of_any_type_take_their_string_form() {
        let url = render("https://x.org/${1.5 * 2}?a=${true}&b=${null}&c=${parseJson('[1,\"a b\"]')}", &[]);
        assert_eq!(url.unwrap(), "https://x.org/3.0?a=true&b=&c=%5B1%2C%22a%20b%22%5D");
    }
}
