//! Where options come from: a TOML file (`--config`), environment
//! variables (`HENASERVER_<OPTION>`), and the command line, each overriding
//! the one before.
//!
//! Every layer is turned into command-line arguments and checked by the
//! same clap definitions, so an option means the same in every layer and
//! there is one place that resolves them: the file's keys are the long
//! flags' names (`port`, `max-body` or `max_body`, ...), an environment
//! variable is the flag's name in capitals with `_` for `-`. A repeatable
//! option given in a higher layer replaces the lower layers' values.
//! Errors name their source: `FILE:LINE`, the variable, or the flag.
//!
//! The file may also hold what a flag cannot say: `[[rules]]` that add
//! headers or a Cache-Control value by path glob or content type, and the
//! tables `[error-pages]`, `[auth]` and `[headers]`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, CommandFactory, FromArgMatches};
use toml::Spanned;

use crate::config::access::AccessRule;
use crate::config::cli::Args;
use crate::config::rate::{Rate, RateLimit};
use crate::config::{Pattern, Route, Rule};

/// The prefix of environment variables that set options.
pub const ENV_PREFIX: &str = "HENASERVER_";

/// Everything the layers resolved to.
#[derive(Debug)]
pub struct Resolved {
    /// The options.
    pub args: Args,
    /// The rules from the file.
    pub rules: Vec<Rule>,
    /// The `[[limits]]` from the file.
    pub limits: Vec<RateLimit>,
    /// The redirects from the file.
    pub redirects: Vec<Route>,
    /// The rewrites from the file.
    pub rewrites: Vec<Route>,
    /// The file's `[[sites]]`.
    pub sites: Vec<ResolvedSite>,
    /// The resolved options as TOML, for --print-config.
    pub toml: String,
}

/// One `[[sites]]` entry, resolved over the top level's options.
#[derive(Debug)]
pub struct ResolvedSite {
    /// `FILE:LINE` of the entry, for errors.
    pub source: String,
    /// The name the access log gives it, if the file names it.
    pub name: Option<String>,
    /// Its host names, lower case.
    pub hosts: Vec<String>,
    /// Whether it answers for hosts no site names.
    pub default: bool,
    /// Its options.
    pub args: Args,
    /// Its rules (the top level's, unless it has its own).
    pub rules: Vec<Rule>,
    /// Its `[[limits]]` (likewise).
    pub limits: Vec<RateLimit>,
    /// Its redirects (likewise).
    pub redirects: Vec<Route>,
    /// Its rewrites (likewise).
    pub rewrites: Vec<Route>,
}

/// A configuration error: one line naming its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError(pub String);

impl std::fmt::Display for SettingsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

struct Layer {
    /// (source, key) for each group of arguments, so errors can name them.
    groups: Vec<(String, String, Vec<OsString>)>,
    root: Option<(String, OsString)>,
}

fn first_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let line = text.lines().next().unwrap_or("invalid value").to_string();
    line.strip_prefix("error: ").unwrap_or(&line).to_string()
}

/// The long flag an option key names, and how it takes values.
fn option(key: &str) -> Option<(String, ArgAction)> {
    let wanted = key.replace('_', "-");
    let command = Args::command();
    let found = command.get_arguments().find_map(|a| {
        let long = a.get_long()?;
        (long == wanted && !matches!(long, "help" | "version" | "config" | "print-config"))
            .then(|| (long.to_string(), a.get_action().clone()))
    });
    found
}

/// Arguments for one option with `values`, as they would be typed.
fn args_for(
    long: &str,
    action: &ArgAction,
    values: &[String],
    flag: Option<bool>,
) -> Vec<OsString> {
    match (action, flag) {
        (ArgAction::SetTrue, Some(true)) => vec![format!("--{long}").into()],
        (ArgAction::SetTrue, _) => Vec::new(),
        _ => values
            .iter()
            .flat_map(|v| [OsString::from(format!("--{long}")), OsString::from(v)])
            .collect(),
    }
}

/// Checks one group of arguments on its own.
fn check(source: &str, key: &str, args: &[OsString]) -> Result<(), SettingsError> {
    let mut argv: Vec<OsString> = vec!["henaserver".into()];
    argv.extend_from_slice(args);
    match Args::command()
        .args_override_self(true)
        .try_get_matches_from(argv)
    {
        Ok(_) => Ok(()),
        Err(e) => Err(SettingsError(format!(
            "{source}: {key}: {}",
            first_line(&e)
        ))),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn scalar(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// What the file holds beyond options; `None` where it says nothing.
#[derive(Debug, Default)]
struct Extras {
    rules: Option<Vec<Rule>>,
    limits: Option<Vec<RateLimit>>,
    redirects: Option<Vec<Route>>,
    rewrites: Option<Vec<Route>>,
}

/// The options a `[[sites]]` entry may set: those of one site.
pub const SITE_OPTIONS: &[&str] = &[
    "index",
    "listing",
    "header",
    "fallback",
    "error-page",
    "clean-urls",
    "cache-control",
    "no-compress",
    "compress-min",
    "compress-max",
    "encodings",
    "cors",
    "auth",
    "tls-cert",
    "tls-key",
    "hsts",
    "hsts-include-subdomains",
    "hsts-preload",
    "allow",
    "deny",
    "access",
    "rate-limit",
    "rate-burst",
    "rate-delay",
    "limit-rate",
    "limit-rate-after",
];

/// One `[[sites]]` entry, as the file writes it.
struct SiteEntry {
    /// `FILE:LINE` of the entry.
    source: String,
    name: Option<String>,
    hosts: Vec<String>,
    default: bool,
    layer: Layer,
    extras: Extras,
}

/// The file's `[[sites]]`, with the position of every key.
#[derive(serde::Deserialize)]
struct SitesOnly {
    #[serde(default)]
    sites: Vec<Spanned<BTreeMap<Spanned<String>, Spanned<toml::Value>>>>,
}

/// Reads the file layer.
fn file_layer(path: &Path) -> Result<(Layer, Extras, Vec<SiteEntry>), SettingsError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| SettingsError(format!("--config {shown}: cannot read: {e}")))?;
    let syntax = |e: toml::de::Error| {
        let line = e.span().map_or(1, |s| line_of(&text, s.start));
        let message = e
            .message()
            .lines()
            .next()
            .unwrap_or("invalid TOML")
            .to_string();
        SettingsError(format!("{shown}:{line}: {message}"))
    };
    let table: BTreeMap<Spanned<String>, Spanned<toml::Value>> =
        toml::from_str(&text).map_err(syntax)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut layer = Layer {
        groups: Vec::new(),
        root: None,
    };
    let mut extras = Extras::default();
    // In the order written: --allow and --deny keep their order.
    let mut keys: Vec<_> = table.iter().collect();
    keys.sort_by_key(|(k, _)| k.span().start);
    for (key, value) in keys {
        let source = format!("{shown}:{}", line_of(&text, key.span().start));
        if key.get_ref() == "sites" {
            continue;
        }
        entry(
            &mut layer,
            &mut extras,
            key.get_ref(),
            value.get_ref(),
            &source,
            base,
            false,
        )?;
    }
    let mut sites = Vec::new();
    if table.keys().any(|k| k.get_ref() == "sites") {
        let only: SitesOnly = toml::from_str(&text).map_err(|e| {
            let line = e.span().map_or(1, |s| line_of(&text, s.start));
            SettingsError(format!(
                "{shown}:{line}: sites: each [[sites]] entry is a table"
            ))
        })?;
        for site in only.sites {
            let source = format!("{shown}:{}", line_of(&text, site.span().start));
            let mut entry_of = SiteEntry {
                source,
                name: None,
                hosts: Vec::new(),
                default: false,
                layer: Layer {
                    groups: Vec::new(),
                    root: None,
                },
                extras: Extras::default(),
            };
            let mut keys: Vec<_> = site.get_ref().iter().collect();
            keys.sort_by_key(|(k, _)| k.span().start);
            for (key, value) in keys {
                let source = format!("{shown}:{}", line_of(&text, key.span().start));
                let name = key.get_ref().as_str();
                let bad = |what: &str| SettingsError(format!("{source}: {name}: {what}"));
                match (name, value.get_ref()) {
                    ("hosts", toml::Value::Array(items)) => {
                        for item in items {
                            let host = item.as_str().ok_or_else(|| bad("expected host names"))?;
                            entry_of.hosts.push(host_name(host).map_err(|e| bad(&e))?);
                        }
                    }
                    ("hosts", _) => return Err(bad("expected a list of host names")),
                    ("default", toml::Value::Boolean(b)) => entry_of.default = *b,
                    ("default", _) => return Err(bad("expected true or false")),
                    ("name", toml::Value::String(n))
                        if !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic()) =>
                    {
                        entry_of.name = Some(n.clone())
                    }
                    ("name", _) => return Err(bad("expected a name without spaces")),
                    (_, v) => entry(
                        &mut entry_of.layer,
                        &mut entry_of.extras,
                        name,
                        v,
                        &source,
                        base,
                        true,
                    )?,
                }
            }
            if entry_of.hosts.is_empty() && !entry_of.default {
                return Err(SettingsError(format!(
                    "{}: [[sites]]: give hosts = [\"example.com\", ...], or default = true",
                    entry_of.source
                )));
            }
            sites.push(entry_of);
        }
    }
    Ok((layer, extras, sites))
}

/// A host name of `hosts`: a name, `*.` and a name, or an IP address,
/// in lower case.
fn host_name(text: &str) -> Result<String, String> {
    let host = text.trim_end_matches('.').to_ascii_lowercase();
    let name = host.strip_prefix("*.").unwrap_or(&host);
    let ip = name.parse::<std::net::IpAddr>().is_ok()
        || name
            .strip_prefix('[')
            .and_then(|n| n.strip_suffix(']'))
            .is_some_and(|n| n.parse::<std::net::Ipv6Addr>().is_ok());
    let dns = crate::config::is_host_name(name, true);
    if (ip && !host.starts_with('*')) || dns {
        Ok(host)
    } else {
        Err(format!(
            "{text:?} is not a host name (example.com, *.example.com, or an IP address)"
        ))
    }
}

/// One key of the file (or, with `in_site`, of a `[[sites]]` entry).
fn entry(
    layer: &mut Layer,
    extras: &mut Extras,
    name: &str,
    value: &toml::Value,
    source: &str,
    base: &Path,
    in_site: bool,
) -> Result<(), SettingsError> {
    let bad = |what: &str| SettingsError(format!("{source}: {name}: {what}"));
    let key = name.replace('_', "-");
    let site_level = matches!(
        key.as_str(),
        "root" | "rules" | "limits" | "redirects" | "rewrites" | "error-pages" | "auth" | "headers"
    ) || SITE_OPTIONS.contains(&key.as_str());
    if in_site && !site_level {
        return Err(bad(if option(name).is_some() {
            "not a site option: set it at the top of the file, for the whole server"
        } else {
            "unknown key"
        }));
    }
    match (key.as_str(), value) {
        ("root", v) => {
            let root = scalar(v).ok_or_else(|| bad("expected a path"))?;
            layer.root = Some((source.to_string(), base.join(root).into_os_string()));
        }
        ("rules", toml::Value::Array(items)) => {
            let rules = extras.rules.get_or_insert_with(Vec::new);
            for item in items {
                rules.push(rule(item).map_err(|e| bad(&e))?);
            }
        }
        ("limits", toml::Value::Array(items)) => {
            let limits = extras.limits.get_or_insert_with(Vec::new);
            for item in items {
                limits.push(limit(item, limits.len() + 1).map_err(|e| bad(&e))?);
            }
        }
        (kind @ ("redirects" | "rewrites"), toml::Value::Array(items)) => {
            let list = match kind {
                "redirects" => extras.redirects.get_or_insert_with(Vec::new),
                _ => extras.rewrites.get_or_insert_with(Vec::new),
            };
            for item in items {
                list.push(route(item, kind == "redirects").map_err(|e| bad(&e))?);
            }
        }
        (table @ ("error-pages" | "auth" | "headers"), toml::Value::Table(t)) => {
            // A table of KEY = "value" stands for a repeatable flag.
            let (long, separator, shape) = match table {
                "error-pages" => ("error-page", "=", "STATUS = \"file\""),
                "auth" => ("auth", ":", "USER = \"HASH\""),
                _ => ("header", ": ", "NAME = \"value\""),
            };
            let values: Vec<String> = t
                .iter()
                .map(|(k, v)| {
                    scalar(v)
                        .map(|value| format!("{k}{separator}{value}"))
                        .ok_or_else(|| bad(&format!("expected {shape}")))
                })
                .collect::<Result<_, _>>()?;
            let args = args_for(long, &ArgAction::Append, &values, None);
            check(source, name, &args)?;
            layer
                .groups
                .push((source.to_string(), long.to_string(), args));
        }
        (_, v) => {
            let (long, action) = option(name).ok_or_else(|| bad("unknown key"))?;
            let repeatable = matches!(action, ArgAction::Append);
            let (values, flag) = match v {
                toml::Value::Boolean(b) if matches!(action, ArgAction::SetTrue) => {
                    (Vec::new(), Some(*b))
                }
                toml::Value::Boolean(_) => return Err(bad("expected a value, not true or false")),
                toml::Value::Array(items) if repeatable => (
                    items
                        .iter()
                        .map(|i| scalar(i).ok_or_else(|| bad("expected a list of values")))
                        .collect::<Result<_, _>>()?,
                    None,
                ),
                toml::Value::Array(_) => return Err(bad("takes one value, not a list")),
                v if matches!(action, ArgAction::SetTrue) => {
                    return Err(bad(&format!("expected true or false, not {v}")))
                }
                v => (
                    vec![scalar(v).ok_or_else(|| bad("expected a value"))?],
                    None,
                ),
            };
            let args = args_for(&long, &action, &values, flag);
            check(source, name, &args)?;
            layer.groups.push((source.to_string(), long, args));
        }
    }
    Ok(())
}

/// One `[[redirects]]` (with a status) or `[[rewrites]]` entry.
fn route(item: &toml::Value, redirect: bool) -> Result<Route, String> {
    let table = item.as_table().ok_or("each entry is a table")?;
    let text = |key: &str| -> Result<String, String> {
        table
            .get(key)
            .and_then(toml::Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("{key}: expected a string"))
    };
    for key in table.keys() {
        let known = ["from", "to"].contains(&key.as_str()) || (redirect && key == "status");
        if !known {
            return Err(format!(
                "unknown key {key:?} (from, to{})",
                if redirect { ", status" } else { "" }
            ));
        }
    }
    let from = Pattern::new(&text("from")?)?;
    let to = text("to")?;
    if to.is_empty() || to.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(format!("to {to:?}: a path or URL without spaces"));
    }
    if !redirect && !to.starts_with('/') {
        return Err(format!(
            "to {to:?}: a rewrite serves a path of this site, starting with /"
        ));
    }
    let status = match (redirect, table.get("status")) {
        (false, _) => None,
        (true, None) => Some(308),
        (true, Some(v)) => match v.as_integer() {
            Some(s @ (301 | 302 | 307 | 308)) => Some(s as u16),
            _ => return Err(format!("status {v}: one of 301, 302, 307, 308")),
        },
    };
    Ok(Route { from, to, status })
}

fn rule(item: &toml::Value) -> Result<Rule, String> {
    let table = item.as_table().ok_or("each [[rules]] entry is a table")?;
    let mut rule = Rule {
        glob: None,
        glob_text: None,
        content_type: None,
        cache_control: None,
        headers: Vec::new(),
    };
    for (k, v) in table {
        match k.replace('_', "-").as_str() {
            "glob" | "path" => {
                let text = v.as_str().ok_or("glob: expected a string")?;
                rule.glob = Some(crate::config::path_glob(text)?);
                rule.glob_text = Some(text.to_string());
            }
            "type" | "content-type" => {
                rule.content_type = Some(v.as_str().ok_or("type: expected a string")?.to_string());
            }
            "cache-control" => {
                let value = v.as_str().ok_or("cache-control: expected a string")?;
                if value.is_empty() || value.bytes().any(|b| b.is_ascii_control()) {
                    return Err("cache-control: not a field value".into());
                }
                rule.cache_control = Some(value.to_string());
            }
            "headers" => {
                let t = v
                    .as_table()
                    .ok_or("headers: expected a table of NAME = \"value\"")?;
                for (name, value) in t {
                    let value = value.as_str().ok_or("headers: values are strings")?;
                    let ok_name = !name.is_empty() && name.bytes().all(crate::exchange::is_tchar);
                    if !ok_name || value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
                        return Err(format!("headers: {name:?} is not a valid field"));
                    }
                    rule.headers.push((name.clone(), value.to_string()));
                }
            }
            other => {
                return Err(format!(
                    "unknown rule key {other:?} (glob, type, cache-control, headers)"
                ))
            }
        }
    }
    if rule.glob.is_none() && rule.content_type.is_none() {
        return Err("a rule needs a glob or a type".into());
    }
    Ok(rule)
}

/// One `[[limits]]` entry, the `n`th.
fn limit(item: &toml::Value, n: usize) -> Result<RateLimit, String> {
    let table = item.as_table().ok_or("each [[limits]] entry is a table")?;
    let mut limit = RateLimit {
        name: std::sync::Arc::from(format!("limits.{n}")),
        glob: None,
        glob_text: None,
        rate: None,
        burst: 0,
        delay: false,
        access: Vec::new(),
    };
    let mut named = false;
    let mut burst = false;
    for (k, v) in table {
        match k.replace('_', "-").as_str() {
            "glob" | "path" => {
                let text = v.as_str().ok_or("glob: expected a string")?;
                limit.glob = Some(crate::config::path_glob(text)?);
                limit.glob_text = Some(text.to_string());
            }
            "name" => {
                let name = v.as_str().unwrap_or_default();
                if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b'"') {
                    return Err("name: expected a name without spaces or quotes".into());
                }
                limit.name = std::sync::Arc::from(name);
                named = true;
            }
            "rate" => {
                let text = v.as_str().ok_or("rate: expected a string such as \"10/s\"")?;
                limit.rate = Some(Rate::parse(text)?);
            }
            "burst" => {
                limit.burst = v
                    .as_integer()
                    .and_then(|b| u32::try_from(b).ok())
                    .ok_or("burst: expected a number of requests")?;
                burst = true;
            }
            "delay" => {
                limit.delay = v.as_bool().ok_or("delay: expected true or false")?;
                burst |= limit.delay;
            }
            verb @ ("allow" | "deny") => {
                let items = v
                    .as_array()
                    .ok_or_else(|| format!("{verb}: expected a list of CIDR networks"))?;
                for item in items {
                    let text = item
                        .as_str()
                        .ok_or_else(|| format!("{verb}: expected a list of CIDR networks"))?;
                    let net = if text == "all" {
                        None
                    } else {
                        Some(crate::forwarded::parse_net(text)?)
                    };
                    limit.access.push(AccessRule {
                        allow: verb == "allow",
                        net,
                    });
                }
            }
            "access" => {
                let items = v.as_array().ok_or("access: expected a list of rules")?;
                for item in items {
                    let text = item.as_str().ok_or("access: expected a list of rules")?;
                    limit.access.push(AccessRule::parse(text)?);
                }
            }
            other => {
                return Err(format!(
                    "unknown limits key {other:?} (glob, name, rate, burst, delay, allow, deny, access)"
                ))
            }
        }
    }
    if limit.rate.is_none() && limit.access.is_empty() {
        return Err("a limit needs a rate, or allow or deny lists".into());
    }
    if burst && limit.rate.is_none() {
        return Err("burst and delay need a rate".into());
    }
    if !named {
        if let Some(glob) = &limit.glob_text {
            limit.name = std::sync::Arc::from(glob.as_str());
        }
    }
    Ok(limit)
}

/// `--access`, `--allow` and `--deny` as `matches` hold them, merged in the
/// order given.
pub fn ordered_access(matches: &ArgMatches) -> Vec<AccessRule> {
    let mut rules: Vec<(usize, AccessRule)> = Vec::new();
    if let (Some(values), Some(at)) = (
        matches.get_many::<AccessRule>("access"),
        matches.indices_of("access"),
    ) {
        rules.extend(at.zip(values.copied()));
    }
    for (id, allow) in [("allow", true), ("deny", false)] {
        if let (Some(values), Some(at)) =
            (matches.get_many::<ipnet::IpNet>(id), matches.indices_of(id))
        {
            rules.extend(at.zip(values.map(|n| AccessRule {
                allow,
                net: Some(*n),
            })));
        }
    }
    rules.sort_by_key(|r| r.0);
    rules.into_iter().map(|r| r.1).collect()
}

/// `--allow`, `--deny` and `--access` as one TOML list, in order.
fn access_line(matches: &ArgMatches) -> String {
    let rules: Vec<String> = ordered_access(matches)
        .iter()
        .map(|r| toml::Value::String(r.to_string()).to_string())
        .collect();
    format!("access = [{}]\n", rules.join(", "))
}

/// Whether `long` is one of the three flags of the allow and deny list,
/// which a site replaces as one.
fn access_flag(long: &str) -> bool {
    matches!(long, "allow" | "deny" | "access")
}

/// Args from `matches`, the allow and deny rules in the order given.
fn args_of(matches: &ArgMatches) -> Result<Args, clap::Error> {
    let mut args = Args::from_arg_matches(matches)?;
    args.access = ordered_access(matches);
    args.allow.clear();
    args.deny.clear();
    Ok(args)
}

/// Reads the environment layer.
fn env_layer(vars: &[(String, String)]) -> Result<Layer, SettingsError> {
    let mut layer = Layer {
        groups: Vec::new(),
        root: None,
    };
    for (var, value) in vars {
        let Some(key) = var.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let name = key.to_ascii_lowercase().replace('_', "-");
        if name == "root" {
            layer.root = Some((var.clone(), value.into()));
            continue;
        }
        if name == "config" || name == "log" {
            continue;
        }
        let (long, action) = option(&name)
            .ok_or_else(|| SettingsError(format!("environment variable {var}: unknown option")))?;
        let flag = match action {
            ArgAction::SetTrue => Some(match value.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" | "" => false,
                _ => {
                    return Err(SettingsError(format!(
                        "environment variable {var}: expected true or false"
                    )))
                }
            }),
            _ => None,
        };
        let values: Vec<String> = if matches!(action, ArgAction::Append) {
            value
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect()
        } else {
            vec![value.clone()]
        };
        let args = args_for(&long, &action, &values, flag);
        check(&format!("environment variable {var}"), &long, &args)?;
        layer.groups.push((var.clone(), long, args));
    }
    Ok(layer)
}

/// Resolves the three layers. `argv` is the whole command line; `vars`
/// the environment.
pub fn resolve(argv: Vec<OsString>, vars: &[(String, String)]) -> Result<Resolved, clap::Error> {
    let cli = Args::command()
        .args_override_self(true)
        .try_get_matches_from(&argv)?;
    if cli.subcommand().is_some() {
        // Tools take their own arguments only.
        let args = Args::from_arg_matches(&cli)?;
        return Ok(Resolved {
            args,
            rules: Vec::new(),
            limits: Vec::new(),
            redirects: Vec::new(),
            rewrites: Vec::new(),
            sites: Vec::new(),
            toml: String::new(),
        });
    }
    let config: Option<PathBuf> = cli.get_one::<PathBuf>("config").cloned();
    let fail = |e: SettingsError| clap::Error::raw(clap::error::ErrorKind::ValueValidation, e.0);
    let (file, extras, site_entries) = match &config {
        Some(path) => file_layer(path).map_err(fail)?,
        None => (
            Layer {
                groups: Vec::new(),
                root: None,
            },
            Extras::default(),
            Vec::new(),
        ),
    };
    let rules = extras.rules.unwrap_or_default();
    let limits = extras.limits.unwrap_or_default();
    let redirects = extras.redirects.unwrap_or_default();
    let rewrites = extras.rewrites.unwrap_or_default();
    let env = env_layer(vars).map_err(fail)?;

    // A repeatable option set in a higher layer replaces lower layers.
    let on_cli = |long: &str| {
        Args::command()
            .get_arguments()
            .find(|a| a.get_long() == Some(long))
            .is_some_and(|a| {
                cli.value_source(a.get_id().as_str()) == Some(ValueSource::CommandLine)
            })
    };
    let env_longs: Vec<String> = env.groups.iter().map(|g| g.1.clone()).collect();
    let mut merged: Vec<OsString> =
        vec![argv.first().cloned().unwrap_or_else(|| "henaserver".into())];
    for (_, long, args) in &file.groups {
        if !env_longs.contains(long) && !on_cli(long) {
            merged.extend(args.iter().cloned());
        }
    }
    for (_, long, args) in &env.groups {
        if !on_cli(long) {
            merged.extend(args.iter().cloned());
        }
    }
    merged.extend(argv.iter().skip(1).cloned());
    if cli.get_one::<PathBuf>("root").is_none() {
        if let Some((_, root)) = env.root.or(file.root) {
            merged.push(root);
        }
    }
    let matches = Args::command()
        .args_override_self(true)
        .try_get_matches_from(&merged)?;
    let args = args_of(&matches)?;
    let mut toml = print(&matches, &rules);
    print_limits(&mut toml, "", &limits);
    print_routes(&mut toml, "", &redirects, &rewrites);

    // Each site: the top level's resolved options, those the site sets
    // replaced by its own.
    let mut sites = Vec::new();
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut default: Option<String> = None;
    for site in site_entries {
        let taken = |long: &str| {
            site.layer
                .groups
                .iter()
                .any(|g| g.1 == long || (access_flag(long) && access_flag(&g.1)))
        };
        let mut argv: Vec<OsString> = vec!["henaserver".into()];
        for (long, values) in resolved_args(&matches) {
            if !taken(&long) {
                argv.extend(values);
            }
        }
        for (_, _, values) in &site.layer.groups {
            argv.extend(values.iter().cloned());
        }
        let root = match &site.layer.root {
            Some((_, root)) => Some(root.clone()),
            None => matches
                .get_one::<PathBuf>("root")
                .map(|r| r.clone().into_os_string()),
        };
        argv.extend(root);
        let site_matches = Args::command()
            .args_override_self(true)
            .try_get_matches_from(&argv)
            .map_err(|e| {
                fail(SettingsError(format!(
                    "{}: [[sites]]: {}",
                    site.source,
                    first_line(&e)
                )))
            })?;
        for host in &site.hosts {
            if let Some((_, other)) = seen.iter().find(|(h, _)| h == host) {
                return Err(fail(SettingsError(format!(
                    "{}: [[sites]]: {host} is already a host of the site at {other}",
                    site.source
                ))));
            }
            seen.push((host.clone(), site.source.clone()));
        }
        if site.default {
            if let Some(other) = &default {
                return Err(fail(SettingsError(format!(
                    "{}: [[sites]]: only one site is the default; the site at {other} is too",
                    site.source
                ))));
            }
            default = Some(site.source.clone());
        }
        let own_limits = site.extras.limits.is_some();
        let limits = site.extras.limits.unwrap_or_else(|| limits.clone());
        let own = (
            site.extras.rules.is_some(),
            site.extras.redirects.is_some(),
            site.extras.rewrites.is_some(),
        );
        let rules = site.extras.rules.unwrap_or_else(|| rules.clone());
        let redirects = site.extras.redirects.unwrap_or_else(|| redirects.clone());
        let rewrites = site.extras.rewrites.unwrap_or_else(|| rewrites.clone());
        toml.push_str("\n[[sites]]\n");
        if let Some(name) = &site.name {
            toml.push_str(&format!("name = {}\n", toml::Value::String(name.clone())));
        }
        toml.push_str(&format!(
            "hosts = {}\n",
            toml::Value::Array(
                site.hosts
                    .iter()
                    .cloned()
                    .map(toml::Value::String)
                    .collect()
            )
        ));
        if site.default {
            toml.push_str("default = true\n");
        }
        if let Some(root) = site_matches.get_one::<PathBuf>("root") {
            toml.push_str(&format!(
                "root = {}\n",
                toml::Value::String(root.display().to_string())
            ));
        }
        let command = Args::command();
        for arg in command.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if !taken(long) || matches!(long, "allow" | "deny") {
                continue;
            }
            if long == "access" {
                toml.push_str(&access_line(&site_matches));
            } else if let Some(v) = value_of(arg, &site_matches) {
                toml.push_str(&format!("{long} = {v}\n"));
            }
        }
        if own.0 {
            print_rules(&mut toml, "sites.", &rules);
        }
        if own_limits {
            print_limits(&mut toml, "sites.", &limits);
        }
        print_routes(
            &mut toml,
            "sites.",
            if own.1 { &redirects } else { &[] },
            if own.2 { &rewrites } else { &[] },
        );
        sites.push(ResolvedSite {
            source: site.source,
            name: site.name,
            hosts: site.hosts,
            default: site.default,
            args: args_of(&site_matches)?,
            rules,
            limits,
            redirects,
            rewrites,
        });
    }
    Ok(Resolved {
        args,
        rules,
        limits,
        redirects,
        rewrites,
        sites,
        toml,
    })
}

/// The options `matches` resolved to, other than their defaults, as
/// arguments: (long flag, arguments) for each.
fn resolved_args(matches: &ArgMatches) -> Vec<(String, Vec<OsString>)> {
    let mut out = Vec::new();
    let access = ordered_access(matches);
    if !access.is_empty() {
        let values = access
            .iter()
            .map(|r| format!("--access={r}").into())
            .collect();
        out.push(("access".to_string(), values));
    }
    for arg in Args::command().get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if access_flag(long) {
            continue;
        }
        let id = arg.get_id().as_str();
        if matches.value_source(id) != Some(ValueSource::CommandLine) {
            continue;
        }
        let values: Vec<OsString> = match arg.get_action() {
            ArgAction::SetTrue if matches.get_flag(id) => vec![format!("--{long}").into()],
            ArgAction::SetTrue => Vec::new(),
            _ => matches
                .get_raw(id)
                .into_iter()
                .flatten()
                .map(|v| {
                    let mut a = OsString::from(format!("--{long}="));
                    a.push(v);
                    a
                })
                .collect(),
        };
        out.push((long.to_string(), values));
    }
    out
}

/// `[[redirects]]` and `[[rewrites]]` as TOML, the tables' names after
/// `prefix`.
fn print_routes(out: &mut String, prefix: &str, redirects: &[Route], rewrites: &[Route]) {
    for (kind, routes) in [("redirects", redirects), ("rewrites", rewrites)] {
        for r in routes {
            out.push_str(&format!(
                "\n[[{prefix}{kind}]]\nfrom = {}\nto = {}\n",
                toml::Value::String(r.from.as_str().to_string()),
                toml::Value::String(r.to.clone())
            ));
            if let Some(status) = r.status {
                out.push_str(&format!("status = {status}\n"));
            }
        }
    }
}

/// The resolved options as a TOML file that would give them back.
fn print(matches: &ArgMatches, rules: &[Rule]) -> String {
    let mut out = String::from("# henaserver configuration, as resolved\n");
    let command = Args::command();
    if let Some(root) = matches.get_one::<PathBuf>("root") {
        out.push_str(&format!(
            "root = {}\n",
            toml::Value::String(root.display().to_string())
        ));
    }
    for arg in command.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if matches!(
            long,
            "help" | "version" | "config" | "print-config" | "allow" | "deny"
        ) {
            continue;
        }
        if long == "access" {
            out.push_str(&access_line(matches));
            continue;
        }
        match value_of(arg, matches) {
            Some(v) => out.push_str(&format!("{long} = {v}\n")),
            None => out.push_str(&format!("# {long} is not set\n")),
        }
    }
    print_rules(&mut out, "", rules);
    out
}

/// The value `matches` holds for `arg`, as TOML.
fn value_of(arg: &clap::Arg, matches: &ArgMatches) -> Option<toml::Value> {
    let id = arg.get_id().as_str();
    match arg.get_action() {
        ArgAction::SetTrue => Some(toml::Value::Boolean(matches.get_flag(id))),
        action => matches.get_raw(id).map(|raw| {
            let values: Vec<toml::Value> = raw
                .map(|v| {
                    let text = v.to_string_lossy().into_owned();
                    match text.parse::<i64>() {
                        Ok(n) => toml::Value::Integer(n),
                        Err(_) => toml::Value::String(text),
                    }
                })
                .collect();
            if matches!(action, ArgAction::Append) {
                toml::Value::Array(values)
            } else {
                values
                    .into_iter()
                    .next()
                    .unwrap_or(toml::Value::String(String::new()))
            }
        }),
    }
}

/// `[[limits]]` as TOML, the tables' names after `prefix`.
fn print_limits(out: &mut String, prefix: &str, limits: &[RateLimit]) {
    for limit in limits {
        out.push_str(&format!(
            "\n[[{prefix}limits]]\nname = {}\n",
            toml::Value::String(limit.name.to_string())
        ));
        if let Some(g) = &limit.glob_text {
            out.push_str(&format!("glob = {}\n", toml::Value::String(g.clone())));
        }
        if let Some(rate) = &limit.rate {
            out.push_str(&format!(
                "rate = \"{rate}\"\nburst = {}\ndelay = {}\n",
                limit.burst, limit.delay
            ));
        }
        if !limit.access.is_empty() {
            let rules: Vec<String> = limit
                .access
                .iter()
                .map(|r| toml::Value::String(r.to_string()).to_string())
                .collect();
            out.push_str(&format!("access = [{}]\n", rules.join(", ")));
        }
    }
}

/// `[[rules]]` as TOML, the tables' names after `prefix`.
fn print_rules(out: &mut String, prefix: &str, rules: &[Rule]) {
    for rule in rules {
        out.push_str(&format!("\n[[{prefix}rules]]\n"));
        if let Some(g) = &rule.glob_text {
            out.push_str(&format!("glob = {}\n", toml::Value::String(g.clone())));
        }
        if let Some(t) = &rule.content_type {
            out.push_str(&format!("type = {}\n", toml::Value::String(t.clone())));
        }
        if let Some(c) = &rule.cache_control {
            out.push_str(&format!(
                "cache-control = {}\n",
                toml::Value::String(c.clone())
            ));
        }
        if !rule.headers.is_empty() {
            let fields: Vec<String> = rule
                .headers
                .iter()
                .map(|(n, v)| {
                    format!(
                        "{} = {}",
                        toml::Value::String(n.clone()),
                        toml::Value::String(v.clone())
                    )
                })
                .collect();
            out.push_str(&format!("headers = {{ {} }}\n", fields.join(", ")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> Vec<OsString> {
        std::iter::once("henaserver")
            .chain(a.iter().copied())
            .map(OsString::from)
            .collect()
    }

    #[test]
    fn environment_and_flags() {
        let vars = vec![
            ("HENASERVER_PORT".to_string(), "9000".to_string()),
            ("HENASERVER_LISTING".to_string(), "true".to_string()),
            ("OTHER".to_string(), "x".to_string()),
        ];
        let r = resolve(argv(&[]), &vars).unwrap();
        assert_eq!(r.args.port, 9000);
        assert!(r.args.listing);
        let r = resolve(argv(&["--port", "9001"]), &vars).unwrap();
        assert_eq!(r.args.port, 9001);
        let bad = vec![("HENASERVER_PORTT".to_string(), "1".to_string())];
        let e = resolve(argv(&[]), &bad).unwrap_err().to_string();
        assert!(e.contains("HENASERVER_PORTT"), "{e}");
        let bad = vec![("HENASERVER_PORT".to_string(), "http".to_string())];
        let e = resolve(argv(&[]), &bad).unwrap_err().to_string();
        assert!(e.contains("HENASERVER_PORT") && e.contains("port"), "{e}");
    }
}
