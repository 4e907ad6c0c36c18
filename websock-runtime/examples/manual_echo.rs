//! An echo server written against the `Handler` trait by hand, without the macro.
//!
//! ```sh
//! cargo run -p websock-runtime --example manual_echo      # ws://127.0.0.1:4000/ws/echo
//! WEBSOCK_ADDR=127.0.0.1:0 cargo run -p websock-runtime --example manual_echo
//! ```

use websock_runtime::{Close, Context, Handler, Message, Reply, Router, serve, websocket};

struct Echo;

impl Handler for Echo {
    type Init = ();
    type Info = std::convert::Infallible;

    async fn init(_: (), _ctx: &mut Context<Self>) -> Result<Self, Close> {
        Ok(Echo)
    }

    async fn handle_in(&mut self, message: Message, _ctx: &mut Context<Self>) -> Reply {
        Reply::push(message)
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::var("WEBSOCK_ADDR").unwrap_or_else(|_| "127.0.0.1:4000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    serve(
        listener,
        Router::new().route("/ws/echo", websocket::<Echo>()),
    )
    .await?;
    Ok(())
}
