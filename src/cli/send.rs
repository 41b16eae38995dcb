//! `courier send` (run a request spec, print its outcome, keep the session) and
//! `courier events` (the event catalog).

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use courier::Variables;
use courier::events::catalog;
use courier::replay::Delivery;
use courier::request::{CompiledRequest, Cookies, Executor, ExecutorOptions};

use super::allow::AllowArgs;
use super::inputs::{InputArgs, read_json};
use super::secrets::CliSecrets;
use super::store::{store_at, store_location};
use super::{Failure, Format};

/// `courier send SPEC`
#[derive(Args, Debug)]
pub(crate) struct SendArgs {
    /// The request spec (TOML or JSON, told apart by content).
    spec: PathBuf,
    /// A session file, {"variables": {...}, "cookies": {...}}: read first, written back.
    #[arg(long, value_name = "FILE")]
    session: Option<PathBuf>,
    #[command(flatten)]
    inputs: InputArgs,
    /// A JSON object of secrets, NAME → value (the environment's COURIER_SECRET_NAME comes first).
    #[arg(long, value_name = "FILE")]
    secrets: Option<PathBuf>,
    /// Keep payloads and responses in the log.
    #[arg(long)]
    debug: bool,
    /// Print the request that would be sent, and send nothing.
    #[arg(long)]
    dry_run: bool,
    /// The request's Idempotency-Key: give the same key when sending one logical
    /// request again, and a kept or queued request is not kept a second time.
    #[arg(long, value_name = "KEY")]
    idempotency_key: Option<String>,
    /// The folder a file body may read local files from; without it none is read.
    #[arg(long, value_name = "DIR")]
    files: Option<PathBuf>,
    /// The replay store, where a queued request or one that failed is kept: a SQLite
    /// file or a postgres:// address [default: $COURIER_STORE, else courier-replay.db].
    #[arg(long, value_name = "FILE|URL")]
    store: Option<PathBuf>,
    /// Whose request this is, stored with a queued or kept record over the spec's `tenant`.
    #[arg(long, value_name = "T")]
    tenant: Option<String>,
    /// A TOML file of per-destination limits this send keeps (its retries wait for
    /// a `rate`'s window): `[[destination]]` with `host`, `rate`, `concurrency`.
    #[arg(long, value_name = "FILE")]
    limits: Option<PathBuf>,
    #[command(flatten)]
    allow: AllowArgs,
    #[command(flatten)]
    proxy: super::proxy::ProxyArgs,
    #[command(flatten)]
    otlp: super::otlp::OtlpArgs,
}

/// `courier events`
#[derive(Args, Debug)]
pub(crate) struct EventsArgs {
    /// The output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// A session file.
struct Session {
    variables: Variables,
    cookies: Cookies,
}

fn read_session(path: &Path) -> Result<Session, Failure> {
    if !path.exists() {
        return Ok(Session { variables: Variables::new(), cookies: Cookies::new() });
    }
    let bad = |message: String| Failure::usage(format!("{}: {message}", path.display()));
    let json = read_json(path)?;
    let serde_json::Value::Object(mut session) = json else {
        return Err(bad("a session is a JSON object {\"variables\": {...}, \"cookies\": {...}}".to_owned()));
    };
    let variables = match session.remove("variables") {
        Some(variables) => Variables::from_json(&variables).map_err(|error| bad(error.0))?,
        None => Variables::new(),
    };
    let cookies = match session.remove("cookies") {
        Some(cookies) => serde_json::from_value(cookies).map_err(|error| bad(format!("cookies: {error}")))?,
        None => Cookies::new(),
    };
    Ok(Session { variables, cookies })
}

/// Replaces `path` with `bytes` so that a reader (or a crash) sees either the old
/// file or the new one, never half of one: a temporary file in the same folder,
/// flushed to disk, renamed over the old one, and the folder flushed.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let folder = path.parent().filter(|folder| !folder.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = folder.join(format!(".{name}.{}.{:016x}.tmp", std::process::id(), rand::random::<u64>()));
    let written = (|| {
        // Sessions hold cookies and answers: readable by their owner only.
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written?;
    // Make the rename itself durable; not every platform can open a folder.
    if let Ok(folder) = fs::File::open(folder) {
        let _ = folder.sync_all();
    }
    Ok(())
}

/// Refuses a session file that could not be written back: a folder, or a file in a
/// folder where no file can be created (the session is replaced by a rename).
fn check_writable(path: &Path) -> Result<(), Failure> {
    let cannot = |why: String| Failure::usage(format!("the session {} cannot be written: {why}", path.display()));
    if path.is_dir() {
        return Err(cannot("it is a folder".to_owned()));
    }
    let folder = path.parent().filter(|folder| !folder.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let probe = folder.join(format!(".courier-session-probe.{}.{:016x}", std::process::id(), rand::random::<u64>()));
    OpenOptions::new().write(true).create_new(true).open(&probe).map_err(|error| cannot(error.to_string()))?;
    let _ = fs::remove_file(&probe);
    Ok(())
}

pub(crate) fn send(args: SendArgs) -> Result<(), Failure> {
    let _traces = args.otlp.start()?;
    let engine = args.inputs.engine();
    // A spec that cannot be read is bad usage, like a --vars file that cannot.
    if let Err(error) = fs::File::open(&args.spec) {
        return Err(Failure::usage(format!("cannot read {}: {error}", args.spec.display())));
    }
    let mut request =
        CompiledRequest::load(&engine, &args.spec).map_err(|error| Failure::error(format!("error: {error}\n")))?;
    if args.debug {
        request.set_debug(true);
    }
    // Found out after sending, a session that cannot be written would fail a request
    // that went out, and a caller retrying it would send it twice.
    if let (Some(path), false) = (&args.session, args.dry_run) {
        check_writable(path)?;
    }
    let mut session = match &args.session {
        Some(path) => read_session(path)?,
        None => Session { variables: Variables::new(), cookies: Cookies::new() },
    };
    session.variables.extend(args.inputs.variables()?);
    let secrets = match &args.secrets {
        Some(path) => serde_json::from_value(read_json(path)?).map_err(|error| {
            Failure::usage(format!("{}: secrets are a JSON object of strings: {error}", path.display()))
        })?,
        None => HashMap::new(),
    };
    let context = args.inputs.context()?.with_secrets(Arc::new(CliSecrets { file: secrets }));
    let destinations = args.allow.destinations()?;
    let proxy = args.proxy.proxy()?;
    let options =
        ExecutorOptions { local_files: args.files.clone(), destinations, proxy, ..ExecutorOptions::default() };
    let delivery = Delivery::new(Executor::with_options(options))
        .with_store(store_at(&store_location(args.store))?)
        .with_tenant(args.tenant)
        .with_limits(super::replay::limits_file(args.limits.as_deref())?);

    if args.dry_run {
        let dry_run = delivery
            .dry_run(&request, &session.variables, &context, &session.cookies)
            .map_err(|message| Failure::error(format!("error: {message}; nothing was sent\n")))?;
        return print_json(&serde_json::to_value(&dry_run).unwrap_or_default());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| Failure::error(format!("error: cannot start the runtime: {error}\n")))?;
    let key = args.idempotency_key.as_deref();
    let outcome =
        runtime.block_on(delivery.execute_with_key(&request, &session.variables, &context, &mut session.cookies, key));
    let printed = print_json(&serde_json::to_value(&outcome).unwrap_or_default());

    if let Some(path) = &args.session {
        outcome.apply_to(&mut session.variables);
        let json = serde_json::json!({ "variables": session.variables.to_json(), "cookies": session.cookies });
        let text = serde_json::to_string_pretty(&json).unwrap_or_default() + "\n";
        write_atomically(path, text.as_bytes()).map_err(|error| {
            Failure::error(format!("error: cannot write the session {}: {error}\n", path.display()))
        })?;
    }
    printed?;
    match (&outcome.status, &outcome.error) {
        (Some(_), _) => Ok(()),
        (None, Some(error)) => Err(Failure::error(format!("error: {error}\n"))),
        (None, None) if outcome.replay.is_some() => Ok(()),
        (None, None) => Err(Failure::error("error: no response came\n")),
    }
}

pub(crate) fn events(args: EventsArgs) -> Result<(), Failure> {
    let entries: Vec<_> = catalog().collect();
    match args.format {
        Format::Json => print_json(&serde_json::to_value(&entries).unwrap_or_default()),
        Format::Human => {
            let width = entries.iter().map(|entry| entry.name.len()).max().unwrap_or(0);
            let mut text = String::from("# * = emitted by courier\n");
            for entry in entries {
                let mark = if entry.emitted { '*' } else { ' ' };
                text.push_str(&format!("{mark} {:width$}  {}\n", entry.name, entry.description));
            }
            super::eval::print(text.as_bytes())
        }
    }
}

fn print_json(json: &serde_json::Value) -> Result<(), Failure> {
    super::eval::print((serde_json::to_string_pretty(json).unwrap_or_default() + "\n").as_bytes())
}
