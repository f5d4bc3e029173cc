//! Who may use the master over its HTTP API, and as whom: API users from
//! the master config (`api_users`, argon2 password hashes), tokens a login
//! returns (stored hashed in the store, so every master of a cluster
//! accepts them, with an expiry and revocation), and the areas each user
//! may read. What a user may *run* is the publisher ACL's decision
//! (`crate::acl`), the same one the CLI socket's local users get: one
//! mechanism for both.

pub mod config;
pub mod password;
pub mod tokens;

pub use config::{ApiUser, Area, AuthConfig};

/// An authenticated caller of the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub groups: Vec<String>,
    /// Key management and every area.
    pub admin: bool,
    pub areas: std::collections::BTreeSet<Area>,
    /// How the caller proved who it is.
    pub via: Via,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    Password,
    Token,
    Certificate,
}

impl Principal {
    pub fn from_user(user: &ApiUser, via: Via) -> Principal {
        Principal {
            name: user.name.clone(),
            groups: user.groups.clone(),
            admin: user.admin,
            areas: user.areas.clone(),
            via,
        }
    }

    /// Whether this caller may read `area`.
    pub fn may_read(&self, area: Area) -> bool {
        self.admin || self.areas.contains(&area)
    }

    /// The caller as the publisher ACL sees it. API users are never
    /// unrestricted: even an admin runs what the ACL allows.
    pub fn acl_caller(&self) -> crate::acl::Caller {
        crate::acl::Caller {
            name: self.name.clone(),
            groups: self.groups.clone(),
            unrestricted: false,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// Unknown user or wrong password: one message for both, so that a
    /// caller cannot tell which user names exist.
    #[error("authentication failed: unknown user or wrong password")]
    BadCredentials,
    #[error("authentication failed: the token is unknown, expired or revoked")]
    BadToken,
    /// A client certificate that does not stand for a live API user.
    #[error("{0}")]
    Certificate(String),
    #[error("too many login attempts from {0}; try again later")]
    RateLimited(String),
    #[error("{0}")]
    Store(String),
}
