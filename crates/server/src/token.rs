//! Job tokens (docs/PROTOCOL.md §3): random, stored only as a SHA-256 hash, compared in
//! constant time so that a timing side channel cannot recover them.

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const TOKEN_BYTES: usize = 32;

pub type TokenHash = [u8; 32];

/// A fresh token as sent to the client (64 hex characters) and its hash.
pub fn generate() -> (String, TokenHash) {
    let mut raw = [0u8; TOKEN_BYTES];
    rand::rng().fill_bytes(&mut raw);
    let token = hex::encode(raw);
    let hash = hash(&token);
    (token, hash)
}

pub fn hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

pub fn matches(presented: &str, stored: &TokenHash) -> bool {
    hash(presented).ct_eq(stored).into()
}

/// What a presented token is worth for a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenCheck {
    Valid,
    Invalid,
    Expired,
}

pub fn check(
    presented: Option<&str>,
    stored: &TokenHash,
    expires_at_ms: i64,
    now_ms: i64,
) -> TokenCheck {
    match presented {
        Some(t) if matches(t, stored) => {
            if now_ms >= expires_at_ms {
                TokenCheck::Expired
            } else {
                TokenCheck::Valid
            }
        }
        _ => TokenCheck::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_only_their_hash_matches() {
        let (a, ha) = generate();
        let (b, hb) = generate();
        assert_ne!(a, b);
        assert_eq!(a.len(), TOKEN_BYTES * 2);
        assert!(matches(&a, &ha));
        assert!(!matches(&b, &ha));
        assert!(!matches(&a, &hb));
        assert_ne!(hex::encode(ha), a, "the stored form is not the token");
    }

    #[test]
    fn expiry_and_absence() {
        let (t, h) = generate();
        assert_eq!(check(Some(&t), &h, 100, 99), TokenCheck::Valid);
        assert_eq!(check(Some(&t), &h, 100, 100), TokenCheck::Expired);
        assert_eq!(check(None, &h, 100, 0), TokenCheck::Invalid);
        assert_eq!(check(Some("nope"), &h, 100, 0), TokenCheck::Invalid);
    }
}
