//! How `worker` and `serve` write their log lines on stderr: for people (the
//! default), or one JSON object a line (`--log-format json`) with the keys `time`
//! (RFC 3339), `level` and `message` first, then the event's own fields.

use std::io::Write;

use serde_json::{Map, Value};

/// `--log-format`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum LogFormat {
    /// Text for people.
    #[default]
    Human,
    /// One JSON object a line.
    Json,
}

/// A line's level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    Info,
    Warn,
}

impl LogFormat {
    /// Writes one line: `human` as it is, or the JSON object of `message` and `fields`.
    /// Formatted first and written in one call: stderr is unbuffered, and several
    /// writes of one line could interleave with another thread's.
    pub(crate) fn write(self, level: Level, human: &str, message: &str, fields: &[(&str, Value)]) {
        let line = match self {
            LogFormat::Human => format!("{human}\n"),
            LogFormat::Json => json_line(level, message, fields),
        };
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

fn json_line(level: Level, message: &str, fields: &[(&str, Value)]) -> String {
    let mut object = Map::new();
    object.insert("time".to_owned(), Value::from(chrono::Utc::now().to_rfc3339()));
    let level = match level {
        Level::Info => "info",
        Level::Warn => "warn",
    };
    object.insert("level".to_owned(), Value::from(level));
    object.insert("message".to_owned(), Value::from(message));
    for (name, value) in fields {
        object.entry(*name).or_insert_with(|| value.clone());
    }
    Value::Object(object).to_string() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_line_starts_with_time_level_and_message() {
        let line =
            json_line(Level::Warn, "the store failed", &[("wait_ms", Value::from(250)), ("level", Value::from("x"))]);
        let parsed: Value = serde_json::from_str(&line).unwrap();
        let keys: Vec<&String> = parsed.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["time", "level", "message", "wait_ms"]);
        assert_eq!(parsed["level"], "warn");
        assert!(chrono::DateTime::parse_from_rfc3339(parsed["time"].as_str().unwrap()).is_ok());
        assert!(line.ends_with('\n') && !line.trim_end().contains('\n'));
    }
}
