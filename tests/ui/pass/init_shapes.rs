//! `init` by name or by `#[init]`, sync or async, with or without the route's value and the
//! context, returning `Self` or `Result<Self, Close>`.
#![deny(warnings)]

use websock::{Close, CloseCode, Context, Handler, PathParams, RequestInfo, websock_handler};

struct Bare;

#[websock_handler]
impl Bare {
    fn init() -> Self {
        Bare
    }
}

struct Marked;

#[websock_handler]
impl Marked {
    /// A method named `init` without the attribute stays an ordinary method when another one
    /// is marked `#[init]`.
    fn init(&self) -> u8 {
        1
    }

    #[init]
    async fn open(request: RequestInfo) -> Result<Self, Close> {
        if request.path() == "/closed" {
            return Err(Close::new(CloseCode::POLICY_VIOLATION, "closed"));
        }
        Ok(Marked)
    }
}

struct WithParams;

#[websock_handler]
impl WithParams {
    async fn init(ctx: &mut Context<Self>, params: PathParams) -> Self {
        let _ = (ctx.path(), params.get("id"));
        WithParams
    }
}

fn assert_init<H: Handler<Init = I>, I>() {}

fn main() {
    assert_init::<Bare, ()>();
    assert_init::<Marked, RequestInfo>();
    assert_init::<WithParams, PathParams>();
    let _ = Marked.init();
}
