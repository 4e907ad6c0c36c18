//! A public handler whose info type is private: the generated info enum must not leak a
//! private type into a public interface as an error, nor warn (missing docs, unreachable pub).
#![deny(warnings, missing_docs, unreachable_pub)]
//! Crate docs.

use websock::{Context, Handle, websock_handler};

/// A documented public handler.
pub struct Public;

struct Secret(u8);

#[websock_handler]
impl Public {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Public
    }

    #[on_info]
    fn secret(&mut self, secret: Secret) -> String {
        secret.0.to_string()
    }
}

/// Sending the private info type through a handle.
pub fn poke(handle: &Handle<Public>) {
    let _ = handle.try_send(Secret(1));
}

fn main() {}
