//! `--tls-self-signed`: a certificate for development, made with rcgen for
//! `localhost`, `127.0.0.1`, `::1` and every `--tls-name`, and kept in the
//! user's cache directory, so that a browser's exception for it survives
//! restarts.

use std::path::{Path, PathBuf};

/// The names every self-signed certificate covers.
pub const LOCAL_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Where self-signed certificates are kept: `henaserver` in the user's
/// cache directory: `$XDG_CACHE_HOME`, else `~/.cache` (macOS:
/// `~/Library/Caches`; Windows: `%LOCALAPPDATA%`), else the temporary
/// directory.
pub fn cache_dir() -> PathBuf {
    crate::platform::dirs::cache_home().join("henaserver")
}

/// The self-signed certificate for `extra` names and the local ones, as
/// `load` reads a chain and key file: the one kept from an earlier run if
/// `load` can read it, else a new one, kept.
pub fn load_or_make<T>(
    extra: &[String],
    load: impl Fn(&Path, &Path) -> Result<T, String>,
) -> Result<T, String> {
    let mut names: Vec<String> = LOCAL_NAMES.iter().map(|s| s.to_string()).collect();
    for name in extra {
        let name = name.to_ascii_lowercase();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let dir = cache_dir();
    let id = ::ring::digest::digest(&::ring::digest::SHA256, names.join(",").as_bytes());
    let id: String = id.as_ref()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let cert_path = dir.join(format!("self-signed-{id}.crt"));
    let key_path = dir.join(format!("self-signed-{id}.key"));
    if let Ok(kept) = load(&cert_path, &key_path) {
        return Ok(kept);
    }
    let made = rcgen::generate_simple_self_signed(names)
        .map_err(|e| format!("--tls-self-signed: cannot make a certificate: {e}"))?;
    let (cert_pem, key_pem) = (made.cert.pem(), made.signing_key.serialize_pem());
    let kept = write_private(&dir, &cert_path, cert_pem.as_bytes())
        .and_then(|()| write_private(&dir, &key_path, key_pem.as_bytes()));
    if let Err(e) = kept {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot keep the self-signed certificate; a new one is made at each start");
        let (cert, key) = tempdir_files(&cert_pem, &key_pem)?;
        return load(&cert, &key);
    }
    load(&cert_path, &key_path)
}

/// Writes `bytes` to `path` in `dir` (mode 0700), readable by the owner
/// only (mode 0600).
fn write_private(
    dir: &std::path::Path,
    path: &std::path::Path,
    bytes: &[u8],
) -> std::io::Result<()> {
    crate::private_file::ensure_dir(dir)?;
    crate::private_file::write(path, bytes)
}

/// The certificate and key written to a fresh temporary directory.
fn tempdir_files(cert: &str, key: &str) -> Result<(PathBuf, PathBuf), String> {
    let dir = std::env::temp_dir().join(format!("henaserver-{}", std::process::id()));
    let (c, k) = (dir.join("self-signed.crt"), dir.join("self-signed.key"));
    write_private(&dir, &c, cert.as_bytes())
        .and_then(|()| write_private(&dir, &k, key.as_bytes()))
        .map_err(|e| format!("--tls-self-signed: cannot write the certificate: {e}"))?;
    Ok((c, k))
}
