use std::cell::RefCell;
use std::rc::Rc;
use websock::channel;
use websock::channels::{ChannelReply, ChannelSocket};

struct Room {
    seen: Rc<RefCell<u32>>,
}

#[channel("room:lobby")]
impl Room {
    #[on_join]
    fn join(_socket: &mut ChannelSocket) -> Self {
        Room {
            seen: Rc::new(RefCell::new(0)),
        }
    }

    #[on_event("ping")]
    fn ping(&mut self) -> ChannelReply {
        *self.seen.borrow_mut() += 1;
        ChannelReply::none()
    }
}

fn main() {}
