//! HTTP-01 challenges being validated (RFC 8555 §8.3): the key
//! authorization each token is answered with at
//! `/.well-known/acme-challenge/TOKEN` on the plain listener.

use std::collections::HashMap;
use std::sync::RwLock;

/// The path prefix the CA asks under.
pub const HTTP01_PREFIX: &[u8] = b"/.well-known/acme-challenge/";

/// Tokens and their key authorizations, shared by the ACME manager and
/// the plain listener's pipeline.
#[derive(Debug, Default)]
pub struct Challenges {
    tokens: RwLock<HashMap<Vec<u8>, String>>,
}

impl Challenges {
    /// The key authorization for `token`, while it is being validated.
    pub fn answer(&self, token: &[u8]) -> Option<String> {
        self.tokens
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(token)
            .cloned()
    }

    /// Answers `token` with `key_authorization` until [`Challenges::remove`].
    pub fn add(&self, token: &str, key_authorization: &str) {
        self.tokens
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(token.as_bytes().to_vec(), key_authorization.to_string());
    }

    /// Stops answering `token`.
    pub fn remove(&self, token: &str) {
        self.tokens
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(token.as_bytes());
    }
}
