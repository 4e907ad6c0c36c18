impl Cursors {
    fn init(ctx: &mut Context<Self>) -> Self
    where
        Cursors: ::core::marker::Send,
    {
        Cursors
    }
    fn moved(&mut self, to: Move)
    where
        Cursors: ::core::marker::Send,
    {}
    #[cfg(feature = "strict")]
    fn clicked(&mut self, click: Click)
    where
        Cursors: ::core::marker::Send,
    {}
    #[cfg(feature = "strict")]
    fn strict(&mut self, error: serde_json::Error) -> Reply
    where
        Cursors: ::core::marker::Send,
    {
        Reply::stop()
    }
    #[cfg(not(feature = "strict"))]
    fn lenient(&mut self, error: JsonError)
    where
        Cursors: ::core::marker::Send,
    {}
}
#[allow(
    unused_variables,
    unused_qualifications,
    unreachable_code,
    clippy::all,
    clippy::pedantic,
    clippy::nursery
)]
impl ::websock::__private::Handler for Cursors
where
    Cursors: ::core::marker::Send,
{
    type Init = ();
    type Info = ::core::convert::Infallible;
    async fn init(
        __init: Self::Init,
        __ctx: &mut ::websock::__private::Context<Self>,
    ) -> ::core::result::Result<Self, ::websock::__private::Close> {
        let __returned = Self::init(&mut *__ctx);
        ::websock::__private::IntoInit::<Self>::into_init(__returned)
    }
    async fn handle_in(
        &mut self,
        __message: ::websock::__private::Message,
        __ctx: &mut ::websock::__private::Context<Self>,
    ) -> ::websock::__private::Reply {
        match __message {
            ::websock::__private::Message::Text(__text) => {
                let __json_error: ::core::option::Option<
                    ::websock::__private::serde_json::Error,
                > = ::core::option::Option::None;
                let __json_error = match <Move as ::websock::__private::FromJson>::from_json(
                    __text.as_str(),
                ) {
                    ::core::result::Result::Ok(__json) => {
                        return {
                            let __returned = Self::moved(self, __json);
                            ::websock::__private::IntoReply::into_reply(__returned)
                        };
                    }
                    ::core::result::Result::Err(__error) => {
                        ::core::option::Option::Some(__error)
                    }
                };
                #[cfg(feature = "strict")]
                let __json_error = match <Click as ::websock::__private::FromJson>::from_json(
                    __text.as_str(),
                ) {
                    ::core::result::Result::Ok(__json) => {
                        return {
                            let __returned = Self::clicked(self, __json);
                            ::websock::__private::IntoReply::into_reply(__returned)
                        };
                    }
                    ::core::result::Result::Err(__error) => {
                        ::core::option::Option::Some(__error)
                    }
                };
                {
                    if let ::core::option::Option::Some(__error) = __json_error {
                        return {
                            let __json_error = ::websock::__private::json_error_untagged(
                                __error,
                            );
                            {
                                #[cfg(feature = "strict")]
                                {
                                    return {
                                        let __returned = Self::strict(
                                            self,
                                            <serde_json::Error as ::websock::__private::JsonErrorArg>::from_json_error(
                                                __json_error,
                                            ),
                                        );
                                        ::websock::__private::IntoReply::into_reply(__returned)
                                    };
                                }
                                #[cfg(not(feature = "strict"))]
                                {
                                    return {
                                        let __returned = Self::lenient(
                                            self,
                                            <JsonError as ::websock::__private::JsonErrorArg>::from_json_error(
                                                __json_error,
                                            ),
                                        );
                                        ::websock::__private::IntoReply::into_reply(__returned)
                                    };
                                }
                                ::websock::__private::invalid_json(__json_error)
                            }
                        };
                    }
                    ::websock::__private::Reply::ok()
                }
            }
            ::websock::__private::Message::Binary(_) => ::websock::__private::Reply::ok(),
        }
    }
}
