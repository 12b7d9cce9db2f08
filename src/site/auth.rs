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

use crate::config::User;
use crate::exchange::{Name, Request};

/// Verified Authorization values remembered at most.
pub const VERIFIED_CACHE: usize = 1024;
/// The realm named in `WWW-Authenticate`.
pub const REALM: &str = "henaserver";

/// Whether `password` is `user`'s.
fn verify(user: &User, password: &[u8]) -> bool {
    if user.hash.starts_with("$argon2") {
        return PasswordHash::new(&user.hash).is_ok_and(|h| {
            argon2::Argon2::default()
                .verify_password(password, &h)
                .is_ok()
        });
    }
    bcrypt::verify(password, &user.hash).unwrap_or(false)
}

/// The Authorization values one site has verified: each site (and each
/// library `Files`) keeps its own, so that credentials one site accepts
/// are never taken as verified by another with other users.
#[derive(Debug, Default)]
pub struct Verified(Mutex<Option<HashSet<Vec<u8>>>>);

/// `None` when the request may go on; otherwise the WWW-Authenticate value
/// for a 401.
pub fn check(users: &[User], verified: &Verified, req: &Request) -> Option<String> {
    if users.is_empty() {
        return None;
    }
    let challenge = || format!("Basic realm=\"{REALM}\", charset=\"UTF-8\"");
    let Some(value) = req.field(Name::Authorization) else {
        return Some(challenge());
    };
    if let Ok(guard) = verified.0.lock() {
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
    let user = users.iter().find(|u| u.name.as_bytes() == name);
    let ok = match user {
        Some(user) => verify(user, password),
        None => {
            // As slow as a real check, so a missing user cannot be told
            // from a wrong password.
            let _ = verify(&users[0], password);
            false
        }
    };
    if !ok {
        return Some(challenge());
    }
    if let Ok(mut guard) = verified.0.lock() {
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
        assert!(verify(&user, b"s3cret"));
        assert!(!verify(&user, b"wrong"));
        let b = bcrypt::hash("pw", 4).unwrap();
        let user = User::parse(&format!("bob:{b}")).unwrap();
        assert!(verify(&user, b"pw"));
        assert!(User::parse("carl:plaintext").is_err());
        assert!(User::parse("nohash").is_err());
    }
}
