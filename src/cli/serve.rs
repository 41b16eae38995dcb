//! `courier serve`: the API and the playground page on a local address.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use courier::request::ExecutorOptions;
use courier::serve::{ServeOptions, serve_until};
use serde_json::json;

use super::Failure;
use super::allow::AllowArgs;
use super::log::{Level, LogFormat};

/// `courier serve [--listen ADDR] [--host NAME]... [--allow-send [--public]] [--files DIR] [--allow ENTRY]... [--limits FILE]`
#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// The address to listen on (port 0 picks a free one; the address is printed).
    #[arg(long, default_value = "127.0.0.1:7878")]
    listen: SocketAddr,
    /// A name the server is reached by besides its address (repeatable): a request's
    /// Host must be the address, a loopback name of it, or one of these.
    #[arg(long = "host", value_name = "NAME")]
    hosts: Vec<String>,
    /// Allow --allow-send on an address other than loopback: every machine that
    /// reaches it could then make the server send, with the operator's secrets.
    #[arg(long)]
    public: bool,
    /// Let POST /v1/send send requests (else it answers 403).
    #[arg(long)]
    allow_send: bool,
    /// A folder a spec's payload_file may be read from (relative paths inside it only);
    /// without it, a spec sent to the server never reads its disk.
    #[arg(long, value_name = "DIR")]
    files: Option<PathBuf>,
    /// The destinations /v1/send may reach besides public ones (as `courier send --allow`).
    #[command(flatten)]
    allow: AllowArgs,
    #[command(flatten)]
    proxy: super::proxy::ProxyArgs,
    /// The most attempts a spec's [retry] may make in one /v1/send (1 to 10): a
    /// tenant's spec cannot turn one call into many requests to a service.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10))]
    max_attempts: u32,
    /// A TOML file of per-destination limits that /v1/send keeps in this process:
    /// `[[destination]]` with `host`, `rate` ("10/s") and `concurrency` (docs/replay.md).
    #[arg(long, value_name = "FILE")]
    limits: Option<PathBuf>,
    /// On SIGTERM or SIGINT, how long the requests in progress may take to finish.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "30s")]
    grace: std::time::Duration,
    /// How log lines are written on stderr: for people, or one JSON object a line.
    #[arg(long, value_enum, default_value_t)]
    log_format: LogFormat,
    #[command(flatten)]
    otlp: super::otlp::OtlpArgs,
}

pub(crate) fn serve(args: ServeArgs) -> Result<(), Failure> {
    if args.allow_send && !args.listen.ip().is_loopback() && !args.public {
        return Err(Failure::usage(format!(
            "--allow-send on {} lets every machine that reaches it send requests with this server's secrets: \
             listen on loopback (127.0.0.1), or add --public if that is meant",
            args.listen
        )));
    }
    if let Some(folder) = &args.files
        && !folder.is_dir()
    {
        return Err(Failure::usage(format!("--files {}: not an existing folder", folder.display())));
    }
    let executor = ExecutorOptions {
        destinations: args.allow.destinations()?,
        proxy: args.proxy.proxy()?,
        max_attempts: args.max_attempts,
        ..ExecutorOptions::default()
    };
    let limits = super::replay::limits_file(args.limits.as_deref())?;
    let options = ServeOptions { allow_send: args.allow_send, files: args.files, executor, hosts: args.hosts, limits };
    let _traces = args.otlp.start()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| Failure::error(format!("error: cannot start the runtime: {error}\n")))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|error| Failure::usage(format!("cannot listen on {}: {error}", args.listen)))?;
        let address = listener.local_addr().map_err(|error| Failure::usage(error.to_string()))?;
        // The first line on stdout is the address: scripts and tests read it.
        super::eval::print(format!("courier serve: listening on http://{address}/\n").as_bytes())?;
        let url = format!("http://{address}/");
        let fields = [("url", json!(url)), ("allow_send", json!(options.allow_send))];
        args.log_format.write(Level::Info, &format!("listening on {url}"), "listening", &fields);
        let stopped = serve_until(listener, options, shutdown_signal(), args.grace).await;
        stopped.map_err(|error| Failure::error(format!("error: the server stopped: {error}\n")))?;
        args.log_format.write(Level::Info, "stopped: the requests in progress finished", "stopped", &[]);
        Ok(())
    })
}

/// Completes on SIGTERM (every deploy, every autoscaler) or SIGINT (Ctrl-C).
pub(crate) async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let Ok(mut terminate) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
            let _ = interrupt.await;
            return;
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
