impl Room {
    fn init(Path(id): Path<u32>, ctx: &mut Context<Self>, State(app): State<App>) -> Self
    where
        Room: ::core::marker::Send,
    {
        Room::new(id, app)
    }
}
#[allow(
    unused_variables,
    unused_qualifications,
    unreachable_code,
    clippy::all,
    clippy::pedantic,
    clippy::nursery
)]
impl ::websock::__private::Handler for Room
where
    Room: ::core::marker::Send,
{
    type Init = (Path<u32>, State<App>);
    type Info = ::core::convert::Infallible;
    async fn init(
        __init: Self::Init,
        __ctx: &mut ::websock::__private::Context<Self>,
    ) -> ::core::result::Result<Self, ::websock::__private::Close> {
        let (__init0, __init1) = __init;
        let __returned = Self::init(__init0, &mut *__ctx, __init1);
        ::websock::__private::IntoInit::<Self>::into_init(__returned)
    }
    async fn handle_in(
        &mut self,
        __message: ::websock::__private::Message,
        __ctx: &mut ::websock::__private::Context<Self>,
    ) -> ::websock::__private::Reply {
        match __message {
            ::websock::__private::Message::Text(_) => ::websock::__private::Reply::ok(),
            ::websock::__private::Message::Binary(_) => ::websock::__private::Reply::ok(),
        }
    }
}
