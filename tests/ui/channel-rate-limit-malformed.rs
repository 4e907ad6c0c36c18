use websock::channel;
use websock::channels::JoinError;

struct Room {
    user: String,
}

#[channel("room:lobby")]
impl Room {
    #[on_join]
    fn join() -> Result<Self, JoinError> {
        Ok(Room { user: String::new() })
    }

    #[on_event("no_window")]
    #[rate_limit(30, key = self.user)]
    fn no_window(&mut self) {}

    #[on_event("unknown_argument")]
    #[rate_limit(30, every = std::time::Duration::from_secs(60))]
    fn unknown_argument(&mut self) {}

    #[on_event("no_arguments")]
    #[rate_limit]
    fn no_arguments(&mut self) {}

    #[on_event("two_limits")]
    #[rate_limit(30, 40, per = std::time::Duration::from_secs(60))]
    fn two_limits(&mut self) {}

    #[on_leave]
    #[rate_limit(30, per = std::time::Duration::from_secs(60))]
    fn leave(&mut self) {}
}

fn main() {}
