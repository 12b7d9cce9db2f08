//! Allow and deny by client address (`--allow`, `--deny`, `--access`, and
//! `allow` and `deny` lists in `[[limits]]`): rules in order, the first
//! that matches decides, as nginx's `allow` and `deny` do; an address that
//! no rule matches is allowed, unless every rule is an allow. A client
//! every site denies is closed as soon as it is accepted, before any byte
//! or TLS handshake; otherwise a denied request gets 403.

use std::net::IpAddr;

use ipnet::IpNet;

/// One rule: allow or deny a network, or every address.
///
/// ```
/// use henaserver::config::access::AccessRule;
/// let rule = AccessRule::parse("deny 192.0.2.0/24")?;
/// assert!(!rule.allow);
/// assert_eq!(rule.to_string(), "deny 192.0.2.0/24");
/// # Ok::<(), String>(())
/// ```
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
    ///
    /// ```
    /// use henaserver::config::access::AccessRule;
    /// assert!(AccessRule::parse("allow all")?.net.is_none());
    /// assert!(AccessRule::parse("permit 10.0.0.0/8").is_err());
    /// # Ok::<(), String>(())
    /// ```
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

impl std::fmt::Display for AccessRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verb = if self.allow { "allow" } else { "deny" };
        match &self.net {
            Some(net) => write!(f, "{verb} {net}"),
            None => write!(f, "{verb} all"),
        }
    }
}

/// Whether `rules` let `ip` in: the first rule that matches decides; when
/// none does, the client is allowed, unless every rule is an allow (a list
/// of allows names the only clients served).
///
/// ```
/// use henaserver::config::access::{allows, AccessRule};
/// let rules = [AccessRule::parse("deny 10.0.0.5")?, AccessRule::parse("allow 10.0.0.0/8")?];
/// assert!(!allows(&rules, "10.0.0.5".parse().unwrap()));
/// assert!(allows(&rules, "10.1.2.3".parse().unwrap()));
/// // Every rule an allow: nothing else comes in.
/// assert!(!allows(&rules[1..], "192.0.2.1".parse().unwrap()));
/// # Ok::<(), String>(())
/// ```
#[inline]
pub fn allows(rules: &[AccessRule], ip: IpAddr) -> bool {
    if rules.is_empty() {
        return true;
    }
    let ip = ip.to_canonical();
    match rules.iter().find(|r| r.net.is_none_or(|n| n.contains(&ip))) {
        Some(rule) => rule.allow,
        None => !rules.iter().all(|r| r.allow),
    }
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
        // Only allows: nothing else is served.
        let only = rules(&["allow 10.0.0.0/8", "allow 192.0.2.7"]);
        assert!(allows(&only, "192.0.2.7".parse().unwrap()));
        assert!(!allows(&only, "192.0.2.8".parse().unwrap()));
        // CIDR edges.
        let edge = rules(&["deny 192.0.2.0/25"]);
        assert!(!allows(&edge, "192.0.2.127".parse().unwrap()));
        assert!(allows(&edge, "192.0.2.128".parse().unwrap()));
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
