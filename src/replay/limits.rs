//! Destination limits (issue #22): the most requests in flight to one host across
//! every worker of a store (`--per-host`), and a `--limits` file's per-destination
//! `concurrency` and `rate`. The claims of both stores enforce them (see
//! `claim_sql` in `pg.rs` and the SQLite store's claim); this module owns what a
//! limit is, how a file is read, and which limit a host falls under.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

/// The limits a worker's claims keep to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// The most records leased at once to any one host (`--per-host`); `None`: no cap.
    pub per_host: Option<u32>,
    /// Per-destination limits, from a `--limits` file.
    pub destinations: Vec<DestinationLimit>,
}

/// One `[[destination]]` of a limits file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationLimit {
    /// The hosts it applies to.
    pub host: HostPattern,
    /// Requests started, fleet-wide, in any sliding window.
    pub rate: Option<Rate>,
    /// Requests in flight, fleet-wide.
    pub concurrency: Option<u32>,
}

/// Which hosts a limit applies to: a name or address, or every name under a
/// suffix (`*.example.org`: `a.example.org`, not `example.org`), and when a port
/// is given, only URLs that name that port (a URL with its scheme's default port
/// names none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    /// The name in lower case; for a suffix, `.example.org`.
    pub name: String,
    /// Whether `name` is a suffix.
    pub suffix: bool,
    /// The port, if one is given.
    pub port: Option<u16>,
}

/// At most `count` requests started in any sliding window of `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests per window.
    pub count: u32,
    /// The window: one second (`/s`) or one minute (`/min`).
    pub per: Duration,
}

impl HostPattern {
    /// A pattern from its text: `api.example.org`, `*.example.org`, `10.0.0.5`,
    /// `[::1]`, each with an optional `:PORT`.
    pub fn parse(text: &str) -> Result<HostPattern, String> {
        let text = text.trim().to_ascii_lowercase();
        let (name, port) = split_port(&text).map_err(|why| format!("{why} in host {text:?}"))?;
        let (name, suffix) = match name.strip_prefix('*') {
            Some(rest) if rest.starts_with('.') && rest.len() > 1 => (rest.to_owned(), true),
            Some(_) => return Err(format!("host {text:?}: a wildcard is written *.suffix")),
            None => (name.to_owned(), false),
        };
        let bad = |c: char| c.is_whitespace() || "/?#@*".contains(c);
        if name.is_empty() || name.chars().any(bad) {
            return Err(format!("host {text:?} is not a host name, *.suffix or address"));
        }
        // A bare IPv6 address is named as URLs name it, in brackets.
        let name = if !suffix && name.contains(':') && !name.starts_with('[') { format!("[{name}]") } else { name };
        Ok(HostPattern { name, suffix, port })
    }

    /// Whether `host` (as [`super::host_of`] names it) falls under this pattern.
    pub fn matches(&self, host: &str) -> bool {
        let (name, port) = split_port(host).unwrap_or((host, None));
        let named =
            if self.suffix { name.len() > self.name.len() && name.ends_with(&self.name) } else { name == self.name };
        named && self.port.is_none_or(|wanted| port == Some(wanted))
    }
}

/// `name` and its port: `host:8080`, `[::1]:9`; a bare IPv6 address has none.
fn split_port(text: &str) -> Result<(&str, Option<u16>), String> {
    let split = match text.rfind(':') {
        Some(at) if text.starts_with('[') && !text[..at].ends_with(']') => None,
        Some(at) if !text.starts_with('[') && text[..at].contains(':') => None,
        Some(at) => Some(at),
        None => None,
    };
    match split {
        Some(at) => {
            let port = text[at + 1..].parse::<u16>().map_err(|_| format!("{:?} is not a port", &text[at + 1..]))?;
            Ok((&text[..at], Some(port)))
        }
        None => Ok((text, None)),
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let star = if self.suffix { "*" } else { "" };
        match self.port {
            Some(port) => write!(f, "{star}{}:{port}", self.name),
            None => write!(f, "{star}{}", self.name),
        }
    }
}

impl Rate {
    /// A rate from its text: `10/s` or `600/min`, a whole number above zero.
    pub fn parse(text: &str) -> Result<Rate, String> {
        let why = || format!("rate {text:?} is not N/s or N/min with N a whole number above zero");
        let (count, unit) = text.trim().split_once('/').ok_or_else(why)?;
        let count: u32 = count.trim().parse().ok().filter(|count| *count > 0).ok_or_else(why)?;
        let per = match unit.trim() {
            "s" => Duration::from_secs(1),
            "min" => Duration::from_secs(60),
            _ => return Err(why()),
        };
        Ok(Rate { count, per })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = if self.per >= Duration::from_secs(60) { "min" } else { "s" };
        write!(f, "{}/{unit}", self.count)
    }
}

/// The most `[[destination]]` entries a file may hold: each one is matched
/// against every host of every claim.
pub const MAX_DESTINATIONS: usize = 1000;

/// The longest limits file read, in bytes.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    destination: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    host: toml::Spanned<String>,
    rate: Option<toml::Spanned<String>>,
    concurrency: Option<toml::Spanned<i64>>,
}

impl Limits {
    /// The `[[destination]]` entries of a limits file's `text`; an error names
    /// the line and the field, and why.
    pub fn parse_file(text: &str) -> Result<Vec<DestinationLimit>, String> {
        let line = |at: usize| text[..at.min(text.len())].matches('\n').count() + 1;
        let file: File = toml::from_str(text).map_err(|error| match error.span() {
            Some(span) => format!("line {}: {}", line(span.start), error.message().trim()),
            None => error.message().trim().to_owned(),
        })?;
        if file.destination.len() > MAX_DESTINATIONS {
            return Err(format!("{} destinations; at most {MAX_DESTINATIONS}", file.destination.len()));
        }
        let at = |span: std::ops::Range<usize>, field: &str, why: String| {
            format!("line {}: {field}: {why}", line(span.start))
        };
        file.destination
            .into_iter()
            .map(|entry| {
                let host =
                    HostPattern::parse(entry.host.get_ref()).map_err(|why| at(entry.host.span(), "host", why))?;
                let rate = entry
                    .rate
                    .map(|rate| Rate::parse(rate.get_ref()).map_err(|why| at(rate.span(), "rate", why)))
                    .transpose()?;
                let concurrency = entry
                    .concurrency
                    .map(|cap| {
                        u32::try_from(*cap.get_ref()).ok().filter(|cap| *cap > 0).ok_or_else(|| {
                            at(cap.span(), "concurrency", format!("{} is not a whole number above zero", cap.get_ref()))
                        })
                    })
                    .transpose()?;
                Ok(DestinationLimit { host, rate, concurrency })
            })
            .collect()
    }

    /// The limits file at `path`, read whole; an error names the file, line and field.
    pub fn read_file(path: &std::path::Path) -> Result<Vec<DestinationLimit>, String> {
        use std::io::Read;
        let file = std::fs::File::open(path).map_err(|error| format!("{}: {error}", path.display()))?;
        let mut text = String::new();
        // Read at most one byte past the limit: enough to know the file is too long.
        file.take(MAX_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|error| format!("{}: {error}", path.display()))?;
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(format!("{}: longer than {MAX_FILE_BYTES} bytes", path.display()));
        }
        Limits::parse_file(&text).map_err(|why| format!("{}: {why}", path.display()))
    }

    /// The most records in flight to `host`: the smaller of `--per-host` and each
    /// matching destination's `concurrency`; `None`: no cap.
    pub fn concurrency(&self, host: &str) -> Option<u32> {
        let listed = self.matching(host).filter_map(|limit| limit.concurrency).min();
        [self.per_host, listed].into_iter().flatten().min()
    }

    /// The strictest `rate` of the destinations `host` falls under.
    pub fn rate(&self, host: &str) -> Option<Rate> {
        // The strictest leaves the longest time per request; of two alike, the
        // one over the shorter window allows the smaller burst.
        let spacing = |rate: &Rate| rate.per.as_secs_f64() / f64::from(rate.count);
        self.matching(host)
            .filter_map(|limit| limit.rate)
            .max_by(|a, b| spacing(a).total_cmp(&spacing(b)).then(b.per.cmp(&a.per)))
    }

    fn matching(&self, host: &str) -> impl Iterator<Item = &DestinationLimit> {
        self.destinations.iter().filter(move |limit| limit.host.matches(host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_names_suffixes_addresses_and_ports() {
        let pattern = |text| HostPattern::parse(text).unwrap();
        assert!(pattern("API.example.org").matches("api.example.org"));
        assert!(pattern("api.example.org").matches("api.example.org:8443"));
        assert!(!pattern("api.example.org:8443").matches("api.example.org"));
        assert!(pattern("api.example.org:8443").matches("api.example.org:8443"));
        assert!(pattern("*.example.org").matches("a.b.example.org"));
        assert!(!pattern("*.example.org").matches("example.org"));
        assert!(!pattern("*.example.org").matches("badexample.org"));
        assert!(pattern("127.0.0.2").matches("127.0.0.2:9000"));
        assert!(pattern("::1").matches("[::1]:9"));
        assert!(pattern("[::1]:9").matches("[::1]:9"));
        assert!(!pattern("[::1]:9").matches("[::1]"));
        assert_eq!(pattern("*.Example.org:80").to_string(), "*.example.org:80");
        for bad in ["", "*", "*x.org", "a/b", "host:port", "host:70000"] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rates_read_per_second_or_minute() {
        assert_eq!(Rate::parse("10/s").unwrap(), Rate { count: 10, per: Duration::from_secs(1) });
        assert_eq!(Rate::parse("600/min").unwrap().to_string(), "600/min");
        for bad in ["0/s", "10", "10/h", "-1/s", "x/s"] {
            assert!(Rate::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_file_reads_and_the_smallest_cap_wins() {
        let text = "[[destination]]\nhost = \"*.example.org\"\nconcurrency = 4\nrate = \"10/s\"\n\n\
                    [[destination]]\nhost = \"api.example.org\"\nrate = \"600/min\"\n";
        let limits = Limits { per_host: Some(16), destinations: Limits::parse_file(text).unwrap() };
        assert_eq!(limits.concurrency("api.example.org"), Some(4));
        assert_eq!(limits.concurrency("other.net"), Some(16));
        assert_eq!(limits.rate("api.example.org").unwrap().to_string(), "10/s");
        assert_eq!(limits.rate("other.net"), None);
    }

    #[test]
    fn a_file_too_long_or_with_too_many_entries_is_refused() {
        let entry = "[[destination]]\nhost = \"a.org\"\n";
        assert_eq!(Limits::parse_file(&entry.repeat(MAX_DESTINATIONS)).unwrap().len(), MAX_DESTINATIONS);
        let error = Limits::parse_file(&entry.repeat(MAX_DESTINATIONS + 1)).unwrap_err();
        assert!(error.contains("at most 1000"), "{error}");
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("limits.toml");
        std::fs::write(&path, "#".repeat(MAX_FILE_BYTES as usize + 1)).unwrap();
        let error = Limits::read_file(&path).unwrap_err();
        assert!(error.contains("longer than"), "{error}");
    }

    #[test]
    fn a_bad_file_names_the_line_and_field() {
        let error = Limits::parse_file("[[destination]]\nhost = \"a.org\"\n\nrate = \"ten/s\"\n").unwrap_err();
        assert!(error.starts_with("line 4: rate: "), "{error}");
        let error = Limits::parse_file("[[destination]]\nhost = \"a.org\"\nconcurrency = 0\n").unwrap_err();
        assert!(error.starts_with("line 3: concurrency: "), "{error}");
        let error = Limits::parse_file("[[destination]]\nhost = \"a.org\"\nrat = \"1/s\"\n").unwrap_err();
        assert!(error.starts_with("line 3: ") && error.contains("rat"), "{error}");
        let error = Limits::parse_file("[[destination]]\nhost = \"a b\"\n").unwrap_err();
        assert!(error.starts_with("line 2: host: "), "{error}");
    }
}
