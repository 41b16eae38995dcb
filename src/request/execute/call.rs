//! One run, step by step, for the layer above the executor (`crate::replay`'s
//! delivery) that may send a request more than once or keep it: [`Executor::call`]
//! renders and prepares the request once; [`Call::send`] sends it, as often as it
//! is asked, each attempt logged and its event recorded, all under the request's
//! one total time limit; [`Call::finish`] maps the last answer into the outcome and
//! hands back a [`Sent`] — the outcome with the prepared request — which
//! [`Sent::complete`] redacts and emits. The executor itself decides nothing about
//! sending again or keeping: it only sends and reports.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::header;

use super::super::cookies::Cookies;
use super::super::log::{LogEntry, Redactor};
use super::super::spec::CompiledRequest;
use super::super::trace;
use super::Failure;
use super::outcome::{Outcome, Prepared};
use super::receive::{fail, receive, record_event, without_query};
use super::transport::{Response, Run, timed_out};
use super::{Executor, Following, Plans, Rendered};
use crate::events::EventKind;
use crate::functions::Context;
use crate::variables::VariableSource;
use tracing::Instrument;

/// Which `Idempotency-Key` a request carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct KeyChoice<'a> {
    /// The caller's key; without it the spec's `idempotency_key`, then an
    /// `Idempotency-Key` among its headers.
    pub(crate) supplied: Option<&'a str>,
    /// Whether a fresh random key is added when none of those sets one (a request
    /// that may be sent again — kept, queued or retried — needs one).
    pub(crate) fresh: bool,
}

/// How one attempt went: what the layer above needs to decide on another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// A whole response came.
    Answered {
        /// Its status.
        status: u16,
        /// Its `Retry-After` header, as sent.
        retry_after: Option<String>,
    },
    /// No response came.
    Failed {
        /// The event it is: [`EventKind::Timeout`] when the request's whole time
        /// limit ran out, [`EventKind::ConnectTimeout`], [`EventKind::SocketTimeout`]
        /// (the response went silent), or [`EventKind::Exception`].
        kind: EventKind,
        /// No connection could be opened: nothing reached the service.
        connection: bool,
        /// Courier refused to send it (policy): sending again cannot help.
        refused: bool,
    },
}

/// A request being run: rendered and prepared once, sent by [`Call::send`].
pub(crate) struct Call<'a> {
    executor: &'a Executor,
    request: &'a CompiledRequest,
    redactor: Arc<Redactor>,
    run: Run,
    outcome: Outcome,
    total: Duration,
    deadline: Instant,
    url: String,
    ready: Option<(Prepared, Plans)>,
    /// The latest attempt's result, and when it ended (its event's time).
    last: Option<(Result<Response, Failure>, DateTime<Utc>)>,
    attempts: u32,
    /// The run's span, `courier.send`: the parent of its attempts and its mapping.
    span: tracing::Span,
}

/// A run that is over, before its outcome is redacted and emitted: the layer above
/// adds to it (a replay record, a note) and then calls [`Sent::complete`].
pub(crate) struct Sent {
    executor: Executor,
    method: &'static str,
    redactor: Arc<Redactor>,
    url: String,
    /// The outcome so far.
    pub(crate) outcome: Outcome,
    /// The request as it went out (or would have), without its `Authorization`;
    /// `None` when it could not be rendered or prepared.
    pub(crate) prepared: Option<Prepared>,
    /// Attempts sent.
    pub(crate) attempts: u32,
    /// The trace context of the run's span, when OpenTelemetry recorded it: what a
    /// record kept or queued from this run carries to its delivery.
    pub(crate) trace: Option<trace::TraceParent>,
}

impl Executor {
    /// Starts a run: renders `request` against `variables` and prepares it (its
    /// body's file read or fetched, its headers and `Idempotency-Key` set) under
    /// the request's total time limit, which starts now. Nothing is sent yet; a
    /// template or file that fails is recorded in the outcome, and
    /// [`Call::prepared`] is then `None`.
    pub(crate) async fn call<'a>(
        &'a self,
        request: &'a CompiledRequest,
        variables: &(dyn VariableSource + Sync),
        context: &Context,
        cookies: &Cookies,
        key: KeyChoice<'_>,
    ) -> Call<'a> {
        // Rendering counts against the total time limit, as sending does.
        let total = request.timeouts.total.min(self.inner.options.max_timeout);
        let deadline = Instant::now() + total;
        let span = send_span(request.method.as_str(), Some(&request.url_source), "");
        let mut call = Call {
            executor: self,
            request,
            redactor: Arc::new(Redactor::default()),
            run: span.in_scope(|| Run::new(request.debug)),
            outcome: Outcome::default(),
            total,
            deadline,
            url: request.url_source.clone(),
            ready: None,
            last: None,
            attempts: 0,
            span,
        };
        let method = request.method.as_str();
        let rendered = call.span.in_scope(|| {
            let _render = tracing::info_span!("courier.render").entered();
            self.render(request, variables, context, cookies, &call.redactor, deadline)
        });
        match rendered {
            Err((field, error)) => {
                let message = format!("{}; nothing was sent", request.describe_field_error(&field, &error));
                let failure = if Instant::now() >= deadline {
                    Failure { kind: EventKind::Timeout, message, refused: false, connection: false }
                } else {
                    Failure::exception(message)
                };
                fail(&mut call.outcome, failure, method, &without_query(&call.url));
            }
            Ok(mut rendered) => {
                call.url = rendered.url.clone();
                for note in std::mem::take(&mut rendered.unset) {
                    call.run.log.push(LogEntry::note(note));
                }
                let span = call.span.clone();
                let prepared = call.prepare(rendered, key);
                match tokio::time::timeout_at(deadline.into(), prepared).instrument(span).await {
                    Ok(Ok(ready)) => call.ready = Some(ready),
                    Ok(Err(failure)) => fail(&mut call.outcome, failure, method, &without_query(&call.url)),
                    Err(_) => {
                        let failure = timed_out(total, &mut call.run);
                        fail(&mut call.outcome, failure, method, &without_query(&call.url));
                    }
                }
            }
        }
        call
    }
}

impl<'a> Call<'a> {
    async fn prepare(&mut self, rendered: Rendered, key: KeyChoice<'_>) -> Result<(Prepared, Plans), Failure> {
        let supplied = match key.supplied {
            Some(key) => Some(key.to_owned()),
            None => rendered.idempotency_key.clone(),
        };
        let (executor, request) = (self.executor, self.request);
        executor.prepare(request, rendered, &self.redactor, supplied.as_deref(), key.fresh, &mut self.run).await
    }

    /// The request as it goes out, without its `Authorization`; `None` when it
    /// could not be rendered or prepared (the outcome says why).
    pub(crate) fn prepared(&self) -> Option<&Prepared> {
        self.ready.as_ref().map(|(prepared, _)| prepared)
    }

    /// The moment the request's total time limit runs out.
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Attempts sent so far.
    pub(crate) fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Adds a note to the run's log.
    pub(crate) fn note(&mut self, message: impl Into<String>) {
        self.run.log.push(LogEntry::note(message));
    }

    /// Sends the prepared request once more (the OAuth2 token fetched first, and
    /// again once when the service says it expired), within what is left of the
    /// total time limit. The attempt before it, if any, keeps only its event and
    /// log entry. `None` when there is nothing to send.
    pub(crate) async fn send(&mut self) -> Option<Attempt> {
        let (prepared, plans) = self.ready.as_ref()?;
        if let Some((previous, ended)) = self.last.take() {
            record_event(&mut self.outcome, previous, ended, self.request.method, &self.url);
        }
        self.attempts += 1;
        let span = attempt_span(&self.span, self.attempts);
        let following =
            Following { redirects: self.request.redirects, poll: self.request.poll(), deadline: self.deadline };
        let sending = self.executor.deliver(prepared, plans, following, &self.redactor, &mut self.run);
        let result = match tokio::time::timeout_at(self.deadline.into(), sending).instrument(span.clone()).await {
            Ok(result) => result,
            Err(_) => Err(timed_out(self.total, &mut self.run)),
        };
        record_result(&span, &result);
        let attempt = match &result {
            Ok(response) => Attempt::Answered {
                status: response.status,
                retry_after: response
                    .headers
                    .get(header::RETRY_AFTER)
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_owned),
            },
            Err(failure) => {
                Attempt::Failed { kind: failure.kind, connection: failure.connection, refused: failure.refused }
            }
        };
        self.last = Some((result, Utc::now()));
        Some(attempt)
    }

    /// Ends the run: the last attempt's answer is mapped into the outcome (its
    /// variables, cookies, mappings and event), or its failure recorded.
    pub(crate) fn finish(mut self) -> Sent {
        let method = self.request.method.as_str();
        self.span.record("courier.attempts", self.attempts);
        if let Some((result, _)) = &self.last {
            record_result(&self.span, result);
        } else if self.ready.is_none() {
            self.span.record("otel.status_code", "error");
        }
        match self.last.take().map(|(result, _)| result) {
            Some(Ok(response)) => {
                let deadline = (self.deadline, self.total);
                let (request, url, outcome, run) = (self.request, &self.url, &mut self.outcome, &mut self.run);
                let span = tracing::info_span!(parent: &self.span, "courier.map");
                // Mapping a large response is CPU work: on a multi-threaded runtime
                // (a server's), the thread's other tasks move to other workers meanwhile.
                let mut mapping = move || span.in_scope(|| receive(request, &response, url, outcome, run, deadline));
                match tokio::runtime::Handle::try_current().map(|handle| handle.runtime_flavor()) {
                    Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(mapping),
                    _ => mapping(),
                }
            }
            Some(Err(failure)) => fail(&mut self.outcome, failure, method, &without_query(&self.url)),
            None => {}
        }
        self.outcome.log = self.run.log;
        Sent {
            executor: self.executor.clone(),
            method,
            redactor: self.redactor,
            url: self.url,
            outcome: self.outcome,
            prepared: self.ready.map(|(prepared, _)| prepared),
            attempts: self.attempts,
            trace: self.span.in_scope(trace::current),
        }
    }
}

/// The span of a whole send: the method, and the spec's URL template (up to its
/// query) when there is a spec, else the host alone (a kept request's rendered
/// path may carry a value); its attempts and last status once over.
pub(super) fn send_span(method: &str, url_source: Option<&str>, url: &str) -> tracing::Span {
    // The fields are evaluated only when a subscriber takes the span.
    tracing::info_span!(
        "courier.send",
        http.request.method = method,
        url.template = url_source.map(trace::url_template),
        server.address = url_source.is_none().then(|| trace::host_of(url)),
        courier.attempts = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    )
}

/// The span of one attempt (the token fetch, the request and its redirects).
pub(super) fn attempt_span(parent: &tracing::Span, attempt: u32) -> tracing::Span {
    tracing::info_span!(
        parent: parent,
        "courier.attempt",
        courier.attempt = attempt,
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    )
}

/// Records an attempt's status, or that it got none, on `span`.
pub(super) fn record_result(span: &tracing::Span, result: &Result<Response, Failure>) {
    match result {
        Ok(response) => {
            span.record("http.response.status_code", response.status);
            if response.status >= 500 {
                span.record("otel.status_code", "error");
            }
        }
        Err(_) => {
            span.record("otel.status_code", "error");
        }
    }
}

impl Sent {
    /// Adds a note to the outcome's log.
    pub(crate) fn note(&mut self, message: impl Into<String>) {
        self.outcome.log.push(LogEntry::note(message));
    }

    /// Records that the request failed after all (`api_exception`, the outcome's
    /// error): a queued request that could not be saved, say.
    pub(crate) fn fail(&mut self, message: impl Into<String>) {
        fail(&mut self.outcome, Failure::exception(message), self.method, &without_query(&self.url));
    }

    /// Marks a run that ran out of its time limit before it sent anything (it
    /// waited for a destination limit): the outcome's error, with event
    /// `api_http_timeout_exception`.
    pub(crate) fn time_out(&mut self, message: impl Into<String>) {
        let failure = Failure {
            kind: crate::events::EventKind::Timeout,
            message: message.into(),
            refused: false,
            connection: false,
        };
        fail(&mut self.outcome, failure, self.method, &without_query(&self.url));
    }

    /// The run's redactor: every secret it resolved, in every form it knows.
    pub(crate) fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// The last step of every run: secrets are redacted from all of the outcome,
    /// its events go to the executor's sink, and the cookies it set or deleted are
    /// saved into `cookies`.
    pub(crate) fn complete(mut self, cookies: &mut Cookies) -> Outcome {
        self.executor.finish(&mut self.outcome, &self.redactor);
        for (name, value) in &self.outcome.cookies {
            if value.is_empty() {
                cookies.shift_remove(name);
            } else {
                cookies.insert(name.clone(), value.clone());
            }
        }
        self.outcome
    }
}
