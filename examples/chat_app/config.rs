//! The app's settings, from the environment (`WEBSOCK_ADDR` is read by `websock::run`).

use std::time::Duration;

/// The key tokens are signed with when `SECRET_KEY_BASE` is unset: known to everyone, for
/// development and tests only (tests sign expired tokens with it).
pub const DEV_SECRET_KEY_BASE: &str = "websock chat_app development secret key base: do not deploy";

/// Everything the app reads from its environment.
#[derive(Clone, Debug)]
pub struct Config {
    /// `DATABASE_URL`: `sqlite://PATH` (default `sqlite://chat_app.db`).
    pub database_url: String,
    /// `RATE_LIMIT_WINDOW_SECS` (default 60): the window of the 30 messages a user may send.
    pub rate_limit_window: Duration,
    /// `REDIS_URL`: when set, the nodes on it share PubSub, Presence and rate limits.
    pub redis_url: Option<String>,
    /// `SECRET_KEY_BASE`, or [`DEV_SECRET_KEY_BASE`].
    pub secret_key_base: String,
    /// `SECRET_KEY_BASE` was unset: the development key is in use (`main` says so).
    pub dev_secret: bool,
}

impl Config {
    /// Reads the environment; an unreadable `RATE_LIMIT_WINDOW_SECS` is an error.
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        let window = match var("RATE_LIMIT_WINDOW_SECS") {
            Some(secs) => secs
                .parse::<u64>()
                .ok()
                .filter(|secs| *secs > 0)
                .ok_or_else(|| {
                    format!("RATE_LIMIT_WINDOW_SECS must be a positive integer, got {secs:?}")
                })?,
            None => 60,
        };
        let secret_key_base = var("SECRET_KEY_BASE");
        Ok(Self {
            database_url: var("DATABASE_URL").unwrap_or_else(|| "sqlite://chat_app.db".to_owned()),
            rate_limit_window: Duration::from_secs(window),
            redis_url: var("REDIS_URL"),
            dev_secret: secret_key_base.is_none(),
            secret_key_base: secret_key_base.unwrap_or_else(|| DEV_SECRET_KEY_BASE.to_owned()),
        })
    }
}
