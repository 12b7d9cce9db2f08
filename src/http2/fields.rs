//! A stream's header fields, looked up by the names the pipeline reads.
//! Several field lines of one name are combined as RFC 9110 §5.3 says;
//! HTTP/2 sends each `cookie` crumb apart, but the pipeline reads none.

use std::borrow::Cow;

use http::HeaderMap;

use crate::exchange::{Fields, Name};

/// The fields the pipeline reads, found in one pass over the map.
pub struct H2Fields<'a> {
    values: [Option<Cow<'a, [u8]>>; Name::ALL.len()],
}

impl<'a> H2Fields<'a> {
    /// The fields of `map`.
    pub fn new(map: &'a HeaderMap) -> H2Fields<'a> {
        let mut values: [Option<Cow<'a, [u8]>>; Name::ALL.len()] = Default::default();
        for (name, value) in map {
            let Some(known) = Name::from_lowercase(name.as_str()) else {
                continue;
            };
            let value = value.as_bytes();
            let slot = &mut values[known.index()];
            *slot = Some(match slot.take() {
                None => Cow::Borrowed(value),
                Some(first) if value.is_empty() => first,
                Some(first) if first.is_empty() => Cow::Borrowed(value),
                Some(first) => {
                    let mut joined = first.into_owned();
                    joined.extend_from_slice(b", ");
                    joined.extend_from_slice(value);
                    Cow::Owned(joined)
                }
            });
        }
        H2Fields { values }
    }
}

impl H2Fields<'_> {
    /// The value of `name`, empty when absent.
    pub fn get_bytes(&self, name: Name) -> &[u8] {
        self.get(name).unwrap_or_default()
    }
}

impl Fields for H2Fields<'_> {
    fn get(&self, name: Name) -> Option<&[u8]> {
        self.values[name.index()].as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_one_name_are_combined() {
        let mut map = HeaderMap::new();
        map.append("if-none-match", "\"a\"".parse().unwrap());
        map.append("if-none-match", "\"b\"".parse().unwrap());
        map.append("range", "bytes=0-1".parse().unwrap());
        map.append("x-other", "ignored".parse().unwrap());
        let f = H2Fields::new(&map);
        assert_eq!(f.get(Name::IfNoneMatch), Some(&b"\"a\", \"b\""[..]));
        assert_eq!(f.get(Name::Range), Some(&b"bytes=0-1"[..]));
        assert_eq!(f.get(Name::Accept), None);
    }
}
