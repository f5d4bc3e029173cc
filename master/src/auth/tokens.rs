//! Logins and tokens. A login checks the password (argon2: deliberately
//! slow, so at most a few run at once and each source address has a rate)
//! and returns a random token; the store keeps only its SHA-256 with the
//! user and expiry, so a leaked database holds no usable token and every
//! master of a cluster accepts it. Revoked or expired tokens are refused.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use ring::rand::{SecureRandom, SystemRandom};

use super::{AuthConfig, AuthError, Principal, Via};
use crate::store::Store;

/// Login attempts one source address may make per minute.
const LOGINS_PER_MINUTE: f64 = 20.0;
/// Password checks running at once (each costs ~20 MB and tens of ms).
const CONCURRENT_CHECKS: usize = 2;

pub struct Authenticator {
    pub config: AuthConfig,
    rate: Mutex<HashMap<IpAddr, (f64, Instant)>>,
    checks: tokio::sync::Semaphore,
}

/// A token's stored form.
pub fn token_hash(token: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn new_token() -> Result<String, AuthError> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| AuthError::Store("no randomness for a token".into()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

impl Authenticator {
    pub fn new(config: AuthConfig) -> Authenticator {
        Authenticator {
            config,
            rate: Mutex::new(HashMap::new()),
            checks: tokio::sync::Semaphore::new(CONCURRENT_CHECKS),
        }
    }

    fn admit(&self, source: IpAddr) -> Result<(), AuthError> {
        let now = Instant::now();
        let mut rate = self.rate.lock().unwrap_or_else(|e| e.into_inner());
        if rate.len() > 10_000 {
            rate.retain(|_, (_, at)| now.duration_since(*at).as_secs() < 60);
        }
        let (tokens, at) = rate.entry(source).or_insert((LOGINS_PER_MINUTE, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * LOGINS_PER_MINUTE / 60.0)
            .min(LOGINS_PER_MINUTE);
        *at = now;
        if *tokens < 1.0 {
            return Err(AuthError::RateLimited(source.to_string()));
        }
        *tokens -= 1.0;
        Ok(())
    }

    /// Checks `user`'s password; the principal it authenticates.
    pub async fn check_password(
        &self,
        user: &str,
        password: &str,
        source: IpAddr,
    ) -> Result<Principal, AuthError> {
        self.admit(source)?;
        let _permit = self
            .checks
            .acquire()
            .await
            .map_err(|_| AuthError::BadCredentials)?;
        let account = self.config.users.get(user);
        let hash = account
            .and_then(|u| u.password_hash.clone())
            .unwrap_or_else(|| super::password::decoy().to_string());
        let password = password.to_string();
        let ok = tokio::task::spawn_blocking(move || super::password::verify(&password, &hash))
            .await
            .unwrap_or(false);
        match account {
            Some(u) if ok && u.password_hash.is_some() => {
                Ok(Principal::from_user(u, Via::Password))
            }
            _ => Err(AuthError::BadCredentials),
        }
    }

    /// A login: the password checked, a token stored; the token and its
    /// expiry (unix ms).
    pub async fn login(
        &self,
        store: &Store,
        user: &str,
        password: &str,
        source: IpAddr,
    ) -> Result<(String, i64, Principal), AuthError> {
        let principal = self.check_password(user, password, source).await?;
        let token = new_token()?;
        let expires_ms = crate::store::now_ms() + self.config.token_expire_secs as i64 * 1000;
        store
            .put_token(&token_hash(&token), user, expires_ms)
            .await
            .map_err(|e| AuthError::Store(e.to_string()))?;
        Ok((token, expires_ms, principal))
    }

    /// The principal a token stands for, if it is known, live and its user
    /// still configured.
    pub async fn check_token(&self, store: &Store, token: &str) -> Result<Principal, AuthError> {
        if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AuthError::BadToken);
        }
        let row = store
            .load_token(&token_hash(token))
            .await
            .map_err(|e| AuthError::Store(e.to_string()))?;
        match row {
            Some((user, expires_ms, false)) if expires_ms > crate::store::now_ms() => self
                .config
                .users
                .get(&user)
                .map(|u| Principal::from_user(u, Via::Token))
                .ok_or(AuthError::BadToken),
            _ => Err(AuthError::BadToken),
        }
    }

    /// Revokes one token (a logout).
    pub async fn revoke(&self, store: &Store, token: &str) -> Result<(), AuthError> {
        store
            .revoke_token(&token_hash(token))
            .await
            .map_err(|e| AuthError::Store(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::ApiUser;

    fn auth() -> Authenticator {
        let mut config = AuthConfig::default();
        config.users.insert(
            "alice".into(),
            ApiUser {
                name: "alice".into(),
                password_hash: Some(crate::auth::password::hash("pw").unwrap()),
                groups: vec![],
                areas: Default::default(),
                admin: false,
            },
        );
        Authenticator::new(config)
    }

    #[tokio::test]
    async fn a_login_gives_a_token_until_it_is_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("s.db")).unwrap();
        let a = auth();
        let src: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            a.login(&store, "alice", "nope", src).await.unwrap_err(),
            AuthError::BadCredentials
        );
        assert_eq!(
            a.login(&store, "mallory", "pw", src).await.unwrap_err(),
            AuthError::BadCredentials
        );
        let (token, expires, p) = a.login(&store, "alice", "pw", src).await.unwrap();
        assert_eq!(p.via, Via::Password);
        assert!(expires > crate::store::now_ms());
        let p = a.check_token(&store, &token).await.unwrap();
        assert_eq!((p.name.as_str(), p.via), ("alice", Via::Token));
        assert_eq!(
            a.check_token(&store, &"0".repeat(64)).await.unwrap_err(),
            AuthError::BadToken
        );
        assert_eq!(
            a.check_token(&store, "short").await.unwrap_err(),
            AuthError::BadToken
        );
        a.revoke(&store, &token).await.unwrap();
        assert_eq!(
            a.check_token(&store, &token).await.unwrap_err(),
            AuthError::BadToken
        );
    }

    #[tokio::test]
    async fn logins_from_one_address_are_rate_limited() {
        let a = auth();
        let src: IpAddr = "127.0.0.9".parse().unwrap();
        let mut limited = false;
        for _ in 0..30 {
            if let Err(AuthError::RateLimited(_)) = a.admit(src) {
                limited = true;
                break;
            }
        }
        assert!(limited);
        assert!(
            a.admit("127.0.0.10".parse().unwrap()).is_ok(),
            "per address"
        );
    }
}
