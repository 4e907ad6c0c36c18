//! `init` by name or by `#[init]`, sync or async, with no, one or several extractors (with
//! patterns) and the context anywhere, returning `Self` or `Result<Self, Close>`.
#![deny(warnings)]

use websock::{
    Close, CloseCode, Context, Handler, HeaderMap, Path, PathParams, Query, RequestInfo, Router,
    State, websock_handler, websocket,
};

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

struct Extractors;

#[websock_handler]
impl Extractors {
    async fn init(
        Path((name, id)): Path<(String, u32)>,
        ctx: &mut Context<Self>,
        State(limit): State<u8>,
        Query(query): Query<std::collections::HashMap<String, String>>,
        _headers: HeaderMap,
    ) -> Result<Self, Close> {
        let _ = (ctx.path(), name, id, limit, query);
        Ok(Extractors)
    }
}

fn assert_init<H: Handler<Init = I>, I>() {}

fn main() {
    assert_init::<Bare, ()>();
    assert_init::<Marked, RequestInfo>();
    assert_init::<WithParams, PathParams>();
    assert_init::<
        Extractors,
        (
            Path<(String, u32)>,
            State<u8>,
            Query<std::collections::HashMap<String, String>>,
            HeaderMap,
        ),
    >();
    let _ = Marked.init();
    let _ = Router::with_state(7u8).route("/{name}/{id}", websocket::<Extractors>());
}
