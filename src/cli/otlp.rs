//! `--otlp URL`: exporting the executor's spans over OTLP/HTTP (protobuf) to
//! `URL/v1/traces`, through the OpenTelemetry SDK's batch processor. Without the
//! flag and without `OTEL_EXPORTER_OTLP_ENDPOINT`, no subscriber is installed:
//! nothing is recorded or exported, and each span costs a callsite check.

use std::time::Duration;

use clap::Args;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;

use super::Failure;

/// The service name spans are exported under, unless `OTEL_SERVICE_NAME` says another.
const SERVICE_NAME: &str = "courier";

/// How long one export may take before it is given up.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// `--otlp`.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct OtlpArgs {
    /// Export traces over OTLP/HTTP (protobuf) to URL/v1/traces, e.g.
    /// http://127.0.0.1:4318 [default: $OTEL_EXPORTER_OTLP_ENDPOINT, else none].
    #[arg(long, value_name = "URL")]
    otlp: Option<String>,
}

/// The exporter in force for a command: dropping it flushes the spans not yet
/// exported and shuts the exporter down.
pub(crate) struct Traces {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Traces {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            // Flushes the batch; a collector that cannot be reached loses those spans.
            let _ = provider.shutdown();
        }
    }
}

impl OtlpArgs {
    /// Starts exporting when `--otlp` or `OTEL_EXPORTER_OTLP_ENDPOINT` names a
    /// collector: installs the OpenTelemetry layer as the process's subscriber.
    /// Keep the result until the command ends.
    pub(crate) fn start(&self) -> Result<Traces, Failure> {
        let from_environment =
            || std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok().filter(|url| !url.trim().is_empty());
        let Some(base) = self.otlp.clone().or_else(from_environment) else {
            return Ok(Traces { provider: None });
        };
        check_protocol()?;
        let endpoint = traces_endpoint(&base)?;
        let endpoint_shown = endpoint.clone();
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(endpoint)
            .with_timeout(EXPORT_TIMEOUT)
            .with_http_client(export_client()?)
            .build()
            // The exporter's error may quote the endpoint, whose user info may hold a token.
            .map_err(|error| {
                let error = error.to_string().replace(&endpoint_shown, "[the collector's URL]");
                Failure::usage(format!("cannot set up the OTLP exporter: {error}"))
            })?;
        let service = std::env::var("OTEL_SERVICE_NAME")
            .ok()
            .filter(|name| !name.trim().is_empty())
            .unwrap_or_else(|| SERVICE_NAME.to_owned());
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(Resource::builder_empty().with_service_name(service).build())
            .build();
        let tracer = provider.tracer("courier");
        // Only the attributes courier sets (docs/operations.md): no source
        // locations, targets, levels, thread names or busy/idle times.
        let layer = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_target(false)
            .with_level(false);
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::set_global_default(subscriber)
            .map_err(|error| Failure::usage(format!("cannot install the trace exporter: {error}")))?;
        Ok(Traces { provider: Some(provider) })
    }
}

/// The exporter's HTTP client. The SDK's own is built with rustls's platform
/// verifier, which cannot be built on a machine without a system CA store, and
/// then `--otlp` failed even for an `http://` collector; this one trusts nothing
/// there instead (an `https://` collector's export then fails, and says why).
/// Built on a thread of its own: a blocking client may not be made, nor
/// dropped, inside an async runtime.
fn export_client() -> Result<reqwest::blocking::Client, Failure> {
    let build = || {
        let builder = reqwest::blocking::Client::builder().timeout(EXPORT_TIMEOUT);
        let builder =
            if courier::request::system_roots_present() { builder } else { builder.tls_certs_only(Vec::new()) };
        builder.build()
    };
    let built = std::thread::spawn(build).join().map_err(|_| Failure::usage("cannot set up the OTLP exporter"))?;
    built.map_err(|error| Failure::usage(format!("cannot set up the OTLP exporter's HTTP client: {error}")))
}

/// `OTEL_EXPORTER_OTLP_PROTOCOL` (or its `_TRACES_` form), when set, must be
/// `http/protobuf`: the one protocol courier speaks, also its default.
fn check_protocol() -> Result<(), Failure> {
    for name in ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"] {
        if let Ok(protocol) = std::env::var(name)
            && !protocol.trim().is_empty()
            && protocol.trim() != "http/protobuf"
        {
            return Err(Failure::usage(format!(
                "{name}={protocol:?}: courier exports traces over OTLP/HTTP with protobuf only (http/protobuf)"
            )));
        }
    }
    Ok(())
}

/// `URL/v1/traces` of a collector's base URL, which must be http or https.
fn traces_endpoint(base: &str) -> Result<String, Failure> {
    let parsed = url::Url::parse(base.trim())
        .map_err(|error| Failure::usage(format!("--otlp: the collector's address is not a URL: {error}")))?;
    // The address is not echoed: its user info may hold a collector's token.
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(Failure::usage("--otlp: the collector's URL is http:// or https:// and names a host"));
    }
    // The url crate's form: a space percent-encoded, a host in Punycode, as the
    // HTTP client takes it (given as typed, the exporter refused it quoting it whole).
    Ok(format!("{}/v1/traces", parsed.as_str().trim_end_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_path_is_added_to_the_collector_url() {
        assert_eq!(traces_endpoint("http://127.0.0.1:4318").ok(), Some("http://127.0.0.1:4318/v1/traces".to_owned()));
        assert_eq!(
            traces_endpoint("https://otel.example.org/a/").ok(),
            Some("https://otel.example.org/a/v1/traces".to_owned())
        );
        assert!(traces_endpoint("127.0.0.1:4318").is_err());
        assert!(traces_endpoint("ftp://x.org").is_err());
        assert_eq!(
            traces_endpoint("http://user:tok3n@exämple.com:4318/a b").ok(),
            Some("http://user:tok3n@xn--exmple-cua.com:4318/a%20b/v1/traces".to_owned())
        );
    }
}
