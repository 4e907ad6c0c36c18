use websock::channel;
use websock::channels::{ChannelReply, ChannelSocket, JoinError};

struct Unclosed;

#[channel("room:{id")]
impl Unclosed {
    #[on_join]
    fn join(_socket: &mut ChannelSocket) -> Result<Self, JoinError> {
        Ok(Unclosed)
    }
}

struct Adjacent;

#[channel("room:{a}{b}")]
impl Adjacent {
    #[on_join]
    fn join() -> Self {
        Adjacent
    }
}

struct StarAfterCapture;

#[channel("room:{id}*")]
impl StarAfterCapture {
    #[on_join]
    fn join() -> Self {
        StarAfterCapture
    }
}

struct NotAString;

#[channel(room)]
impl NotAString {
    #[on_join]
    fn join() -> Self {
        NotAString
    }

    #[on_event("x")]
    fn x(&mut self) -> ChannelReply {
        ChannelReply::none()
    }
}

fn main() {}
