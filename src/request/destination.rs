//! Where a request may go: the destination policy. It owns the range classifier
//! (which addresses are never reachable, which only when allowed), the allow
//! entries (`--allow`, `COURIER_ALLOW`, [`Destinations`] in the library's options),
//! the decision with a message that names the host, the address and the rule, the
//! resolver that checks every address a name resolves to before reqwest may connect
//! to it, and the bindings of secrets to the hosts they may be sent to.
//!
//! reqwest calls the resolver only for host names; an address written in the URL
//! (`127.1`, `0x7f000001`, `[::ffff:127.0.0.1]`, which the `url` crate normalises to
//! the address they name) is checked from the parsed URL by [`Destinations::check_url`].

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use url::{Host, Url};

/// What the classifier says of an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Reachable.
    Public,
    /// Reachable only when an allow entry covers it (the "private" group); the text
    /// names the range, as in "a loopback address".
    Private(&'static str),
    /// Never reachable, whatever is allowed; the text names the range.
    Never(&'static str),
}

/// Classifies an address. Forms of IPv6 that carry an IPv4 address (IPv4-mapped,
/// IPv4-compatible, IPv4-translated, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are
/// the IPv4 address they carry.
pub fn classify(address: IpAddr) -> Class {
    match address {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), prefix)
}

const fn v6(segments: [u16; 8], prefix: u8) -> Ipv6Net {
    let [a, b, c, d, e, f, g, h] = segments;
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, e, f, g, h), prefix)
}

/// The cloud metadata services: AWS, GCP, Azure and others; Alibaba; AWS over IPv6.
const METADATA: [IpAddr; 3] = [
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
];
const CGNAT: Ipv4Net = v4(100, 64, 0, 0, 10);
const IETF_PROTOCOL: Ipv4Net = v4(192, 0, 0, 0, 24);
const BENCHMARKING: Ipv4Net = v4(198, 18, 0, 0, 15);
const LINK_LOCAL_V6: Ipv6Net = v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10);
const SITE_LOCAL_V6: Ipv6Net = v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10);
const UNIQUE_LOCAL_V6: Ipv6Net = v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7);
const LOCAL_NAT64: Ipv6Net = v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48);

fn classify_v4(address: Ipv4Addr) -> Class {
    let [a, ..] = address.octets();
    if METADATA.contains(&IpAddr::V4(address)) {
        Class::Never("a cloud metadata address")
    } else if a == 0 {
        Class::Never("an unspecified address (0.0.0.0/8)")
    } else if address.is_broadcast() {
        Class::Never("the broadcast address")
    } else if address.is_multicast() {
        Class::Never("a multicast address")
    } else if address.is_loopback() {
        Class::Private("a loopback address")
    } else if address.is_private() {
        Class::Private("a private (RFC 1918) address")
    } else if CGNAT.contains(&address) {
        Class::Private("a shared (CGNAT) address")
    } else if address.is_link_local() {
        Class::Private("a link-local address")
    } else if IETF_PROTOCOL.contains(&address) {
        Class::Private("an IETF protocol assignment address (192.0.0.0/24)")
    } else if BENCHMARKING.contains(&address) {
        Class::Private("a benchmarking address (198.18.0.0/15)")
    } else if a >= 240 {
        Class::Private("a reserved address (240.0.0.0/4)")
    } else {
        Class::Public
    }
}

fn classify_v6(address: Ipv6Addr) -> Class {
    if METADATA.contains(&IpAddr::V6(address)) {
        Class::Never("a cloud metadata address")
    } else if address.is_unspecified() {
        Class::Never("the unspecified address (::)")
    } else if address.is_multicast() {
        Class::Never("a multicast address")
    } else if address.is_loopback() {
        Class::Private("a loopback address")
    } else if LINK_LOCAL_V6.contains(&address) {
        Class::Private("a link-local address")
    } else if SITE_LOCAL_V6.contains(&address) {
        Class::Private("a site-local address")
    } else if UNIQUE_LOCAL_V6.contains(&address) {
        Class::Private("a unique-local address")
    } else if LOCAL_NAT64.contains(&address) {
        Class::Private("a local-use NAT64 address")
    } else {
        Class::Public
    }
}

/// The IPv4 address an IPv6 address carries: IPv4-mapped `::ffff:a.b.c.d`,
/// IPv4-translated `::ffff:0:a.b.c.d`, IPv4-compatible `::a.b.c.d` (not `::` or
/// `::1`), NAT64 `64:ff9b::a.b.c.d`, and 6to4 `2002:AABB:CCDD::/48`.
pub fn embedded_v4(address: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = address.segments();
    let last = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0xffff, 0, _, _] => Some(last),
        [0, 0, 0, 0, 0, 0, high, low] if high != 0 || low > 1 => Some(last),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(last),
        [0x2002, high, low, ..] => Some(Ipv4Addr::new((high >> 8) as u8, high as u8, (low >> 8) as u8, low as u8)),
        _ => None,
    }
}

/// A host-name pattern: `api.example.org`, or `*.example.org` for every name below
/// `example.org` (not `example.org` itself). An address written as a host
/// (`127.0.0.2`, `[::1]`) matches that host as a URL writes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPattern {
    wildcard: bool,
    name: String,
}

impl HostPattern {
    /// Whether `host` (a URL's host, or the name being resolved) matches.
    pub fn matches(&self, host: &str) -> bool {
        let Some(host) = canonical_host(host) else { return false };
        if self.wildcard {
            host.len() > self.name.len() + 1
                && host.ends_with(&self.name)
                && host.as_bytes()[host.len() - self.name.len() - 1] == b'.'
        } else {
            host == self.name
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.wildcard {
            f.write_str("*.")?;
        }
        f.write_str(&self.name)
    }
}

impl FromStr for HostPattern {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (wildcard, rest) = match text.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        if rest.is_empty() || rest.contains(['*', '/']) || (rest.contains(':') && !rest.starts_with('[')) {
            return Err(format!("{text:?} is not a host name such as api.example.org or *.example.org"));
        }
        // A name has no empty label: `10.0..` would print as `10.0.`, an address.
        // The name as the URL parser writes it must be a name too, and read back as
        // itself: `20.10%2a9.` decodes to `20.10*9`, which is no pattern.
        let name = canonical_host(rest)
            .filter(|name| name.starts_with('[') || !name.split('.').any(str::is_empty))
            .filter(|name| !name.contains(['*', '/', '%']) && canonical_host(name).as_deref() == Some(name.as_str()))
            .ok_or_else(|| format!("{text:?} is not a host name such as api.example.org or *.example.org"))?;
        Ok(HostPattern { wildcard, name })
    }
}

/// A host as the `url` crate writes it (lowercase, IDNA, addresses normalised),
/// without a trailing dot.
fn canonical_host(text: &str) -> Option<String> {
    let host = Host::parse(text).ok()?.to_string();
    let host = host.strip_suffix('.').unwrap_or(&host);
    (!host.is_empty()).then(|| host.to_owned())
}

/// One allow entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// `private`: the whole private group (never the ranges that are never reachable).
    Private,
    /// A host name (the addresses it resolves to, and an address written as that
    /// host), with an optional port.
    Host {
        /// The name.
        pattern: HostPattern,
        /// The only port allowed, when given.
        port: Option<u16>,
    },
    /// An address or a CIDR block, with an optional port.
    Net {
        /// The block (`/32` or `/128` for one address).
        net: IpNet,
        /// The only port allowed, when given.
        port: Option<u16>,
    },
}

impl Entry {
    /// Whether the entry exempts `address`, reached as `host` on `port`.
    fn covers(&self, host: &str, address: IpAddr, port: u16) -> bool {
        let port_matches = |only: &Option<u16>| only.is_none_or(|only| only == port);
        match self {
            Entry::Private => true,
            Entry::Host { pattern, port: only } => port_matches(only) && pattern.matches(host),
            Entry::Net { net, port: only } => {
                let carried = match address {
                    IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
                    IpAddr::V4(_) => None,
                };
                port_matches(only) && (net.contains(&address) || carried.is_some_and(|v4| net.contains(&v4)))
            }
        }
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (text, port) = match self {
            Entry::Private => return f.write_str("private"),
            Entry::Host { pattern, port } => (pattern.to_string(), port),
            Entry::Net { net, port } => {
                let single = net.prefix_len() == net.max_prefix_len();
                let text = if single { net.addr().to_string() } else { net.to_string() };
                match (net, port) {
                    (IpNet::V6(_), Some(_)) => (format!("[{text}]"), port),
                    _ => (text, port),
                }
            }
        };
        f.write_str(&text)?;
        if let Some(port) = port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

impl FromStr for Entry {
    type Err = String;

    /// `private`; a host name (`api.example.org`, `*.example.org`); an address
    /// (`127.0.0.2`, `::1`, `[::1]`) or CIDR block (`10.0.0.0/8`, `[fd00::/8]`); each
    /// but `private` with an optional `:PORT` (an IPv6 address or block in brackets then).
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("private") {
            return Ok(Entry::Private);
        }
        let bad = |why: &str| {
            format!(
                "{text:?} is not an allow entry ({why}); an entry is a host name (api.example.org, *.example.org), \
                 an address or CIDR block (127.0.0.2, 10.0.0.0/8, [fd00::/8]), each with an optional :PORT, or private"
            )
        };
        if text.is_empty() {
            return Err(bad("it is empty"));
        }
        // An unbracketed IPv6 address or block has no port.
        if let Ok(address) = text.parse::<IpAddr>() {
            return Ok(Entry::Net { net: IpNet::from(address), port: None });
        }
        if let Ok(net) = text.parse::<IpNet>() {
            return Ok(Entry::Net { net: net.trunc(), port: None });
        }
        let (host, port) = match text.strip_prefix('[') {
            Some(rest) => {
                let (inside, after) = rest.split_once(']').ok_or_else(|| bad("a [ without its ]"))?;
                let port = match after {
                    "" => None,
                    _ => Some(after.strip_prefix(':').ok_or_else(|| bad("text after the ]"))?),
                };
                let net = inside
                    .parse::<Ipv6Addr>()
                    .map(|address| IpNet::from(IpAddr::V6(address)))
                    .or_else(|_| inside.parse::<Ipv6Net>().map(|net| IpNet::V6(net.trunc())))
                    .map_err(|_| bad("not an IPv6 address or block inside the brackets"))?;
                return Ok(Entry::Net {
                    net,
                    port: port.map(|port| parse_port(port).map_err(|why| bad(&why))).transpose()?,
                });
            }
            None => match text.rsplit_once(':') {
                Some((host, port)) => (host, Some(parse_port(port).map_err(|why| bad(&why))?)),
                None => (text, None),
            },
        };
        if let Ok(net) = host.parse::<Ipv4Net>() {
            return Ok(Entry::Net { net: IpNet::V4(net.trunc()), port });
        }
        if host.contains('/') {
            return Err(bad("not a CIDR block"));
        }
        if !host.starts_with("*.")
            && let Ok(Host::Ipv4(address)) = Host::parse(host)
        {
            // `127.1`, `0x7f000001`: the address the URL parser reads them as.
            return Ok(Entry::Net { net: IpNet::from(IpAddr::V4(address)), port });
        }
        let pattern = host.parse::<HostPattern>().map_err(|why| bad(&why))?;
        // `PRIVATE.` or `privat%65` would be a host named `private`, which prints as
        // the keyword for the whole private group: allow such a host by its address.
        if !pattern.wildcard && pattern.name == "private" {
            return Err(bad("`private` names the private group, not a host; allow the host by its address"));
        }
        Ok(Entry::Host { pattern, port })
    }
}

fn parse_port(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(format!("{text:?} is not a port from 1 to 65535")),
    }
}

/// The destination policy: public addresses are reachable; the private group only
/// where an entry allows it; the never-reachable ranges never.
///
/// [`Default`] allows public destinations only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Destinations {
    entries: Vec<Entry>,
}

/// Why courier refused a destination: the host, the address and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    message: String,
}

impl Refusal {
    /// A refusal saying `why`; the message starts with "courier refused".
    pub(crate) fn new(why: impl fmt::Display) -> Self {
        Refusal { message: format!("courier refused {why}") }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

impl Destinations {
    /// Public destinations only (the default).
    pub fn public_only() -> Self {
        Destinations::default()
    }

    /// Public destinations and the whole private group (`--allow private`): what
    /// tests against loopback servers and hosts inside one network use.
    pub fn allowing_private() -> Self {
        Destinations { entries: vec![Entry::Private] }
    }

    /// Allows an entry too.
    pub fn allow(&mut self, entry: Entry) {
        if !self.entries.contains(&entry) {
            self.entries.push(entry);
        }
    }

    /// The same policy with an entry allowed too.
    pub fn with(mut self, entry: Entry) -> Self {
        self.allow(entry);
        self
    }

    /// The entries, in the order they were allowed.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Reads comma-separated entries (the form of `COURIER_ALLOW`); blanks between
    /// commas are skipped.
    pub fn parse_list(text: &str) -> Result<Vec<Entry>, String> {
        text.split(',').map(str::trim).filter(|entry| !entry.is_empty()).map(Entry::from_str).collect()
    }

    /// Whether `address`, reached as `host` on `port`, may be connected to.
    pub fn check_address(&self, host: &str, address: IpAddr, port: u16) -> Result<(), Refusal> {
        let shown = match address {
            IpAddr::V6(v6) => match embedded_v4(v6) {
                Some(v4) => format!("{address} (which carries {v4})"),
                None => address.to_string(),
            },
            IpAddr::V4(_) => address.to_string(),
        };
        let target = if host_is_address(host, address) {
            format!("to connect to {host} port {port}")
        } else {
            format!("to connect to {host} port {port} at {address}")
        };
        match classify(address) {
            Class::Public => Ok(()),
            Class::Never(range) => {
                Err(Refusal::new(format!("{target}: {shown} is {range}; courier never connects to it")))
            }
            Class::Private(range) => {
                if self.entries.iter().any(|entry| entry.covers(host, address, port)) {
                    Ok(())
                } else {
                    Err(Refusal::new(format!(
                        "{target}: {shown} is {range}, reachable only when an allow entry covers it \
                         (--allow, COURIER_ALLOW, ExecutorOptions::destinations)"
                    )))
                }
            }
        }
    }

    /// Checks a URL before anything is sent to it: an http or https URL; an address
    /// written as its host is checked now, a name when it is resolved. Gives the
    /// port the request goes to.
    pub fn check_url(&self, url: &Url) -> Result<u16, Refusal> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refusal::new(format!("to send to {url}: only http and https URLs are sent")));
        }
        let port = url.port_or_known_default().unwrap_or(80);
        let shown = url.host_str().unwrap_or_default();
        match url.host() {
            Some(Host::Ipv4(address)) => self.check_address(shown, IpAddr::V4(address), port)?,
            Some(Host::Ipv6(address)) => self.check_address(shown, IpAddr::V6(address), port)?,
            Some(Host::Domain(_)) => {}
            None => return Err(Refusal::new(format!("to send to {url}: it has no host"))),
        }
        Ok(port)
    }

    /// What the policy decides for a URL when its host name resolves to `resolved`
    /// (ignored for an address written in the URL): the decision the executor and
    /// its resolver make together, in one place for tests and fuzzing.
    pub fn decide(&self, url: &str, resolved: &[IpAddr]) -> Result<Vec<SocketAddr>, Refusal> {
        let url = Url::parse(url).map_err(|error| Refusal::new(format!("to send to {url:?}: {error}")))?;
        let port = self.check_url(&url)?;
        match url.host() {
            Some(Host::Ipv4(address)) => Ok(vec![SocketAddr::new(IpAddr::V4(address), port)]),
            Some(Host::Ipv6(address)) => Ok(vec![SocketAddr::new(IpAddr::V6(address), port)]),
            _ => {
                let name = url.host_str().unwrap_or_default();
                self.allowed_addresses(name, resolved.iter().copied(), port)
                    .map(|addresses| addresses.into_iter().map(|address| SocketAddr::new(address, port)).collect())
            }
        }
    }

    /// For a client courier did not build (a host's, see
    /// [`Executor::with_client`](super::Executor::with_client)), which courier's
    /// resolver cannot be installed on: a refusal unless every address `name`
    /// resolved to may be connected to. Stricter than the resolver, which drops the
    /// refused addresses, since here courier cannot choose the address connected to.
    pub(crate) fn check_every_address(&self, name: &str, resolved: &[IpAddr], port: u16) -> Result<(), Refusal> {
        if resolved.is_empty() {
            return Err(Refusal::new(format!("to connect to {name}: it resolved to no address")));
        }
        resolved.iter().try_for_each(|address| self.check_address(name, *address, port))
    }

    /// The addresses of those `name` resolved to that may be connected to; a
    /// refusal when none may (naming the first refused).
    pub(crate) fn allowed_addresses(
        &self,
        name: &str,
        resolved: impl Iterator<Item = IpAddr>,
        port: u16,
    ) -> Result<Vec<IpAddr>, Refusal> {
        let mut allowed = Vec::new();
        let mut refused = None;
        for address in resolved {
            match self.check_address(name, address, port) {
                Ok(()) => allowed.push(address),
                Err(refusal) => {
                    refused.get_or_insert(refusal);
                }
            }
        }
        match (allowed.is_empty(), refused) {
            (false, _) => Ok(allowed),
            (true, Some(refusal)) => Err(refusal),
            (true, None) => Err(Refusal::new(format!("to connect to {name}: it resolved to no address"))),
        }
    }
}

/// Whether `host` is `address` written as a URL host.
fn host_is_address(host: &str, address: IpAddr) -> bool {
    host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_ok_and(|written| written == address)
}

/// A name lookup: the system's, or one a test injects.
pub(crate) type Lookup =
    Arc<dyn Fn(String) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>> + Send + Sync>;

/// The system's resolver, through tokio.
pub(crate) fn system_lookup() -> Lookup {
    Arc::new(|name: String| {
        Box::pin(async move { Ok(tokio::net::lookup_host((name.as_str(), 0)).await?.map(|a| a.ip()).collect()) })
    })
}

/// reqwest's resolver for one destination port: resolves a name once, checks every
/// address, and hands reqwest only the addresses that passed, so that the address
/// connected to is one that was checked (no second lookup for a rebinding name to
/// answer differently). One per port, since reqwest tells a resolver only the name
/// and an entry may allow a port alone.
pub(crate) struct CheckedResolver {
    policy: Destinations,
    port: u16,
    lookup: Lookup,
}

impl CheckedResolver {
    pub(crate) fn new(policy: Destinations, port: u16, lookup: Lookup) -> Self {
        CheckedResolver { policy, port, lookup }
    }
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let (policy, port, lookup) = (self.policy.clone(), self.port, self.lookup.clone());
        let name = name.as_str().to_owned();
        Box::pin(async move {
            let resolved = lookup(name.clone()).await?;
            let allowed = policy.allowed_addresses(&name, resolved.into_iter(), port)?;
            let addresses: reqwest::dns::Addrs =
                Box::new(allowed.into_iter().map(|address| SocketAddr::new(address, 0)));
            Ok(addresses)
        })
    }
}

/// The refusal in an error's chain of causes, when the resolver refused.
pub(crate) fn refusal_in<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refusal> {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(refusal) = error.downcast_ref::<Refusal>() {
            return Some(refusal);
        }
        cause = error.source();
    }
    None
}

/// The texts a request carries, where a bound secret may sit: the URL, every
/// header value (a Basic `Authorization` also decoded), and the body.
pub(crate) fn carried_texts(url: &str, headers: &reqwest::header::HeaderMap, body: Option<&[u8]>) -> Vec<String> {
    use base64::Engine as _;
    let mut texts = vec![url.to_owned()];
    for value in headers.values() {
        let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
        let basic = text
            .strip_prefix("Basic ")
            .and_then(|encoded| base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok());
        if let Some(decoded) = basic {
            texts.push(String::from_utf8_lossy(&decoded).into_owned());
        }
        texts.push(text);
    }
    if let Some(body) = body {
        texts.push(String::from_utf8_lossy(body).into_owned());
    }
    texts
}

/// The secrets of one run that are bound to hosts (`COURIER_SECRET_<NAME>_HOSTS`,
/// [`crate::functions::SecretResolver::allowed_hosts`]), with their values' every form.
#[derive(Debug, Default)]
pub(crate) struct Bindings {
    bound: Mutex<Vec<Bound>>,
}

#[derive(Debug)]
struct Bound {
    name: String,
    /// The secret's value in every form it may be written in.
    forms: Vec<String>,
    hosts: Result<Vec<HostPattern>, String>,
}

impl Bindings {
    /// Records a secret, by the forms its value may be written in, and the host
    /// patterns it may be sent to. An empty value binds nothing (it is in every text).
    pub(crate) fn record(&self, name: &str, forms: Vec<String>, hosts: &[String]) {
        let forms: Vec<String> = forms.into_iter().filter(|form| !form.is_empty()).collect();
        if forms.is_empty() {
            return;
        }
        let hosts = hosts.iter().map(|host| host.trim()).filter(|host| !host.is_empty()).map(str::parse).collect();
        let mut bound = self.bound.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !bound.iter().any(|bound| bound.name == name) {
            bound.push(Bound { name: name.to_owned(), forms, hosts });
        }
    }

    /// Whether no secret of the run is bound to hosts (then nothing needs checking).
    pub(crate) fn is_empty(&self) -> bool {
        self.bound.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).is_empty()
    }

    /// Refuses a request to `host` that carries by taint (a template of it called
    /// `secret(NAME)`) one of the secrets `names` bound to other hosts.
    pub(crate) fn check_names(&self, host: &str, names: &[String]) -> Result<(), Refusal> {
        if names.is_empty() {
            return Ok(());
        }
        let bound = self.bound.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for secret in bound.iter().filter(|secret| names.contains(&secret.name)) {
            secret.allows(host)?;
        }
        Ok(())
    }

    /// Refuses a request to `host` that carries, in any of `texts`, a secret bound
    /// to other hosts.
    pub(crate) fn check<'a>(
        &self,
        host: &str,
        texts: impl IntoIterator<Item = &'a str> + Clone,
    ) -> Result<(), Refusal> {
        let bound = self.bound.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for secret in bound.iter() {
            let carried =
                texts.clone().into_iter().any(|text| secret.forms.iter().any(|form| text.contains(form.as_str())));
            if carried {
                secret.allows(host)?;
            }
        }
        Ok(())
    }
}

impl Bound {
    /// Refuses sending this secret to `host` unless its binding names it.
    fn allows(&self, host: &str) -> Result<(), Refusal> {
        match &self.hosts {
            Ok(hosts) if hosts.iter().any(|pattern| pattern.matches(host)) => Ok(()),
            Ok(hosts) => {
                let list: Vec<String> = hosts.iter().map(HostPattern::to_string).collect();
                Err(Refusal::new(format!(
                    "to send the secret {} to {host}: it is bound to {}",
                    self.name,
                    if list.is_empty() { "no host".to_owned() } else { list.join(", ") }
                )))
            }
            Err(why) => Err(Refusal::new(format!(
                "to send the secret {} to {host}: its host binding cannot be read: {why}",
                self.name
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ranges_are_classified() {
        for never in [
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "239.1.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "::",
            "ff02::1",
            "fd00:ec2::254",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
        ] {
            assert!(matches!(classify(ip(never)), Class::Never(_)), "{never}");
        }
        for private in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "169.254.1.1",
            "192.0.0.8",
            "198.18.0.1",
            "198.19.255.255",
            "240.0.0.1",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd12::1",
            "::ffff:127.0.0.1",
            "::ffff:0:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "2002:c0a8:101::1",
        ] {
            assert!(matches!(classify(ip(private)), Class::Private(_)), "{private}");
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "198.20.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert_eq!(classify(ip(public)), Class::Public, "{public}");
        }
    }

    #[test]
    fn entries_parse_and_print() {
        let cases = [
            ("private", "private"),
            ("PRIVATE", "private"),
            ("api.example.org", "api.example.org"),
            ("API.Example.org.", "api.example.org"),
            ("*.example.org:8443", "*.example.org:8443"),
            ("127.0.0.2", "127.0.0.2"),
            ("127.1:8080", "127.0.0.1:8080"),
            ("10.0.0.0/8", "10.0.0.0/8"),
            ("10.1.2.3/8:443", "10.0.0.0/8:443"),
            ("::1", "::1"),
            ("[::1]:8080", "[::1]:8080"),
            ("[fd00::/8]", "fd00::/8"),
            ("localhost", "localhost"),
        ];
        for (text, printed) in cases {
            let entry: Entry = text.parse().unwrap_or_else(|error| panic!("{text}: {error}"));
            assert_eq!(entry.to_string(), printed, "{text}");
        }
        for bad in [
            "",
            "10.0..",
            "a..b.org",
            ".a.org",
            "*..a.org",
            "10.0.0.0/33",
            "host:0",
            "host:65536",
            "host:x",
            "[::1",
            "[nothost]",
            "*.",
            "a*b.org",
            "*",
            "a/b",
            // Found by fuzzing: percent-decoded by the URL parser into a name with a `*`.
            "20.10%2a9.",
            "a%2fb.org",
            // Found by fuzzing: a host named `private` would print as the group keyword.
            "PRIVATE.",
            "privat%65",
            "private.:80",
        ] {
            let error = bad.parse::<Entry>().expect_err(bad);
            assert!(error.contains("is not an allow entry"), "{bad}: {error}");
        }
        assert_eq!(Destinations::parse_list(" private, ,127.0.0.2:80 ").unwrap().len(), 2);
    }

    #[test]
    fn entries_exempt_what_they_name_and_no_more() {
        let policy =
            Destinations::public_only().with("127.0.0.2".parse().unwrap()).with("10.0.0.0/8:443".parse().unwrap());
        assert!(policy.check_address("127.0.0.2", ip("127.0.0.2"), 80).is_ok());
        assert!(policy.check_address("127.0.0.3", ip("127.0.0.3"), 80).is_err());
        assert!(policy.check_address("[::ffff:7f00:2]", ip("::ffff:127.0.0.2"), 80).is_ok());
        assert!(policy.check_address("10.9.9.9", ip("10.9.9.9"), 443).is_ok());
        assert!(policy.check_address("10.9.9.9", ip("10.9.9.9"), 22).is_err());
        let names = Destinations::public_only().with("*.internal:8080".parse().unwrap());
        assert!(names.check_address("api.internal", ip("10.0.0.1"), 8080).is_ok());
        assert!(names.check_address("api.internal", ip("10.0.0.1"), 8081).is_err());
        assert!(names.check_address("internal", ip("10.0.0.1"), 8080).is_err());
        assert!(names.check_address("api.internal.evil.org", ip("10.0.0.1"), 8080).is_err());
        let everything = Destinations::allowing_private().with("0.0.0.0/0".parse().unwrap());
        let refusal = everything.check_address("169.254.169.254", ip("169.254.169.254"), 80).unwrap_err();
        assert_eq!(
            refusal.message(),
            "courier refused to connect to 169.254.169.254 port 80: 169.254.169.254 is a cloud metadata address; \
             courier never connects to it"
        );
    }

    #[test]
    fn refusals_name_the_host_the_address_and_the_rule() {
        let refusal =
            Destinations::public_only().decide("http://evil.example.org:8080/x", &[ip("127.0.0.1")]).unwrap_err();
        let message = refusal.message();
        assert!(
            message.starts_with("courier refused to connect to evil.example.org port 8080 at 127.0.0.1"),
            "{message}"
        );
        assert!(message.contains("a loopback address"), "{message}");
        let refusal = Destinations::public_only().decide("http://[::ffff:a9fe:a9fe]/", &[]).unwrap_err();
        assert!(refusal.message().contains("carries 169.254.169.254"), "{}", refusal.message());
    }

    #[test]
    fn a_name_keeps_only_its_checked_addresses() {
        let policy = Destinations::public_only();
        let allowed = policy.decide("http://mixed.example.org/", &[ip("127.0.0.1"), ip("93.184.216.34")]).unwrap();
        assert_eq!(allowed, vec![SocketAddr::new(ip("93.184.216.34"), 80)]);
    }

    /// A rebinding name answers a public address first and loopback after: the
    /// resolver looks it up once, and hands reqwest only what it checked.
    #[tokio::test]
    async fn the_resolver_looks_up_once_and_returns_only_checked_addresses() {
        use reqwest::dns::Resolve;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let lookup: Lookup = Arc::new(move |_name| {
            let call = counted.fetch_add(1, Ordering::SeqCst);
            let answer = if call == 0 { vec![ip("93.184.216.34")] } else { vec![ip("127.0.0.1")] };
            Box::pin(async move { Ok(answer) })
        });
        let resolver = CheckedResolver::new(Destinations::public_only(), 80, lookup);
        let addresses: Vec<SocketAddr> =
            resolver.resolve("rebind.example.org".parse().unwrap()).await.unwrap().collect();
        assert_eq!(addresses, vec![SocketAddr::new(ip("93.184.216.34"), 0)]);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let error = match resolver.resolve("rebind.example.org".parse().unwrap()).await {
            Ok(addresses) => panic!("the second answer got through: {:?}", addresses.collect::<Vec<_>>()),
            Err(error) => error,
        };
        assert!(refusal_in(error.as_ref()).is_some_and(|refusal| refusal.message().contains("127.0.0.1")), "{error}");
    }

    #[test]
    fn a_port_entry_binds_the_resolver_of_that_port_only() {
        let policy = Destinations::public_only().with("localhost:8080".parse().unwrap());
        assert!(policy.allowed_addresses("localhost", [ip("127.0.0.1")].into_iter(), 8080).is_ok());
        assert!(policy.allowed_addresses("localhost", [ip("127.0.0.1")].into_iter(), 22).is_err());
    }

    #[test]
    fn bound_secrets_go_only_to_their_hosts() {
        let bindings = Bindings::default();
        let forms = ["s3cr3t value", "s3cr3t%20value", "s3cr3t+value"].map(String::from).to_vec();
        bindings.record("API_KEY", forms, &["api.example.org".into(), "*.trusted.org".into()]);
        assert!(bindings.check("api.example.org", ["X-Key: s3cr3t value"]).is_ok());
        assert!(bindings.check("a.trusted.org", ["s3cr3t%20value"]).is_ok());
        assert!(bindings.check("evil.org", ["nothing secret"]).is_ok());
        let refusal = bindings.check("evil.org", ["q=s3cr3t+value"]).unwrap_err();
        assert!(refusal.message().contains("the secret API_KEY to evil.org"), "{}", refusal.message());
        assert!(!refusal.message().contains("s3cr3t"), "{}", refusal.message());
        let broken = Bindings::default();
        broken.record("K", vec!["v4lue".into()], &["bad host/".into()]);
        assert!(broken.check("api.example.org", ["v4lue"]).unwrap_err().message().contains("cannot be read"));
    }
}
