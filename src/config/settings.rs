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

use crate::config::cli::Args;
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
    /// The redirects from the file.
    pub redirects: Vec<Route>,
    /// The rewrites from the file.
    pub rewrites: Vec<Route>,
    /// The resolved options as TOML, for --print-config.
    pub toml: String,
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

/// Reads the file layer.
/// What the file holds beyond options.
#[derive(Debug, Default)]
struct Extras {
    rules: Vec<Rule>,
    redirects: Vec<Route>,
    rewrites: Vec<Route>,
}

fn file_layer(path: &Path) -> Result<(Layer, Extras), SettingsError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| SettingsError(format!("--config {shown}: cannot read: {e}")))?;
    let table: BTreeMap<Spanned<String>, Spanned<toml::Value>> =
        toml::from_str(&text).map_err(|e| {
            let line = e.span().map_or(1, |s| line_of(&text, s.start));
            let message = e
                .message()
                .lines()
                .next()
                .unwrap_or("invalid TOML")
                .to_string();
            SettingsError(format!("{shown}:{line}: {message}"))
        })?;
    let mut layer = Layer {
        groups: Vec::new(),
        root: None,
    };
    let mut extras = Extras::default();
    for (key, value) in table {
        let line = line_of(&text, key.span().start);
        let source = format!("{shown}:{line}");
        let name = key.get_ref().as_str();
        let bad = |what: &str| SettingsError(format!("{source}: {name}: {what}"));
        match (name.replace('_', "-").as_str(), value.get_ref()) {
            ("root", v) => {
                let root = scalar(v).ok_or_else(|| bad("expected a path"))?;
                let resolved = path.parent().unwrap_or(Path::new(".")).join(root);
                layer.root = Some((source, resolved.into_os_string()));
            }
            ("rules", toml::Value::Array(items)) => {
                for item in items {
                    extras.rules.push(rule(item).map_err(|e| bad(&e))?);
                }
            }
            (kind @ ("redirects" | "rewrites"), toml::Value::Array(items)) => {
                for item in items {
                    let r = route(item, kind == "redirects").map_err(|e| bad(&e))?;
                    match kind {
                        "redirects" => extras.redirects.push(r),
                        _ => extras.rewrites.push(r),
                    }
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
                check(&source, name, &args)?;
                layer.groups.push((source, long.to_string(), args));
            }
            (_, v) => {
                let (long, action) = option(name).ok_or_else(|| bad("unknown key"))?;
                let repeatable = matches!(action, ArgAction::Append);
                let (values, flag) = match v {
                    toml::Value::Boolean(b) if matches!(action, ArgAction::SetTrue) => {
                        (Vec::new(), Some(*b))
                    }
                    toml::Value::Boolean(_) => {
                        return Err(bad("expected a value, not true or false"))
                    }
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
                check(&source, name, &args)?;
                layer.groups.push((source, long, args));
            }
        }
    }
    Ok((layer, extras))
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
                let glob = globset::GlobBuilder::new(text)
                    .literal_separator(true)
                    .build()
                    .map_err(|e| format!("glob {text:?}: {e}"))?;
                rule.glob = Some(glob.compile_matcher());
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
            redirects: Vec::new(),
            rewrites: Vec::new(),
            toml: String::new(),
        });
    }
    let config: Option<PathBuf> = cli.get_one::<PathBuf>("config").cloned();
    let fail = |e: SettingsError| clap::Error::raw(clap::error::ErrorKind::ValueValidation, e.0);
    let (file, extras) = match &config {
        Some(path) => file_layer(path).map_err(fail)?,
        None => (
            Layer {
                groups: Vec::new(),
                root: None,
            },
            Extras::default(),
        ),
    };
    let Extras {
        rules,
        redirects,
        rewrites,
    } = extras;
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
    let args = Args::from_arg_matches(&matches)?;
    let mut toml = print(&matches, &rules);
    for (kind, routes) in [("redirects", &redirects), ("rewrites", &rewrites)] {
        for r in routes {
            toml.push_str(&format!(
                "\n[[{kind}]]\nfrom = {}\nto = {}\n",
                toml::Value::String(r.from.as_str().to_string()),
                toml::Value::String(r.to.clone())
            ));
            if let Some(status) = r.status {
                toml.push_str(&format!("status = {status}\n"));
            }
        }
    }
    Ok(Resolved {
        args,
        rules,
        redirects,
        rewrites,
        toml,
    })
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
        if matches!(long, "help" | "version" | "config" | "print-config") {
            continue;
        }
        let id = arg.get_id().as_str();
        let value = match arg.get_action() {
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
        };
        match value {
            Some(v) => out.push_str(&format!("{long} = {v}\n")),
            None => out.push_str(&format!("# {long} is not set\n")),
        }
    }
    for rule in rules {
        out.push_str("\n[[rules]]\n");
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
    out
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
