//! `courier import curl`: a curl command line, as API docs publish them, turned
//! into a request spec that sends the same request — method, URL, headers, body,
//! credentials (moved to `secret()`), cookies, redirects and time limits.
//!
//! The command is split as a POSIX shell splits it (`shlex`: quotes, `\` line
//! continuations), read option by option, and written as TOML. The spec is then
//! compiled by the library, so what is printed always loads. Options that only
//! change what curl prints are ignored; options courier cannot reproduce are
//! listed on stderr and make the exit status 1, with what was understood still
//! printed.

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::Path;
use std::time::Duration;

use clap::{Args, Subcommand};
use courier::Engine;
use courier::request::CompiledRequest;

use super::Failure;

/// `courier import ...`
#[derive(Args, Debug)]
pub(crate) struct ImportArgs {
    #[command(subcommand)]
    what: ImportWhat,
}

#[derive(Subcommand, Debug)]
enum ImportWhat {
    /// Print the request spec of a curl command: `courier import curl 'curl -X POST ...'`,
    /// the words after `curl` as arguments, or - to read the command from standard input.
    Curl(CurlArgs),
}

#[derive(Args, Debug)]
struct CurlArgs {
    /// The curl command: one argument quoted as a shell would read it, its words, or -.
    #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// Runs `courier import curl`.
pub(crate) fn import(args: ImportArgs) -> Result<(), Failure> {
    let ImportWhat::Curl(args) = args.what;
    let words = words(&args.command)?;
    let imported = import_curl(&words);
    print!("{}", imported.toml);
    let mut report = String::new();
    for note in &imported.notes {
        let _ = writeln!(report, "note: {note}");
    }
    for problem in &imported.unsupported {
        let _ = writeln!(report, "not imported: {problem}");
    }
    if imported.unsupported.is_empty() {
        eprint!("{report}");
        return Ok(());
    }
    Err(Failure::error(report))
}

/// The words of the command: one argument is split as a shell would (`-` reads it
/// from standard input); several are the words already.
fn words(command: &[String]) -> Result<Vec<String>, Failure> {
    let line = match command {
        [only] if only == "-" => {
            let mut text = String::new();
            std::io::stdin()
                .take(1 << 20)
                .read_to_string(&mut text)
                .map_err(|error| Failure::usage(format!("standard input: {error}")))?;
            text
        }
        [only] => only.clone(),
        many => return Ok(many.to_vec()),
    };
    split(&line).ok_or_else(|| Failure::usage("the curl command has an unclosed quote"))
}

/// Splits a command line as a POSIX shell does. A `\` that ends a line joins it to
/// the next (shlex keeps a word for it where spaces follow).
pub(crate) fn split(line: &str) -> Option<Vec<String>> {
    shlex::split(&line.replace("\\\r\n", " ").replace("\\\n", " "))
}

/// A spec imported from curl: its TOML, notes for the author, and what could not be imported.
#[derive(Debug, Default)]
pub(crate) struct Imported {
    /// The spec.
    pub(crate) toml: String,
    /// What the author must know (a secret to set, an encoding that differs).
    pub(crate) notes: Vec<String>,
    /// The options and values courier cannot send as curl would.
    pub(crate) unsupported: Vec<String>,
}

/// One piece of `-d`-style data, as curl reads it.
#[derive(Debug)]
enum Data {
    /// Sent as written (`-d`, `--data-raw`, `--data-binary`, `--data-ascii`, `--json`).
    Raw(String),
    /// `--data-urlencode`: `name=content` with the content percent-encoded.
    UrlEncode(String),
}

/// One `-F` part.
#[derive(Debug)]
enum Part {
    Text(String, String),
    File { name: String, path: String, content_type: Option<String>, file_name: Option<String> },
}

/// What the command asks curl to send.
#[derive(Debug, Default)]
struct Curl {
    method: Option<String>,
    urls: Vec<String>,
    headers: Vec<(String, String)>,
    data: Vec<Data>,
    json: bool,
    parts: Vec<Part>,
    get: bool,
    head: bool,
    user: Option<String>,
    bearer: Option<String>,
    cookies: Vec<String>,
    follow: bool,
    max_redirs: Option<String>,
    max_time: Option<String>,
    connect_timeout: Option<String>,
    globoff: bool,
    digest: bool,
    /// `--cacert`: a CA file, read and written into the spec.
    ca_file: Option<String>,
    /// `--cert` and `--key`: files whose PEM goes to secrets.
    client_cert: Option<String>,
    client_key: Option<String>,
    unsupported: Vec<String>,
    notes: Vec<String>,
}

/// How an option is read.
#[derive(Debug, Clone, Copy)]
enum Opt {
    Request,
    Header,
    Data,
    DataRaw,
    DataUrlEncode,
    Json,
    Form,
    FormString,
    Get,
    Head,
    User,
    Bearer,
    Cookie,
    Compressed,
    Location,
    MaxRedirs,
    MaxTime,
    ConnectTimeout,
    Url,
    UserAgent,
    Referer,
    GlobOff,
    Digest,
    CaCert,
    Cert,
    Key,
    /// `--cert-type`, `--key-type`: PEM is what courier reads.
    CertType,
    /// The operator's proxy: an option of `courier send`, not of the spec.
    Proxy,
    ProxyUser,
    /// An option courier does not take whose value may be a credential
    /// (`--pass`, `--proxy-cert FILE:PASSWORD`, `--socks5 user:password@host`):
    /// listed, its value never shown.
    Withheld,
    Insecure,
    /// Changes only what curl prints or where: ignored (with a value when true).
    Output(bool),
    /// Cannot be reproduced (with a value when true).
    Unsupported(bool),
}

/// curl's other options that take a value (curl 7.88's `--help all`), which
/// courier does not take. Their values are not shown: several carry credentials.
#[rustfmt::skip]
const WITHHELD: &[&str] = &[
    "abstract-unix-socket", "alt-svc", "aws-sigv4", "ciphers", "continue-at", "create-file-mode", "crlfile",
    "curves", "delegation", "dns-interface", "dns-ipv4-addr", "dns-ipv6-addr", "dns-servers", "doh-url", "egd-file",
    "engine", "etag-compare", "etag-save", "expect100-timeout", "ftp-account", "ftp-alternative-to-user",
    "ftp-method", "ftp-port", "ftp-ssl-ccc-mode", "happy-eyeballs-timeout-ms", "hostpubmd5", "hostpubsha256",
    "hsts", "keepalive-time", "krb", "libcurl", "local-port", "login-options", "mail-auth", "mail-from",
    "mail-rcpt", "max-filesize", "output-dir", "parallel-max", "pass", "pinnedpubkey", "proto", "proto-default",
    "proto-redir", "proxy-cacert", "proxy-capath", "proxy-cert", "proxy-cert-type", "proxy-ciphers",
    "proxy-crlfile", "proxy-header", "proxy-key", "proxy-key-type", "proxy-pass", "proxy-pinnedpubkey",
    "proxy-service-name", "proxy-tls13-ciphers", "proxy-tlsauthtype", "proxy-tlspassword", "proxy-tlsuser",
    "proxy1.0", "preproxy", "pubkey", "quote", "random-file", "rate", "request-target", "retry-delay", "retry-max-time",
    "sasl-authzid", "service-name", "socks4", "socks4a", "socks5", "socks5-gssapi-service", "socks5-hostname",
    "speed-limit", "speed-time", "telnet-option", "tftp-blksize", "time-cond", "tls-max", "tls13-ciphers",
    "tlsauthtype", "tlspassword", "tlsuser", "url-query", "variable", "expand-url", "expand-data", "expand-header",
];

fn long_option(name: &str) -> Opt {
    match name {
        "request" => Opt::Request,
        "header" => Opt::Header,
        "data" | "data-ascii" => Opt::Data,
        "data-raw" | "data-binary" => Opt::DataRaw,
        "data-urlencode" => Opt::DataUrlEncode,
        "json" => Opt::Json,
        "form" => Opt::Form,
        "form-string" => Opt::FormString,
        "get" => Opt::Get,
        "head" => Opt::Head,
        "user" => Opt::User,
        "oauth2-bearer" => Opt::Bearer,
        "cookie" => Opt::Cookie,
        "compressed" => Opt::Compressed,
        "location" => Opt::Location,
        "max-redirs" => Opt::MaxRedirs,
        "max-time" => Opt::MaxTime,
        "connect-timeout" => Opt::ConnectTimeout,
        "url" => Opt::Url,
        "user-agent" => Opt::UserAgent,
        "referer" => Opt::Referer,
        "globoff" => Opt::GlobOff,
        "digest" => Opt::Digest,
        "cacert" => Opt::CaCert,
        "cert" => Opt::Cert,
        "key" => Opt::Key,
        "cert-type" | "key-type" => Opt::CertType,
        "proxy" => Opt::Proxy,
        "proxy-user" => Opt::ProxyUser,
        name if WITHHELD.contains(&name) => Opt::Withheld,
        "insecure" => Opt::Insecure,
        "basic" => Opt::Output(false),
        "silent" | "show-error" | "verbose" | "include" | "fail" | "fail-with-body" | "no-buffer" | "progress-bar"
        | "no-progress-meter" | "remote-name" | "remote-header-name" | "http1.1" | "http2" | "create-dirs" => {
            Opt::Output(false)
        }
        "output" | "dump-header" | "write-out" | "stderr" | "trace" | "trace-ascii" | "cookie-jar" => Opt::Output(true),
        "upload-file" | "config" | "retry" | "resolve" | "connect-to" | "interface" | "limit-rate" | "range"
        | "netrc-file" | "unix-socket" | "capath" | "noproxy" => Opt::Unsupported(true),
        _ => Opt::Unsupported(false),
    }
}

fn short_option(letter: char) -> Opt {
    match letter {
        'X' => Opt::Request,
        'H' => Opt::Header,
        'd' => Opt::Data,
        'F' => Opt::Form,
        'G' => Opt::Get,
        'I' => Opt::Head,
        'u' => Opt::User,
        'b' => Opt::Cookie,
        'L' => Opt::Location,
        'm' => Opt::MaxTime,
        'A' => Opt::UserAgent,
        'e' => Opt::Referer,
        'g' => Opt::GlobOff,
        's' | 'S' | 'v' | 'i' | 'f' | 'N' | '#' | 'O' | 'J' => Opt::Output(false),
        'o' | 'D' | 'w' | 'c' => Opt::Output(true),
        'E' => Opt::Cert,
        'x' => Opt::Proxy,
        'U' => Opt::ProxyUser,
        'k' => Opt::Insecure,
        'T' | 'K' | 'r' => Opt::Unsupported(true),
        'C' | 'P' | 'Q' | 't' | 'Y' | 'y' | 'z' => Opt::Withheld,
        _ => Opt::Unsupported(false),
    }
}

fn takes_value(opt: Opt) -> bool {
    !matches!(
        opt,
        Opt::Get
            | Opt::Head
            | Opt::Compressed
            | Opt::Location
            | Opt::GlobOff
            | Opt::Digest
            | Opt::Insecure
            | Opt::Output(false)
            | Opt::Unsupported(false)
    )
}

/// Reads the words of a curl command (with or without the leading `curl`).
fn read_words(words: &[String]) -> Curl {
    let mut curl = Curl::default();
    let mut words = words.iter().peekable();
    if words.peek().is_some_and(|first| first.as_str() == "curl" || first.ends_with("/curl")) {
        words.next();
    }
    let mut only_urls = false;
    while let Some(word) = words.next() {
        if only_urls || !word.starts_with('-') || word == "-" {
            curl.urls.push(word.clone());
            continue;
        }
        if word == "--" {
            only_urls = true;
            continue;
        }
        if let Some(name) = word.strip_prefix("--") {
            let opt = long_option(name);
            let value = if takes_value(opt) { words.next().cloned() } else { None };
            curl.apply(opt, &format!("--{name}"), value);
            continue;
        }
        // Short options, possibly bundled (`-sSL`, `-XPOST`).
        let letters: Vec<char> = word[1..].chars().collect();
        for (at, &letter) in letters.iter().enumerate() {
            let opt = short_option(letter);
            if takes_value(opt) {
                let rest: String = letters[at + 1..].iter().collect();
                let value = if rest.is_empty() { words.next().cloned() } else { Some(rest) };
                curl.apply(opt, &format!("-{letter}"), value);
                break;
            }
            curl.apply(opt, &format!("-{letter}"), None);
        }
    }
    curl
}

impl Curl {
    fn apply(&mut self, opt: Opt, name: &str, value: Option<String>) {
        if takes_value(opt) && value.is_none() {
            self.unsupported.push(format!("{name} needs a value"));
            return;
        }
        let value = value.unwrap_or_default();
        match opt {
            Opt::Request => self.method = Some(value),
            Opt::Header => self.header(&value),
            Opt::Data => self.data.push(Data::Raw(value)),
            Opt::DataRaw => {
                if name == "--data-binary" && value.starts_with('@') {
                    self.unsupported.push(format!("{name} {value}: a body read from a file"));
                } else {
                    self.data.push(Data::Raw(value));
                }
            }
            Opt::DataUrlEncode => self.data.push(Data::UrlEncode(value)),
            Opt::Json => {
                self.json = true;
                self.data.push(Data::Raw(value));
            }
            Opt::Form => self.form(&value, true),
            Opt::FormString => self.form(&value, false),
            Opt::Get => self.get = true,
            Opt::Head => self.head = true,
            Opt::User => self.user = Some(value),
            Opt::Bearer => self.bearer = Some(value),
            Opt::Cookie => self.cookies.push(value),
            Opt::Compressed => self.notes.push(
                "--compressed: courier asks for no compression and reads the body as the service sends it".to_owned(),
            ),
            Opt::Location => self.follow = true,
            Opt::MaxRedirs => self.max_redirs = Some(value),
            Opt::MaxTime => self.max_time = Some(value),
            Opt::ConnectTimeout => self.connect_timeout = Some(value),
            Opt::Url => self.urls.push(value),
            Opt::UserAgent => self.headers.push(("User-Agent".to_owned(), value)),
            Opt::Referer => self.headers.push(("Referer".to_owned(), value)),
            Opt::GlobOff => self.globoff = true,
            Opt::Digest => self.digest = true,
            Opt::CaCert => self.ca_file = Some(value),
            Opt::Cert => self.cert(name, value),
            Opt::Key if is_pkcs11(&value) => self.unsupported.push(format!("{name} pkcs11:[not shown]: a PKCS#11 key")),
            Opt::Key => self.client_key = Some(value),
            Opt::CertType if value.eq_ignore_ascii_case("PEM") => {}
            Opt::CertType => self.unsupported.push(format!("{name} {value}: courier reads PEM certificates and keys")),
            Opt::Proxy => self.proxy(name, &value),
            Opt::ProxyUser => self.notes.push(format!(
                "{name}: the proxy's user and password go in courier's --proxy http://user:password@host:port"
            )),
            Opt::Withheld => self.unsupported.push(format!("{name} [value not shown]")),
            Opt::Insecure => self.unsupported.push(format!(
                "{name}: courier always checks certificates; trust a private CA with [tls] ca (curl's --cacert)"
            )),
            Opt::Output(_) => {}
            Opt::Unsupported(true) => self.unsupported.push(format!("{name} {value}")),
            Opt::Unsupported(false) => self.unsupported.push(name.to_owned()),
        }
    }

    /// `--cert FILE`; curl's `FILE:PASSWORD` is an encrypted key, which courier
    /// does not read (and the password is shown nowhere).
    fn cert(&mut self, name: &str, value: String) {
        if is_pkcs11(&value) {
            self.unsupported.push(format!("{name} pkcs11:[not shown]: a PKCS#11 certificate"));
            return;
        }
        match value.split_once(':') {
            Some((file, _)) => self.unsupported.push(format!(
                "{name} {file}:[password not shown]: an encrypted key; courier reads an unencrypted PEM key"
            )),
            None => self.client_cert = Some(value),
        }
    }

    /// `-x URL`: the egress proxy is the operator's setting (`courier send
    /// --proxy`), not the spec's; the note shows it without its credentials (an
    /// API key may be the user name).
    fn proxy(&mut self, name: &str, value: &str) {
        let given = if value.contains("://") { value.to_owned() } else { format!("http://{value}") };
        if let Err(error) = given.parse::<courier::request::EgressProxy>() {
            self.unsupported.push(format!("{name}: {error}"));
            return;
        }
        let Ok(url) = url::Url::parse(&given) else { return };
        let credentials = if url.username().is_empty() { "" } else { "[credentials not shown]@" };
        let (host, port) = (url.host_str().unwrap_or_default(), url.port_or_known_default().unwrap_or_default());
        self.notes.push(format!(
            "{name} http://{credentials}{host}:{port}: the proxy is the operator's, not the spec's: give it to \
             courier as --proxy (or COURIER_PROXY)"
        ));
    }

    /// `-H "Name: value"`; `-H "Name;"` is an empty header, `-H "Name:"` removes one.
    fn header(&mut self, line: &str) {
        if let Some(name) = line.strip_suffix(';')
            && !name.contains(':')
        {
            self.headers.push((name.trim().to_owned(), String::new()));
            return;
        }
        match line.split_once(':') {
            Some((name, value)) if !value.trim().is_empty() => {
                self.headers.push((name.trim().to_owned(), value.trim().to_owned()))
            }
            Some((name, _)) => self.headers.retain(|(known, _)| !known.eq_ignore_ascii_case(name.trim())),
            None => self.unsupported.push(format!("-H {line:?}: a header is written \"Name: value\"")),
        }
    }

    /// `-F name=value`, `-F name=@file;type=...;filename=...`.
    fn form(&mut self, spec: &str, files: bool) {
        let Some((name, value)) = spec.split_once('=') else {
            self.unsupported.push(format!("-F {spec:?}: a part is written name=value"));
            return;
        };
        let name = name.to_owned();
        if !files {
            self.parts.push(Part::Text(name, value.to_owned()));
            return;
        }
        if let Some(file) = value.strip_prefix('@') {
            let mut pieces = file.split(';');
            let path = pieces.next().unwrap_or_default().to_owned();
            let (mut content_type, mut file_name) = (None, None);
            for piece in pieces {
                match piece.split_once('=') {
                    Some(("type", given)) => content_type = Some(given.to_owned()),
                    Some(("filename", given)) => file_name = Some(given.to_owned()),
                    _ => self.unsupported.push(format!("-F {spec:?}: the part option {piece:?}")),
                }
            }
            self.parts.push(Part::File { name, path, content_type, file_name });
        } else if value.starts_with('<') {
            self.unsupported.push(format!("-F {spec:?}: a text part read from a file"));
        } else if [";type=", ";filename=", ";headers=", ";encoder="].iter().any(|option| value.contains(option)) {
            self.unsupported.push(format!("-F {spec:?}: part options on a text part"));
        } else {
            self.parts.push(Part::Text(name, value.to_owned()));
        }
    }
}

/// The request spec of a curl command given as words.
pub(crate) fn import_curl(words: &[String]) -> Imported {
    let mut curl = read_words(words);
    let mut spec = Spec::default();
    curl.write(&mut spec);
    let toml = spec.toml();
    // What is printed must load: the library's own loader says whether it does.
    if let Err(error) = CompiledRequest::from_text(&Engine::new(), &toml, Path::new(".")) {
        for problem in &error.problems {
            let field = if problem.field.is_empty() { String::new() } else { format!("{}: ", problem.field) };
            curl.unsupported.push(format!("the spec does not load: {field}{}", problem.message));
        }
    }
    Imported { toml, notes: curl.notes, unsupported: curl.unsupported }
}

/// The spec being written: top-level lines, then the tables.
#[derive(Default)]
struct Spec {
    top: Vec<String>,
    headers: Vec<(String, String)>,
    body: Vec<String>,
    body_fields: Vec<(String, String)>,
    auth: Vec<String>,
    tls: Vec<String>,
}

impl Spec {
    fn toml(&self) -> String {
        let mut out = self.top.join("\n") + "\n";
        let mut table = |title: &str, lines: &[String]| {
            if !lines.is_empty() {
                let _ = write!(out, "\n[{title}]\n{}\n", lines.join("\n"));
            }
        };
        table("headers", &pairs(&self.headers));
        table("body", &self.body);
        table("body.fields", &pairs(&self.body_fields));
        table("auth", &self.auth);
        table("tls", &self.tls);
        out
    }
}

fn pairs(pairs: &[(String, String)]) -> Vec<String> {
    pairs.iter().map(|(name, value)| format!("{} = {}", key(name), string(value))).collect()
}

/// A TOML key: bare when it can be, else quoted.
fn key(name: &str) -> String {
    let bare = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if bare { name.to_owned() } else { string(name) }
}

/// A TOML string, quoted and escaped by the toml crate.
fn string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// The largest CA file `--cacert` may name: a bundle of a few hundred certificates.
const MAX_CA_FILE: u64 = 1024 * 1024;

/// The certificates of a CA file, written again as PEM: only certificates
/// leave the file. The command may come from someone else's documentation and
/// name any file; one holding a private key (a cert-and-key bundle) or no
/// certificate is refused without a byte of it shown.
fn read_ca(path: &str) -> Result<String, String> {
    use rustls_pki_types::pem::{self, SectionKind};
    use std::io::Read as _;
    let unreadable = |error: std::io::Error| format!("cannot be read ({error})");
    // A FIFO or a terminal would hold the import until something wrote to it.
    if !std::fs::metadata(path).map_err(unreadable)?.is_file() {
        return Err("not a regular file".to_owned());
    }
    let mut bytes = Vec::new();
    let file = std::fs::File::open(path).map_err(unreadable)?;
    file.take(MAX_CA_FILE + 1).read_to_end(&mut bytes).map_err(unreadable)?;
    if bytes.len() as u64 > MAX_CA_FILE {
        return Err(format!("larger than {MAX_CA_FILE} bytes"));
    }
    let mut reader = bytes.as_slice();
    let mut certificates = String::new();
    loop {
        match pem::from_buf(&mut reader) {
            Ok(Some((SectionKind::Certificate, der))) => certificates.push_str(&certificate_pem(&der)),
            Ok(Some(_)) => {
                return Err(
                    "holds PEM that is not a certificate (a private key?): give a file of CA certificates only \
                            (nothing of it is shown)"
                        .to_owned(),
                );
            }
            Ok(None) => break,
            Err(_) => return Err("not a PEM file of certificates (nothing of it is shown)".to_owned()),
        }
    }
    if certificates.is_empty() {
        return Err("holds no PEM certificate (courier reads PEM, not DER)".to_owned());
    }
    Ok(certificates)
}

/// A certificate's DER as PEM, 64 Base64 characters a line.
fn certificate_pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in encoded.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem + "-----END CERTIFICATE-----\n"
}

/// Whether a `--cert` or `--key` value is a PKCS#11 URI (which may hold a PIN).
fn is_pkcs11(value: &str) -> bool {
    value.get(..7).is_some_and(|scheme| scheme.eq_ignore_ascii_case("pkcs11:"))
}

/// Text as a TOML string over several lines when it can be written literally
/// (PEM can), else quoted and escaped on one.
fn multiline(text: &str) -> String {
    let literal = !text.contains("'''") && text.chars().all(|c| c == '\n' || c == '\t' || !c.is_control());
    if literal { format!("'''\n{text}'''") } else { string(text) }
}

/// Literal text as a template: every `${` written `\${`, so nothing is evaluated.
fn literal(text: &str) -> String {
    text.replace("${", "\\${")
}

/// A secret's name from the host and what it holds: `API_STRIPE_COM_PASSWORD`.
fn secret_name(url: &str, what: &str) -> String {
    let host = url::Url::parse(url).ok().and_then(|url| url.host_str().map(str::to_owned)).unwrap_or_default();
    let mut name: String =
        host.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    if !name.is_empty() {
        name.push('_');
    }
    name + what
}

/// A secret's template and the note telling where to set it.
fn secret(name: &str, what: &str, notes: &mut Vec<String>) -> String {
    notes.push(format!(
        "{what} is read from the secret {name}: set COURIER_SECRET_{name} (or give {name} in --secrets FILE)"
    ));
    format!("${{secret(\"{name}\")}}")
}

/// Header names whose value is a credential, moved to a secret like a password.
fn is_credential_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["token", "api-key", "apikey", "api_key", "secret", "password"].iter().any(|part| name.contains(part))
}

impl Curl {
    fn write(&mut self, spec: &mut Spec) {
        let url = self.url();
        let method = self.method();
        spec.top.push(format!("method = {}", string(&method)));
        let mut url_line = url.clone();
        if self.get && !self.data.is_empty() {
            let query = self.data_text();
            url_line.push(if url_line.contains('?') { '&' } else { '?' });
            url_line.push_str(&query);
        }
        spec.top.push(format!("url = {}", string(&literal(&url_line))));
        self.limits(spec);
        self.auth(&url, spec);
        self.write_headers(&url, spec);
        self.tls(&url, spec);
        if !self.get {
            self.body(spec);
        }
    }

    /// The one URL, with curl's default scheme; URL globbing is not reproduced.
    fn url(&mut self) -> String {
        if self.urls.len() > 1 {
            self.unsupported.push(format!(
                "{} URLs ({}): a spec sends one request",
                self.urls.len(),
                self.urls.join(" ")
            ));
        }
        let Some(given) = self.urls.first().cloned() else {
            self.unsupported.push("no URL".to_owned());
            return String::new();
        };
        let given = if given.contains("://") { given } else { format!("http://{given}") };
        let globbed = given.contains(['{', '}']) || given.split_once("://").is_some_and(|(_, rest)| rest.contains('['));
        if globbed && !self.globoff {
            self.unsupported.push(format!("{given}: curl's URL globbing ({{a,b}}, [1-3]) sends several requests"));
        }
        match url::Url::parse(&given) {
            // The url crate's form, with the few characters it leaves in a query encoded.
            Ok(url) => url
                .as_str()
                .replace('{', "%7B")
                .replace('}', "%7D")
                .replace('|', "%7C")
                .replace('^', "%5E")
                .replace('`', "%60"),
            Err(error) => {
                self.unsupported.push(format!("{given}: not a URL ({error})"));
                given
            }
        }
    }

    fn method(&mut self) -> String {
        let implied = if self.head {
            "HEAD"
        } else if self.get {
            "GET"
        } else if !self.data.is_empty() || !self.parts.is_empty() {
            "POST"
        } else {
            "GET"
        };
        let method = self.method.clone().unwrap_or_else(|| implied.to_owned());
        if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
            self.unsupported.push(format!("the method {method}: courier sends GET, POST, PUT, PATCH and DELETE"));
        }
        method
    }

    fn limits(&mut self, spec: &mut Spec) {
        for (option, value, field) in [
            ("--max-time", self.max_time.clone(), "timeout"),
            ("--connect-timeout", self.connect_timeout.clone(), "connect_timeout"),
        ] {
            let Some(value) = value else { continue };
            match seconds(&value) {
                Some(duration) if !duration.is_zero() => {
                    spec.top.push(format!("{field} = {}", string(&humantime::format_duration(duration).to_string())))
                }
                _ => self.unsupported.push(format!("{option} {value}: a number of seconds above zero")),
            }
        }
        // curl follows no redirect unless told to (-L), up to --max-redirs (courier: at most 20).
        let redirects = match (self.follow, &self.max_redirs) {
            (false, _) => 0,
            (true, None) => 20,
            (true, Some(value)) => match value.parse::<i64>() {
                Ok(n) if n < 0 => 20,
                Ok(n) => n.min(20),
                Err(_) => {
                    self.unsupported.push(format!("--max-redirs {value}: a number"));
                    20
                }
            },
        };
        spec.top.push(format!("redirects = {redirects}"));
    }

    fn auth(&mut self, url: &str, spec: &mut Spec) {
        let bearer_header = self.headers.iter().position(|(name, value)| {
            name.eq_ignore_ascii_case("authorization") && value.len() > 7 && value[..7].eq_ignore_ascii_case("bearer ")
        });
        if let Some(at) = bearer_header
            && self.bearer.is_none()
        {
            self.headers.remove(at);
            self.bearer = Some(String::new());
        }
        if self.bearer.is_some() {
            let token = secret(&secret_name(url, "TOKEN"), "the bearer token", &mut self.notes);
            spec.auth = vec!["type = \"bearer\"".to_owned(), format!("token = {}", string(&token))];
            return;
        }
        let Some(user) = self.user.clone() else { return };
        let Some((name, password)) = user.split_once(':') else {
            self.unsupported.push("-u without a password: curl would ask for it".to_owned());
            return;
        };
        let kind = if self.digest { "digest" } else { "basic" };
        let mut auth = vec![format!("type = {}", string(kind))];
        if password.is_empty() {
            // An API key given as the user name (Stripe's `-u sk_test_...:`) is the credential.
            let key = secret(&secret_name(url, "USERNAME"), "the user name (an API key)", &mut self.notes);
            auth.push(format!("username = {}", string(&key)));
        } else {
            auth.push(format!("username = {}", string(&literal(name))));
            let password = secret(&secret_name(url, "PASSWORD"), "the password", &mut self.notes);
            auth.push(format!("password = {}", string(&password)));
        }
        spec.auth = auth;
    }

    /// `--cacert` becomes `[tls] ca` with the file's certificates written in (a
    /// CA is public, and a spec's `ca` file must lie beside it); `--cert` and
    /// `--key` become secrets, since a key is one. curl reads the key from the
    /// certificate's file when `--key` is not given, and so does the note.
    fn tls(&mut self, url: &str, spec: &mut Spec) {
        if let Some(file) = self.ca_file.take() {
            match read_ca(&file) {
                Ok(pem) => spec.tls.push(format!("ca = {}", multiline(&pem))),
                Err(why) => self.unsupported.push(format!("--cacert {file}: {why}")),
            }
        }
        let (cert, key) = (self.client_cert.take(), self.client_key.take());
        let Some(cert) = cert else {
            if let Some(key) = key {
                self.unsupported.push(format!("--key {key} without --cert: a key needs its certificate"));
            }
            return;
        };
        let key = key.unwrap_or_else(|| cert.clone());
        let what = format!("the client certificate (the PEM of {cert})");
        let cert_secret = secret(&secret_name(url, "CLIENT_CERT"), &what, &mut self.notes);
        let what = format!("the client key (the PEM of {key})");
        let key_secret = secret(&secret_name(url, "CLIENT_KEY"), &what, &mut self.notes);
        spec.tls.push(format!("client_cert = {}", string(&cert_secret)));
        spec.tls.push(format!("client_key = {}", string(&key_secret)));
    }

    fn write_headers(&mut self, url: &str, spec: &mut Spec) {
        let headers = std::mem::take(&mut self.headers);
        for (name, value) in headers {
            let value = if name.eq_ignore_ascii_case("authorization") || is_credential_header(&name) {
                // The scheme stays; the credential goes to a secret.
                let what = format!("the {name} header's credential");
                let (scheme, _) = value.split_once(' ').unwrap_or(("", &value));
                let named =
                    secret(&secret_name(url, &name.to_ascii_uppercase().replace('-', "_")), &what, &mut self.notes);
                if scheme.is_empty() { named } else { format!("{} {named}", literal(scheme)) }
            } else {
                literal(&value)
            };
            spec.headers.push((name, value));
        }
        if self.json {
            for (name, value) in [("Content-Type", "application/json"), ("Accept", "application/json")] {
                if !spec.headers.iter().any(|(known, _)| known.eq_ignore_ascii_case(name)) {
                    spec.headers.push((name.to_owned(), value.to_owned()));
                }
            }
        }
        if !self.cookies.is_empty() {
            if let Some(file) = self.cookies.iter().find(|cookie| !cookie.contains('=')) {
                self.unsupported.push(format!("-b {file}: cookies read from a file"));
            }
            let cookies: Vec<&str> = self.cookies.iter().filter(|c| c.contains('=')).map(String::as_str).collect();
            spec.headers.push(("Cookie".to_owned(), literal(&cookies.join("; "))));
        }
    }

    /// The data as curl sends it: each piece, joined with `&`.
    fn data_text(&self) -> String {
        let pieces: Vec<String> = self
            .data
            .iter()
            .map(|data| match data {
                Data::Raw(text) => text.clone(),
                Data::UrlEncode(text) => url_encode_piece(text),
            })
            .collect();
        pieces.join("&")
    }

    fn body(&mut self, spec: &mut Spec) {
        if !self.parts.is_empty() {
            if !self.data.is_empty() {
                self.unsupported.push("-F with -d: curl sends only one kind of body".to_owned());
            }
            return self.multipart(spec);
        }
        if self.data.is_empty() {
            return;
        }
        if let Some(Data::Raw(file)) =
            self.data.iter().find(|data| matches!(data, Data::Raw(text) if text.starts_with('@')))
        {
            self.unsupported.push(format!("-d {file}: a body read from a file"));
            return;
        }
        if let Some(Data::UrlEncode(file)) = self
            .data
            .iter()
            .find(|data| matches!(data, Data::UrlEncode(text) if text.contains('@') && !text.contains('=')))
        {
            self.unsupported.push(format!("--data-urlencode {file}: a value read from a file"));
            return;
        }
        let text = self.data_text();
        let form = "application/x-www-form-urlencoded";
        let content_type = spec
            .headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
            .map(|(_, value)| value.clone());
        let media =
            content_type.as_deref().unwrap_or(form).split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        if serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok() {
            self.json_body(spec, &text, content_type.is_none());
        } else if media == form {
            self.form_body(spec, &text, content_type.is_some());
        } else {
            self.unsupported
                .push(format!("a {media} body that is not JSON: courier sends json, form, multipart and file bodies"));
        }
    }

    /// JSON data: sent byte for byte as a json payload; the Content-Type stays curl's.
    fn json_body(&mut self, spec: &mut Spec, text: &str, no_content_type: bool) {
        if no_content_type {
            // curl sends -d data as a form whatever it holds; so does the spec.
            spec.headers.push(("Content-Type".to_owned(), "application/x-www-form-urlencoded".to_owned()));
            self.notes.push(
                "the JSON body is sent with Content-Type: application/x-www-form-urlencoded, as curl sends -d data \
                 without -H 'Content-Type: ...'; write application/json in [headers] if the service expects JSON"
                    .to_owned(),
            );
        } else {
            spec.headers
                .retain(|(name, value)| !(name.eq_ignore_ascii_case("content-type") && value == "application/json"));
        }
        spec.top.push("body = \"json\"".to_owned());
        let payload = literal(text);
        let literal_safe = !payload.contains("'''")
            && !payload.ends_with('\'')
            && !payload.chars().any(|c| c.is_control() && c != '\n' && c != '\t');
        if literal_safe {
            spec.top.push(format!("payload = '''\n{payload}'''"));
        } else {
            spec.top.push(format!("payload = {}", string(&payload)));
        }
    }

    /// Form data: its fields, sent in courier's form encoding.
    fn form_body(&mut self, spec: &mut Spec, text: &str, named_type: bool) {
        let mut fields: Vec<(String, String)> = Vec::new();
        for pair in text.split('&').filter(|pair| !pair.is_empty()) {
            let Some((name, _)) = pair.split_once('=') else {
                self.unsupported.push(format!("the form body piece {pair:?} is not name=value"));
                return;
            };
            let decoded: Vec<(String, String)> =
                url::form_urlencoded::parse(pair.as_bytes()).map(|(n, v)| (n.into_owned(), v.into_owned())).collect();
            let Some((name_decoded, value)) = decoded.into_iter().next() else { continue };
            if fields.iter().any(|(known, _)| *known == name_decoded) {
                self.unsupported.push(format!("the form field {name:?} twice: a spec's fields have one value each"));
                return;
            }
            fields.push((name_decoded, value));
        }
        let encoded: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&fields).finish();
        if encoded != text {
            self.notes.push(format!(
                "the form body is sent in courier's encoding ({encoded:?} where curl sends {text:?}): the same fields"
            ));
        }
        if named_type {
            spec.headers.retain(|(name, _)| !name.eq_ignore_ascii_case("content-type"));
        }
        spec.body.push("type = \"form\"".to_owned());
        spec.body_fields = fields.into_iter().map(|(name, value)| (name, literal(&value))).collect();
    }

    fn multipart(&mut self, spec: &mut Spec) {
        spec.headers.retain(|(name, _)| !name.eq_ignore_ascii_case("content-type"));
        spec.body.push("type = \"multipart\"".to_owned());
        let parts = std::mem::take(&mut self.parts);
        let files = parts.iter().filter(|part| matches!(part, Part::File { .. })).count();
        if files > 1 || (files == 1 && !matches!(parts.last(), Some(Part::File { .. }))) {
            self.unsupported.push("-F: courier sends one file part, after the text parts".to_owned());
        }
        for part in parts {
            match part {
                Part::Text(name, value) => {
                    if spec.body_fields.iter().any(|(known, _)| *known == name) {
                        self.unsupported.push(format!("-F {name}=... twice: a spec's fields have one value each"));
                    }
                    spec.body_fields.push((name, literal(&value)));
                }
                Part::File { name, path, content_type, file_name } => {
                    spec.body.push(format!("file = {}", string(&literal(&path))));
                    spec.body.push(format!("field = {}", string(&name)));
                    let file_name = file_name.unwrap_or_else(|| {
                        Path::new(&path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
                    });
                    spec.body.push(format!("file_name = {}", string(&literal(&file_name))));
                    // curl names the type from the file's extension; courier sends the one written.
                    let content_type = content_type.unwrap_or_else(|| "application/octet-stream".to_owned());
                    spec.body.push(format!("content_type = {}", string(&literal(&content_type))));
                    self.notes.push(format!(
                        "the file {path} is read at run time, relative to the spec's folder, with courier send --files DIR"
                    ));
                }
            }
        }
    }
}

/// `--data-urlencode`'s piece: `name=content` with the content encoded, `=content`
/// and `content` as the encoded content — in curl's form: `A-Z a-z 0-9 - . _ ~`
/// kept, a space `+`, every other byte `%xx` in lower case.
fn url_encode_piece(piece: &str) -> String {
    let encode = |text: &str| {
        let mut out = String::new();
        for byte in text.bytes() {
            match byte {
                b' ' => out.push('+'),
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(byte as char),
                other => {
                    let _ = write!(out, "%{other:02x}");
                }
            }
        }
        out
    };
    match piece.split_once('=') {
        Some(("", content)) => encode(content),
        Some((name, content)) => format!("{name}={}", encode(content)),
        None => encode(piece),
    }
}

/// curl's seconds (`2.92`) as an exact duration: 2 s 920 ms.
fn seconds(text: &str) -> Option<Duration> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(fraction) || fraction.len() > 9 {
        return None;
    }
    let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let nanos: u32 = if fraction.is_empty() { 0 } else { format!("{fraction:0<9}").parse().ok()? };
    Some(Duration::new(whole, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn import(line: &str) -> Imported {
        import_curl(&split(line).unwrap())
    }

    #[test]
    fn fractions_of_a_second_are_kept_exactly() {
        assert_eq!(seconds("2.92"), Some(Duration::from_millis(2920)));
        assert_eq!(seconds("0.0005"), Some(Duration::from_micros(500)));
        assert_eq!(seconds("7"), Some(Duration::from_secs(7)));
        assert_eq!(seconds("1.5e3"), None);
        let imported = import("curl -m 2.92 --connect-timeout .5 https://x.org");
        assert!(imported.toml.contains("timeout = \"2s 920ms\"\n"), "{}", imported.toml);
        assert!(imported.toml.contains("connect_timeout = \"500ms\"\n"), "{}", imported.toml);
    }

    #[test]
    fn templates_in_the_command_stay_literal_text() {
        let imported =
            import(r#"curl -H 'X-A: ${x}' https://x.org -d '{"a": "${y}"}' -H 'Content-Type: application/json'"#);
        assert!(imported.unsupported.is_empty(), "{imported:?}");
        assert!(imported.toml.contains(r#"X-A = '\${x}'"#), "{}", imported.toml);
        assert!(imported.toml.contains(r#"{"a": "\${y}"}"#), "{}", imported.toml);
    }

    #[test]
    fn what_cannot_be_sent_is_listed_and_the_rest_printed() {
        let imported = import("curl -k -X OPTIONS https://x.org/a -H 'X-Kept: 1' -T file.bin");
        for listed in ["-k", "the method OPTIONS", "-T file.bin"] {
            assert!(imported.unsupported.iter().any(|problem| problem.starts_with(listed)), "{listed}: {imported:?}");
        }
        assert!(imported.toml.contains("X-Kept = \"1\""), "{}", imported.toml);
    }

    /// A proxy's password, a key's passphrase and a `--cert FILE:PASSWORD` are
    /// shown in no note, no listed option and not in the spec.
    #[test]
    fn credentials_of_options_courier_does_not_take_are_never_shown() {
        let imported = import(
            "curl -x http://ops:s3cret@proxy.internal:3128 -U ops:s3cret --cert c.pem:s3cret --pass s3cret \
             --proxy-pass s3cret https://x.org",
        );
        let shown = format!("{}{:?}{:?}", imported.toml, imported.notes, imported.unsupported);
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            imported.notes.iter().any(|note| note.contains("http://[credentials not shown]@proxy.internal:3128")),
            "{imported:?}"
        );
        assert!(imported.unsupported.iter().any(|problem| problem.starts_with("--cert c.pem:")), "{imported:?}");
        // The twin: a proxy without a password is a note only, and the spec is complete.
        let plain = import("curl -x proxy.internal:3128 https://x.org");
        assert!(plain.unsupported.is_empty(), "{plain:?}");
        assert!(plain.notes.iter().any(|note| note.contains("--proxy")), "{plain:?}");
        let socks = import("curl -x socks5://ops:s3cret@proxy:1080 https://x.org");
        assert!(!format!("{socks:?}").contains("s3cret"), "{socks:?}");
        assert!(
            socks.unsupported.iter().any(|problem| problem.contains("http://[user:password@]host:port")),
            "{socks:?}"
        );
    }

    #[test]
    fn cacert_is_written_into_the_spec_and_cert_and_key_become_secrets() {
        let folder = tempfile::tempdir().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = params.self_signed(&rcgen::KeyPair::generate().unwrap()).unwrap();
        let ca_file = folder.path().join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        let line =
            format!("curl --cacert {} -E client.pem --key client.key https://api.example.org/v1", ca_file.display());
        let imported = import(&line);
        assert!(imported.unsupported.is_empty(), "{imported:?}");
        assert!(imported.toml.contains(&format!("[tls]\nca = '''\n{}'''", ca.pem())), "{}", imported.toml);
        assert!(
            imported.toml.contains(r#"client_cert = '${secret("API_EXAMPLE_ORG_CLIENT_CERT")}'"#),
            "{}",
            imported.toml
        );
        assert!(
            imported.toml.contains(r#"client_key = '${secret("API_EXAMPLE_ORG_CLIENT_KEY")}'"#),
            "{}",
            imported.toml
        );
        assert!(imported.notes.iter().any(|note| note.contains("the PEM of client.key")), "{imported:?}");
        // curl reads the key from the certificate's file when --key is not given.
        let one_file = import("curl --cert both.pem https://api.example.org");
        assert!(one_file.notes.iter().filter(|note| note.contains("the PEM of both.pem")).count() == 2, "{one_file:?}");
        // What cannot be used is listed: a missing CA file, a key alone, DER.
        let missing = import("curl --cacert /nonexistent/ca.pem https://x.org");
        assert!(
            missing
                .unsupported
                .iter()
                .any(|problem| problem.starts_with("--cacert /nonexistent/ca.pem: cannot be read")),
            "{missing:?}"
        );
        let key_alone = import("curl --key client.key https://x.org");
        assert!(
            key_alone.unsupported.iter().any(|problem| problem.contains("a key needs its certificate")),
            "{key_alone:?}"
        );
        let der = import("curl --cert-type DER --cert c.der https://x.org");
        assert!(der.unsupported.iter().any(|problem| problem.contains("PEM")), "{der:?}");
    }

    /// The command may come from someone else's documentation: a `--cacert`
    /// naming a key, a cert-and-key bundle or any text file shows nothing of it,
    /// and a FIFO does not hold the import.
    #[test]
    fn cacert_lets_only_certificates_out_of_the_file_it_names() {
        let folder = tempfile::tempdir().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        let ca = params.self_signed(&key).unwrap();
        let key_body: String = key.serialize_pem().lines().nth(1).unwrap().to_owned();
        let files = [
            ("bundle.pem", format!("{}{}", ca.pem(), key.serialize_pem())),
            ("key.pem", key.serialize_pem()),
            ("creds", "AWS_SECRET_ACCESS_KEY=s3cret\n".to_owned()),
        ];
        for (name, text) in &files {
            std::fs::write(folder.path().join(name), text).unwrap();
            let imported = import(&format!("curl --cacert {} https://x.org", folder.path().join(name).display()));
            let shown = format!("{imported:?}");
            assert!(!shown.contains("s3cret") && !shown.contains(&key_body), "{name}: {shown}");
            assert!(!imported.toml.contains("[tls]"), "{name}: {}", imported.toml);
            assert!(imported.unsupported.iter().any(|problem| problem.contains("--cacert")), "{name}: {shown}");
        }
        // A bundle with comments before its certificates (curl's own cacert.pem) is read.
        let commented = folder.path().join("cacert.pem");
        std::fs::write(&commented, format!("##\n## Bundle of CA Root Certificates\n##\n\n{}", ca.pem())).unwrap();
        let imported = import(&format!("curl --cacert {} https://x.org", commented.display()));
        assert!(imported.unsupported.is_empty(), "{imported:?}");
        assert!(imported.toml.contains(&ca.pem()) && !imported.toml.contains("Bundle"), "{}", imported.toml);
        #[cfg(unix)]
        {
            let fifo = folder.path().join("fifo");
            assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
            let imported = import(&format!("curl --cacert {} https://x.org", fifo.display()));
            assert!(imported.unsupported.iter().any(|problem| problem.contains("not a regular file")), "{imported:?}");
        }
    }

    /// curl's options that courier does not take, whose values may be
    /// credentials, are listed without them (before, a value of an option
    /// courier did not know became a second URL, printed in the spec).
    #[test]
    fn values_of_other_options_are_withheld() {
        for option in [
            "--proxy-cert c.pem:s3cret",
            "--socks5 ops:s3cret@proxy:1080",
            "--preproxy http://ops:s3cret@pre:1",
            "--proxy1.0 ops:s3cret@p:3128",
            "--tlspassword s3cret",
            "--proxy-header 'Proxy-Authorization: Basic s3cret'",
            "--key 'pkcs11:object=k;pin-value=s3cret' --cert c.pem",
            "--cert 'pkcs11:object=k;pin-value=s3cret'",
            "-x http://sk_live_s3cret:@proxy.example:8011",
        ] {
            let imported = import(&format!("curl {option} https://x.org/a"));
            let shown = format!("{imported:?}");
            assert!(!shown.contains("s3cret"), "{option}: {shown}");
            assert!(imported.toml.contains("url = \"https://x.org/a\""), "{option}: {}", imported.toml);
        }
    }

    #[test]
    fn digest_keeps_its_scheme() {
        let imported = import("curl --digest -u alice:wonder https://x.org/report");
        assert!(imported.toml.contains("[auth]\ntype = \"digest\"\nusername = \"alice\""), "{}", imported.toml);
        assert!(!imported.toml.contains("wonder"), "{}", imported.toml);
        assert!(import("curl --basic -u alice:wonder https://x.org").toml.contains("type = \"basic\""));
    }
}
