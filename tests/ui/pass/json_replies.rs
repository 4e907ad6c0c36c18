//! `Json<T>` and `serde_json::Value` are replies for handler methods and channel events alike,
//! bare or inside `Option` / `Result`.
#![deny(warnings)]

use serde::Serialize;
use serde_json::{Value, json};
use websock::{Json, websock_handler};

#[derive(Serialize)]
struct Cursor {
    x: i32,
}

struct Cursors;

#[websock_handler]
impl Cursors {
    fn init() -> Self {
        Cursors
    }

    #[on_text("json")]
    fn json(&mut self) -> Json<Cursor> {
        Json(Cursor { x: 1 })
    }

    #[on_text("value")]
    async fn value(&mut self) -> Value {
        json!({"x": 1})
    }

    #[on_text("maybe")]
    fn maybe(&mut self) -> Option<Json<Cursor>> {
        None
    }

    #[on_text("fallible")]
    fn fallible(&mut self) -> Result<Value, String> {
        Ok(json!(null))
    }
}

struct Room;

#[websock::channel("room:lobby")]
impl Room {
    #[on_join]
    fn join() -> Self {
        Room
    }

    #[on_event("json")]
    fn json(&mut self) -> Json<Cursor> {
        Json(Cursor { x: 1 })
    }

    #[on_event("value")]
    async fn value(&mut self) -> Value {
        json!({"x": 1})
    }

    #[on_event("maybe")]
    fn maybe(&mut self) -> Option<Json<Cursor>> {
        None
    }
}

fn main() {}
