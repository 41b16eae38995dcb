//! The caps on a spec's lists: headers, cookies, form and multipart fields,
//! mappings, response headers, expired, retried and polled statuses. A spec is a tenant's text, and
//! a list far past any real use costs compile time, memory and — for headers —
//! more than the HTTP client can hold (25,000 headers overflowed its header map and
//! panicked), so a longer list is a problem of the spec when it is loaded, which
//! `check`, `send` and serve all report.

use super::spec::{BodySpec, Problems, RequestSpec};

/// Most `[headers]` entries (with `Idempotency-Key` and those courier adds, far
/// below the HTTP client's header map limit of 32,768).
pub const MAX_HEADERS: usize = 1_000;

/// Most entries of every other list of a spec.
pub const MAX_LIST_ENTRIES: usize = 10_000;

/// Records a problem for each list of `spec` longer than its cap; true when all fit.
pub(crate) fn fit(spec: &RequestSpec, problems: &mut Problems) -> bool {
    let fields = match &spec.body {
        Some(BodySpec::Table(table)) => table.fields.len(),
        _ => 0,
    };
    let expired = spec.auth.as_ref().and_then(|auth| auth.expired_statuses.as_ref()).map_or(0, Vec::len);
    let retried = spec.retry.as_ref().and_then(|retry| retry.statuses.as_ref()).map_or(0, Vec::len);
    let polled = spec.poll.as_ref().and_then(|poll| poll.statuses.as_ref()).map_or(0, Vec::len);
    let lists = [
        ("headers", spec.headers.len(), MAX_HEADERS),
        ("cookies", spec.cookies.len(), MAX_LIST_ENTRIES),
        ("body.fields", fields, MAX_LIST_ENTRIES),
        ("mappings", spec.mappings.len(), MAX_LIST_ENTRIES),
        ("response_headers", spec.response_headers.len(), MAX_HEADERS),
        ("auth.expired_statuses", expired, MAX_LIST_ENTRIES),
        ("retry.statuses", retried, MAX_LIST_ENTRIES),
        ("poll.statuses", polled, MAX_LIST_ENTRIES),
    ];
    let mut fit = true;
    for (field, length, most) in lists {
        if length > most {
            problems.push(field, format!("has {length} entries; a spec may have at most {most}"));
            fit = false;
        }
    }
    fit
}
