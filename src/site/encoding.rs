//! Content codings (RFC 9110 §8.4, §12.5.3): Accept-Encoding negotiation,
//! precompressed siblings (`file.br`, `file.zst`, `file.gz`), and
//! compression on the fly with a bounded cache shared by all workers.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

pub(crate) use crate::exchange::Coding;
use crate::site::files::Identity;

/// The weights an Accept-Encoding field gives, in thousandths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Weights {
    codings: [Option<u16>; 3],
    identity: Option<u16>,
    star: Option<u16>,
}

fn index(c: Coding) -> usize {
    match c {
        Coding::Br => 0,
        Coding::Zstd => 1,
        Coding::Gzip => 2,
    }
}

/// A qvalue (RFC 9110 §12.4.2) in thousandths.
fn qvalue(s: &str) -> Option<u16> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_value: u16 = format!("{frac:0<3}").parse().ok()?;
    match int {
        "0" => Some(frac_value),
        "1" if frac_value == 0 => Some(1000),
        _ => None,
    }
}

fn weights(value: &[u8]) -> Weights {
    let mut w = Weights::default();
    let Ok(text) = std::str::from_utf8(value) else {
        return w;
    };
    for element in text.split(',') {
        let mut params = element.split(';');
        let coding = params.next().unwrap_or("").trim();
        if coding.is_empty() {
            continue;
        }
        let mut q = Some(1000);
        for p in params {
            let Some((name, v)) = p.split_once('=') else {
                q = None;
                break;
            };
            if name.trim().eq_ignore_ascii_case("q") {
                q = qvalue(v.trim());
            }
        }
        let Some(q) = q else { continue };
        if coding == "*" {
            w.star = Some(q);
        } else if coding.eq_ignore_ascii_case("identity") {
            w.identity = Some(q);
        } else if let Some(c) = Coding::from_token(coding) {
            let slot = &mut w.codings[index(c)];
            *slot = Some(slot.map_or(q, |old| old.max(q)));
        }
    }
    w
}

/// Picks the coding to send: the available one the client weighs highest
/// (q=0 refuses; `*` stands for codings not named), ties broken by the
/// server's `preference`. `None`: send the representation as it is, also
/// when the client prefers `identity` explicitly.
pub fn choose(
    accept_encoding: &[u8],
    available: impl Fn(Coding) -> bool,
    preference: &[Coding],
) -> Option<Coding> {
    let w = weights(accept_encoding);
    let mut best: Option<(Coding, u16)> = None;
    for &c in preference {
        if !available(c) {
            continue;
        }
        let q = w.codings[index(c)].or(w.star).unwrap_or(0);
        if q > 0 && best.is_none_or(|(_, bq)| q > bq) {
            best = Some((c, q));
        }
    }
    let (coding, q) = best?;
    match w.identity {
        Some(iq) if iq > q => None,
        _ => Some(coding),
    }
}

/// Brotli quality for compression on the fly: fast, and most of the gain.
const BROTLI_QUALITY: u32 = 5;
/// gzip level for compression on the fly.
const GZIP_LEVEL: u32 = 6;

/// Compresses `data`; `None` when that does not make it smaller.
pub fn compress(data: &[u8], coding: Coding) -> Option<Bytes> {
    let out = match coding {
        Coding::Gzip => {
            let mut e = flate2::write::GzEncoder::new(
                Vec::with_capacity(data.len() / 3),
                flate2::Compression::new(GZIP_LEVEL),
            );
            e.write_all(data).ok()?;
            e.finish().ok()?
        }
        Coding::Br => {
            let mut out = Vec::with_capacity(data.len() / 3);
            {
                let mut w = brotli::CompressorWriter::new(&mut out, 64 * 1024, BROTLI_QUALITY, 22);
                w.write_all(data).ok()?;
                w.flush().ok()?;
            }
            out
        }
        Coding::Zstd => return None,
    };
    (out.len() < data.len()).then(|| Bytes::from(out))
}

#[derive(Default)]
struct Store {
    map: HashMap<(Identity, Coding), Option<Bytes>>,
    bytes: usize,
}

/// Compressed copies of file versions, made once and kept while there is
/// room: one per server (all its sites and workers) or per library
/// `Files`, never shared with another.
#[derive(Default)]
pub struct Compressed {
    store: Mutex<Store>,
    /// Where hits and bytes made are counted.
    stats: Option<Arc<crate::stats::Stats>>,
}

impl std::fmt::Debug for Compressed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressed").finish_non_exhaustive()
    }
}

impl Compressed {
    /// An empty store that counts in `stats`.
    pub fn counted_in(stats: &Arc<crate::stats::Stats>) -> Compressed {
        Compressed {
            store: Mutex::default(),
            stats: Some(stats.clone()),
        }
    }

    fn count(&self, hit: bool, bytes: usize) {
        if let Some(stats) = &self.stats {
            stats.compression(hit, bytes);
        }
    }

    /// The cached `coding` of the file version `identity`: `None` when it
    /// was never made, `Some(None)` when it did not make the file smaller.
    pub fn cached(&self, identity: Identity, coding: Coding) -> Option<Option<Bytes>> {
        let guard = self.store.lock().ok()?;
        guard.map.get(&(identity, coding)).cloned()
    }

    /// The `coding` of the file version `identity` with content `data`,
    /// compressed once and kept while the cache (at most `max_bytes`) has
    /// room.
    pub fn compressed(
        &self,
        identity: Identity,
        data: &[u8],
        coding: Coding,
        max_bytes: usize,
    ) -> Option<Bytes> {
        let key = (identity, coding);
        if let Ok(guard) = self.store.lock() {
            if let Some(hit) = guard.map.get(&key) {
                self.count(true, 0);
                return hit.clone();
            }
        }
        let made = compress(data, coding);
        self.count(false, made.as_ref().map_or(0, Bytes::len));
        let size = made.as_ref().map_or(0, Bytes::len);
        if size <= max_bytes {
            if let Ok(mut store) = self.store.lock() {
                while store.bytes + size > max_bytes || store.map.len() >= MAX_VARIANTS {
                    let Some(victim) = store.map.keys().next().copied() else {
                        break;
                    };
                    if let Some(Some(old)) = store.map.remove(&victim) {
                        store.bytes -= old.len();
                    }
                }
                if let Some(Some(old)) = store.map.insert(key, made.clone()) {
                    store.bytes -= old.len();
                }
                store.bytes += size;
            }
        }
        made
    }
}

/// Most compressed variants (or "does not compress" answers) kept.
const MAX_VARIANTS: usize = 4096;

/// The strong validator of a coded representation: the identity's tag
/// with the coding appended, so no two representations share one.
pub fn coded_etag(etag: &str, coding: Coding) -> String {
    tagged_etag(etag, coding.token())
}

/// The validator of another representation of the same file: `etag` with
/// `-tag` inside its quotes.
pub fn tagged_etag(etag: &str, tag: &str) -> String {
    match etag.strip_suffix('"') {
        Some(open) => format!("{open}-{tag}\""),
        None => format!("{etag}-{tag}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    const ALL: &[Coding] = &crate::exchange::DEFAULT_PREFERENCE;

    fn pick(ae: &str) -> Option<Coding> {
        choose(ae.as_bytes(), |_| true, ALL)
    }

    #[test]
    fn negotiation() {
        assert_eq!(pick("gzip, deflate, br, zstd"), Some(Coding::Br));
        assert_eq!(pick("gzip"), Some(Coding::Gzip));
        assert_eq!(pick("GZIP"), Some(Coding::Gzip));
        assert_eq!(pick("x-gzip"), Some(Coding::Gzip));
        assert_eq!(pick("gzip;q=1.0, br;q=0.5"), Some(Coding::Gzip));
        assert_eq!(pick("br;q=0, gzip"), Some(Coding::Gzip));
        assert_eq!(pick("br;q=0, gzip;q=0"), None);
        assert_eq!(pick("*"), Some(Coding::Br));
        assert_eq!(pick("*;q=0.5, br;q=0"), Some(Coding::Zstd));
        assert_eq!(pick("identity"), None);
        assert_eq!(pick(""), None);
        assert_eq!(pick("deflate"), None);
        assert_eq!(pick("gzip;q=0.5, identity;q=1"), None);
        assert_eq!(pick("gzip;q=1, identity;q=0.5"), Some(Coding::Gzip));
        assert_eq!(pick("gzip;q=2"), None);
        assert_eq!(pick("gzip;q=0.0001"), None);
        assert_eq!(pick("gzip ; q=0.001"), Some(Coding::Gzip));
        let only_gzip = |c: Coding| c == Coding::Gzip;
        assert_eq!(choose(b"br, gzip", only_gzip, ALL), Some(Coding::Gzip));
        assert_eq!(choose(b"br", only_gzip, ALL), None);
        let gzip_first = [Coding::Gzip, Coding::Br];
        assert_eq!(
            choose(b"br, gzip", |_| true, &gzip_first),
            Some(Coding::Gzip)
        );
    }

    #[test]
    fn qvalues() {
        assert_eq!(qvalue("1"), Some(1000));
        assert_eq!(qvalue("1.000"), Some(1000));
        assert_eq!(qvalue("0.5"), Some(500));
        assert_eq!(qvalue("0.001"), Some(1));
        assert_eq!(qvalue("0"), Some(0));
        assert_eq!(qvalue("1.5"), None);
        assert_eq!(qvalue("0.1234"), None);
        assert_eq!(qvalue("x"), None);
    }

    #[test]
    fn round_trips() {
        let text = "hello, henaserver! ".repeat(200);
        let gz = compress(text.as_bytes(), Coding::Gzip).unwrap();
        let mut back = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut back)
            .unwrap();
        assert_eq!(back, text);
        let br = compress(text.as_bytes(), Coding::Br).unwrap();
        let mut back = Vec::new();
        brotli::Decompressor::new(&br[..], 4096)
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, text.as_bytes());
        // Random bytes do not shrink.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect();
        assert!(compress(&noise, Coding::Gzip).is_none());
    }

    #[test]
    fn types_and_tags() {
        assert!(crate::site::mime::compressible("text/html; charset=utf-8"));
        assert!(crate::site::mime::compressible(
            "text/javascript; charset=utf-8"
        ));
        assert!(crate::site::mime::compressible(
            "image/svg+xml; charset=utf-8"
        ));
        assert!(crate::site::mime::compressible("application/wasm"));
        assert!(crate::site::mime::compressible("application/ld+json"));
        assert!(!crate::site::mime::compressible("image/png"));
        assert!(!crate::site::mime::compressible("application/octet-stream"));
        assert_eq!(coded_etag("\"a-b\"", Coding::Br), "\"a-b-br\"");
    }
}
