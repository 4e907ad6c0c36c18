//! The seed article's Phoenix chat application, whole, on websock: a token-authenticated
//! socket, rooms with join authorization, history in SQLite, typing indicators, presence
//! with a status, a rate limit, private user channels, cross-node game updates, telemetry
//! and the JavaScript client.
//!
//! ```text
//! cargo run --example chat_app        # then open http://127.0.0.1:4000/ in two browsers
//! ```
//!
//! | route | what it does |
//! | --- | --- |
//! | `POST /api/login` `{"name": "Alice"}` | 200 `{"token": .., "user": {"id": .., "name": "Alice"}}` (a development login: the same name is always the same user) |
//! | `/socket` (phoenix.js: `new Socket("/socket", {params: {token}})`) | 403 before the upgrade for a missing, malformed, forged or expired token; the socket's id is `user_socket:<id>` |
//! | `GET /` | the client page; `GET /phoenix.min.js` phoenix.js from npm (`npm install`; `PHOENIX_JS` overrides the path) |
//! | `GET /metrics` | Prometheus text: `websock_sockets_connected`, `websock_channel_joined_total`, `websock_channel_handled_in_total`, .. |
//!
//! | topic / event | the server does |
//! | --- | --- |
//! | join `room:lobby`, `room:rust`, `room:elixir` | ok; then `recent_messages` `{messages}` (the last 50, oldest first) and `presence_state` (metas: `name`, `joined_at`, `status` once set); the others get `presence_diff`, and `user_joined` `{user: {id, name}}` for the user's first presence in the room |
//! | join `room:staff` | only Alice, else `{reason: "unauthorized"}`; other rooms `{reason: "room not found"}` |
//! | `new_message` `{body}` | over 30 per user per window (`RATE_LIMIT_WINDOW_SECS`, 60; every attempt counts, across sockets, rooms and nodes) `{reason: "rate_limited"}`; blank `{errors: {body: ["can't be blank"]}}`; over 1000 bytes `{reason: "message_too_long"}`; else ok `{id}` and `new_message` `{id, body, user: {id, name}, timestamp}` to the room, sender included |
//! | `typing` `{typing}` | `user_typing` `{user_id, typing}` to the others |
//! | `update_status` `{status}` | the user's presence meta gains `status` |
//! | a user's last presence in a room goes (leave, close, node gone) | `user_left` `{user_id}` to the others, with the presence leave |
//! | join `user:<id>` | the socket's own user only, else `{reason: "unauthorized"}`; `mark_notifications_read` `{ids}` replies ok |
//! | join `game:<id>` | anyone; a server task publishes `GameState {game_id: 42, tick}` (tick: Unix seconds) to `game:42` every second, pushed as `game_state` once per tick |
//!
//! Environment: `WEBSOCK_ADDR` (default `127.0.0.1:4000`; prints `listening on <addr>`);
//! `DATABASE_URL` (`sqlite://PATH`, an absolute PATH with three slashes; default
//! `sqlite://chat_app.db` in the working directory, created with its schema when missing);
//! `RATE_LIMIT_WINDOW_SECS` (default 60); `REDIS_URL` (nodes on the same Redis share PubSub,
//! Presence and the rate limit); `SECRET_KEY_BASE` (the token key; unset, a fixed development
//! key, [`config::DEV_SECRET_KEY_BASE`], is used and the app says so).
//!
//! Tokens are `websock::channels::token` tokens for the salt `"user socket"`
//! ([`auth::TOKEN_SALT`]) whose data is the user id, an integer (JSON `42`), valid for a day.
//! The development key is the text `websock chat_app development secret key base: do not
//! deploy` (its UTF-8 bytes are the secret): a test makes an expired token with
//! `token::sign_at(DEV_SECRET_KEY_BASE.as_bytes(), "user socket", &id, two_days_ago)`, a forged
//! one with another secret.
//!
//! The game ticker runs on every node; the tick is the game clock (Unix seconds), so with
//! several nodes each channel pushes each tick once (one `game_state` a second) and the game
//! goes on while any node is up.
//!
//! ```text
//! WEBSOCK_ADDR=127.0.0.1:4001 REDIS_URL=redis://127.0.0.1:6379/ cargo run --example chat_app
//! WEBSOCK_ADDR=127.0.0.1:4002 REDIS_URL=redis://127.0.0.1:6379/ cargo run --example chat_app
//! ```

// The modules' items are `pub` as in a library crate: each module is one concept, used by
// the others; the binary exports nothing.
#![allow(unreachable_pub)]

mod auth;
mod config;
mod game;
mod pages;
mod presence_events;
mod room;
mod store;
mod telemetry;
mod user_channel;
mod user_socket;

use config::Config;
use websock::{
    RateLimiter, Router,
    channels::{PubSub, socket},
    post,
};
use websock_redis::{RedisAdapter, RedisRateLimitStore};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let config = Config::from_env().map_err(std::io::Error::other)?;
    // Before the routes: the library registers its metric handles when they are built.
    let metrics = telemetry::install().map_err(std::io::Error::other)?;
    let store = store::Store::open(&config.database_url).map_err(std::io::Error::other)?;
    let (pubsub, limiter) = shared(&config).await?;
    println!("database: {}", config.database_url);
    if config.dev_secret {
        println!("tokens: signed with the development key (set SECRET_KEY_BASE in production)");
    }
    let tokens = auth::Tokens::new(&config.secret_key_base);
    let app = user_socket::UserSocket {
        store: store.clone(),
        tokens: tokens.clone(),
        rate_limit_window: config.rate_limit_window,
    };
    let route = socket(app)
        .channel::<room::Room>()
        .channel::<user_channel::UserChannel>()
        .channel::<game::GameChannel>()
        .rate_limiter(limiter)
        .with_pubsub(pubsub.clone());
    game::spawn_ticker(pubsub);
    let router = Router::new()
        .route("/socket/websocket", route)
        .route(
            "/api/login",
            post(move |_request, body| auth::login(store.clone(), tokens.clone(), body))
                .body_limit(auth::MAX_LOGIN_BODY),
        )
        .get("/", |_| async { pages::index() })
        .get("/phoenix.min.js", |_| async { pages::phoenix_js() })
        .get("/metrics", move |_| {
            let response = telemetry::render(&metrics);
            async move { response }
        });
    // Prints `listening on <addr>`.
    websock::run(router).await
}

/// The PubSub and the rate limiter's store: Redis, shared by every node on it, when
/// `REDIS_URL` is set; this process's otherwise.
async fn shared(config: &Config) -> std::io::Result<(PubSub, RateLimiter)> {
    let Some(url) = &config.redis_url else {
        println!("pubsub: in this process (set REDIS_URL to share it between nodes)");
        return Ok((PubSub::local(), RateLimiter::in_memory()));
    };
    let adapter = RedisAdapter::connect(url)
        .await
        .map_err(std::io::Error::other)?;
    let store = RedisRateLimitStore::new(url).map_err(std::io::Error::other)?;
    println!("pubsub, presence and rate limits: redis at {url}");
    Ok((PubSub::new(adapter), RateLimiter::new(store)))
}
