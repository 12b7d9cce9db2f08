//! `--live`: pages reload themselves when a file under the root changes.
//!
//! One recursive watcher (inotify, through the `notify` crate) for the
//! whole server, its changes (not mere reads) gathered until the root is
//! quiet for [`DEBOUNCE`] and broadcast to
//! every open page as a Server-Sent Event on [`EVENTS_PATH`]: `css` with
//! the URL paths of the stylesheets that changed, when only stylesheets
//! did (the page swaps its matching `<link rel=stylesheet>`), else
//! `reload`. HTML responses get [`SCRIPT`] before `</body>`, which
//! listens and reconnects after a restart. Dot paths are never served,
//! so the reserved path cannot collide with a file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::broadcast;

use crate::exchange::Events;

/// Where pages listen for changes.
pub const EVENTS_PATH: &[u8] = b"/.henaserver/live";
/// How long changes are gathered into one event.
pub const DEBOUNCE: Duration = Duration::from_millis(100);
/// Events kept for a page that reads slowly.
const BACKLOG: usize = 16;
/// Largest HTML file the script is put into; larger ones are served as
/// they are.
pub const INJECT_MAX: u64 = 8 * 1024 * 1024;

/// The script put into HTML pages.
pub const SCRIPT: &str = concat!(
    "<script>/* henaserver --live */(()=>{",
    "const es=window.henaserverLive=new EventSource(\"/.henaserver/live\");let lost=false;",
    "es.addEventListener(\"open\",()=>{if(lost)location.reload()});",
    "es.addEventListener(\"error\",()=>{lost=true});",
    "es.addEventListener(\"reload\",()=>location.reload());",
    "es.addEventListener(\"css\",e=>{const paths=e.data.split(\"\\n\");let swapped=0;",
    "for(const l of document.querySelectorAll('link[rel~=\"stylesheet\"]')){",
    "const u=new URL(l.href,location.href);",
    "if(u.origin===location.origin&&paths.includes(decodeURIComponent(u.pathname))){",
    "u.searchParams.set(\"henaserver\",Date.now());l.href=u.href;swapped++}}",
    "if(!swapped)location.reload()});",
    "})();</script>\n"
);

/// The watcher and the pages listening to it.
pub struct Live {
    events: broadcast::Sender<Bytes>,
    _watcher: Option<RecommendedWatcher>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").finish_non_exhaustive()
    }
}

impl Live {
    /// Watches `roots`. A watcher that cannot start (too many watches, a
    /// file system without notification) is one warning, and pages are
    /// served without live reload.
    pub fn start(roots: &[PathBuf]) -> Live {
        let (events, _) = broadcast::channel(BACKLOG);
        let sender = events.clone();
        let bases: Vec<PathBuf> = roots.to_vec();
        // Changes are gathered until the root has been quiet for DEBOUNCE,
        // so that a burst of writes (an editor saving, a build writing
        // many files) is one event.
        let (changes, gathered) = std::sync::mpsc::channel::<Vec<PathBuf>>();
        let gathering = std::thread::Builder::new()
            .name("henaserver-live".into())
            .spawn(move || {
                while let Ok(mut paths) = gathered.recv() {
                    while let Ok(more) = gathered.recv_timeout(DEBOUNCE) {
                        paths.extend(more);
                    }
                    // A directory changes with what is in it: the files
                    // say what changed.
                    let paths: Vec<&Path> = paths
                        .iter()
                        .map(PathBuf::as_path)
                        .filter(|p| !p.is_dir())
                        .collect();
                    if let Some(event) = event_for(&bases, &paths) {
                        let _ = sender.send(event);
                    }
                }
            });
        if let Err(e) = gathering {
            tracing::warn!(error = %e, "cannot start --live; serving without live reload");
        }
        let watcher = notify::recommended_watcher(move |result: notify::Result<notify::Event>| {
            // Reading a file (as serving it does) is no change.
            if let Ok(event) = result {
                if !matches!(event.kind, EventKind::Access(_)) && !event.paths.is_empty() {
                    let _ = changes.send(event.paths);
                }
            }
        });
        let watcher = watcher.and_then(|mut w| {
            for root in roots {
                w.watch(root, RecursiveMode::Recursive)?;
            }
            Ok(w)
        });
        let watcher = match watcher {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the root for --live; serving without live reload");
                None
            }
        };
        Live {
            events,
            _watcher: watcher,
        }
    }

    /// A new page's event stream.
    pub fn subscribe(&self) -> Events {
        Events::new(
            Bytes::from_static(b"retry: 1000\n\n"),
            self.events.subscribe(),
        )
    }
}

/// The event for a batch of changed `paths` under `roots`: `css` with the
/// URL paths when every visible change is a stylesheet, `reload` for any
/// other, nothing when only hidden files changed.
fn event_for(roots: &[PathBuf], paths: &[&Path]) -> Option<Bytes> {
    let mut urls = Vec::new();
    for path in paths {
        let Some(rel) = roots.iter().find_map(|r| path.strip_prefix(r).ok()) else {
            continue;
        };
        let hidden = rel
            .components()
            .any(|c| c.as_os_str().to_string_lossy().starts_with('.'));
        if hidden || rel.as_os_str().is_empty() {
            continue;
        }
        let url = format!("/{}", rel.to_string_lossy());
        if !urls.contains(&url) {
            urls.push(url);
        }
    }
    if urls.is_empty() {
        return None;
    }
    let text = if urls.iter().all(|u| u.ends_with(".css")) {
        format!("event: css\ndata: {}\n\n", urls.join("\ndata: "))
    } else {
        format!("event: reload\ndata: {}\n\n", urls.join("\ndata: "))
    };
    Some(Bytes::from(text))
}

/// `page` with the script before its last `</body>` (at the end when it
/// has none).
pub fn inject(page: &[u8]) -> Bytes {
    let at = find_last_ci(page, b"</body>").unwrap_or(page.len());
    let mut out = Vec::with_capacity(page.len() + SCRIPT.len());
    out.extend_from_slice(&page[..at]);
    out.extend_from_slice(SCRIPT.as_bytes());
    out.extend_from_slice(&page[at..]);
    Bytes::from(out)
}

fn find_last_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    (0..=hay.len().checked_sub(needle.len())?)
        .rev()
        .find(|&i| hay[i..i + needle.len()].eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_name_what_changed() {
        let roots = [PathBuf::from("/srv/www")];
        let css = event_for(&roots, &[Path::new("/srv/www/css/site.css")]).unwrap();
        assert_eq!(&css[..], b"event: css\ndata: /css/site.css\n\n");
        let both = [
            Path::new("/srv/www/a.css"),
            Path::new("/srv/www/index.html"),
        ];
        assert!(event_for(&roots, &both)
            .unwrap()
            .starts_with(b"event: reload\n"));
        assert!(event_for(&roots, &[Path::new("/srv/www/.index.html.swp")]).is_none());
    }

    #[test]
    fn the_script_goes_before_the_body_ends() {
        let page = inject(b"<html><body><p>hi</p></BODY></html>");
        let text = String::from_utf8(page.to_vec()).unwrap();
        assert!(text.starts_with("<html><body><p>hi</p><script>"));
        assert!(text.ends_with("</script>\n</BODY></html>"));
        let bare = inject(b"<p>no body");
        assert!(bare.starts_with(b"<p>no body<script>"));
    }
}
