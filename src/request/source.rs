//! A spec file's text: its format (TOML or JSON, recognised by content), its
//! fields as a JSON tree in the order written, and where each field sits in the
//! text, so that a problem found in a field — or inside a template in a string
//! field — is reported at its line and column in the file the author edits.

use std::collections::HashMap;
use std::ops::Range;

use serde_json::{Map, Value};

/// The format of a spec's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecFormat {
    /// TOML (the usual form).
    Toml,
    /// JSON.
    Json,
}

impl SpecFormat {
    /// The format of `text`: JSON when it starts with `{`, else TOML.
    pub fn of(text: &str) -> SpecFormat {
        if text.trim_start_matches('\u{feff}').trim_start().starts_with('{') {
            SpecFormat::Json
        } else {
            SpecFormat::Toml
        }
    }
}

/// Where one field sits in the text.
#[derive(Debug, Clone)]
pub(crate) struct Located {
    /// The key, when the field has one (not for list items).
    pub(crate) key: Option<Range<usize>>,
    /// The value as written (with its quotes).
    pub(crate) value: Range<usize>,
    /// For a string, the text offset of each byte of its decoded content (and one
    /// past the end), when escapes could be followed.
    pub(crate) content: Option<Vec<usize>>,
}

/// A parsed spec: the fields as a JSON tree, and where each one is.
#[derive(Debug)]
pub(crate) struct SpecSource {
    pub(crate) tree: Value,
    /// Field path (`url`, `headers.X-Shop`, `mappings[0].source`) → place.
    pub(crate) places: HashMap<String, Located>,
}

/// A spec text that does not parse: the message and the byte range of the error.
#[derive(Debug)]
pub(crate) struct ParseFailure {
    pub(crate) message: String,
    pub(crate) at: Range<usize>,
}

impl SpecSource {
    /// Parses `text` as `format`.
    pub(crate) fn parse(text: &str, format: SpecFormat) -> Result<SpecSource, ParseFailure> {
        let mut places = HashMap::new();
        let tree = match format {
            SpecFormat::Toml => {
                let table = toml::de::DeTable::parse(text).map_err(|error| ParseFailure {
                    message: error.message().trim_end().to_owned(),
                    at: error.span().unwrap_or(0..0),
                })?;
                toml_table(text, table.get_ref(), "", &mut places)
            }
            SpecFormat::Json => {
                let tree: Value = serde_json::from_str(text).map_err(|error| {
                    let at = offset_of(text, error.line(), error.column());
                    ParseFailure { message: error.to_string(), at: at..at }
                })?;
                JsonScanner { text: text.as_bytes(), at: 0, places: &mut places }.value(text, "", None);
                tree
            }
        };
        Ok(SpecSource { tree, places })
    }

    /// The place of `field`, or of the nearest enclosing field that is written.
    pub(crate) fn place(&self, field: &str) -> Option<&Located> {
        let mut path = field;
        loop {
            if let Some(found) = self.places.get(path) {
                return Some(found);
            }
            let cut = path.rfind(['.', '['])?;
            path = &path[..cut];
        }
    }

    /// The text range of `range` inside the string value of `field`.
    pub(crate) fn inside(&self, field: &str, range: Range<usize>) -> Option<Range<usize>> {
        let content = self.places.get(field)?.content.as_ref()?;
        let start = *content.get(range.start)?;
        let end = *content.get(range.end.min(content.len() - 1))?;
        Some(start..end.max(start))
    }
}

/// The byte offset of a 1-based line and column (serde_json's, counted in bytes).
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let line_start: usize = text.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum();
    (line_start + column.saturating_sub(1)).min(text.len())
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() { key.to_owned() } else { format!("{prefix}.{key}") }
}

fn toml_table(text: &str, table: &toml::de::DeTable<'_>, prefix: &str, places: &mut HashMap<String, Located>) -> Value {
    let mut map = Map::new();
    for (key, value) in table {
        let path = join(prefix, key.get_ref());
        let converted = toml_value(text, value, &path, Some(key.span()), places);
        map.insert(key.get_ref().to_string(), converted);
    }
    Value::Object(map)
}

fn toml_value(
    text: &str,
    value: &toml::Spanned<toml::de::DeValue<'_>>,
    path: &str,
    key: Option<Range<usize>>,
    places: &mut HashMap<String, Located>,
) -> Value {
    use toml::de::DeValue;
    let span = value.span();
    let mut content = None;
    let converted = match value.get_ref() {
        DeValue::String(decoded) => {
            content = string_offsets(text, span.clone(), decoded);
            Value::String(decoded.to_string())
        }
        DeValue::Integer(integer) => i64::from_str_radix(&integer.as_str().replace('_', ""), integer.radix())
            .map_or_else(|_| Value::String(integer.as_str().to_owned()), Value::from),
        DeValue::Float(float) => float
            .as_str()
            .replace('_', "")
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| Value::String(float.as_str().to_owned()), Value::Number),
        DeValue::Boolean(flag) => Value::Bool(*flag),
        DeValue::Datetime(datetime) => Value::String(datetime.to_string()),
        DeValue::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(position, item)| toml_value(text, item, &format!("{path}[{position}]"), None, places))
                .collect(),
        ),
        DeValue::Table(table) => toml_table(text, table, path, places),
    };
    places.insert(path.to_owned(), Located { key, value: span, content });
    converted
}

/// The text offset of every byte of a string's decoded content, for a string
/// written at `span` (with its quotes): TOML's four kinds and JSON's one. `None`
/// when the written form cannot be followed to the decoded one.
pub(crate) fn string_offsets(text: &str, span: Range<usize>, decoded: &str) -> Option<Vec<usize>> {
    let raw = text.get(span.clone())?;
    let (quote, escapes) = if raw.starts_with("'''") {
        ("'''", false)
    } else if raw.starts_with("\"\"\"") {
        ("\"\"\"", true)
    } else if raw.starts_with('\'') {
        ("'", false)
    } else if raw.starts_with('"') {
        ("\"", true)
    } else {
        return None;
    };
    let mut start = quote.len();
    let inner_end = raw.len().checked_sub(quote.len())?;
    if quote.len() == 3 {
        // A newline right after the opening delimiter is not part of the string.
        if raw[start..].starts_with("\r\n") {
            start += 2;
        } else if raw[start..].starts_with('\n') {
            start += 1;
        }
    }
    let body = raw.get(start..inner_end)?;
    let base = span.start + start;
    let mut offsets = Vec::with_capacity(decoded.len() + 1);
    let mut wanted = decoded.chars();
    let mut at = 0;
    while at < body.len() {
        let rest = &body[at..];
        let written = rest.chars().next()?;
        if escapes && written == '\\' {
            let next = rest[1..].chars().next()?;
            let width = match next {
                'u' => {
                    // A JSON surrogate pair is one character written in twelve bytes.
                    let pair = rest.len() >= 12
                        && matches!(rest.get(2..3), Some("d" | "D"))
                        && matches!(rest.get(3..4), Some("8" | "9" | "a" | "b" | "A" | "B"))
                        && rest.get(6..8) == Some("\\u");
                    if pair { 12 } else { 6 }
                }
                'U' => 10,
                ' ' | '\t' | '\r' | '\n' => {
                    // TOML's line-ending backslash: the whitespace up to the next text goes.
                    let skipped = rest[1..].len() - rest[1..].trim_start_matches([' ', '\t', '\r', '\n']).len();
                    at += 1 + skipped;
                    continue;
                }
                _ => 2,
            };
            let character = wanted.next()?;
            offsets.extend(std::iter::repeat_n(base + at, character.len_utf8()));
            at += width;
        } else {
            if wanted.next()? != written {
                return None;
            }
            offsets.extend((0..written.len_utf8()).map(|byte| base + at + byte));
            at += written.len_utf8();
        }
    }
    if wanted.next().is_some() {
        return None;
    }
    offsets.push(base + at);
    Some(offsets)
}

/// Records where each field of a JSON text sits; the text already parsed, so the
/// scanner meets only valid JSON (and every step moves forward).
struct JsonScanner<'a, 'p> {
    text: &'a [u8],
    at: usize,
    places: &'p mut HashMap<String, Located>,
}

impl JsonScanner<'_, '_> {
    fn skip_space(&mut self) {
        while self.text.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn string_end(&mut self) {
        // At the opening quote.
        self.at += 1;
        while let Some(&byte) = self.text.get(self.at) {
            self.at += if byte == b'\\' { 2 } else { 1 };
            if byte == b'"' {
                return;
            }
        }
    }

    fn value(&mut self, source: &str, path: &str, key: Option<Range<usize>>) {
        self.skip_space();
        let start = self.at;
        let mut content = None;
        match self.text.get(self.at) {
            Some(b'{') => {
                self.at += 1;
                loop {
                    self.skip_space();
                    match self.text.get(self.at) {
                        Some(b'"') => {}
                        Some(b'}') | None => break,
                        Some(_) => {
                            self.at += 1;
                            continue;
                        }
                    }
                    let key_start = self.at;
                    self.string_end();
                    let key_range = key_start..self.at;
                    let name: String = serde_json::from_str(&source[key_range.clone()]).unwrap_or_default();
                    self.skip_space();
                    self.at += 1; // the colon
                    self.value(source, &join(path, &name), Some(key_range));
                    self.skip_space();
                    if self.text.get(self.at) == Some(&b',') {
                        self.at += 1;
                    }
                }
                self.at += 1;
            }
            Some(b'[') => {
                self.at += 1;
                let mut position = 0;
                loop {
                    self.skip_space();
                    match self.text.get(self.at) {
                        Some(b']') | None => break,
                        Some(b',') => self.at += 1,
                        Some(_) => {
                            self.value(source, &format!("{path}[{position}]"), None);
                            position += 1;
                        }
                    }
                }
                self.at += 1;
            }
            Some(b'"') => {
                self.string_end();
                let decoded: String = serde_json::from_str(&source[start..self.at]).unwrap_or_default();
                content = string_offsets(source, start..self.at, &decoded);
            }
            Some(_) => {
                while self
                    .text
                    .get(self.at)
                    .is_some_and(|byte| !matches!(byte, b',' | b'}' | b']') && !byte.is_ascii_whitespace())
                {
                    self.at += 1;
                }
            }
            None => return,
        }
        let end = self.at.min(self.text.len());
        if !path.is_empty() {
            self.places.insert(path.to_owned(), Located { key, value: start..end, content });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn located<'a>(source: &'a SpecSource, text: &'a str, field: &str) -> &'a str {
        &text[source.places[field].value.clone()]
    }

    #[test]
    fn toml_fields_keep_their_order_and_place() {
        let text = "url = \"https://x.org/${id}\"\n[headers]\nZ = \"1\"\nA = '${a}'\n[[mappings]]\nsource = \"a\"\ntarget = \"b\"\n";
        let source = SpecSource::parse(text, SpecFormat::Toml).unwrap();
        let names: Vec<&String> = source.tree["headers"].as_object().unwrap().keys().collect();
        assert_eq!(names, ["Z", "A"]);
        assert_eq!(located(&source, text, "headers.A"), "'${a}'");
        assert_eq!(located(&source, text, "mappings[0].target"), "\"b\"");
        let at = source.inside("url", 14..19).unwrap();
        assert_eq!(&text[at], "${id}");
    }

    #[test]
    fn escapes_are_followed_to_the_written_text() {
        let text = "payload = \"\"\"\n{\\\"a\\\": \\u00e9${x}}\"\"\"\n";
        let source = SpecSource::parse(text, SpecFormat::Toml).unwrap();
        let decoded = source.tree["payload"].as_str().unwrap();
        let hole = decoded.find("${x}").unwrap();
        let at = source.inside("payload", hole..hole + 4).unwrap();
        assert_eq!(&text[at], "${x}");
        let json = "{\n  \"url\": \"https://x.org\",\n  \"payload\": \"{\\\"a\\\": ${x}}\"\n}";
        let source = SpecSource::parse(json, SpecFormat::Json).unwrap();
        assert_eq!(located(&source, json, "url"), "\"https://x.org\"");
        let decoded = source.tree["payload"].as_str().unwrap();
        let hole = decoded.find("${x}").unwrap();
        let at = source.inside("payload", hole..hole + 4).unwrap();
        assert_eq!(&json[at], "${x}");
    }

    #[test]
    fn the_format_is_read_from_the_content() {
        assert_eq!(SpecFormat::of("  {\"url\": \"x\"}"), SpecFormat::Json);
        assert_eq!(SpecFormat::of("url = \"x\""), SpecFormat::Toml);
    }
}
