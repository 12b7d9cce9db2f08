//! `--trusted-proxy CIDR`: behind a proxy, the client and the scheme are
//! what the proxy says, in `Forwarded` (RFC 7239) or `X-Forwarded-For`
//! and `X-Forwarded-Proto`, but only when the peer is a trusted proxy:
//! from anyone else these fields are ignored.
//!
//! The client is the rightmost address in the chain that is not itself a
//! trusted proxy (each proxy appends the address it heard from).

use std::net::IpAddr;

use ipnet::IpNet;

use crate::exchange::{Fields, Name};

/// Parses `CIDR` or a plain address (a network of one).
pub fn parse_net(text: &str) -> Result<IpNet, String> {
    if text == "unix" {
        // Peers on a Unix socket.
        return Ok(IpNet::from(crate::exchange::UNIX_PEER.ip()));
    }
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is not an address or CIDR network"))
}

fn trusted(nets: &[IpNet], ip: IpAddr) -> bool {
    nets.iter().any(|n| n.contains(&ip))
}

/// One node of a forwarding chain: `192.0.2.1`, `192.0.2.1:80`,
/// `"[2001:db8::1]:4711"`; `None` for `unknown` or obfuscated names.
fn node(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_matches('"');
    if let Some(rest) = text.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    text.parse()
        .ok()
        .or_else(|| text.rsplit_once(':').and_then(|(ip, _)| ip.parse().ok()))
}

/// The `for=` nodes of a Forwarded value, in order.
fn forwarded_for(value: &str) -> Vec<Option<IpAddr>> {
    value
        .split(',')
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                k.trim().eq_ignore_ascii_case("for").then(|| node(v))
            })
        })
        .collect()
}

/// The client a trusted proxy names for a request from `peer`.
pub fn client(nets: &[IpNet], peer: IpAddr, fields: &dyn Fields) -> Option<IpAddr> {
    if nets.is_empty() || !trusted(nets, peer) {
        return None;
    }
    let text = |name| fields.get(name).and_then(|v| std::str::from_utf8(v).ok());
    let chain: Vec<Option<IpAddr>> = match text(Name::Forwarded) {
        Some(v) => forwarded_for(v),
        None => text(Name::XForwardedFor)?.split(',').map(node).collect(),
    };
    for hop in chain.iter().rev() {
        match hop {
            Some(ip) if trusted(nets, *ip) => continue,
            Some(ip) => return Some(*ip),
            None => return None,
        }
    }
    chain.first().copied().flatten()
}

/// Whether a trusted proxy says the request came over HTTPS.
pub fn https(nets: &[IpNet], peer: IpAddr, fields: &dyn Fields) -> bool {
    if nets.is_empty() || !trusted(nets, peer) {
        return false;
    }
    let text = |name| fields.get(name).and_then(|v| std::str::from_utf8(v).ok());
    if let Some(v) = text(Name::Forwarded) {
        let proto = v.split(',').next().and_then(|element| {
            element.split(';').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("proto")
                    .then(|| v.trim().trim_matches('"').to_ascii_lowercase())
            })
        });
        return proto.as_deref() == Some("https");
    }
    text(Name::XForwardedProto)
        .and_then(|v| v.split(',').next())
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::FieldList;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_trusted_peers_are_believed() {
        let nets = vec![
            parse_net("10.0.0.0/8").unwrap(),
            parse_net("127.0.0.1").unwrap(),
        ];
        let xff = FieldList::parse("X-Forwarded-For: 203.0.113.9, 10.1.2.3");
        assert_eq!(
            client(&nets, ip("127.0.0.1"), &xff),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(client(&nets, ip("192.0.2.7"), &xff), None);
        let fwd = FieldList::parse(
            "Forwarded: for=198.51.100.17;proto=https, for=\"[2001:db8::1]:4711\"",
        );
        assert_eq!(client(&nets, ip("10.9.9.9"), &fwd), Some(ip("2001:db8::1")));
        assert!(https(&nets, ip("10.9.9.9"), &fwd));
        assert!(!https(&nets, ip("192.0.2.7"), &fwd));
        let proto = FieldList::parse("X-Forwarded-Proto: https");
        assert!(https(&nets, ip("127.0.0.1"), &proto));
        let unknown = FieldList::parse("Forwarded: for=unknown");
        assert_eq!(client(&nets, ip("127.0.0.1"), &unknown), None);
        assert!(parse_net("nonsense").is_err());
    }
}
