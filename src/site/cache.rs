//! A bounded cache of open files, per worker thread.
//!
//! Keyed by the URL path as it was sent (or, for a precompressed sibling,
//! by a NUL and its path, which no URL can be), an entry holds the open
//! descriptor, the encoded header fields and, for a small file, its
//! content, so a hit costs no open, no formatting and no read.
//!
//! Correctness first: every hit is validated with one `stat` of the path,
//! and served only if the file's identity (device, inode, size, and
//! modification and change times in nanoseconds) is what it was when
//! opened. A file written, truncated, replaced by a rename, or deleted is
//! therefore opened afresh on the next request after the change. Files
//! changed within [`RACY_WINDOW`](super::files::RACY_WINDOW) are not cached
//! at all, so a second write within one timestamp tick cannot go unseen.
//! The `stat` never opens anything: what is served always comes from a
//! descriptor opened beneath the root.
//!
//! Each site's root has its own map; the limits apply to each. A root's
//! map is dropped once the root is (after a reload replaced it).
//!
//! The trade-off against change notification (inotify) is one `stat` per
//! request in exchange for having no watch limits, no missed events on
//! network filesystems, and no window between a change and its event.
//!
//! `--file-cache-valid` trades freshness for that `stat`, as nginx's
//! `open_file_cache_valid` does: a file is trusted for that long after its
//! path was last looked at, and a path found missing is remembered as
//! missing for as long.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::platform::clock::Tick;

use super::files::Siblings;
use super::files::{FileInfo, Root};

/// How often a cached file's precompressed siblings are looked for again:
/// one added or removed beside an unchanged file is seen within this time.
pub const SIBLING_RECHECK: Duration = Duration::from_secs(1);

struct Cache {
    /// The root the entries belong to.
    root: usize,
    /// Whether that root still exists.
    alive: std::sync::Weak<()>,
    map: HashMap<Box<[u8]>, Slot>,
    bytes: usize,
    /// Paths found missing, and when (with `--file-cache-valid` only).
    missing: HashMap<Box<[u8]>, Tick>,
}

struct Slot {
    info: Arc<FileInfo>,
    siblings: Siblings,
    /// When the siblings were last looked for.
    checked: Tick,
    /// When the path was last seen to name this file.
    validated: Tick,
}

thread_local! {
    static CACHES: RefCell<Vec<Cache>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on the cache of `root`, made when `create` and missing.
fn with_cache<T>(root: &Root, create: bool, f: impl FnOnce(&mut Cache) -> T) -> Option<T> {
    CACHES.with(|cell| {
        let mut caches = cell.borrow_mut();
        let index = match caches.iter().position(|c| c.root == root.id()) {
            Some(i) => i,
            None if create => {
                caches.retain(|c| c.alive.strong_count() > 0);
                caches.push(Cache {
                    root: root.id(),
                    alive: root.liveness(),
                    map: HashMap::new(),
                    bytes: 0,
                    missing: HashMap::new(),
                });
                caches.len() - 1
            }
            None => return None,
        };
        Some(f(&mut caches[index]))
    })
}

fn content_len(info: &FileInfo) -> usize {
    info.body.as_ref().map_or(0, |b| b.len())
}

/// What the cache knows of a key.
pub enum Cached {
    /// The file, still on disk as cached (or checked within `valid`), and
    /// its siblings.
    File(Arc<FileInfo>, Siblings),
    /// Found missing within `valid` ago.
    Missing,
    /// Nothing: look it up.
    Unknown,
}

/// What the cache knows of `key`: the cached file if it is still the file
/// on disk, or was within `valid` ago; or that the path was found missing
/// within `valid` ago (never, when `valid` is zero).
pub fn get(root: &Root, key: &[u8], valid: Duration) -> Cached {
    with_cache(root, false, |cache| {
        if let Some(slot) = cache.map.get_mut(key) {
            let now = Tick::now();
            if !valid.is_zero() && now.since(slot.validated) < valid {
                return Cached::File(slot.info.clone(), slot.siblings);
            }
            if root.identity(&slot.info.rel) == Some(slot.info.identity) {
                slot.validated = now;
                if now.since(slot.checked) > SIBLING_RECHECK {
                    slot.siblings = root.siblings(&slot.info.rel);
                    slot.checked = now;
                }
                return Cached::File(slot.info.clone(), slot.siblings);
            }
            if let Some(slot) = cache.map.remove(key) {
                cache.bytes -= content_len(&slot.info);
            }
            return Cached::Unknown;
        }
        if valid.is_zero() {
            return Cached::Unknown;
        }
        match cache.missing.get(key) {
            Some(&seen) if Tick::now().since(seen) < valid => Cached::Missing,
            Some(_) => {
                cache.missing.remove(key);
                Cached::Unknown
            }
            None => Cached::Unknown,
        }
    })
    .unwrap_or(Cached::Unknown)
}

/// Remembers that `key` names `info`, beside which `siblings` exist;
/// returns how many files the cache then holds.
pub fn put(
    root: &Root,
    key: &[u8],
    info: &Arc<FileInfo>,
    siblings: Siblings,
    max_entries: usize,
    max_bytes: usize,
) -> Option<usize> {
    if !info.stable || max_entries == 0 {
        return None;
    }
    let size = content_len(info);
    if size > max_bytes {
        return None;
    }
    with_cache(root, true, |cache| {
        if let Some(old) = cache.map.remove(key) {
            cache.bytes -= content_len(&old.info);
        }
        while !cache.map.is_empty()
            && (cache.map.len() >= max_entries || cache.bytes + size > max_bytes)
        {
            let Some(victim) = cache.map.keys().next().cloned() else {
                break;
            };
            if let Some(old) = cache.map.remove(&victim) {
                cache.bytes -= content_len(&old.info);
            }
        }
        cache.bytes += size;
        let now = Tick::now();
        cache.missing.remove(key);
        cache.map.insert(
            key.into(),
            Slot {
                info: info.clone(),
                siblings,
                checked: now,
                validated: now,
            },
        );
        cache.map.len()
    })
}

/// Remembers that `key` names nothing, for `valid` (nothing is
/// remembered when `valid` is zero). At most `max_entries` missing paths
/// are held: when full, the expired go, and if none has, all do.
pub fn put_missing(root: &Root, key: &[u8], valid: Duration, max_entries: usize) {
    if valid.is_zero() || max_entries == 0 {
        return;
    }
    with_cache(root, true, |cache| {
        let now = Tick::now();
        if cache.missing.len() >= max_entries {
            cache.missing.retain(|_, seen| now.since(*seen) < valid);
            if cache.missing.len() >= max_entries {
                cache.missing.clear();
            }
        }
        cache.missing.insert(key.into(), now);
    });
}
