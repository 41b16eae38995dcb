//! The facts a host runtime supplies to the *ctx* functions.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Deserialize;

/// Resolves `secret("NAME")`; a host keeps its secrets out of spec files this way.
pub trait SecretResolver: Send + Sync {
    /// The secret's value, or `None` when it is unknown.
    fn resolve(&self, name: &str) -> Option<String>;

    /// The hosts the secret may be sent to, as host patterns (`api.example.org`,
    /// `*.example.org`, the syntax of `--allow` host names); `None` (the default)
    /// when it may go wherever the request goes. A request, or a redirect hop, that
    /// would carry a bound secret to any other host is refused before it is sent.
    fn allowed_hosts(&self, name: &str) -> Option<Vec<String>> {
        let _ = name;
        None
    }

    /// How the host gives the secret `name` when it is missing, for the error that
    /// names it (`set COURIER_SECRET_NAME ...`); `None` (the default) says nothing more.
    fn how_to_set(&self, name: &str) -> Option<String> {
        let _ = name;
        None
    }
}

/// The chat's client: the browser or app the customer chats from.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Client {
    /// The client's IP address.
    pub ip_address: Option<String>,
    /// The client's user agent.
    pub user_agent: Option<String>,
    /// Whether the client is a mobile device.
    pub is_mobile: bool,
    /// The URL of the page the chat is embedded in.
    pub location_href: Option<String>,
}

/// The customer's consent state.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Consent {
    /// Newsletter, single opt-in.
    pub newsletter_single_opt_in: bool,
    /// Newsletter tags with a single opt-in (`newsletterSingleOptIn(tag)`).
    pub newsletter_single_opt_in_tags: Vec<String>,
    /// Newsletter, double opt-in.
    pub newsletter_double_opt_in: bool,
    /// Newsletter tags with a double opt-in (`newsletterDoubleOptIn(tag)`).
    pub newsletter_double_opt_in_tags: Vec<String>,
    /// Profiling, single opt-in.
    pub profiling_single_opt_in: bool,
    /// Profiling, double opt-in.
    pub profiling_double_opt_in: bool,
    /// Reminders, single opt-in.
    pub reminder_single_opt_in: bool,
    /// SMS, single opt-in.
    pub sms_single_opt_in: bool,
    /// SMS, double opt-in.
    pub sms_double_opt_in: bool,
    /// Web push, single opt-in.
    pub web_push_single_opt_in: bool,
    /// Web push, double opt-in.
    pub web_push_double_opt_in: bool,
    /// Whether the customer has denied any single opt-in.
    pub denied_any_single_opt_in: bool,
}

/// What the embedding runtime tells the functions: clock, time zone, locale,
/// request parameters, client, tenant, consent, translations and a random source.
///
/// Everything has a default, so `Context::default()` works for templates that call
/// no *ctx* function. Tests fix the clock (`now`) and the random `seed`.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Context {
    /// A fixed current instant; the system clock when absent.
    pub now: Option<DateTime<Utc>>,
    /// The time zone of "today" and "now" (default UTC).
    pub time_zone: Option<Tz>,
    /// The locale, `de`, `en`, `de-CH` (default `en`).
    pub locale: Option<String>,
    /// The language translations are taken from (default: the locale's language).
    pub display_language: Option<String>,
    /// Parameters handed to the chat (page URL or boot parameters); shared, so that
    /// the executor's per-request view of the context does not copy them.
    pub params: Arc<HashMap<String, String>>,
    /// The chat client.
    pub client: Client,
    /// The tenant's name.
    pub tenant_name: Option<String>,
    /// The sender id of the conversation.
    pub sender_id: Option<String>,
    /// The sign-in token.
    pub sign_in_token: Option<String>,
    /// The payload of the last postback.
    pub postback_payload_value: Option<String>,
    /// Whether the customer is signed in.
    pub authenticated: bool,
    /// The customer's consent.
    pub consent: Consent,
    /// The newsletter double opt-in link.
    pub newsletter_double_opt_in_url: Option<String>,
    /// The profiling double opt-in link.
    pub profiling_double_opt_in_url: Option<String>,
    /// How often the customer took part.
    pub num_participations: i64,
    /// How often the customer took part in this process.
    pub num_participations_bpmn_process: i64,
    /// Translations: language → key → text (which may hold `${...}`); shared like `params`.
    pub translations: Arc<HashMap<String, HashMap<String, String>>>,
    /// Seed of the random source; from the operating system when absent.
    pub seed: Option<u64>,
    /// Shared with every fork, so that forks draw one sequence rather than each
    /// starting the seeded sequence again.
    #[serde(skip)]
    rng: Arc<OnceLock<Mutex<StdRng>>>,
    #[serde(skip)]
    secrets: Option<Arc<dyn SecretResolver>>,
    /// When evaluations must stop: the request executor sets its total time limit
    /// here, so that rendering counts against it.
    #[serde(skip)]
    deadline: Option<std::time::Instant>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("now", &self.now)
            .field("time_zone", &self.time_zone)
            .field("locale", &self.locale)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// Reads a context from JSON text (the command line's `--context FILE`).
    pub fn from_json(text: &str) -> Result<Context, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The same context with a resolver for `secret()`.
    pub fn with_secrets(mut self, resolver: Arc<dyn SecretResolver>) -> Self {
        self.secrets = Some(resolver);
        self
    }

    /// A copy of this context whose `secret()` resolves through `resolver` (the
    /// request executor wraps the host's resolver this way to learn which values to
    /// redact). The random source starts afresh, from the same seed when one is set.
    pub fn fork_with_secrets(&self, resolver: Arc<dyn SecretResolver>) -> Context {
        Context {
            now: self.now,
            time_zone: self.time_zone,
            locale: self.locale.clone(),
            display_language: self.display_language.clone(),
            params: self.params.clone(),
            client: self.client.clone(),
            tenant_name: self.tenant_name.clone(),
            sender_id: self.sender_id.clone(),
            sign_in_token: self.sign_in_token.clone(),
            postback_payload_value: self.postback_payload_value.clone(),
            authenticated: self.authenticated,
            consent: self.consent.clone(),
            newsletter_double_opt_in_url: self.newsletter_double_opt_in_url.clone(),
            profiling_double_opt_in_url: self.profiling_double_opt_in_url.clone(),
            num_participations: self.num_participations,
            num_participations_bpmn_process: self.num_participations_bpmn_process,
            translations: self.translations.clone(),
            seed: self.seed,
            rng: self.rng.clone(),
            secrets: Some(resolver),
            deadline: self.deadline,
        }
    }

    /// The same context with a deadline (the earlier one, when it has one already):
    /// an evaluation still running then stops with a limit error. The request
    /// executor sets its total time limit here.
    pub fn with_deadline(mut self, deadline: std::time::Instant) -> Self {
        self.deadline = Some(self.deadline.map_or(deadline, |earlier| earlier.min(deadline)));
        self
    }

    /// When evaluations must stop, if there is a deadline.
    pub fn deadline(&self) -> Option<std::time::Instant> {
        self.deadline
    }

    /// The secret resolver, if the host gave one.
    pub fn secrets(&self) -> Option<&Arc<dyn SecretResolver>> {
        self.secrets.as_ref()
    }

    /// The current instant.
    pub fn now(&self) -> DateTime<Utc> {
        self.now.unwrap_or_else(Utc::now)
    }

    /// The time zone (UTC unless set).
    pub fn time_zone(&self) -> Tz {
        self.time_zone.unwrap_or(Tz::UTC)
    }

    /// The locale (`en` unless set).
    pub fn locale(&self) -> &str {
        self.locale.as_deref().unwrap_or("en")
    }

    /// The language of translations: the display language, else the locale's language.
    pub fn language(&self) -> &str {
        self.display_language.as_deref().unwrap_or_else(|| self.locale().split(['-', '_']).next().unwrap_or("en"))
    }

    /// Runs `f` with the random source (seeded when `seed` is set).
    pub fn with_rng<T>(&self, f: impl FnOnce(&mut StdRng) -> T) -> T {
        let rng = self.rng.get_or_init(|| {
            Mutex::new(match self.seed {
                Some(seed) => StdRng::seed_from_u64(seed),
                None => StdRng::from_os_rng(),
            })
        });
        let mut guard = rng.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard)
    }
}
