//! A `#[cfg]` on a method applies to its dispatch arm: methods compiled out are not called,
//! their info types leave the info enum.
#![deny(warnings)]

use websock::{Context, websock_handler};

struct Gated;

#[cfg(any())]
struct NeverCompiled;

struct Alert;

#[websock_handler]
impl Gated {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Gated
    }

    #[on_text("ping")]
    fn ping(&mut self) -> &'static str {
        "pong"
    }

    #[cfg(any())]
    #[on_text("never")]
    fn never(&mut self, _: NeverCompiled) {}

    #[cfg(any())]
    #[on_text("never {x}")]
    fn never_capture(&mut self, x: NeverCompiled) {}

    #[cfg(any())]
    #[on_json(type = "never")]
    fn never_json(&mut self, _: NeverCompiled) {}

    #[cfg(any())]
    #[on_text]
    fn never_fallback(&mut self, _: NeverCompiled) {}

    #[cfg(any())]
    #[on_binary(prefix = b"n")]
    fn never_prefix(&mut self, _: NeverCompiled) {}

    #[cfg(any())]
    #[on_info]
    fn never_info(&mut self, _: NeverCompiled) {}

    #[on_info]
    fn alert(&mut self, _: Alert) {}

    #[cfg(any())]
    #[on_ping]
    fn never_ping(&mut self, _: NeverCompiled) {}

    #[cfg(any())]
    #[on_terminate]
    fn never_terminate(&mut self, _: NeverCompiled) {}

    #[cfg(any())]
    #[on_text]
    fn fallback_never(&mut self, _: NeverCompiled) {}

    #[cfg(all())]
    #[on_text]
    fn fallback_always(&mut self, text: &str) -> String {
        text.to_owned()
    }

    // Exclusive cfgs: not duplicates.
    #[cfg(not(any()))]
    #[on_text("ping2")]
    fn ping2(&mut self) {}

    #[cfg(any())]
    #[on_text("ping2")]
    fn ping2_never(&mut self) {}

    #[cfg(not(any()))]
    #[on_info]
    fn tick(&mut self, _: u8) {}

    #[cfg(any())]
    #[on_info]
    fn tick_never(&mut self, _: u8) {}

    #[cfg(all())]
    #[on_text("always")]
    fn always(&mut self) -> &'static str {
        "here"
    }
}

fn main() {
    fn assert_info<H: websock::Handler>(_: impl Into<H::Info>) {}
    assert_info::<Gated>(Alert);
    assert_info::<Gated>(1u8);
}
