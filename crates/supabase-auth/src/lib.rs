//! Signed-in Supabase users, one implementation for every service:
//!
//! - [`jwt`]: verification of Supabase access tokens (HS256 with the project's JWT secret,
//!   ES256/RS256 through its JWKS), with a cached, rate-limited JWKS;
//! - [`user`]: [`AuthUser`], the actix extractor of a request's verified user.

pub mod jwt;
pub mod user;

pub use jwt::{Claims, JwtError, JwtVerifier};
pub use user::AuthUser;
