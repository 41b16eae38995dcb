//! HTTP Digest authentication (RFC 7616): reading a `WWW-Authenticate: Digest`
//! challenge and answering it with `qop=auth`, for the `MD5` and `SHA-256`
//! algorithms (and their `-sess` forms). The password never leaves this module
//! but hashed together with the challenge's nonce.

use md5::Md5;
use sha2::{Digest as _, Sha256};

/// The longest challenge read, in bytes: a hostile service gets no further.
const MAX_CHALLENGE_BYTES: usize = 4096;

/// A hash algorithm of Digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    Md5,
    Sha256,
}

/// A `Digest` challenge: the parameters the answer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    realm: String,
    nonce: String,
    opaque: Option<String>,
    algorithm: Algorithm,
    /// Whether the algorithm is a `-sess` one.
    session: bool,
    /// The algorithm's name as the service wrote it, echoed in the answer.
    algorithm_name: Option<String>,
    userhash: bool,
}

impl Challenge {
    /// The first `Digest` challenge among `values` (the `WWW-Authenticate`
    /// headers) that courier can answer: one with `qop` offering `auth` (or no
    /// `qop`, RFC 2069) and an algorithm of MD5 or SHA-256. The error says why
    /// none could be taken.
    pub(crate) fn find<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Result<Challenge, String> {
        let mut why = "the 401 answer has no WWW-Authenticate: Digest challenge".to_owned();
        for value in values {
            if value.len() > MAX_CHALLENGE_BYTES {
                why = format!("the Digest challenge is {} bytes, more than {MAX_CHALLENGE_BYTES}", value.len());
                continue;
            }
            let text = String::from_utf8_lossy(value);
            let Some(parameters) = digest_parameters(&text) else { continue };
            match Challenge::from_parameters(&parameters) {
                Ok(challenge) => return Ok(challenge),
                Err(message) => why = message,
            }
        }
        Err(why)
    }

    fn from_parameters(parameters: &[(String, String)]) -> Result<Challenge, String> {
        let get = |name: &str| {
            parameters.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.clone())
        };
        let nonce = get("nonce").ok_or("the Digest challenge has no nonce")?;
        let realm = get("realm").unwrap_or_default();
        if let Some(qop) = get("qop")
            && !qop.split(',').any(|offered| offered.trim().eq_ignore_ascii_case("auth"))
        {
            return Err(format!("the Digest challenge offers qop {qop:?}; courier answers qop \"auth\" only"));
        }
        let algorithm_name = get("algorithm");
        let written = algorithm_name.as_deref().unwrap_or("MD5");
        let (base, session) = match written.len().checked_sub(5) {
            Some(at) if written.is_char_boundary(at) && written[at..].eq_ignore_ascii_case("-sess") => {
                (&written[..at], true)
            }
            _ => (written, false),
        };
        let algorithm = if base.eq_ignore_ascii_case("MD5") {
            Algorithm::Md5
        } else if base.eq_ignore_ascii_case("SHA-256") {
            Algorithm::Sha256
        } else {
            let shown: String = written.chars().take(40).collect();
            return Err(format!("the Digest challenge asks for the algorithm {shown:?}; courier has MD5 and SHA-256"));
        };
        let userhash = get("userhash").is_some_and(|value| value.eq_ignore_ascii_case("true"));
        Ok(Challenge { realm, nonce, opaque: get("opaque"), algorithm, session, algorithm_name, userhash })
    }

    /// The `Authorization` value answering the challenge for `method` and `uri`
    /// (the request target: path and query), with the client nonce `cnonce`.
    pub(crate) fn answer(&self, username: &str, password: &str, method: &str, uri: &str, cnonce: &str) -> String {
        let hash = |text: &str| self.hash(text);
        let nc = "00000001";
        let mut a1 = hash(&format!("{username}:{}:{password}", self.realm));
        if self.session {
            a1 = hash(&format!("{a1}:{}:{cnonce}", self.nonce));
        }
        let a2 = hash(&format!("{method}:{uri}"));
        let response = hash(&format!("{a1}:{}:{nc}:{cnonce}:auth:{a2}", self.nonce));
        let user = if self.userhash { hash(&format!("{username}:{}", self.realm)) } else { username.to_owned() };
        let mut parts = vec![
            format!("username={}", quoted(&user)),
            format!("realm={}", quoted(&self.realm)),
            format!("nonce={}", quoted(&self.nonce)),
            format!("uri={}", quoted(uri)),
        ];
        if let Some(algorithm) = &self.algorithm_name {
            parts.push(format!("algorithm={algorithm}"));
        }
        parts.extend([
            format!("response={}", quoted(&response)),
            "qop=auth".to_owned(),
            format!("nc={nc}"),
            format!("cnonce={}", quoted(cnonce)),
        ]);
        if let Some(opaque) = &self.opaque {
            parts.push(format!("opaque={}", quoted(opaque)));
        }
        if self.userhash {
            parts.push("userhash=true".to_owned());
        }
        format!("Digest {}", parts.join(", "))
    }

    fn hash(&self, text: &str) -> String {
        let bytes = match self.algorithm {
            Algorithm::Md5 => Md5::digest(text.as_bytes()).to_vec(),
            Algorithm::Sha256 => Sha256::digest(text.as_bytes()).to_vec(),
        };
        bytes.iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

/// A fresh client nonce: 16 random bytes in hex.
pub(crate) fn cnonce() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// A quoted-string (RFC 9110 5.6.4).
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for character in text.chars() {
        if matches!(character, '"' | '\\') {
            out.push('\\');
        }
        out.push(character);
    }
    out.push('"');
    out
}

/// The parameters of the `Digest` challenge in a `WWW-Authenticate` value
/// (which may list several challenges), or `None` when it has none.
fn digest_parameters(value: &str) -> Option<Vec<(String, String)>> {
    let mut rest = value;
    // Find the scheme token `Digest` at the start or after a comma.
    loop {
        let trimmed = rest.trim_start_matches([' ', '\t', ',']);
        let scheme_end = trimmed.find([' ', '\t']).unwrap_or(trimmed.len());
        if trimmed[..scheme_end].eq_ignore_ascii_case("digest") {
            return Some(parameters(&trimmed[scheme_end..]));
        }
        // Skip to the next comma outside quotes.
        let next = next_comma(trimmed)?;
        rest = &trimmed[next + 1..];
    }
}

/// The byte offset of the next comma of `text` outside a quoted-string.
fn next_comma(text: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (at, character) in text.char_indices() {
        match character {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => return Some(at),
            _ => {}
        }
    }
    None
}

/// `name=value` and `name="quoted value"` pairs, up to the next scheme (a token
/// with no `=`).
fn parameters(text: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        let Some(equals) = rest.find('=') else { break };
        let name = rest[..equals].trim();
        if name.is_empty() || name.contains([' ', '\t', ',', '"']) {
            break; // Another challenge's scheme.
        }
        rest = rest[equals + 1..].trim_start();
        let value = if let Some(inner) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut escaped = false;
            let mut end = inner.len();
            for (at, character) in inner.char_indices() {
                match character {
                    _ if escaped => {
                        value.push(character);
                        escaped = false;
                    }
                    '\\' => escaped = true,
                    '"' => {
                        end = at + 1;
                        break;
                    }
                    _ => value.push(character),
                }
            }
            rest = inner.get(end..).unwrap_or_default();
            value
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let value = rest[..end].trim().to_owned();
            rest = &rest[end..];
            value
        };
        found.push((name.to_owned(), value));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7616 3.9.1: the example challenge, once per algorithm.
    fn rfc_challenge(algorithm: &str) -> String {
        format!(
            "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm={algorithm}, \
             nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
             opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
        )
    }

    fn rfc_answer(algorithm: &str) -> String {
        let challenge = Challenge::find([rfc_challenge(algorithm).as_bytes()]).unwrap();
        challenge.answer(
            "Mufasa",
            "Circle of Life",
            "GET",
            "/dir/index.html",
            "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        )
    }

    #[test]
    fn the_rfc_examples_are_answered_as_the_rfc_shows() {
        let md5 = rfc_answer("MD5");
        assert!(md5.contains("response=\"8ca523f5e9506fed4657c9700eebdbec\""), "{md5}");
        let sha256 = rfc_answer("SHA-256");
        assert!(
            sha256.contains("response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\""),
            "{sha256}"
        );
        for part in ["username=\"Mufasa\"", "qop=auth", "nc=00000001", "opaque=\"FQhe/", "uri=\"/dir/index.html\""] {
            assert!(sha256.contains(part), "{part}: {sha256}");
        }
        assert!(!sha256.contains("Circle of Life"));
    }

    #[test]
    fn the_digest_challenge_is_found_among_others() {
        let value = "Basic realm=\"x\", Digest realm=\"a, b\", nonce=\"n\\\"1\", qop=auth";
        let challenge = Challenge::find([value.as_bytes()]).unwrap();
        assert_eq!((challenge.realm.as_str(), challenge.nonce.as_str()), ("a, b", "n\"1"));
        assert_eq!(challenge.algorithm, Algorithm::Md5);
        let session = Challenge::find([b"Digest nonce=\"n\", algorithm=SHA-256-sess, qop=\"auth\"".as_slice()]);
        assert!(session.is_ok_and(|challenge| challenge.session && challenge.algorithm == Algorithm::Sha256));
    }

    #[test]
    fn challenges_courier_cannot_answer_say_why() {
        let cases: [(&[u8], &str); 5] = [
            (b"Basic realm=\"x\"", "no WWW-Authenticate: Digest"),
            (b"Digest realm=\"x\"", "no nonce"),
            (b"Digest nonce=\"n\", qop=\"auth-int\"", "qop \"auth-int\""),
            (b"Digest nonce=\"n\", algorithm=SHA-512-256", "SHA-512-256"),
            (b"Digest realm=\"\xff\xfe, unterminated", "no nonce"),
        ];
        for (value, expected) in cases {
            let message = Challenge::find([value]).unwrap_err();
            assert!(message.contains(expected), "{expected}: {message}");
        }
        // Hostile values end in an answer or an error, never a panic or a loop.
        let pieces: [&[u8]; 12] = [
            b"Digest",
            b" ",
            b",",
            b"=",
            b"\"",
            b"\\",
            b"nonce",
            b"qop=auth",
            b"\xff",
            b"\xc3",
            b"algorithm=",
            b"-sess",
        ];
        let mut state = 7u64;
        for _ in 0..2_000 {
            let mut value = Vec::new();
            for _ in 0..(state % 24) {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                value.extend_from_slice(pieces[(state >> 33) as usize % pieces.len()]);
            }
            if let Ok(challenge) = Challenge::find([value.as_slice()]) {
                challenge.answer("u", "p", "GET", "/", "c");
            }
        }
        let long = format!("Digest nonce=\"{}\"", "n".repeat(MAX_CHALLENGE_BYTES));
        assert!(Challenge::find([long.as_bytes()]).unwrap_err().contains("more than"));
    }
}
