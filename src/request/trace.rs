//! Trace context: the W3C `traceparent` (and `x-b3-traceid`, the same trace id)
//! every request carries, the `tracing` spans of a send, and the trace context a
//! queued record keeps from its enqueuer.
//!
//! The spans are `tracing` spans (`courier.send`, `courier.render`,
//! `courier.attempt`, `courier.token`, `courier.http`, `courier.map`,
//! `courier.deliver`): without a subscriber they cost a callsite check each.
//! With the `otel` feature and `tracing-opentelemetry`'s layer installed (the
//! command line's `--otlp`), each request's `traceparent` names the span that sent
//! it, so its trace id is the exported trace's. Otherwise a send gets one fresh
//! trace id for all of its requests (token fetch, attempts, redirect hops), each
//! request a fresh span id, and the `sampled` flag is off: nothing was recorded.
//!
//! Span attributes carry a method, a host, a status, the spec's URL template up to
//! its query, counts and ids: never a rendered URL, header, body or secret.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

/// The W3C trace context header.
pub const TRACEPARENT_HEADER: &str = "traceparent";

/// A W3C trace context: the trace, the span that is the parent of what comes
/// next, and whether that span was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    /// The 128-bit trace id (never 0).
    pub trace_id: u128,
    /// The 64-bit span id (never 0).
    pub span_id: u64,
    /// Whether the span was recorded (the `sampled` flag).
    pub sampled: bool,
}

impl TraceParent {
    /// A new trace: random ids, not sampled.
    pub fn fresh() -> Self {
        TraceParent { trace_id: nonzero_u128(), span_id: nonzero_u64(), sampled: false }
    }

    /// The same trace, a new random span id.
    pub fn child(self) -> Self {
        TraceParent { span_id: nonzero_u64(), ..self }
    }

    /// The `traceparent` header's value: `00-<trace id>-<span id>-<flags>`.
    pub fn header(&self) -> String {
        format!("00-{:032x}-{:016x}-{:02x}", self.trace_id, self.span_id, u8::from(self.sampled))
    }

    /// The trace id as 32 lowercase hex digits (the `x-b3-traceid` value).
    pub fn trace_hex(&self) -> String {
        format!("{:032x}", self.trace_id)
    }

    /// Reads a `traceparent` value (version `00`; a later version's first four
    /// fields are read, as the W3C specification asks). `None` when it is not one.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().split('-');
        let (version, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex = |part: &str, length: usize| {
            part.len() == length && part.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
        };
        // Version ff is invalid; a later version may add fields after the fourth.
        let later_version = version != "00";
        if version == "ff" || !hex(version, 2) || !hex(trace, 32) || !hex(span, 16) || !hex(flags, 2) {
            return None;
        }
        if parts.next().is_some() && !later_version {
            return None;
        }
        let trace_id = u128::from_str_radix(trace, 16).ok().filter(|id| *id != 0)?;
        let span_id = u64::from_str_radix(span, 16).ok().filter(|id| *id != 0)?;
        let flags = u8::from_str_radix(flags, 16).ok()?;
        Some(TraceParent { trace_id, span_id, sampled: flags & 1 == 1 })
    }

    /// Sets `traceparent` and `x-b3-traceid` (the same trace id) on `headers`,
    /// replacing any the spec set.
    pub(crate) fn insert_into(&self, headers: &mut HeaderMap) {
        if let Ok(value) = HeaderValue::from_str(&self.header()) {
            headers.insert(HeaderName::from_static(TRACEPARENT_HEADER), value);
        }
        if let Ok(value) = HeaderValue::from_str(&self.trace_hex()) {
            headers.insert(HeaderName::from_static("x-b3-traceid"), value);
        }
    }
}

fn nonzero_u128() -> u128 {
    loop {
        let id = rand::random::<u128>();
        if id != 0 {
            return id;
        }
    }
}

fn nonzero_u64() -> u64 {
    loop {
        let id = rand::random::<u64>();
        if id != 0 {
            return id;
        }
    }
}

/// The trace context of the current `tracing` span, when OpenTelemetry records
/// it (the `otel` feature, its layer installed, the span enabled); `None` otherwise.
pub fn current() -> Option<TraceParent> {
    #[cfg(feature = "otel")]
    {
        use opentelemetry::trace::TraceContextExt;
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        let span = tracing::Span::current();
        if span.is_disabled() {
            return None;
        }
        let context = span.context();
        let reference = context.span();
        let span_context = reference.span_context();
        if !span_context.is_valid() {
            return None;
        }
        Some(TraceParent {
            trace_id: u128::from_be_bytes(span_context.trace_id().to_bytes()),
            span_id: u64::from_be_bytes(span_context.span_id().to_bytes()),
            sampled: span_context.is_sampled(),
        })
    }
    #[cfg(not(feature = "otel"))]
    None
}

/// Makes `parent` (a queued record's kept context) the remote parent of `span`,
/// so that the span joins the enqueuer's trace. Without OpenTelemetry recording
/// `span` this does nothing: the requests sent within [`within_kept`] carry the
/// kept trace id then.
pub fn adopt(span: &tracing::Span, parent: &TraceParent) {
    #[cfg(feature = "otel")]
    {
        use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        let flags = if parent.sampled { TraceFlags::SAMPLED } else { TraceFlags::default() };
        let remote = SpanContext::new(
            TraceId::from_bytes(parent.trace_id.to_be_bytes()),
            SpanId::from_bytes(parent.span_id.to_be_bytes()),
            flags,
            true,
            TraceState::default(),
        );
        // Fails only when no OpenTelemetry layer records the span: nothing to join then.
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
    }
    #[cfg(not(feature = "otel"))]
    let _ = (span, parent);
}

tokio::task_local! {
    /// The kept trace context of the record a task delivers, for the requests it
    /// sends when no OpenTelemetry span gives one.
    static KEPT: TraceParent;
}

/// Runs `future` with `parent` (a queued record's kept context, if any) as the
/// trace the requests it sends belong to when no recorded span says otherwise.
pub async fn within_kept<F: std::future::Future>(parent: Option<TraceParent>, future: F) -> F::Output {
    match parent {
        Some(parent) => KEPT.scope(parent, future).await,
        None => future.await,
    }
}

/// The trace ids of one send's requests.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outgoing {
    /// The send's trace when no recorded span gives one.
    fallback: TraceParent,
}

impl Outgoing {
    /// A send's: the kept trace of the record being delivered, else a fresh one.
    pub(crate) fn start() -> Self {
        let fallback = KEPT.try_with(|kept| kept.child()).unwrap_or_else(|_| TraceParent::fresh());
        Outgoing { fallback: TraceParent { sampled: false, ..fallback } }
    }

    /// The context a request sent now carries: the current span's when
    /// OpenTelemetry records it, else the send's trace with a fresh span id.
    pub(crate) fn next(&self) -> TraceParent {
        current().unwrap_or_else(|| self.fallback.child())
    }
}

/// The spec's URL template up to its query and fragment, without user info: a
/// span attribute that names where a request goes and carries no value.
pub(crate) fn url_template(source: &str) -> String {
    let end = source.find(['?', '#']).unwrap_or(source.len());
    let source = &source[..end];
    if let Some((scheme, rest)) = source.split_once("://") {
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        if let Some((_, host)) = authority.rsplit_once('@') {
            return format!("{scheme}://{host}{path}");
        }
    }
    source.to_owned()
}

/// The host of a URL, for a span attribute (empty when it has none).
pub(crate) fn host_of(url: &str) -> String {
    url::Url::parse(url).ok().and_then(|url| url.host_str().map(str::to_owned)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_is_written_and_read_back() {
        let parent =
            TraceParent { trace_id: 0x0af7651916cd43dd8448eb211c80319c, span_id: 0xb7ad6b7169203331, sampled: true };
        assert_eq!(parent.header(), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        assert_eq!(TraceParent::parse(&parent.header()), Some(parent));
        let fresh = TraceParent::fresh();
        assert_eq!(TraceParent::parse(&fresh.header()), Some(fresh));
        assert_eq!(fresh.child().trace_id, fresh.trace_id);
    }

    #[test]
    fn malformed_traceparents_are_refused() {
        for text in [
            "",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "0-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ] {
            assert_eq!(TraceParent::parse(text), None, "{text:?}");
        }
        assert!(TraceParent::parse("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00-later").is_some());
    }

    #[test]
    fn url_templates_lose_their_query_and_user_info() {
        assert_eq!(
            url_template("https://api.example.org/v1/${id}?key=${secret('k')}"),
            "https://api.example.org/v1/${id}"
        );
        assert_eq!(url_template("https://user:p@ss@api.example.org/v1#top"), "https://api.example.org/v1");
        assert_eq!(url_template("https://user:pass@api.example.org"), "https://api.example.org");
        assert_eq!(url_template("${base}/orders"), "${base}/orders");
    }
}
