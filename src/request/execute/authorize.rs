//! Authorization: the request sent with its `Authorization` header, the OAuth2
//! token fetched (or taken from the cache) first, and fetched again once when the
//! service rejects it; a Digest challenge answered; the `[sign]` headers made for
//! each attempt; and a `202` job polled (`super::poll`) once the answer came.

use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};

use super::super::auth::{AuthPlan, DigestCredentials};
use super::super::digest::{self, Challenge};
use super::super::log::{Carrier, LogEntry, Redactor};
use super::super::metrics::AttemptTimer;
use super::super::redirect::Hop;
use super::super::spec::Timeouts;
use super::Failure;
use super::outcome::Prepared;
use super::transport::{Response, Run};
use super::{Executor, Following, Plans};
use tracing::Instrument;

impl Executor {
    /// One attempt, measured (`courier_attempts_total` and its duration): see
    /// [`Executor::deliver_unmeasured`].
    pub(super) async fn deliver(
        &self,
        prepared: &Prepared,
        plans: &Plans,
        following: Following<'_>,
        redactor: &Redactor,
        run: &mut Run,
    ) -> Result<Response, Failure> {
        let timer = AttemptTimer::start();
        let result = self.deliver_unmeasured(prepared, plans, following, redactor, run).await;
        match &result {
            Ok(response) => timer.answered(Some(response.status)),
            Err(failure) if failure.refused => timer.refused(),
            Err(_) => timer.answered(None),
        }
        result
    }

    /// Gets the token, signs the request, sends it (again once, with a new token,
    /// when an OAuth2-authorized request is answered one of its
    /// `expired_statuses`; again once with the answer to a Digest challenge),
    /// reads the answer, and polls a `202` job until it is done.
    async fn deliver_unmeasured(
        &self,
        prepared: &Prepared,
        plans: &Plans,
        following: Following<'_>,
        redactor: &Redactor,
        run: &mut Run,
    ) -> Result<Response, Failure> {
        let (auth, redirects) = (plans.auth.as_ref(), following.redirects);
        let timeouts = &prepared.timeouts;
        // Every secret a template of the request called goes out with it, whatever
        // became of its value (upper-cased, reversed, hashed): checked by name before
        // anything (a token too) is fetched, as each hop's texts are checked for the
        // values' known forms.
        // (A request that carries no secret needs no check, and no parse of its URL.)
        let carried = redactor.carried(Carrier::Request);
        if !carried.is_empty()
            && let Ok(url) = url::Url::parse(&prepared.url)
        {
            let host = url.host_str().unwrap_or_default();
            redactor.bindings().check_names(host, &carried).map_err(Failure::refused)?;
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &prepared.headers {
            let bad = || Failure::exception(format!("the header {name:?} cannot be sent"));
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
            headers.append(name, HeaderValue::from_bytes(value.as_bytes()).map_err(|_| bad())?);
        }
        let mut used_token = None;
        match auth {
            None | Some(AuthPlan::Digest(_)) => {}
            Some(AuthPlan::Header(value)) => set_authorization(&mut headers, value)?,
            Some(AuthPlan::OAuth2(token_request)) => {
                let token = self.token(token_request, None, timeouts, redactor, run).await?;
                redactor.add(&token);
                set_authorization(&mut headers, &format!("{} {token}", token_request.header_prefix))?;
                used_token = Some(token);
            }
        }
        if let Some(sign) = &plans.sign {
            // Made for each attempt, over the body's bytes as they are sent.
            let body = prepared.body.as_deref().unwrap_or_default();
            sign.apply(&mut headers, body, chrono::Utc::now().timestamp())
                .map_err(|message| Failure::exception(format!("{message}; nothing was sent")))?;
        }
        let hop = |headers: HeaderMap| Hop {
            method: prepared.method.to_reqwest(),
            url: prepared.url.clone(),
            headers,
            body: prepared.body.clone(),
        };
        let digest = match auth {
            Some(AuthPlan::Digest(credentials)) => Some(credentials),
            _ => None,
        };
        let mut response =
            self.send_answering(hop(headers.clone()), digest, timeouts, redirects, redactor, run).await?;
        if token_expired(auth, response.status)
            && let (Some(AuthPlan::OAuth2(token_request)), Some(rejected)) = (auth, used_token)
        {
            run.log.push(LogEntry::note(format!(
                "the service answered {}: the token expired; fetching a new OAuth2 token and sending again",
                response.status
            )));
            let token = self.token(token_request, Some(&rejected), timeouts, redactor, run).await?;
            redactor.add(&token);
            set_authorization(&mut headers, &format!("{} {token}", token_request.header_prefix))?;
            response = self.send_following(hop(headers.clone()), timeouts, redirects, redactor, run).await?;
        }
        match following.poll {
            Some(policy) if policy.statuses.contains(&response.status) => {
                let request = hop(headers);
                self.poll(response, &request, digest, policy, following, timeouts, redactor, run).await
            }
            _ => Ok(response),
        }
    }

    /// Sends `hop` (following redirects); with Digest `credentials`, a 401 with a
    /// Digest challenge is answered and the hop sent once more. A challenge
    /// courier cannot answer leaves the 401 as the answer, a note saying why.
    pub(super) async fn send_answering(
        &self,
        mut hop: Hop,
        credentials: Option<&DigestCredentials>,
        timeouts: &Timeouts,
        redirects: u32,
        redactor: &Redactor,
        run: &mut Run,
    ) -> Result<Response, Failure> {
        let mut response = self.send_following(hop.clone(), timeouts, redirects, redactor, run).await?;
        let Some(credentials) = credentials.filter(|_| response.status == 401) else { return Ok(response) };
        // A challenge after redirects is the last hop's: answered there (its method
        // and URI; the first request is not sent again), and only within the
        // request's origin, where the password's hash may go.
        if let Some(challenged) = response.redirected.take() {
            if !super::poll::same_origin(&hop.url, &challenged.url) {
                run.log.push(LogEntry::note(
                    "Digest auth: the 401 came after a redirect to another origin, which gets no answer; the 401 is \
                     the answer",
                ));
                return Ok(response);
            }
            hop = *challenged;
        }
        let challenges = response.headers.get_all(header::WWW_AUTHENTICATE);
        let challenge = match Challenge::find(challenges.iter().map(HeaderValue::as_bytes)) {
            Ok(challenge) => challenge,
            Err(why) => {
                run.log.push(LogEntry::note(format!("Digest auth: {why}; the 401 is the answer")));
                return Ok(response);
            }
        };
        let target = url::Url::parse(&hop.url).map(|url| match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        });
        let target = target.map_err(|error| Failure::exception(format!("{} is not a URL: {error}", hop.url)))?;
        let (username, password) = (&credentials.username, &credentials.password);
        let answer = challenge.answer(username, password, hop.method.as_str(), &target, &digest::cnonce());
        set_authorization(&mut hop.headers, &answer)?;
        run.log.push(LogEntry::note("the service answered 401 with a Digest challenge: sending again with its answer"));
        self.send_following(hop, timeouts, redirects, redactor, run).await
    }

    /// The OAuth2 token, from the cache or fetched once for all waiting requests.
    /// The token request follows no redirect: its credentials go to the token URL
    /// and nowhere else, and only that host's token is taken.
    pub(super) async fn token(
        &self,
        request: &super::super::auth::TokenRequest,
        rejected: Option<&str>,
        timeouts: &Timeouts,
        redactor: &Redactor,
        run: &mut Run,
    ) -> Result<String, Failure> {
        let token_url = url::Url::parse(&request.token_url).map_err(|error| {
            Failure::exception(format!("getting an OAuth2 token: {} is not a URL: {error}", request.token_url))
        })?;
        let port = self.inner.options.destinations.check_url(&token_url).map_err(Failure::refused)?;
        let host = token_url.host_str().unwrap_or_default();
        redactor.bindings().check(host, request.carried()).map_err(Failure::refused)?;
        redactor.bindings().check_names(host, &redactor.carried(Carrier::TokenRequest)).map_err(Failure::refused)?;
        // The spec's CAs apply to the token endpoint too; its client certificate does not.
        let tls = super::transport::ClientTls::of(run, false);
        let client = &self.client_for(&token_url, timeouts, port, tls).await?;
        let read_timeout = timeouts.read;
        let max_bytes = self.inner.options.max_response_bytes;
        let span = tracing::info_span!(
            "courier.token",
            otel.kind = "client",
            server.address = host,
            http.response.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        let fetch = || {
            let span = span.clone();
            async move {
                // The exchange is logged like any request (with debug: headers and
                // body, the credentials and tokens replaced).
                let trace = run.trace.next();
                let logged_form = request.form(true);
                let headers = request.headers(&trace);
                run.start("POST", &request.token_url, &trace.trace_hex(), &headers, Some(logged_form.as_bytes()));
                let started = std::time::Instant::now();
                match request.fetch(client, &trace, read_timeout, max_bytes).await {
                    Ok((answer, token)) => {
                        tracing::Span::current().record("http.response.status_code", answer.status);
                        let response = Response {
                            status: answer.status,
                            headers: answer.headers,
                            body: answer.logged_body,
                            redirected: None,
                        };
                        run.finish(Ok(&response));
                        Ok(token)
                    }
                    Err((status, failure)) => {
                        let current = tracing::Span::current();
                        if let Some(status) = status {
                            current.record("http.response.status_code", status);
                        }
                        current.record("otel.status_code", "error");
                        // Through the egress proxy, the relay knows why no answer came.
                        let relayed = status.is_none().then(|| self.relay_failure(&request.token_url, started));
                        let failure = relayed.flatten().unwrap_or(failure);
                        let failure =
                            Failure { message: format!("getting an OAuth2 token: {}", failure.message), ..failure };
                        run.finish(Err(&failure));
                        Err(failure)
                    }
                }
            }
            .instrument(span)
        };
        self.inner.tokens.token(request, rejected, fetch).await
    }
}

/// Whether `status` says the OAuth2 token of `auth` expired (its `expired_statuses`).
fn token_expired(auth: Option<&AuthPlan>, status: u16) -> bool {
    matches!(auth, Some(AuthPlan::OAuth2(request)) if request.expired_statuses.contains(&status))
}

/// Tells the redactor every credential the auth derives (a Basic header's Base64, an
/// OAuth2 client's header), which no `secret()` call reveals by itself.
pub(super) fn learn_credentials(redactor: &Redactor, auth: Option<&AuthPlan>) {
    if let Some(AuthPlan::Digest(credentials)) = auth {
        // A password, not an Authorization value: learnt whole, never split at a space.
        redactor.add(&credentials.password);
        return;
    }
    for credential in auth.map(AuthPlan::credentials).unwrap_or_default() {
        redactor.add_credential(&credential);
    }
}

pub(super) fn set_authorization(headers: &mut HeaderMap, value: &str) -> Result<(), Failure> {
    let mut value = HeaderValue::from_bytes(value.as_bytes())
        .map_err(|_| Failure::exception("the Authorization header would hold a line break or control character"))?;
    value.set_sensitive(true);
    headers.insert(header::AUTHORIZATION, value);
    Ok(())
}
