//! The chat runtime: facts the host supplies through the [`Context`] (parameters, the
//! client and the page it runs in, the tenant, the customer's consent, translations)
//! and `secret(name)`.
//!
//! Every function here reads the context or the variables, so none is folded at
//! compile time. A fact the context does not hold is null (or false, or 0).
//!
//! [`Context`]: super::Context

use super::util::{fail, text};
use super::{CallContext, Context, Function, FunctionError, Kind};
use crate::value::Value;
use crate::value::ops::is_empty;

pub(super) fn functions() -> Vec<Function> {
    let fact = |name: &'static str, read: fn(&Context) -> Value| {
        Function::new(name, move |_, cx| Ok(read(cx.context()))).reads_context()
    };
    let text_fact = |name: &'static str, read: fn(&Context) -> Option<&str>| {
        Function::new(name, move |_, cx| Ok(read(cx.context()).into())).reads_context()
    };
    vec![
        Function::new("getParam", |args, cx| Ok(cx.context().params.get(text(args, 0)).map(String::as_str).into()))
            .param("name", Kind::Text)
            .reads_context()
            .summary("A parameter the host set for this chat", "text")
            .example(r#"getParam("campaign")"#, r#""spring""#),
        text_fact("clientLocale", |context| Some(context.locale()))
            .summary("The client's locale", "text")
            .example("clientLocale()", r#""de-DE""#),
        text_fact("displayLanguage", |context| Some(context.language()))
            .summary("The language the chat is shown in", "text")
            .example("displayLanguage()", r#""de""#),
        text_fact("tenantName", |context| context.tenant_name.as_deref())
            .summary("The tenant's name", "text")
            .example("tenantName()", r#""Acme""#),
        text_fact("ipAddress", |context| context.client.ip_address.as_deref())
            .summary("The client's IP address", "text")
            .example("ipAddress()", r#""203.0.113.7""#),
        text_fact("userAgent", |context| context.client.user_agent.as_deref())
            .summary("The client's user agent", "text")
            .example("userAgent()", r#""Mozilla/5.0 (iPhone)""#),
        fact("isMobile", |context| Value::Bool(context.client.is_mobile))
            .summary("Whether the client is a mobile device", "boolean")
            .example("isMobile()", "true"),
        text_fact("locationHrefHost", |context| href(context).map(|(host, _)| host))
            .summary("The host of the page the chat is embedded in", "text")
            .example("locationHrefHost()", r#""Shop.Example.org""#),
        text_fact("locationHrefPath", |context| href(context).map(|(_, path)| path))
            .summary("The path of the page the chat is embedded in", "text")
            .example("locationHrefPath()", r#""/Checkout/Step-2""#),
        fact("locationHrefHostLowerCase", |context| href(context).map(|(host, _)| host.to_lowercase()).into())
            .summary("The page's host in lower case", "text")
            .example("locationHrefHostLowerCase()", r#""shop.example.org""#),
        fact("locationHrefPathLowerCase", |context| href(context).map(|(_, path)| path.to_lowercase()).into())
            .summary("The page's path in lower case", "text")
            .example("locationHrefPathLowerCase()", r#""/checkout/step-2""#),
        text_fact("senderId", |context| context.sender_id.as_deref())
            .summary("The id of the chat's sender", "text")
            .example("senderId()", r#""sender-17""#),
        text_fact("signInToken", |context| context.sign_in_token.as_deref())
            .summary("The customer's sign-in token", "text")
            .example("signInToken()", r#""sign-in-token""#),
        text_fact("postbackPayloadValue", |context| context.postback_payload_value.as_deref())
            .summary("The payload of the button the customer pressed", "text")
            .example("postbackPayloadValue()", r#""YES""#),
        Function::new("hasBpmnProcessVariable", |args, cx| {
            Ok(Value::Bool(cx.variable(text(args, 0)).is_some_and(|value| !is_empty(&value))))
        })
        .param("name", Kind::Text)
        .reads_context()
        .summary("Whether a variable (by name) is set and not empty", "boolean")
        .example(r#"hasBpmnProcessVariable("firstname")"#, "true"),
        Function::new("i18nTranslate", |args, cx| Ok(translation(cx, text(args, 0)).into()))
            .param("key", Kind::Text)
            .reads_context()
            .summary("The translation of a key in the chat's language", "text")
            .example(r#"i18nTranslate("greeting")"#, r#""Hallo""#),
        Function::new("interpolate", |args, cx| match translation(cx, text(args, 0)) {
            Some(template) => cx.render_text(template).map(Value::from),
            None => Ok(Value::Null),
        })
        .param("key", Kind::Text)
        .reads_context()
        .summary("The translation of a key, rendered as a text template", "text")
        .example(r#"interpolate("welcome")"#, r#""Willkommen, Anna!""#),
        fact("isAuthenticated", |context| Value::Bool(context.authenticated))
            .summary("Whether the customer signed in", "boolean")
            .example("isAuthenticated()", "true"),
        fact("hasDeniedAnySingleOptIn", |context| Value::Bool(context.consent.denied_any_single_opt_in))
            .summary("Whether the customer denied any single opt-in", "boolean")
            .example("hasDeniedAnySingleOptIn()", "false"),
        Function::new("newsletterSingleOptIn", |args, cx| {
            let consent = &cx.context().consent;
            Ok(Value::Bool(opt_in(consent.newsletter_single_opt_in, &consent.newsletter_single_opt_in_tags, args)))
        })
        .optional("tag", Kind::Text)
        .reads_context()
        .summary("The newsletter single opt-in, in general or for a tag", "boolean")
        .example(r#"newsletterSingleOptIn("offers")"#, "true"),
        Function::new("newsletterDoubleOptIn", |args, cx| {
            let consent = &cx.context().consent;
            Ok(Value::Bool(opt_in(consent.newsletter_double_opt_in, &consent.newsletter_double_opt_in_tags, args)))
        })
        .optional("tag", Kind::Text)
        .reads_context()
        .summary("The newsletter double opt-in, in general or for a tag", "boolean")
        .example("newsletterDoubleOptIn()", "false"),
        fact("profilingSingleOptIn", |context| Value::Bool(context.consent.profiling_single_opt_in))
            .summary("The profiling single opt-in", "boolean")
            .example("profilingSingleOptIn()", "true"),
        fact("profilingDoubleOptIn", |context| Value::Bool(context.consent.profiling_double_opt_in))
            .summary("The profiling double opt-in", "boolean")
            .example("profilingDoubleOptIn()", "false"),
        fact("reminderSingleOptIn", |context| Value::Bool(context.consent.reminder_single_opt_in))
            .summary("The reminder single opt-in", "boolean")
            .example("reminderSingleOptIn()", "true"),
        fact("smsSingleOptIn", |context| Value::Bool(context.consent.sms_single_opt_in))
            .summary("The SMS single opt-in", "boolean")
            .example("smsSingleOptIn()", "false"),
        fact("smsDoubleOptIn", |context| Value::Bool(context.consent.sms_double_opt_in))
            .summary("The SMS double opt-in", "boolean")
            .example("smsDoubleOptIn()", "false"),
        fact("webPushSingleOptIn", |context| Value::Bool(context.consent.web_push_single_opt_in))
            .summary("The web push single opt-in", "boolean")
            .example("webPushSingleOptIn()", "true"),
        fact("webPushDoubleOptIn", |context| Value::Bool(context.consent.web_push_double_opt_in))
            .summary("The web push double opt-in", "boolean")
            .example("webPushDoubleOptIn()", "false"),
        text_fact("newsletterDoubleOptInUrl", |context| context.newsletter_double_opt_in_url.as_deref())
            .summary("The link that confirms the newsletter double opt-in", "text")
            .example("newsletterDoubleOptInUrl()", r#""https://shop.example.org/confirm/newsletter""#),
        text_fact("profilingDoubleOptInUrl", |context| context.profiling_double_opt_in_url.as_deref())
            .summary("The link that confirms the profiling double opt-in", "text")
            .example("profilingDoubleOptInUrl()", r#""https://shop.example.org/confirm/profiling""#),
        fact("numParticipations", |context| Value::Int(context.num_participations))
            .summary("How often the customer took part", "integer")
            .example("numParticipations()", "3"),
        fact("numParticipationsBpmnProcess", |context| Value::Int(context.num_participations_bpmn_process))
            .summary("How often the customer took part in this process", "integer")
            .example("numParticipationsBpmnProcess()", "1"),
        Function::new("secret", |args, cx| secret(cx, text(args, 0)))
            .param("name", Kind::Text)
            .reads_context()
            .validate(|constants| match constants.first() {
                Some(Some(_)) => Ok(()),
                // A name computed from variables would let a chat user choose which
                // of the host's secrets is sent to the service.
                _ => Err((0, "secret() takes the secret's name as a literal, such as secret(\"API_TOKEN\")".into())),
            })
            .summary(
                "A host secret by its literal name (COURIER_SECRET_NAME for the command line); redacted everywhere",
                "text",
            )
            .example(r#"secret("API_TOKEN")"#, r#""example-token""#),
    ]
}

/// The host and path of the page the chat is embedded in.
fn href(context: &Context) -> Option<(&str, &str)> {
    url_host_and_path(context.client.location_href.as_deref()?)
}

/// The host and path of an absolute URL as `java.net.URL` gives them: the host as
/// written (without user info and port; an IPv6 host keeps its brackets), the path
/// without query and fragment (`""` when there is none).
fn url_host_and_path(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return None;
    }
    let (authority, tail) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    let host_and_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = match host_and_port.find(']') {
        Some(end) if host_and_port.starts_with('[') => &host_and_port[..=end],
        _ => host_and_port.split(':').next().unwrap_or_default(),
    };
    let path = &tail[..tail.find(['?', '#']).unwrap_or(tail.len())];
    Some((host, path))
}

/// The translation of `key` in the context's language (`de-CH`), else in its primary
/// language (`de`).
fn translation<'a>(cx: &CallContext<'a>, key: &str) -> Option<&'a str> {
    let context = cx.context();
    let language = context.language();
    let primary = language.split(['-', '_']).next().unwrap_or(language);
    [language, primary]
        .into_iter()
        .find_map(|language| context.translations.get(language)?.get(key))
        .map(String::as_str)
}

/// Without a tag (or with null or `""`), the general consent; with one, whether that
/// tag is among the consented tags.
fn opt_in(general: bool, tags: &[String], args: &[Value]) -> bool {
    match text(args, 0) {
        "" => general,
        tag => tags.iter().any(|consented| consented == tag),
    }
}

/// The host's secret called `name`; an error names the secret, never a value.
fn secret(cx: &CallContext<'_>, name: &str) -> Result<Value, FunctionError> {
    let shown = Value::from(name).describe();
    let Some(resolver) = cx.context().secrets() else {
        return fail(format!(
            "secret {shown} is not available here: secrets are read only when a request is sent \
             (courier send, or a Context with a secret resolver), so that eval and render never print one"
        ));
    };
    match resolver.resolve(name) {
        Some(value) => Ok(Value::from(value)),
        None => match resolver.how_to_set(name) {
            Some(how) => fail(format!("unknown secret {shown}: {how}")),
            None => fail(format!("unknown secret {shown}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_as_java_net_url_does() {
        let cases = [
            ("https://Shop.Example.org/Products/1?x=1#top", Some(("Shop.Example.org", "/Products/1"))),
            ("https://user:pw@example.org:8443/a/b", Some(("example.org", "/a/b"))),
            ("http://[::1]:8080/x", Some(("[::1]", "/x"))),
            ("https://example.org", Some(("example.org", ""))),
            ("https://example.org?q=/a", Some(("example.org", ""))),
            ("example.org/path", None),
            ("1http://example.org/", None),
        ];
        for (url, expected) in cases {
            assert_eq!(url_host_and_path(url), expected, "{url}");
        }
    }
}
