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

use std::cell::Cell;
use std::ops::Range;

use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use url::{SyntaxViolation, Url};

use super::{Template, literal_pieces};
use crate::diagnostics::{Diagnostic, Severity};
use crate::error::{Error, ErrorKind};
use crate::eval::Engine;
use crate::functions::Context;
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
        Ok(UrlTemplate { template, positions: layout.positions.into_boxed_slice() })
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
        let mut out = String::new();
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
                diagnostics.push(Diagnostic::error("render", message, index.span(at as u32, end as u32)));
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
        let message = "a path segment of the URL is `.` or `..`, which would send the request to another path";
        return Err(Problem { message: message.into(), at: Some(at), authority: false });
    }
    Ok(url.into())
}

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
    fn values_of_any_type_take_their_string_form() {
        let url = render("https://x.org/${1.5 * 2}?a=${true}&b=${null}&c=${parseJson('[1,\"a b\"]')}", &[]);
        assert_eq!(url.unwrap(), "https://x.org/3.0?a=true&b=&c=%5B1%2C%22a%20b%22%5D");
    }
}
