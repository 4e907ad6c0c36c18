//! The article's `MyAppWeb.UserSocket`: a token in the params or refused (403, before the
//! upgrade); the socket's id is `user_socket:<id>`. It is also the app state every channel
//! reads (`State<UserSocket>`).

use crate::{auth::Tokens, store::Store, store::User};
use std::time::Duration;
use websock::channels::{Assigns, ConnectInfo, Params, Refused, Socket};

/// The socket route's value: what `connect` and every channel (`State<UserSocket>`) read.
pub struct UserSocket {
    /// Users and messages.
    pub store: Store,
    /// Signs and verifies user tokens.
    pub tokens: Tokens,
    /// `RATE_LIMIT_WINDOW_SECS`.
    pub rate_limit_window: Duration,
}

/// `socket.assigns.current_user`.
#[derive(Clone, Debug)]
pub struct CurrentUser(pub User);

impl Socket for UserSocket {
    /// `connect(%{"token" => token}, ..)`: a token signed by us for a user that exists, at
    /// most a day old; anything else (missing, malformed, forged, expired) is refused.
    async fn connect(&self, params: &Params, _: &ConnectInfo) -> Result<Assigns, Refused> {
        let token = params.get("token").ok_or(Refused::new("no token"))?;
        let id = self
            .tokens
            .verify(token)
            .map_err(|error| Refused::new(format!("token: {error}")))?;
        match self.store.user(id).await {
            Ok(Some(user)) => Ok(Assigns::new().with(CurrentUser(user))),
            Ok(None) => Err(Refused::new(format!("token of unknown user {id}"))),
            Err(error) => Err(Refused::new(error)),
        }
    }

    /// `def id(socket), do: "user_socket:#{socket.assigns.current_user.id}"`.
    fn id(&self, assigns: &Assigns) -> Option<String> {
        let CurrentUser(user) = assigns.get::<CurrentUser>()?;
        Some(format!("user_socket:{}", user.id))
    }
}

/// The socket's user, as `connect` assigned it.
pub fn current_user(assigns: &Assigns) -> User {
    // Every connected socket has one: `connect` refuses the others.
    assigns
        .get::<CurrentUser>()
        .map(|CurrentUser(user)| user.clone())
        .expect("connect assigns the current user")
}
