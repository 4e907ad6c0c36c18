use websock::{Context, HeaderMap, PathParams, PeerAddr, RequestInfo, websock_handler};

struct Chat;

#[websock_handler]
impl Chat {
    #[allow(clippy::too_many_arguments)]
    fn init(
        _a: PathParams,
        _b: RequestInfo,
        _c: HeaderMap,
        _ctx: &mut Context<Self>,
        _d: PeerAddr,
        _e: PathParams,
        _f: RequestInfo,
        _g: HeaderMap,
        _h: PeerAddr,
        _i: PathParams,
    ) -> Self {
        Chat
    }
}

fn main() {}
