use websock::channel;
use websock::channels::JoinError;

struct Room;

#[channel("room:lobby")]
impl Room {
    #[on_join]
    fn join() -> Result<Self, JoinError> {
        Ok(Room)
    }

    #[on_event("new_message")]
    #[rate_limit("thirty", per = 60, key = vec![1])]
    fn new_message(&mut self) {}
}

fn main() {}
