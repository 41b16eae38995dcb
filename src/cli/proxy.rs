//! `--proxy URL` and `COURIER_PROXY`: the egress proxy the commands that send
//! (`send`, `replay run`, `worker`, and `serve` for `/v1/send`) go through.
//! `HTTP_PROXY`, `HTTPS_PROXY` and `ALL_PROXY` are ignored: a client that honours
//! them lets the proxy resolve the destination's name, around the destination policy.

use clap::Args;
use courier::request::EgressProxy;

use super::Failure;

/// The environment variable of the egress proxy, when `--proxy` is not given.
const PROXY_VARIABLE: &str = "COURIER_PROXY";

/// `--proxy URL`, or `COURIER_PROXY`.
#[derive(Args, Default)]
pub(crate) struct ProxyArgs {
    /// An egress proxy for every request, http://[user:password@]host:port
    /// [env: COURIER_PROXY]. courier checks the destination, then asks the proxy for
    /// CONNECT to the checked address. HTTP_PROXY, HTTPS_PROXY and ALL_PROXY are ignored.
    #[arg(long = "proxy", value_name = "URL")]
    proxy: Option<String>,
}

impl ProxyArgs {
    /// The proxy, when one is given; an error never repeats the URL (it may hold a password).
    pub(crate) fn proxy(&self) -> Result<Option<EgressProxy>, Failure> {
        let (given, from) = match &self.proxy {
            Some(text) => (Some(text.clone()), "--proxy"),
            None => (std::env::var(PROXY_VARIABLE).ok(), PROXY_VARIABLE),
        };
        let Some(text) = given.filter(|text| !text.trim().is_empty()) else { return Ok(None) };
        text.parse().map(Some).map_err(|why| Failure::usage(format!("{from}: {why}")))
    }
}

impl std::fmt::Debug for ProxyArgs {
    /// The proxy with its password redacted (the arguments may be printed).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let proxy = self.proxy.as_deref().map(|text| match text.parse::<EgressProxy>() {
            Ok(proxy) => proxy.to_string(),
            Err(_) => "[not a proxy URL]".to_owned(),
        });
        f.debug_struct("ProxyArgs").field("proxy", &proxy).finish()
    }
}
