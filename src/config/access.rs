//! Allow and deny by client address for a whole listener (`--access`):
//! rules in order, the first that matches decides, and an address that no
//! rule matches is allowed, as nginx's `allow` and `deny` do. A denied
//! client's connection is closed as soon as it is accepted, before any
//! byte or TLS handshake.

use std::net::IpAddr;

use ipnet::IpNet;

/// One rule: allow or deny a network, or every address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessRule {
    /// Allow (else deny).
    pub allow: bool,
    /// The network; `None` for `all`.
    pub net: Option<IpNet>,
}

impl AccessRule {
    /// `allow CIDR`, `deny CIDR`, `allow all` or `deny all` (an address
    /// alone is its own network).
    pub fn parse(text: &str) -> Result<AccessRule, String> {
        let (verb, what) = text.trim().split_once(char::is_whitespace).ok_or_else(|| {
            format!("{text:?} is not `allow CIDR`, `deny CIDR`, `allow all` or `deny all`")
        })?;
        let allow = match verb {
            "allow" => true,
            "deny" => false,
            _ => return Err(format!("{text:?} begins with neither allow nor deny")),
        };
        let what = what.trim();
        let net = if what == "all" {
            None
        } else {
            Some(crate::forwarded::parse_net(what)?)
        };
        Ok(AccessRule { allow, net })
    }
}

/// Whether `rules` let `ip` in.
#[inline]
pub fn allows(rules: &[AccessRule], ip: IpAddr) -> bool {
    if rules.is_empty() {
        return true;
    }
    let ip = ip.to_canonical();
    rules
        .iter()
        .find(|r| r.net.is_none_or(|n| n.contains(&ip)))
        .is_none_or(|r| r.allow)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(list: &[&str]) -> Vec<AccessRule> {
        list.iter().map(|r| AccessRule::parse(r).unwrap()).collect()
    }

    #[test]
    fn the_first_matching_rule_decides() {
        let r = rules(&["deny 10.0.0.5", "allow 10.0.0.0/8", "deny all"]);
        assert!(!allows(&r, "10.0.0.5".parse().unwrap()));
        assert!(allows(&r, "10.1.2.3".parse().unwrap()));
        assert!(!allows(&r, "192.0.2.1".parse().unwrap()));
        // IPv4 mapped into IPv6 is the IPv4 address.
        assert!(allows(&r, "::ffff:10.1.2.3".parse().unwrap()));
        // No rule matches: allowed.
        assert!(allows(
            &rules(&["deny 192.0.2.0/24"]),
            "198.51.100.1".parse().unwrap()
        ));
        assert!(allows(&[], "192.0.2.1".parse().unwrap()));
        let v6 = rules(&["allow 2001:db8::/32", "deny all"]);
        assert!(allows(&v6, "2001:db8::1".parse().unwrap()));
        assert!(!allows(&v6, "2001:db9::1".parse().unwrap()));
    }

    #[test]
    fn bad_rules_are_named() {
        for bad in [
            "permit 10.0.0.0/8",
            "allow",
            "deny 10.0.0.0/33",
            "allow everyone",
        ] {
            let e = AccessRule::parse(bad).unwrap_err();
            assert!(e.contains('"'), "{bad}: {e}");
        }
    }
}
