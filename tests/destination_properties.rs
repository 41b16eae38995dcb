//! Property tests of the destination classifier: every spelling of an IPv4 address
//! the URL parser accepts (decimal, hex, octal, short forms, a trailing dot) and
//! every IPv6 form that carries it (IPv4-mapped, -translated, -compatible, NAT64,
//! 6to4) is decided as the address itself.
#![cfg(feature = "http")]

use std::net::{IpAddr, Ipv4Addr};

use courier::request::Destinations;
use courier::request::destination::{Class, classify};
use proptest::prelude::*;

/// Addresses from every range the classifier knows, and anywhere else.
fn address() -> impl Strategy<Value = Ipv4Addr> {
    let block = |base: [u8; 4], bits: u32| {
        let base = u32::from(Ipv4Addr::from(base));
        (0..=(u32::MAX >> bits)).prop_map(move |low| Ipv4Addr::from(base | low))
    };
    prop_oneof![
        block([127, 0, 0, 0], 8),
        block([10, 0, 0, 0], 8),
        block([172, 16, 0, 0], 12),
        block([192, 168, 0, 0], 16),
        block([100, 64, 0, 0], 10),
        block([169, 254, 0, 0], 16),
        block([192, 0, 0, 0], 24),
        block([198, 18, 0, 0], 15),
        block([240, 0, 0, 0], 4),
        block([224, 0, 0, 0], 4),
        block([0, 0, 0, 0], 8),
        Just(Ipv4Addr::new(169, 254, 169, 254)),
        Just(Ipv4Addr::new(100, 100, 100, 200)),
        Just(Ipv4Addr::BROADCAST),
        any::<u32>().prop_map(Ipv4Addr::from),
    ]
}

/// The URL hosts that name `address`.
fn spellings(address: Ipv4Addr) -> Vec<String> {
    let [a, b, c, d] = address.octets();
    let bits = u32::from(address);
    let (high, low) = ((bits >> 16) as u16, bits as u16);
    let mut hosts = vec![
        format!("{a}.{b}.{c}.{d}"),
        format!("{a}.{b}.{c}.{d}."),
        format!("{bits}"),
        format!("0x{bits:08x}"),
        format!("0X{bits:X}"),
        format!("0{a:o}.0{b:o}.0{c:o}.0{d:o}"),
        format!("0x{a:x}.0x{b:x}.0x{c:x}.0x{d:x}"),
        format!("{a}.{b}.{}", u32::from(low)),
        format!("{a}.{}", bits & 0x00ff_ffff),
        format!("[::ffff:{a}.{b}.{c}.{d}]"),
        format!("[::ffff:{high:x}:{low:x}]"),
        format!("[0:0:0:0:0:ffff:{high:X}:{low:X}]"),
        format!("[::ffff:0:{a}.{b}.{c}.{d}]"),
        format!("[64:ff9b::{a}.{b}.{c}.{d}]"),
        format!("[64:ff9b::{high:x}:{low:x}]"),
        format!("[2002:{high:x}:{low:x}::1]"),
        format!("[2002:{high:x}:{low:x}:ffff::abcd]"),
    ];
    // ::0.0.0.0 and ::0.0.0.1 are :: and ::1, IPv6 addresses of their own.
    if bits > 1 {
        hosts.push(format!("[::{a}.{b}.{c}.{d}]"));
    }
    hosts
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_spelling_is_decided_as_the_address_it_names(address in address(), port in 1u16..) {
        let class = classify(IpAddr::V4(address));
        let public_only = Destinations::public_only();
        let private = Destinations::allowing_private();
        for host in spellings(address) {
            let url = format!("http://{host}:{port}/path");
            let by_default = public_only.decide(&url, &[]);
            let allowed = private.decide(&url, &[]);
            match class {
                Class::Public => {
                    prop_assert!(by_default.is_ok(), "{url}: {by_default:?}");
                    prop_assert!(allowed.is_ok(), "{url}: {allowed:?}");
                }
                Class::Private(range) => {
                    let refusal = by_default.expect_err(&url);
                    prop_assert!(refusal.message().contains(range), "{url}: {}", refusal.message());
                    prop_assert!(refusal.message().contains(&address.to_string()), "{url}: {}", refusal.message());
                    prop_assert!(allowed.is_ok(), "{url}: {allowed:?}");
                }
                Class::Never(range) => {
                    let refusal = allowed.expect_err(&url);
                    prop_assert!(refusal.message().contains(range), "{url}: {}", refusal.message());
                    prop_assert!(refusal.message().contains("courier never connects to it"));
                    prop_assert!(by_default.is_err(), "{url}");
                }
            }
        }
    }

    #[test]
    fn a_name_is_decided_by_every_address_it_resolves_to(addresses in proptest::collection::vec(address(), 1..5)) {
        let resolved: Vec<IpAddr> = addresses.iter().copied().map(IpAddr::V4).collect();
        let decided = Destinations::public_only().decide("https://shop.example.org/", &resolved);
        let public: Vec<IpAddr> =
            resolved.iter().copied().filter(|address| classify(*address) == Class::Public).collect();
        match decided {
            Ok(kept) => prop_assert_eq!(kept.iter().map(|socket| socket.ip()).collect::<Vec<_>>(), public),
            Err(refusal) => {
                prop_assert!(public.is_empty());
                prop_assert!(refusal.message().starts_with("courier refused to connect to shop.example.org port 443"));
            }
        }
    }
}
