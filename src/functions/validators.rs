//! Validators: `isEmail`, `isUrl`, `isNumber`, `isInteger`. Each reads its argument's
//! string form and answers true or false; none is ever an error.

use super::util::text;
use super::{Function, Kind};
use crate::value::{Value, parse_java_double, parse_java_long};

pub(super) fn functions() -> Vec<Function> {
    let check = |name: &'static str, test: fn(&str) -> bool| {
        Function::new(name, move |args, _| Ok(Value::Bool(test(text(args, 0))))).param("text", Kind::Text)
    };
    vec![
        check("isEmail", is_email)
            .summary("whether the text is an email address (local@domain.tld, see functions.md)", "boolean")
            .example("isEmail(\"anna.muster@example.ch\")", "true"),
        check("isUrl", is_url)
            .summary("whether the text is an absolute http or https URL with a host", "boolean")
            .example("isUrl(\"https://example.org/a?b=1\")", "true"),
        check("isNumber", is_number)
            .summary("whether the text reads as an EL number (integer or finite decimal, no spaces)", "boolean")
            .example("isNumber(\"-12.5e3\")", "true"),
        check("isInteger", |text| parse_java_long(text).is_some())
            .summary("whether the text reads as a 64-bit integer (Long.valueOf)", "boolean")
            .example("isInteger(\"12.0\")", "false"),
    ]
}

/// `local@domain`: the local part is 1 to 64 of the characters RFC 5322 allows
/// unquoted (`atext` and non-ASCII letters), with dots only between them; the domain is
/// two or more labels of letters, digits and inner hyphens (at most 63 each), the last
/// with no digits only; the whole is at most 254 bytes. Quoted local parts and IP
/// literals, legal but never typed by a customer, are refused.
fn is_email(text: &str) -> bool {
    if text.len() > 254 {
        return false;
    }
    let Some((local, domain)) = text.rsplit_once('@') else {
        return false;
    };
    let atext = |c: char| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    let local_ok =
        (1..=64).contains(&local.len()) && local.split('.').all(|part| !part.is_empty() && part.chars().all(atext));
    local_ok && is_domain(domain)
}

/// Two or more labels; the top-level one is letters only, at least two.
fn is_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |label: &&str| {
        (1..=63).contains(&label.len())
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    let top = labels.last().copied().unwrap_or_default();
    labels.len() >= 2 && labels.iter().all(label_ok) && top.chars().count() >= 2 && top.chars().all(char::is_alphabetic)
}

/// An absolute `http` or `https` URL with a host, as the WHATWG parser reads it,
/// written without surrounding spaces and with `//` after the scheme.
fn is_url(text: &str) -> bool {
    let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
    let authority = if lower.starts_with("http://") {
        &text[7..]
    } else if lower.starts_with("https://") {
        &text[8..]
    } else {
        return false;
    };
    // The parser would skip extra slashes (`http:///x` is `http://x/`) and trim spaces.
    if authority.is_empty() || authority.starts_with(['/', '\\']) || text.trim() != text {
        return false;
    }
    url::Url::parse(text).is_ok_and(|url| url.host_str().is_some_and(|host| !host.is_empty()))
}

/// What EL reads as a number from text: `Long.valueOf` or `Double.valueOf` syntax
/// (`12`, `-3.5`, `1e3`), untrimmed; `NaN` and `Infinity` are not numbers here.
fn is_number(text: &str) -> bool {
    parse_java_long(text).is_some() || parse_java_double(text).is_some_and(f64::is_finite)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for good in ["a@b.ch", "anna.muster+tag@mail.example.org", "müller@beispiel.de", "o'brien@x-y.ie"] {
            assert!(is_email(good), "{good}");
        }
        for bad in [
            "",
            "a",
            "a@b",
            "a@b.c",
            "@b.ch",
            "a.@b.ch",
            ".a@b.ch",
            "a..b@c.ch",
            "a@-b.ch",
            "a@b.c1",
            "a b@c.ch",
            "a@b..ch",
            "a@@b.ch",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn urls() {
        for good in ["https://example.org", "HTTP://example.org/a b", "https://127.0.0.1:8080/x?y#z"] {
            assert!(is_url(good), "{good}");
        }
        for bad in [
            "",
            "example.org",
            "ftp://example.org",
            "https:example.org",
            " https://example.org",
            "https://",
            "http:///x",
        ] {
            assert!(!is_url(bad), "{bad}");
        }
    }
}
