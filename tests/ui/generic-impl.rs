use std::marker::PhantomData;
use websock::{Context, websock_handler};

struct Chat<T>(PhantomData<T>);

#[websock_handler]
impl<T: Send + 'static> Chat<T> {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Chat(PhantomData)
    }
}

fn main() {}
