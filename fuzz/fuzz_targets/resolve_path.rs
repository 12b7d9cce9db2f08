//! The URL-to-path resolver: whatever the bytes, a resolved path names
//! something under the root in plain segments, never a dotfile.
#![no_main]

use std::path::{Component, Path};

use henaserver::internals::{directory_url, resolve_path};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = resolve_path(data) {
        let path = Path::new(&r.rel);
        assert!(path.is_relative());
        for c in path.components() {
            match c {
                Component::Normal(name) => {
                    assert!(!name.to_string_lossy().starts_with('.'));
                }
                Component::CurDir => assert_eq!(r.rel, "."),
                other => panic!("{other:?} in {:?}", r.rel),
            }
        }
        assert!(!r.rel.contains('\0') && !r.rel.contains('\\'));
        let url = directory_url(&r);
        assert!(url.starts_with('/') && !url.starts_with("//"));
    }
});
