//! `check` for request specs: every problem the loader finds (the same
//! validation `send` runs, collected rather than stopped at the first), and every
//! template of the spec checked in full in the context its field implies — each
//! placed at its line and column in the file the author edits.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::source::{SpecFormat, SpecSource};
use super::spec::analyze;
use crate::diagnostics::Diagnostic;
use crate::eval::{CheckOptions, Engine};
use crate::syntax::LineIndex;
use crate::template::check as check_template;

/// One problem of a spec, in the spec's text or in a file it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecFinding {
    /// The file the problem is in when it is not the spec itself (a `payload_file`);
    /// the diagnostic's span is in that file's text then.
    pub file: Option<PathBuf>,
    /// The problem; its message starts with the field it is in.
    pub diagnostic: Diagnostic,
}

/// Whether `text` is a request spec rather than a template: a JSON object with a
/// `url` or `method` field whose members are mostly spec fields, or a TOML document
/// with a `url` or `method` field or a spec table.
///
/// ```
/// use courier::request::check::looks_like_spec;
///
/// assert!(looks_like_spec("{\"url\": \"https://x.org\", \"method\": \"POST\", \"timout\": \"5s\"}"));
/// assert!(!looks_like_spec("{\"url\": \"${link}\", \"name\": \"${name}\", \"email\": \"${email}\"}"));
/// assert!(looks_like_spec("# a spec\nurl = \"https://x.org\"\n"));
/// assert!(!looks_like_spec("Hello ${name}"));
/// ```
pub fn looks_like_spec(text: &str) -> bool {
    match SpecFormat::of(text) {
        // A JSON payload may have a `url` member too: a spec's members are mostly spec fields.
        SpecFormat::Json => {
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text).is_ok_and(|fields| {
                let known = super::fields::top_level_fields();
                let spec_fields = fields.keys().filter(|key| known.contains(key)).count();
                (fields.contains_key("url") || fields.contains_key("method")) && spec_fields * 2 > fields.len()
            })
        }
        SpecFormat::Toml => text.lines().map(str::trim_start).any(|line| {
            let key = line.split('=').next().unwrap_or_default().trim();
            (line.contains('=') && matches!(key, "url" | "method"))
                || [
                    "[headers]",
                    "[body]",
                    "[auth]",
                    "[retry]",
                    "[sign]",
                    "[tls]",
                    "[poll]",
                    "[[mappings]]",
                    "[[response_headers]]",
                ]
                .iter()
                .any(|table| line.starts_with(table))
        }),
    }
}

/// Every problem of the spec `text` (TOML or JSON, told apart by content), sorted
/// by file and position. `base_dir` is where its relative paths start.
///
/// ```
/// use courier::Engine;
/// use courier::request::check::check_spec;
/// use courier::template::CheckOptions;
///
/// let spec = "method = \"POTS\"\nurl = \"shop.example.org/${id}\"\ntimout = \"5s\"\n";
/// let found = check_spec(&Engine::new(), spec, ".".as_ref(), &CheckOptions::default());
/// let places: Vec<(u32, u32)> = found.iter().map(|f| (f.diagnostic.span.line, f.diagnostic.span.column)).collect();
/// // The method, the URL's missing scheme, the field.
/// assert_eq!(places, [(1, 10), (2, 8), (3, 1)]);
/// assert_eq!(found[0].diagnostic.suggestion.as_deref(), Some("write \"POST\""));
/// assert_eq!(found[2].diagnostic.suggestion.as_deref(), Some("did you mean `timeout`?"));
/// ```
pub fn check_spec(engine: &Engine, text: &str, base_dir: &Path, options: &CheckOptions) -> Vec<SpecFinding> {
    let analysis = analyze(engine, text, SpecFormat::of(text), base_dir);
    let index = LineIndex::new(text);
    let mut findings = Vec::new();
    if let Err(error) = &analysis.result {
        // Template problems come from the templates' own check below, in full.
        for problem in error.problems.iter().filter(|problem| !problem.is_template_problem()) {
            let span = problem.span.unwrap_or_else(|| index.span(0, 0));
            let message = if problem.field.is_empty() {
                problem.message.clone()
            } else {
                format!("{}: {}", problem.field, problem.message)
            };
            let mut diagnostic = Diagnostic::error(problem.code, message, span);
            diagnostic.suggestion = problem.suggestion.clone();
            findings.push(SpecFinding { file: problem.file.clone(), diagnostic });
        }
    }
    for template in &analysis.templates {
        for mut diagnostic in check_template(engine, &template.source, template.kind, options) {
            if template.file.is_none() {
                let source = analysis.source.as_ref();
                match source.and_then(|source| source.inside(&template.field, diagnostic.span.range())) {
                    Some(range) => diagnostic.span = index.span(range.start as u32, range.end as u32),
                    None => {
                        // Escapes that could not be followed: point at the value, say where in it.
                        let inner = diagnostic.span;
                        let value = source.and_then(|source| source.place(&template.field)).map(|at| at.value.clone());
                        let value = value.unwrap_or(0..0);
                        diagnostic.span = index.span(value.start as u32, value.end as u32);
                        diagnostic.message = format!(
                            "line {}, column {} of the value: {}",
                            inner.line, inner.column, diagnostic.message
                        );
                    }
                }
            }
            diagnostic.message = format!("{} ({}): {}", template.field, template.kind.name(), diagnostic.message);
            findings.push(SpecFinding { file: template.file.clone(), diagnostic });
        }
    }
    if let Some(source) = &analysis.source {
        findings.extend(
            author_mistakes(source, &index).into_iter().map(|diagnostic| SpecFinding { file: None, diagnostic }),
        );
    }
    findings.sort_by(|a, b| (&a.file, a.diagnostic.span.start).cmp(&(&b.file, b.diagnostic.span.start)));
    findings
}

/// Mistakes in a spec that load but cannot be what the author meant, as warnings
/// with the fix: a mapping target no `${}` can read, a credential written in the
/// spec's text, a bearer header written by hand.
fn author_mistakes(source: &SpecSource, index: &LineIndex) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    let mut warn = |field: &str, code: &'static str, message: String, fix: String| {
        let range = source.place(field).map(|at| at.value.clone()).unwrap_or(0..0);
        let span = index.span(range.start as u32, range.end as u32);
        found.push(Diagnostic::warning(code, format!("{field}: {message}"), span).with_suggestion(fix));
    };
    for list in ["mappings", "response_headers"] {
        let items = source.tree.get(list).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        for (at, item) in items.iter().enumerate() {
            let Some(target) = item.get("target").and_then(Value::as_str) else { continue };
            if !is_name(target) {
                let fixed: String =
                    target.trim().chars().map(|c| if c.is_alphanumeric() || c == '_' { c } else { '_' }).collect();
                let message =
                    format!("{target:?} cannot be read as ${{...}}: a variable name is letters, digits and _");
                warn(&format!("{list}[{at}].target"), "unusable-target", message, format!("write \"{fixed}\""));
            }
        }
    }
    // Secrets written into the spec's text, field by field: (table, field, what it
    // is, the secret's name in the fix).
    let literal_secrets = [
        ("auth", "password", "a credential", "PASSWORD"),
        ("auth", "token", "a credential", "TOKEN"),
        ("auth", "client_secret", "a credential", "CLIENT_SECRET"),
        ("tls", "client_key", "a private key", "CLIENT_KEY"),
        ("sign", "secret", "a signing secret", "SIGNING_SECRET"),
    ];
    for (table, field, what, name) in literal_secrets {
        let value = source.tree.get(table).and_then(|table| table.get(field)).and_then(Value::as_str);
        if value.is_some_and(|value| !value.trim().is_empty() && !value.contains("${")) {
            let message = format!("{what} written in the spec: it travels and is stored with the spec's text");
            let fix = format!("write ${{secret(\"{name}\")}} and set COURIER_SECRET_{name}");
            warn(&format!("{table}.{field}"), "literal-secret", message, fix);
        }
    }
    let headers = source.tree.get("headers").and_then(Value::as_object);
    for (name, value) in headers.into_iter().flatten() {
        let Some(value) = value.as_str() else { continue };
        let field = format!("headers.{name}");
        let lower = name.to_ascii_lowercase();
        if lower == "authorization" && value.get(..7).is_some_and(|scheme| scheme.eq_ignore_ascii_case("bearer ")) {
            let token = value[7..].trim();
            let message = "a bearer token written as a header: [auth] is redacted in every output and not \
                           carried to another host on a redirect"
                .to_owned();
            let token = if token.contains("${") { token.to_owned() } else { "${secret(\"TOKEN\")}".to_owned() };
            let fix = format!("remove the header and write [auth] type = \"bearer\", token = {token:?}");
            warn(&field, "hand-written-bearer", message, fix);
        } else if (lower == "authorization"
            || ["token", "api-key", "apikey", "secret", "password"].iter().any(|part| lower.contains(part)))
            && !value.contains("${")
            && !value.trim().is_empty()
        {
            let message = "a credential written in the spec: it travels and is stored with the spec's text".to_owned();
            let secret: String =
                name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
            let fix = format!("write ${{secret(\"{secret}\")}} and set COURIER_SECRET_{secret}");
            warn(&field, "literal-secret", message, fix);
        }
    }
    found
}

/// Whether `name` is a variable name a `${}` can read.
fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_') && chars.all(|c| c.is_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warnings(spec: &str) -> Vec<(&'static str, String)> {
        check_spec(&Engine::new(), spec, ".".as_ref(), &CheckOptions::default())
            .into_iter()
            .map(|finding| (finding.diagnostic.code, finding.diagnostic.suggestion.unwrap_or_default()))
            .collect()
    }

    #[test]
    fn author_mistakes_in_specs_get_a_warning_with_the_fix() {
        let spec = "url = \"https://x.org\"\n[headers]\nAuthorization = \"Bearer ${token}\"\nX-Api-Key = \"abc123\"\n\
                    [[mappings]]\nsource = \"price\"\ntarget = \"product price\"\n";
        let found = warnings(spec);
        let codes: Vec<&str> = found.iter().map(|(code, _)| *code).collect();
        assert_eq!(codes, ["hand-written-bearer", "literal-secret", "unusable-target"], "{found:?}");
        assert!(found[0].1.contains("type = \"bearer\""), "{found:?}");
        assert!(found[1].1.contains("COURIER_SECRET_X_API_KEY"), "{found:?}");
        assert_eq!(found[2].1, "write \"product_price\"");
        let basic = "url = \"https://x.org\"\n[auth]\ntype = \"basic\"\nusername = \"anna\"\npassword = \"hunter2\"\n";
        assert_eq!(warnings(basic).iter().map(|(code, _)| *code).collect::<Vec<_>>(), ["literal-secret"]);
    }

    #[test]
    fn a_tls_key_written_in_the_spec_gets_a_warning_and_one_from_a_secret_none() {
        let literal = "url = \"https://x.org\"\n[tls]\nclient_cert = '${secret(\"CERT\")}'\n\
                       client_key = \"-----BEGIN PRIVATE KEY-----\\nMC4CAQAwBQYDK2VwBCIEIHmq\\n-----END PRIVATE KEY-----\\n\"\n";
        let found = check_spec(&Engine::new(), literal, ".".as_ref(), &CheckOptions::default());
        let warning = found.iter().find(|finding| finding.diagnostic.code == "literal-secret").expect("a warning");
        assert!(warning.diagnostic.message.starts_with("tls.client_key"), "{found:?}");
        assert!(!format!("{found:?}").contains("MC4CAQ"), "{found:?}");
        let from_secret =
            "url = \"https://x.org\"\n[tls]\nclient_cert = '${secret(\"CERT\")}'\nclient_key = '${secret(\"KEY\")}'\n";
        assert_eq!(warnings(from_secret), []);
    }

    #[test]
    fn a_signing_secret_or_digest_password_written_in_the_spec_gets_a_warning() {
        let sign = "method = \"POST\"\nurl = \"https://x.org\"\n[sign]\nscheme = \"standard-webhooks\"\n\
                    secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n";
        let found = warnings(sign);
        assert_eq!(found.iter().map(|(code, _)| *code).collect::<Vec<_>>(), ["literal-secret"], "{found:?}");
        assert!(found[0].1.contains("COURIER_SECRET_SIGNING_SECRET"), "{found:?}");
        let digest = "url = \"https://x.org\"\n[auth]\ntype = \"digest\"\nusername = \"u\"\npassword = \"pw\"\n";
        assert_eq!(warnings(digest).iter().map(|(code, _)| *code).collect::<Vec<_>>(), ["literal-secret"]);
        let referenced = sign.replace("\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"", "'${secret(\"SIGNING\")}'");
        assert_eq!(warnings(&referenced), []);
    }

    #[test]
    fn the_new_fields_are_placed_and_their_typos_fixed() {
        let spec = "method = \"POST\"\nurl = \"https://x.org\"\n[sign]\nscheme = \"standard-webhook\"\n\
                    secret = '${secret(\"S\")}'\n[poll]\nintervall = \"2s\"\nmax_polls = 0\n\
                    [auth]\ntype = \"digets\"\n";
        let typo = "method = \"POST\"\nurl = \"https://x.org\"\n[sign]\nscheme = \"standard-webhooks\"\n\
                    secrte = '${secret(\"S\")}'\n";
        let mut found = check_spec(&Engine::new(), spec, ".".as_ref(), &CheckOptions::default());
        found.extend(check_spec(&Engine::new(), typo, ".".as_ref(), &CheckOptions::default()));
        let seen: Vec<(u32, u32, String, Option<String>)> = found
            .into_iter()
            .map(|f| (f.diagnostic.span.line, f.diagnostic.span.column, f.diagnostic.message, f.diagnostic.suggestion))
            .collect();
        let has = |line: u32, column: u32, message: &str, fix: &str| {
            seen.iter().any(|(l, c, m, s)| {
                (*l, *c) == (line, column) && m.contains(message) && s.as_deref().unwrap_or_default().contains(fix)
            })
        };
        assert!(has(4, 10, "unknown variant `standard-webhook`", "write \"standard-webhooks\""), "{seen:#?}");
        assert!(has(5, 1, "unknown field `secrte`", "did you mean `secret`?"), "{seen:#?}");
        assert!(has(7, 1, "unknown field `intervall`", "did you mean `interval`?"), "{seen:#?}");
        assert!(has(10, 8, "unknown variant `digets`", "write \"digest\""), "{seen:#?}");
    }

    #[test]
    fn a_correct_spec_gets_no_warning() {
        let spec = "url = \"https://shop.example.org/products/${product_id}/price\"\n[headers]\nX-Api-Key = '${secret(\"KEY\")}'\n\
                    [auth]\ntype = \"bearer\"\ntoken = '${secret(\"TOKEN\")}'\n[[mappings]]\nsource = \"price.amount\"\ntarget = \"product_price\"\n";
        assert_eq!(warnings(spec), []);
    }
}
