//! A credential the operator configures (`--api-key-file`,
//! `--metrics-token-file`): kept out of `Debug` and compared in constant
//! time. Below `config` and `access`, which both hold one.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A credential the operator set. Its `Debug` never shows it, so a logged
/// configuration cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// `None` for a blank value: an empty key would let every request in.
    pub fn new(value: &str) -> Option<Secret> {
        let v = value.trim();
        (!v.is_empty()).then(|| Secret(v.to_string()))
    }

    /// Compares the SHA-256 of both in constant time: neither the bytes
    /// nor the length of the secret show in how long a refusal takes.
    pub fn matches(&self, presented: &str) -> bool {
        let a: [u8; 32] = Sha256::digest(self.0.as_bytes()).into();
        let b: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        a.ct_eq(&b).into()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_matches_only_itself_and_never_shows() {
        let s = Secret::new(" k3y\n").unwrap();
        assert!(s.matches("k3y"));
        assert!(!s.matches("k3y "), "compared as presented");
        assert!(!s.matches("k3"));
        assert!(!s.matches(""));
        assert_eq!(format!("{s:?}"), "Secret(…)");
        assert!(Secret::new("  \n").is_none(), "a blank key is no key");
    }
}
