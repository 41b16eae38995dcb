//! URL → decision: arbitrary allow entries, an arbitrary URL and the addresses its
//! name resolves to. Parsing and deciding never panic; an entry prints as text that
//! parses back to it; an allowed destination is never in a never-reachable range,
//! and with no entries it is public.
#![no_main]

use std::net::IpAddr;

use courier::request::destination::{Class, classify};
use courier::request::{Destinations, Entry};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut parts = text.split('\0');
    let url = parts.next().unwrap_or_default();
    let entries = parts.next().unwrap_or_default();
    let resolved: Vec<IpAddr> = parts.next().unwrap_or_default().split(',').filter_map(|a| a.trim().parse().ok()).collect();
    let mut destinations = Destinations::public_only();
    if let Ok(entries) = Destinations::parse_list(entries) {
        for entry in entries {
            let printed = entry.to_string();
            let again: Entry = printed.parse().unwrap_or_else(|error| panic!("{entry:?} printed as {printed:?}: {error}"));
            assert_eq!(again, entry, "{printed}");
            destinations.allow(entry);
        }
    }
    let public_only = destinations.entries().is_empty();
    if let Ok(addresses) = destinations.decide(url, &resolved) {
        for address in addresses {
            match classify(address.ip()) {
                Class::Never(range) => panic!("{url} reached {address}, {range}"),
                Class::Private(range) if public_only => panic!("{url} reached {address}, {range}, with no entry"),
                _ => {}
            }
        }
    }
});
