//! HTTP Basic authentication (RFC 7617) against argon2 or bcrypt hashes.
//!
//! Passwords are never stored or logged: users are configured with hashes
//! made by `henaserver hash-password`. Verification is constant-time in
//! the hashing crates; credentials already verified are remembered (up to
//! [`VERIFIED_CACHE`] of them) so a browser's repeated requests do not
//! each pay for a slow hash.

use std::collections::HashSet;
use std::sync::Mutex;

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use base64::Engine;

use crate::request::RequestHead;
use crate::respond::Site;

/// Verified Authorization values remembered at most.
pub const VERIFIED_CACHE: usize = 1024;
/// The realm named in `WWW-Authenticate`.
pub const REALM: &str = "henaserver";

/// A user allowed in, with the hash of their password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user name.
    pub name: String,
    /// An argon2 PHC string (`$argon2id$...`) or a bcrypt hash (`$2b$...`).
    pub hash: String,
}

impl User {
    /// Parses `user:HASH`, checking that the hash is one we can verify.
    pub fn parse(spec: &str) -> Result<User, String> {
        let (name, hash) = spec
            .split_once(':')
            .ok_or("expected USER:HASH (make a hash with henaserver hash-password)")?;
        if name.is_empty() {
            return Err("the user name is empty".into());
        }
        let known = PasswordHash::new(hash).is_ok() && hash.starts_with("$argon2")
            || bcrypt_cost(hash).is_some();
        if !known {
            return Err(format!(
                "the hash for {name} is not an argon2 or bcrypt hash (make one with henaserver hash-password)"
            ));
        }
        Ok(User {
            name: name.to_string(),
            hash: hash.to_string(),
        })
    }

    fn verify(&self, password: &[u8]) -> bool {
        if self.hash.starts_with("$argon2") {
            return PasswordHash::new(&self.hash).is_ok_and(|h| {
                argon2::Argon2::default()
                    .verify_password(password, &h)
                    .is_ok()
            });
        }
        bcrypt::verify(password, &self.hash).unwrap_or(false)
    }
}

fn bcrypt_cost(hash: &str) -> Option<u32> {
    let rest = hash
        .strip_prefix("$2b$")
        .or_else(|| hash.strip_prefix("$2y$"))
        .or_else(|| hash.strip_prefix("$2a$"))?;
    (rest.len() == 56).then(|| rest[..2].parse().ok()).flatten()
}

static VERIFIED: Mutex<Option<HashSet<Vec<u8>>>> = Mutex::new(None);

/// `None` when the request may go on; otherwise the WWW-Authenticate value
/// for a 401.
pub fn check(site: &Site, head: &RequestHead, raw: &[u8]) -> Option<String> {
    if site.users.is_empty() {
        return None;
    }
    let challenge = || format!("Basic realm=\"{REALM}\", charset=\"UTF-8\"");
    let Some(value) = head.authorization.get(raw) else {
        return Some(challenge());
    };
    if let Ok(guard) = VERIFIED.lock() {
        if guard.as_ref().is_some_and(|set| set.contains(value)) {
            return None;
        }
    }
    let text = std::str::from_utf8(value).ok()?;
    let (scheme, token) = text.trim().split_once(' ').unwrap_or((text, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Some(challenge());
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(token.trim()) else {
        return Some(challenge());
    };
    let Some(colon) = decoded.iter().position(|&b| b == b':') else {
        return Some(challenge());
    };
    let (name, password) = (&decoded[..colon], &decoded[colon + 1..]);
    let user = site.users.iter().find(|u| u.name.as_bytes() == name);
    let ok = match user {
        Some(user) => user.verify(password),
        None => {
            // As slow as a real check, so a missing user cannot be told
            // from a wrong password.
            let _ = site.users[0].verify(password);
            false
        }
    };
    if !ok {
        return Some(challenge());
    }
    if let Ok(mut guard) = VERIFIED.lock() {
        let set = guard.get_or_insert_with(HashSet::new);
        if set.len() >= VERIFIED_CACHE {
            set.clear();
        }
        set.insert(value.to_vec());
    }
    None
}

/// An argon2id hash of `password`, as a PHC string.
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_round_trip() {
        let hash = hash_password("s3cret").unwrap();
        let user = User::parse(&format!("ann:{hash}")).unwrap();
        assert!(user.verify(b"s3cret"));
        assert!(!user.verify(b"wrong"));
        let b = bcrypt::hash("pw", 4).unwrap();
        let user = User::parse(&format!("bob:{b}")).unwrap();
        assert!(user.verify(b"pw"));
        assert!(User::parse("carl:plaintext").is_err());
        assert!(User::parse("nohash").is_err());
    }
}
