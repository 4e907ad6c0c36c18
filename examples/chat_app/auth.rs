//! The development login (`POST /api/login`) and the user tokens it hands out: the article's
//! `MyApp.Auth`, signed like `Phoenix.Token` with websock's token module.

use crate::store::{Store, User};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;
use websock::{
    Body, Bytes,
    channels::token::Signer,
    http::{Response, StatusCode, header},
};

/// The salt user tokens are signed for (Phoenix's convention for socket tokens).
pub const TOKEN_SALT: &str = "user socket";

/// How long a token is valid: one day, as the article's `Phoenix.Token.verify(.., max_age:
/// 86400)`.
pub const TOKEN_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// The longest name the login takes, in bytes.
pub const MAX_NAME: usize = 64;

/// The largest login body, in bytes: `{"name": ..}` with room to spare (413 above).
pub const MAX_LOGIN_BODY: usize = 1024;

/// Signs and verifies user tokens: the data is the user's id (an integer).
#[derive(Clone, Debug)]
pub struct Tokens(Signer);

impl Tokens {
    /// Tokens signed with `secret_key_base` for [`TOKEN_SALT`].
    pub fn new(secret_key_base: &str) -> Self {
        Self(Signer::new(secret_key_base.as_bytes(), TOKEN_SALT))
    }

    /// A token for `user`, dated now.
    pub fn sign(&self, user: &User) -> String {
        self.0.sign(&user.id)
    }

    /// The user id `token` was signed for, if it is ours and at most a day old.
    pub fn verify(&self, token: &str) -> Result<i64, String> {
        self.0
            .verify::<i64>(token, TOKEN_MAX_AGE)
            .map_err(|error| error.to_string())
    }
}

/// `{"name": "Alice"}`.
#[derive(Deserialize)]
struct Login {
    name: String,
}

/// `POST /api/login`: `{"name": "Alice"}` → 200 `{"token": .., "user": {"id": .., "name":
/// "Alice"}}`; the same name always gets the same user. 400 for a body that is not such JSON,
/// 422 for a blank name or one over [`MAX_NAME`] bytes.
pub async fn login(store: Store, tokens: Tokens, body: Bytes) -> Response<Body> {
    let name = match serde_json::from_slice::<Login>(&body) {
        Ok(login) => login.name.trim().to_owned(),
        Err(error) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({ "error": error.to_string() }),
            );
        }
    };
    if name.is_empty() || name.len() > MAX_NAME {
        let error = format!("name must be 1 to {MAX_NAME} bytes");
        return json_response(StatusCode::UNPROCESSABLE_ENTITY, json!({ "error": error }));
    }
    match store.login(name).await {
        Ok(user) => {
            let token = tokens.sign(&user);
            json_response(StatusCode::OK, json!({ "token": token, "user": user }))
        }
        Err(error) => {
            tracing::error!(%error, "login failed");
            json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "error": "database error" }),
            )
        }
    }
}

/// A JSON response with `status`.
pub fn json_response(status: StatusCode, value: serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Body::from(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}
