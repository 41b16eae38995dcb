//! Session cookies: the `Cookie` header built from the session's cookies of the
//! names a spec lists, and the `Set-Cookie` headers of those names saved back.
//! Cookies of other names are neither sent nor kept.

use indexmap::IndexMap;

/// A session's cookies: name → value.
pub type Cookies = IndexMap<String, String>;

/// Largest cookie kept or sent: its whole `Set-Cookie` line (name, value and
/// attributes), or name and value in a session. RFC 6265 6.1 asks clients to keep at
/// least this much; a larger one is ignored, and the log says so.
pub const MAX_COOKIE_BYTES: usize = 4096;

/// Whether `name` is a cookie name (an RFC 6265 token).
pub(crate) fn is_cookie_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|byte| byte.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&byte))
}

/// The `Cookie` header: the session's cookies whose names are listed.
pub(crate) fn request_header(names: &[String], jar: &Cookies) -> Option<String> {
    let pairs: Vec<String> = names
        .iter()
        .filter_map(|name| jar.get(name).map(|value| (name, value)))
        .filter(|(name, value)| name.len() + 1 + value.len() <= MAX_COOKIE_BYTES)
        .filter(|(_, value)| !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_graphic() && byte != b';'))
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    (!pairs.is_empty()).then(|| pairs.join("; "))
}

/// A `Set-Cookie` header of one of the listed names: its name and value; a cookie
/// the server deletes (`Max-Age=0` or less) has an empty value.
pub(crate) fn saved(names: &[String], set_cookie: &str) -> Option<(String, String)> {
    let mut attributes = set_cookie.split(';');
    let (name, value) = attributes.next()?.split_once('=')?;
    let name = name.trim();
    if !names.iter().any(|listed| listed == name) {
        return None;
    }
    let value = value.trim().trim_matches('"');
    let deleted = attributes.any(|attribute| {
        let (key, number) = attribute.split_once('=').unwrap_or((attribute, ""));
        key.trim().eq_ignore_ascii_case("max-age") && number.trim().parse::<i64>().is_ok_and(|age| age <= 0)
    });
    Some((name.to_owned(), if deleted { String::new() } else { value.to_owned() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec!["SESSIONID".to_owned(), "lang".to_owned()]
    }

    #[test]
    fn only_listed_cookies_are_sent() {
        let jar: Cookies = [("SESSIONID", "abc"), ("other", "x"), ("lang", "de")]
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        assert_eq!(request_header(&names(), &jar).as_deref(), Some("SESSIONID=abc; lang=de"));
        assert_eq!(request_header(&[], &jar), None);
    }

    #[test]
    fn only_listed_cookies_are_saved() {
        assert_eq!(saved(&names(), "SESSIONID=xyz; Path=/; HttpOnly"), Some(("SESSIONID".into(), "xyz".into())));
        assert_eq!(saved(&names(), "tracking=1; Path=/"), None);
        assert_eq!(saved(&names(), "lang=de; Max-Age=0"), Some(("lang".into(), String::new())));
        assert_eq!(saved(&names(), "garbage"), None);
    }

    #[test]
    fn cookie_names_are_tokens() {
        assert!(is_cookie_name("SESSIONID"));
        assert!(!is_cookie_name("a b"));
        assert!(!is_cookie_name("a=b"));
        assert!(!is_cookie_name(""));
    }
}
