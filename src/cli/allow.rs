//! `--allow ENTRY` and `COURIER_ALLOW`: the destinations the commands that connect
//! (`send`, `replay run`, `worker`, and `serve` for `/v1/send`) may reach besides public addresses.

use clap::Args;
use courier::request::{Destinations, Entry};

use super::Failure;

/// The environment variable of comma-separated allow entries.
const ALLOW_VARIABLE: &str = "COURIER_ALLOW";

/// `--allow ENTRY`, repeatable.
#[derive(Args, Debug, Default)]
pub(crate) struct AllowArgs {
    /// Also allow a destination in the private group: a host name (api.example.org,
    /// *.example.org), an address or CIDR block (127.0.0.2, 10.0.0.0/8, [fd00::/8]),
    /// each with an optional :PORT, or `private` for the whole group. Repeatable; the
    /// comma-separated entries of COURIER_ALLOW add to these.
    #[arg(long = "allow", value_name = "ENTRY")]
    allow: Vec<String>,
}

impl AllowArgs {
    /// The policy: public destinations, and what `--allow` and `COURIER_ALLOW` add.
    pub(crate) fn destinations(&self) -> Result<Destinations, Failure> {
        let mut destinations = Destinations::public_only();
        for text in &self.allow {
            let entry: Entry = text.parse().map_err(|why| Failure::usage(format!("--allow: {why}")))?;
            destinations.allow(entry);
        }
        if let Ok(text) = std::env::var(ALLOW_VARIABLE) {
            let entries =
                Destinations::parse_list(&text).map_err(|why| Failure::usage(format!("{ALLOW_VARIABLE}: {why}")))?;
            for entry in entries {
                destinations.allow(entry);
            }
        }
        Ok(destinations)
    }
}
