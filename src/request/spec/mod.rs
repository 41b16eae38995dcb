//! The request spec: what a spec file says (serde structures read from TOML or
//! JSON, with the field names of `docs/requests.md`), and loading it into a
//! [`CompiledRequest`]: every field checked and every template compiled, each
//! problem reported with the field it sits in.
//!
//! | file | owns |
//! |---|---|
//! | `written.rs` | the serde form of a spec file |
//! | `problem.rs` | [`Problem`], [`SpecError`] and the collector of problems |
//! | `compile.rs` | [`CompiledRequest`]: checking every field and compiling every template |
//! | `analyze.rs` | the loader's one path for `send` and `check`, placing problems in the text |

mod analyze;
mod compile;
mod problem;
mod written;

use std::path::Path;
use std::time::Duration;

pub(crate) use analyze::analyze;
pub use compile::CompiledRequest;
pub(crate) use compile::Origin;
pub(crate) use problem::Problems;
pub use problem::{Problem, SpecError, TemplateField};
pub use written::*;

/// Largest spec or payload file read, in bytes.
const MAX_SPEC_BYTES: u64 = 4 << 20;

/// Redirects followed when a spec does not say.
pub const DEFAULT_REDIRECTS: u32 = 5;

/// The most redirects a spec may ask to follow.
pub const MAX_REDIRECTS: u32 = 20;

/// The longest time limit a spec may set (each of `timeout`, `connect_timeout` and
/// `read_timeout`); the host can cap the total lower (`ExecutorOptions::max_timeout`).
pub const MAX_DURATION: Duration = Duration::from_secs(3600);

/// Headers that frame or route a request on the wire: the HTTP client sets them from
/// the request itself, and a spec that set them could cut the body short, smuggle
/// a second request or send it to another host.
pub(crate) fn is_framing_header(name: &str) -> bool {
    const FRAMING: [&str; 8] =
        ["content-length", "transfer-encoding", "host", "connection", "te", "upgrade", "keep-alive", "trailer"];
    FRAMING.iter().any(|framing| name.eq_ignore_ascii_case(framing))
        || name.get(..6).is_some_and(|prefix| prefix.eq_ignore_ascii_case("proxy-"))
}

/// Reads a spec or payload file, refusing one larger than [`MAX_SPEC_BYTES`].
pub(crate) fn read_limited(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let mut text = String::new();
    file.take(MAX_SPEC_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    if text.len() as u64 > MAX_SPEC_BYTES {
        return Err(format!("{} is larger than {MAX_SPEC_BYTES} bytes", path.display()));
    }
    Ok(text)
}

#[cfg(test)]
mod tests;
