//! Read mapped fields from arbitrary response bodies, as the executor does after a
//! request: sources (one a line) before a NUL, the body after it. Reading succeeds
//! or errs, never panics, and — with libFuzzer's -rss_limit_mb and -timeout — stays
//! within bounded memory and time whatever the body (issue #11, 9).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&byte| byte == 0).unwrap_or(data.len());
    let Ok(sources) = std::str::from_utf8(&data[..split]) else { return };
    let body = data.get(split + 1..).unwrap_or_default();
    let sources: Vec<&str> = sources.lines().take(16).collect();
    if let Ok(fields) = courier::request::mapping::read_fields(body, &sources) {
        assert_eq!(fields.len(), sources.len());
        // What reads as fields was JSON as a whole. Checked as syntax: a `Value` is no
        // oracle, since with `arbitrary_precision` serde_json reads an object whose key is
        // `$serde_json::private::Number` as a number token and refuses the valid JSON.
        assert!(serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() || body.len() > 1 << 16);
    }
});
