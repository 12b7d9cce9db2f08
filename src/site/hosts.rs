//! Virtual hosts: which of the server's sites answers a request.
//!
//! A request is matched by its host (the `Host` field, `:authority`, or an
//! absolute-form target's authority), without its port, case-insensitive,
//! a trailing dot ignored: exact names first, then wildcards (`*.example.org`,
//! any depth below it), the longest first. A request for no known host goes
//! to the default site, or gets 421 Misdirected Request when there is none.
//! Over TLS, a request whose host has its own site but that arrived on a
//! connection whose server name (SNI) belongs to another site also gets 421
//! (RFC 9110 §15.5.20), so that a browser reusing a connection for another
//! name asks again on a connection of its own.

use std::collections::HashMap;
use std::sync::Arc;

use super::{pages, Pipeline};
use crate::exchange::{Plan, Request};

/// Every site of the server and the names they answer to.
#[derive(Debug)]
pub struct Sites {
    sites: Vec<Pipeline>,
    exact: HashMap<Box<str>, usize>,
    /// Suffixes (with their leading dot), the longest first.
    wildcards: Vec<(Box<str>, usize)>,
    default: Option<usize>,
}

/// One site and the names it answers to.
#[derive(Debug)]
pub struct Named {
    /// What answers.
    pub pipeline: Pipeline,
    /// Its host names (`example.com`, `*.example.org`).
    pub hosts: Vec<String>,
    /// Whether it answers for hosts no site names.
    pub default: bool,
    /// The name in the access log.
    pub name: String,
}

impl Sites {
    /// A server of one site, which answers every request.
    pub fn single(pipeline: Pipeline) -> Sites {
        Sites {
            sites: vec![pipeline],
            exact: HashMap::new(),
            wildcards: Vec::new(),
            default: Some(0),
        }
    }

    /// A server of the `named` sites (the configuration checked that no
    /// name is given twice).
    pub fn new(named: Vec<Named>) -> Sites {
        let mut sites = Sites {
            sites: Vec::with_capacity(named.len()),
            exact: HashMap::new(),
            wildcards: Vec::new(),
            default: None,
        };
        for (i, site) in named.into_iter().enumerate() {
            for host in &site.hosts {
                let host = normalize(host);
                match host.strip_prefix('*') {
                    Some(suffix) => sites.wildcards.push((suffix.into(), i)),
                    None => {
                        sites.exact.entry(host.into()).or_insert(i);
                    }
                }
            }
            if site.default && sites.default.is_none() {
                sites.default = Some(i);
            }
            sites.sites.push(site.pipeline.named(site.name.into()));
        }
        sites
            .wildcards
            .sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
        sites
    }

    /// The site named by `host`, without falling back to the default.
    fn named(&self, host: &str) -> Option<usize> {
        if let Some(&i) = self.exact.get(host) {
            return Some(i);
        }
        self.wildcards
            .iter()
            .find(|(suffix, _)| host.len() > suffix.len() && host.ends_with(&**suffix))
            .map(|&(_, i)| i)
    }

    /// The site named by `host` as a request writes it (any case, maybe
    /// a trailing dot), without falling back to the default.
    fn named_as_sent(&self, host: &str) -> Option<usize> {
        // Lower-cased on the stack: no allocation per request. A name
        // longer than any DNS name names no site.
        let host = host.strip_suffix('.').unwrap_or(host);
        let mut key = [0u8; MAX_HOST];
        let key = key.get_mut(..host.len())?;
        key.copy_from_slice(host.as_bytes());
        key.make_ascii_lowercase();
        self.named(std::str::from_utf8(key).ok()?)
    }

    /// The site that answers `req`; `None` when it is misdirected.
    fn choose(&self, req: &Request) -> Option<usize> {
        if self.sites.len() == 1 && self.exact.is_empty() && self.wildcards.is_empty() {
            return Some(0);
        }
        let host = req
            .authority
            .and_then(|a| std::str::from_utf8(a).ok())
            .and_then(host_part);
        let named = host.and_then(|h| self.named_as_sent(h));
        let chosen = named.or(self.default)?;
        if let (Some(server_name), Some(named)) = (req.server_name, named) {
            if self.named_as_sent(server_name).or(self.default) != Some(named) {
                return None;
            }
        }
        Some(chosen)
    }

    /// The pipeline of the site that answers `req`; `None` when no site
    /// does here, and [`misdirected`] is the answer. (Chosen apart from
    /// answering, so that a connection's future holds nothing more than
    /// the pipeline's.)
    pub fn pipeline_for(&self, req: &Request) -> Option<&Pipeline> {
        self.choose(req).map(|i| &self.sites[i])
    }
}

/// 421: no site for this host here.
pub fn misdirected(req: &Request) -> Plan {
    let mut plan = pages::error_plan(421, req.head_only());
    plan.site = Some(Arc::from("-"));
    plan
}

/// The longest host name a site can be chosen by (a DNS name is at most
/// 253 characters).
const MAX_HOST: usize = 256;

/// A host name as the sites are keyed: lower case, without a trailing dot.
pub fn normalize(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// The host of an authority as written, without user information or
/// port (an IPv6 literal keeps its brackets); `None` when it is empty or
/// a bracket is not closed.
pub fn host_part(authority: &str) -> Option<&str> {
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let host = match authority.strip_prefix('[') {
        Some(rest) => &authority[..rest.find(']')? + 2],
        None => authority.split(':').next().unwrap_or(authority),
    };
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(host_part("Example.COM:8080"), Some("Example.COM"));
        assert_eq!(host_part("example.com."), Some("example.com."));
        assert_eq!(host_part("[::1]:8443"), Some("[::1]"));
        assert_eq!(host_part("user@a.b"), Some("a.b"));
        assert_eq!(host_part("[::1"), None);
        assert_eq!(host_part(":80"), None);
    }
}
