//! Hashes, encodings and ids: `hmacSha256`, `md5`, `sha1`, `sha512` (lowercase hex
//! of the UTF-8 bytes), `urlDecode`, `htmlEscape` and `uuid`.
//!
//! `uuid` draws from the context's random source, so a seeded context repeats it; it
//! is the only function here that is not folded when its arguments are literals.

use std::fmt::Write;

use hmac::{Hmac, Mac};
use sha2::Digest;

use super::util::{fail, text};
use super::{CallContext, Function, FunctionError, Kind};
use crate::value::Value;

pub(super) fn functions() -> Vec<Function> {
    vec![
        Function::new("hmacSha256", |args, _| Ok(Value::from(hmac_sha256(text(args, 0), text(args, 1)))))
            .param("text", Kind::Text)
            .param("key", Kind::Text)
            .summary("the HMAC-SHA256 of the text under the key, as lowercase hex", "text")
            .example(
                "hmacSha256(\"hello\", \"key\")",
                "\"9307b3b915efb5171ff14d8cb55fbcc798c6c0ef1456d66ded1a6aa723a58b7b\"",
            ),
        Function::new("md5", |args, _| Ok(Value::from(hex(&md5::Md5::digest(text(args, 0))))))
            .param("text", Kind::Text)
            .summary("the MD5 of the text, as lowercase hex (for checksums, not for security)", "text")
            .example("md5(\"hello\")", "\"5d41402abc4b2a76b9719d911017c592\""),
        Function::new("sha1", |args, _| Ok(Value::from(hex(&sha1::Sha1::digest(text(args, 0))))))
            .param("text", Kind::Text)
            .summary("the SHA-1 of the text, as lowercase hex", "text")
            .example("sha1(\"hello\")", "\"aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d\""),
        Function::new("sha512", |args, _| Ok(Value::from(hex(&sha2::Sha512::digest(text(args, 0))))))
            .param("text", Kind::Text)
            .summary("the SHA-512 of the text, as lowercase hex", "text")
            .example("stringLength(sha512(\"hello\"))", "128"),
        Function::new("urlDecode", |args, cx| {
            let decoded = url_decode(text(args, 0))?;
            cx.check_size(decoded.len())?;
            Ok(Value::from(decoded))
        })
        .param("text", Kind::Text)
        .summary("percent-decoded text, + as a space, as Java's URLDecoder.decode with UTF-8", "text")
        .example("urlDecode(\"Z%C3%BCrich+HB\")", "\"Zürich HB\""),
        Function::new("htmlEscape", |args, cx| html_escape(text(args, 0), cx))
            .param("text", Kind::Text)
            .summary("the text with & < > \" ' written as HTML entities", "text")
            .example("htmlEscape(\"<b>Tom & Jerry's</b>\")", "\"&lt;b&gt;Tom &amp; Jerry&#39;s&lt;/b&gt;\""),
        Function::new("uuid", |_, cx| Ok(Value::from(uuid(cx))))
            .reads_context()
            .summary("a random (version 4) UUID from the context's random source", "text")
            .example("stringLength(uuid())", "36"),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut hex, byte| {
        let _ = write!(hex, "{byte:02x}");
        hex
    })
}

fn hmac_sha256(text: &str, key: &str) -> String {
    // HMAC takes a key of any length (a long one is hashed first), so this cannot fail.
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(text.as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// Java's `URLDecoder.decode(text, UTF_8)`: `+` is a space, `%xy` a byte; a `%` without
/// two hex digits after it is an error; bytes that are not UTF-8 become U+FFFD, as
/// Java's decoder replaces them. The result is never longer than the text.
fn url_decode(encoded: &str) -> Result<String, FunctionError> {
    let bytes = encoded.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'+' => decoded.push(b' '),
            b'%' => {
                // `from_str_radix` would also take a sign, so the digits are checked first.
                let pair = bytes.get(at + 1..at + 3).filter(|pair| pair.iter().all(u8::is_ascii_hexdigit));
                match pair.and_then(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()) {
                    Some(byte) => decoded.push(byte),
                    None => {
                        return fail(format!(
                            "urlDecode: {} has a % at offset {at} that is not followed by two hex digits",
                            Value::from(encoded).describe()
                        ));
                    }
                }
                at += 2;
            }
            other => decoded.push(other),
        }
        at += 1;
    }
    Ok(String::from_utf8_lossy(&decoded).into_owned())
}

/// `&` `<` `>` `"` `'` as `&amp;` `&lt;` `&gt;` `&quot;` `&#39;`, everything else as it is.
fn html_escape(text: &str, cx: &CallContext<'_>) -> Result<Value, FunctionError> {
    let grows = |c: char| match c {
        '&' => 4,
        '<' | '>' => 3,
        '"' | '\'' => 5,
        _ => 0,
    };
    let size = text.chars().map(grows).fold(text.len(), usize::saturating_add);
    cx.check_size(size)?;
    let mut escaped = String::with_capacity(size);
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    Ok(Value::from(escaped))
}

/// Sixteen bytes from the context's random source, with the version and variant bits
/// of a version 4 UUID, written in lowercase with hyphens.
fn uuid(cx: &CallContext<'_>) -> String {
    let bytes: [u8; 16] = cx.context().with_rng(rand::Rng::random);
    uuid::Builder::from_random_bytes(bytes).into_uuid().hyphenated().to_string()
}
