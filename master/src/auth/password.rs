//! Password hashes: argon2id in the PHC string format
//! (`$argon2id$v=19$m=...`), made by `brine-master --hash-password` and
//! verified in constant time by the argon2 crate.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use ring::rand::{SecureRandom, SystemRandom};

/// A new hash of `password` with a random salt.
pub fn hash(password: &str) -> Result<String, String> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "no randomness for a salt".to_string())?;
    let salt = SaltString::encode_b64(&bytes).map_err(|e| format!("cannot make a salt: {e}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Whether `hash` is a PHC string argon2 can read (checked at start-up).
pub fn check_format(hash: &str) -> Result<(), String> {
    let parsed = PasswordHash::new(hash).map_err(|e| {
        format!("not an argon2 hash ({e}); make one with brine-master --hash-password")
    })?;
    if !parsed.algorithm.as_str().starts_with("argon2") {
        return Err(format!(
            "'{}' hashes are not accepted; make an argon2 one with brine-master --hash-password",
            parsed.algorithm
        ));
    }
    Ok(())
}

/// Whether `password` matches `hash`.
pub fn verify(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash to verify against when the user does not exist, so that an
/// unknown user costs as much time as a wrong password.
pub fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash("decoy password never matched").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash("s3cret").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(check_format(&h).is_ok());
        assert!(verify("s3cret", &h));
        assert!(!verify("S3cret", &h));
        assert!(!verify("s3cret", "not a hash"));
        assert!(check_format("plain text")
            .unwrap_err()
            .contains("--hash-password"));
        assert_ne!(hash("s3cret").unwrap(), h, "salted");
        assert!(!verify("anything", decoy()));
    }
}
