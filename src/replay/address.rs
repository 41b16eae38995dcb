//! What a store's address may show: every message that quotes a store address
//! quotes it through [`without_password`], which hides a password in each of
//! libpq's spellings — the URL's user information (`postgres://u:PW@h/db`), its
//! `password` query option (`?password=PW`, the key in any case or
//! percent-encoded), and the keyword/value form (`host=h password=PW`, quoted or
//! not), which a SQLite file name may also hold by mistake.

/// `text` with every password it holds replaced by `***`.
pub fn without_password(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        return url_without_password(text);
    }
    keywords_without_password(text)
}

/// A `postgres://` address with its user-information password and every
/// `password` query option replaced; one that does not parse is not quoted.
fn url_without_password(text: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(text) else {
        return "(an address that does not parse)".to_owned();
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    if parsed.query().is_some() {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(key, value)| {
                let hidden = key.eq_ignore_ascii_case("password");
                (key.into_owned(), if hidden { "***".to_owned() } else { value.into_owned() })
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

/// libpq's keyword/value form (`password = 'it''s' host=h`): the value after
/// each `password` keyword, quoted or up to the next blank, replaced.
fn keywords_without_password(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = find_keyword(rest) {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let after_key = &from["password".len()..];
        let after_blank = after_key.trim_start();
        let Some(value) = after_blank.strip_prefix('=') else {
            out.push_str("password");
            rest = after_key;
            continue;
        };
        out.push_str("password=***");
        rest = &value[value_length(value)..];
    }
    out.push_str(rest);
    out
}

/// Where the next `password` keyword (any case) starts: at the start or after a blank.
fn find_keyword(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower[from..].find("password") {
        let at = from + found;
        if at == 0 || lower.as_bytes()[at - 1].is_ascii_whitespace() {
            return Some(at);
        }
        from = at + "password".len();
    }
    None
}

/// How many bytes of `text` (what follows `=`) the value takes: blanks, then a
/// quoted value (with `\'` and `''` inside) or everything up to the next blank.
fn value_length(text: &str) -> usize {
    let start = text.len() - text.trim_start().len();
    let bytes = text.as_bytes();
    let mut at = start;
    if bytes.get(at) == Some(&b'\'') {
        at += 1;
        while at < bytes.len() {
            match bytes[at] {
                b'\\' => at += 2,
                b'\'' if bytes.get(at + 1) == Some(&b'\'') => at += 2,
                b'\'' => return at + 1,
                _ => at += 1,
            }
        }
        return text.len();
    }
    while at < bytes.len() && !bytes[at].is_ascii_whitespace() {
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn no_spelling_of_a_password_is_quoted() {
        let cases = [
            ("postgres://courier:hunter2@h:5432/db", "postgres://courier:***@h:5432/db"),
            ("postgres://courier@h/db?password=hunter2", "postgres://courier@h/db?password=***"),
            ("POSTGRESQL://h/db?sslmode=disable&PassWord=hunter2", "postgresql://h/db?sslmode=disable&PassWord=***"),
            ("postgres://h/db?pass%77ord=hunter2", "postgres://h/db?password=***"),
            ("host=h password=hunter2 dbname=q", "host=h password=*** dbname=q"),
            ("host=h PASSWORD = 'hun ter\\'2''x' dbname=q", "host=h password=*** dbname=q"),
            ("password=hunter2", "password=***"),
            ("queue.db", "queue.db"),
            ("mypassword=x.db", "mypassword=x.db"),
        ];
        for (address, shown) in cases {
            let quoted = without_password(address);
            assert_eq!(quoted, shown, "{address}");
            assert!(!quoted.contains("hunter2") && !quoted.contains("hun ter"), "{quoted}");
        }
    }
}
