//! `--tls-keylog FILE` (or `SSLKEYLOGFILE`): TLS secrets in the NSS key
//! log format, one line per secret, so Wireshark can decrypt a capture.
//! Anyone who reads the file can read the traffic: it is for learning and
//! debugging, never for a server in production.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

/// The key log file, appended to under a lock.
#[derive(Debug)]
pub struct KeyLogFile {
    file: Mutex<File>,
}

impl KeyLogFile {
    /// Opens `path` for appending (created with mode 0600).
    pub fn open(path: &Path) -> Result<KeyLogFile, String> {
        let file = crate::platform::fs::owner_only()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("--tls-keylog {}: {e}", path.display()))?;
        Ok(KeyLogFile {
            file: Mutex::new(file),
        })
    }
}

/// One line of the NSS key log format: `LABEL CLIENT_RANDOM SECRET`, the
/// last two in lowercase hex.
pub fn line(label: &str, client_random: &[u8], secret: &[u8]) -> String {
    let hex = |bytes: &[u8]| -> String { bytes.iter().map(|b| format!("{b:02x}")).collect() };
    format!("{label} {} {}\n", hex(client_random), hex(secret))
}

impl rustls::KeyLog for KeyLogFile {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        let text = line(label, client_random, secret);
        if let Ok(mut file) = self.file.lock() {
            let _ = file.write_all(text.as_bytes());
        }
    }

    fn will_log(&self, _label: &str) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn nss_format() {
        assert_eq!(
            super::line("CLIENT_RANDOM", &[0xab, 1], &[0, 0xff]),
            "CLIENT_RANDOM ab01 00ff\n"
        );
    }
}
