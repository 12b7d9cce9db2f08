//! The configuration file, environment variables, flags, their precedence,
//! and every kind of configuration error.

mod common;

use std::path::Path;

use common::*;

fn run(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    run_bin(args, env)
}

fn printed(args: &[&str], env: &[(&str, &str)]) -> toml::Table {
    let mut all = args.to_vec();
    all.push("--print-config");
    let (code, out, err) = run(&all, env);
    assert_eq!(code, Some(0), "{err}");
    toml::from_str(&out).unwrap_or_else(|e| panic!("{e}\n{out}"))
}

#[test]
fn the_sample_config_file_works() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("henaserver.example.toml");
    let t = printed(&["--config", sample.to_str().unwrap()], &[]);
    assert_eq!(t["port"].as_integer(), Some(8080));
    assert_eq!(t["cache-control"].as_str(), Some("no-cache"));
    assert_eq!(t["rules"].as_array().unwrap().len(), 2);
    // The printed configuration is itself a configuration that loads.
    let tree = Tree::new();
    let (_, out, _) = run(
        &["--config", sample.to_str().unwrap(), "--print-config"],
        &[],
    );
    let copy = tree.path().join("copy.toml");
    std::fs::write(
        &copy,
        out.replace(
            "root = \"static\"",
            &format!("root = {:?}", demo_root().display().to_string()),
        ),
    )
    .unwrap();
    let again = printed(&["--config", copy.to_str().unwrap()], &[]);
    assert_eq!(again["port"].as_integer(), Some(8080));

    // Serving the demo site with it (port overridden on the command line).
    let s = TestServer::start(
        Path::new(""),
        &["--config", sample.to_str().unwrap(), "--quiet"],
    );
    let page = s.get("/");
    assert!(page.text().contains("Welcome to HenaServer!"));
    assert_eq!(page.header("X-Frame-Options"), Some("DENY"));
    assert_eq!(page.header("Cache-Control"), Some("no-cache"));
    assert_eq!(
        page.header("Content-Security-Policy"),
        Some("default-src 'self'")
    );
    let css = s.get("/index.css");
    assert_eq!(css.header("Cache-Control"), Some("public, max-age=86400"));
    assert_eq!(css.header("Content-Security-Policy"), None);
}

#[test]
fn precedence_file_then_environment_then_flags() {
    let tree = Tree::new();
    let file = tree.path().join("c.toml");
    std::fs::write(
        &file,
        "index = \"from-file.html\"\nmax-body = 111\nheader = [\"X-A: file\"]\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let t = printed(&["--config", f], &[]);
    assert_eq!(t["index"].as_str(), Some("from-file.html"));
    assert_eq!(t["max-body"].as_integer(), Some(111));
    let env = [
        ("HENASERVER_INDEX", "from-env.html"),
        ("HENASERVER_HEADER", "X-B: env"),
    ];
    let t = printed(&["--config", f], &env);
    assert_eq!(t["index"].as_str(), Some("from-env.html"));
    assert_eq!(t["max-body"].as_integer(), Some(111));
    assert_eq!(
        t["header"].as_array().unwrap().len(),
        1,
        "env replaces the file's list"
    );
    let t = printed(
        &[
            "--config",
            f,
            "--index",
            "from-flag.html",
            "--header",
            "X-C: flag",
        ],
        &env,
    );
    assert_eq!(t["index"].as_str(), Some("from-flag.html"));
    assert_eq!(t["header"][0].as_str(), Some("X-C: flag"));
    // Underscores work in keys too.
    std::fs::write(&file, "max_body = 222\n").unwrap();
    assert_eq!(
        printed(&["--config", f], &[])["max-body"].as_integer(),
        Some(222)
    );
}

fn one_line_error(args: &[&str], env: &[(&str, &str)], needles: &[&str]) {
    let (code, out, err) = run(args, env);
    assert_eq!(code, Some(2), "{args:?}: {err}");
    assert!(out.is_empty());
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in {err:?}");
    }
}

#[test]
fn errors_name_their_source_and_key() {
    let tree = Tree::new();
    let file = tree.path().join("bad.toml");
    let f = file.to_str().unwrap();
    let cases: &[(&str, &[&str])] = &[
        ("port = 80\nportt = 81\n", &[":2:", "portt", "unknown key"]),
        ("port = \"http\"\n", &[":1:", "port"]),
        ("\nlisting = \"yes\"\n", &[":2:", "listing"]),
        ("max-headers = 0\n", &[":1:", "max-headers"]),
        ("bind = [1, 2\n", &["invalid array"]),
        ("header-timeout = \"soon\"\n", &[":1:", "header-timeout"]),
        ("[[rules]]\ncache-control = \"x\"\n", &["rules"]),
        ("[[rules]]\nglob = \"[\"\n", &["rules", "glob"]),
        ("[auth]\nann = \"plain\"\n", &["auth"]),
    ];
    for (text, needles) in cases {
        std::fs::write(&file, text).unwrap();
        let mut all = vec!["bad.toml"];
        all.extend_from_slice(needles);
        one_line_error(&["--config", f, "--port", "0"], &[], &all);
    }
    one_line_error(
        &["--config", "/no/such/file.toml"],
        &[],
        &["/no/such/file.toml"],
    );
    one_line_error(
        &["--port", "0"],
        &[("HENASERVER_MAX_BODY", "lots")],
        &["HENASERVER_MAX_BODY"],
    );
    one_line_error(
        &["--port", "0"],
        &[("HENASERVER_NO_SUCH", "1")],
        &["HENASERVER_NO_SUCH"],
    );
    one_line_error(&["--max-headers", "0"], &[], &["--max-headers"]);
}

#[test]
fn completions_and_man_page() {
    for shell in ["bash", "zsh", "fish"] {
        let (code, out, err) = run(&["completions", shell], &[]);
        assert_eq!(code, Some(0), "{err}");
        assert!(
            out.contains("max-body") && out.contains("henaserver"),
            "{shell}"
        );
    }
    let (code, out, _) = run(&["man"], &[]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains(".TH henaserver") && out.contains("max\\-body"),
        "{}",
        &out[..200.min(out.len())]
    );
}
