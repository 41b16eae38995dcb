//! The spec's `[sign]` table: Standard Webhooks signing
//! (<https://www.standardwebhooks.com>). What it says ([`SignSpec`]), what it
//! compiles to (the secret's template), the rendered key (`SignPlan`: the
//! `whsec_` secret decoded), and the three headers each attempt carries:
//! `webhook-id` (the request's `Idempotency-Key`), `webhook-timestamp` (the
//! attempt's time) and `webhook-signature` (`v1,` and the Base64 HMAC-SHA256 of
//! `id.timestamp.body` over the body's exact bytes).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use sha2::Sha256;

use super::body::FieldError;
use super::spec::Problems;
use crate::error::{Error, ErrorKind};
use crate::eval::Engine;
use crate::functions::Context;
use crate::template::{Template, TemplateKind};
use crate::variables::VariableSource;

/// The header that carries the message id (the request's `Idempotency-Key`).
pub const ID_HEADER: &str = "webhook-id";
/// The header that carries the attempt's time, in seconds since the Unix epoch.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// The prefix of a Standard Webhooks secret; the rest is the key in Base64.
const SECRET_PREFIX: &str = "whsec_";

/// The most key bytes taken (the specification asks for 24 to 64 random bytes;
/// more is no use, and is most likely not a key).
const MAX_KEY_BYTES: usize = 1024;

/// A signing scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignScheme {
    /// Standard Webhooks, symmetric (`v1`, HMAC-SHA256).
    StandardWebhooks,
}

/// `[sign]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignSpec {
    /// The scheme: `standard-webhooks`.
    pub scheme: SignScheme,
    /// The secret, a text template: normally `${secret("NAME")}`, whose value is a
    /// `whsec_` secret (the key in Base64 after the prefix).
    pub secret: String,
}

/// `[sign]` compiled.
#[derive(Debug, Clone)]
pub(crate) struct CompiledSign {
    secret: Template,
}

/// Compiles `[sign]`, recording problems against its fields.
pub(crate) fn compile(engine: &Engine, spec: &SignSpec, problems: &mut Problems) -> Option<CompiledSign> {
    let SignScheme::StandardWebhooks = spec.scheme;
    let compiled = Template::compile(engine, &spec.secret);
    let secret = problems.template("sign.secret", TemplateKind::Text, &spec.secret, compiled)?;
    Some(CompiledSign { secret })
}

impl CompiledSign {
    /// Renders the secret and decodes its key. The error never quotes the secret.
    pub(crate) fn render(&self, variables: &dyn VariableSource, context: &Context) -> Result<SignPlan, FieldError> {
        let field = || "sign.secret".to_owned();
        let secret = self.secret.render(variables, context).map_err(|error| (field(), error))?;
        let key = decode_secret(&secret).map_err(|message| (field(), Error::new(ErrorKind::Render, message)))?;
        Ok(SignPlan { key, encoded: secret.trim().trim_start_matches(SECRET_PREFIX).to_owned() })
    }
}

/// A rendered `[sign]`: the key to sign each attempt with.
#[derive(Clone)]
pub(crate) struct SignPlan {
    key: Vec<u8>,
    /// The key in Base64, as the secret wrote it after `whsec_`: redacted like the
    /// secret itself.
    encoded: String,
}

impl std::fmt::Debug for SignPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignPlan([redacted])")
    }
}

impl SignPlan {
    /// The forms of the secret a redactor learns besides the secret as rendered
    /// (which `secret()` taught it): the Base64 key after the prefix.
    pub(crate) fn credentials(&self) -> Vec<String> {
        vec![self.encoded.clone()]
    }

    /// Sets the three headers on `headers` for an attempt made at `timestamp`
    /// (seconds since the Unix epoch), over `body` as it is sent. The id is the
    /// request's `Idempotency-Key`, which a signed request always has.
    pub(crate) fn apply(&self, headers: &mut HeaderMap, body: &[u8], timestamp: i64) -> Result<(), String> {
        let id = headers
            .get(super::IDEMPOTENCY_HEADER)
            .and_then(|value| value.to_str().ok())
            .ok_or("a signed request needs an Idempotency-Key to be its webhook-id, and it has none")?
            .to_owned();
        let signature = signature(&self.key, &id, timestamp, body);
        let value = |text: &str| HeaderValue::from_str(text).map_err(|_| format!("{text:?} is not a header value"));
        headers.insert(HeaderName::from_static(ID_HEADER), value(&id)?);
        headers.insert(HeaderName::from_static(TIMESTAMP_HEADER), value(&timestamp.to_string())?);
        headers.insert(HeaderName::from_static(SIGNATURE_HEADER), value(&signature)?);
        Ok(())
    }
}

/// The `webhook-signature` value: `v1,` and the Base64 HMAC-SHA256 of
/// `id.timestamp.body` under `key`.
pub(crate) fn signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length: this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

/// The key of a `whsec_` secret. The message says what is wrong without quoting it.
fn decode_secret(secret: &str) -> Result<Vec<u8>, String> {
    let secret = secret.trim();
    let Some(encoded) = secret.strip_prefix(SECRET_PREFIX) else {
        return Err(format!(
            "the signing secret does not start with {SECRET_PREFIX:?}: a Standard Webhooks secret is \
             {SECRET_PREFIX} and the key in Base64 (the secret is not shown)"
        ));
    };
    // Padded or not, as the reference libraries read it.
    let lenient = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let key = lenient
        .decode(encoded)
        .map_err(|_| "the signing secret's key after whsec_ is not Base64 (the secret is not shown)".to_owned())?;
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(format!(
            "the signing secret's key is {} bytes; a Standard Webhooks key is 24 to 64 random bytes \
             (the secret is not shown)",
            key.len()
        ));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks reference libraries' tests.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn the_specifications_vector_signs_as_the_reference_libraries_do() {
        let key = decode_secret(SECRET).unwrap();
        let signed = signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#);
        assert_eq!(signed, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        // One byte of the body changed changes the signature.
        let tampered = signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232315}"#);
        assert_ne!(tampered, signed);
    }

    #[test]
    fn the_headers_carry_the_idempotency_key_as_id() {
        let plan = SignPlan { key: decode_secret(SECRET).unwrap(), encoded: String::new() };
        let mut headers = HeaderMap::new();
        let refused = plan.apply(&mut headers, b"", 1).unwrap_err();
        assert!(refused.contains("needs an Idempotency-Key"), "{refused}");
        headers.insert("idempotency-key", HeaderValue::from_static("msg_p5jXN8AQM9LWM0D4loKWxJek"));
        plan.apply(&mut headers, br#"{"test": 2432232314}"#, 1614265330).unwrap();
        assert_eq!(headers[ID_HEADER], "msg_p5jXN8AQM9LWM0D4loKWxJek");
        assert_eq!(headers[TIMESTAMP_HEADER], "1614265330");
        assert_eq!(headers[SIGNATURE_HEADER], "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_secret_that_is_not_whsec_base64_is_refused_without_being_quoted() {
        for secret in ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not*base64!", "whsec_"] {
            let message = decode_secret(secret).unwrap_err();
            let key = secret.trim_start_matches("whsec_");
            assert!(key.is_empty() || !message.contains(key), "{message}");
            assert!(message.contains("not shown"), "{message}");
        }
        // Unpadded Base64 is read as the reference libraries read it.
        assert_eq!(decode_secret("whsec_c2VjcmV0LWtleS1ieXRlcw").unwrap(), b"secret-key-bytes");
    }
}
