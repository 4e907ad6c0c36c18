use websock::channel;
use websock::channels::{AnonymousSocket, Assigns, ConnectInfo, Params, Refused, Socket, State, socket};

struct UserSocket;

impl Socket for UserSocket {
    async fn connect(&self, _: &Params, _: &ConnectInfo) -> Result<Assigns, Refused> {
        Ok(Assigns::new())
    }
}

struct OtherSocket;

impl Socket for OtherSocket {
    async fn connect(&self, _: &Params, _: &ConnectInfo) -> Result<Assigns, Refused> {
        Ok(Assigns::new())
    }
}

struct Room;

#[channel("room:lobby")]
impl Room {
    #[on_join]
    fn join(_app: State<UserSocket>) -> Self {
        Room
    }

    // Two state types in one channel: the second is reported at its type.
    #[on_event("other")]
    fn other(&mut self, _app: State<OtherSocket>) {}
}

struct Lobby;

#[channel("room:*")]
impl Lobby {
    #[on_join]
    fn join(_app: State<UserSocket>) -> Self {
        Lobby
    }
}

fn main() {
    // A route of another socket type cannot serve a channel that reads `State<UserSocket>`.
    let _ = socket(AnonymousSocket).channel::<Lobby>();
}
