//! Code generation for `#[channel]`, and the fallback when there were errors.
//!
//! Generated code names everything by absolute path (`::websock::channels::..`,
//! `::websock::__private::channels::..`, `::core::..`); its identifiers start with `__`; typed
//! conversions are spanned at the user's types so a missing `FromStr`/`Deserialize` or a return
//! type that is not a reply is reported there.

use super::{
    info,
    parse::{self, Kind, Method, ParamKind},
    valid,
};
use crate::{
    ctxt::Ctxt,
    rate_limit::{self, RateLimit},
};
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::{ImplItem, Item, ItemImpl, LitStr, ReturnType, spanned::Spanned};

/// Expands `#[channel(attr)] item`: errors become `compile_error!`s next to a fallback.
pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let cx = Ctxt::new();
    let topic = match syn::parse2::<LitStr>(attr.clone()) {
        Ok(lit) => match parse::topic(lit) {
            Ok(topic) => Some(topic),
            Err(error) => {
                cx.syn_error(error);
                None
            }
        },
        Err(_) => {
            let message = "`#[channel]` takes the topic pattern as a string: \
                           `#[channel(\"room:{id}\")]`, `#[channel(\"room:lobby\")]` or `#[channel(\"room:*\")]`";
            if attr.is_empty() {
                cx.error_spanned(
                    proc_macro2::Span::call_site().into_token_stream_fallback(),
                    message,
                );
            } else {
                cx.error_spanned(&attr, message);
            }
            None
        }
    };
    let mut item = match syn::parse2::<Item>(item) {
        Ok(Item::Impl(item)) => item,
        Ok(other) => {
            cx.error_spanned(
                &other,
                "`#[channel]` goes on an inherent impl block, such as `impl Room { .. }`",
            );
            return with_errors(quote!(#other), cx);
        }
        Err(error) => {
            cx.syn_error(error);
            return with_errors(TokenStream::new(), cx);
        }
    };
    let found = parse::strip(&mut item, &cx);
    let events: Vec<usize> = found
        .iter()
        .filter(|(_, kind, _, _)| *kind == Kind::Event)
        .map(|(index, ..)| *index)
        .collect();
    let limits = rate_limit::strip(
        &mut item,
        |index| events.contains(&index),
        "`#[rate_limit]` goes on an `#[on_event(\"..\")]` method: it limits the events a client pushes",
        &cx,
    );
    info::type_sockets(&mut item);
    if let Some((path, for_token)) = &item.trait_ {
        cx.error_spanned(
            quote!(#path #for_token),
            "`#[channel]` writes the `Channel` impl itself: put it on an inherent impl, `impl Room { .. }`",
        );
        return with_errors(quote!(#item), cx);
    }
    if !item.generics.params.is_empty() {
        cx.error_spanned(
            &item.generics,
            "`#[channel]` impl blocks cannot be generic: implement `Channel` by hand for a generic type",
        );
    }
    let has_join = found.iter().any(|(_, kind, _, _)| *kind == Kind::Join);
    let mut methods = Vec::new();
    for (index, kind, attr, event) in found {
        let ImplItem::Fn(func) = &item.items[index] else {
            continue;
        };
        if let Some(method) = parse::method(func, kind, attr, event, topic.as_ref(), &cx) {
            methods.push(method);
        }
    }
    valid::check(&methods, has_join, &item.self_ty, &cx);
    match (cx.check(), topic) {
        (Ok(()), Some(topic)) => {
            let channel = channel_impl(&item, &methods, &topic, &limits);
            quote!(#item #channel)
        }
        (Err(errors), _) => fallback(&item, &methods, errors),
        (Ok(()), None) => unreachable!("a missing topic is an error"),
    }
}

trait SpanTokens {
    fn into_token_stream_fallback(self) -> TokenStream;
}

impl SpanTokens for proc_macro2::Span {
    fn into_token_stream_fallback(self) -> TokenStream {
        quote_spanned!(self=> channel)
    }
}

fn with_errors(tokens: TokenStream, cx: Ctxt) -> TokenStream {
    let errors = cx
        .check()
        .err()
        .map(syn::Error::into_compile_error)
        .unwrap_or_default();
    quote!(#tokens #errors)
}

/// The user's impl (methods unused, so dead code is allowed) and a `Channel` impl whose
/// callbacks are never reached, with the info types of the methods that parsed:
/// `.channel::<Room>()` and `socket.send_after(.., Tick)` still compile.
fn fallback(item: &ItemImpl, methods: &[Method<'_>], errors: syn::Error) -> TokenStream {
    let errors = errors.into_compile_error();
    let self_ty = &item.self_ty;
    if !item.generics.params.is_empty() {
        return quote!(#item #errors);
    }
    let (info_type, info_items) = info::info_items(self_ty, methods);
    quote! {
        #[allow(dead_code)]
        #item
        #info_items
        #[allow(unreachable_code, unused_variables)]
        impl ::websock::channels::Channel for #self_ty {
            const TOPIC: &'static str = "";
            type Info = #info_type;
            type State = ();
            async fn join(
                __topic: ::websock::channels::Topic,
                __params: ::websock::channels::Payload,
                __socket: &mut ::websock::channels::ChannelSocket<'_, Self>,
            ) -> ::core::result::Result<(Self, ::websock::channels::Payload), ::websock::channels::JoinError> {
                ::core::unreachable!()
            }
            async fn handle_in(
                &mut self,
                __event: &str,
                __payload: ::websock::channels::Payload,
                __socket: &mut ::websock::channels::ChannelSocket<'_, Self>,
            ) -> ::websock::channels::ChannelReply {
                ::core::unreachable!()
            }
        }
        #errors
    }
}

/// The arguments of a call to `method`, in its parameter order, and the `let`s that make them.
fn call(
    method: &Method<'_>,
    value: impl Fn(&syn::Type) -> TokenStream,
) -> (TokenStream, TokenStream) {
    let mut lets = TokenStream::new();
    let mut args = Vec::new();
    for (i, param) in method.params.iter().enumerate() {
        let ty = param.ty;
        let local = format_ident!("__arg{}", i);
        let span = ty.span();
        match &param.kind {
            ParamKind::Socket => args.push(quote!(__socket)),
            ParamKind::Topic => args.push(quote!(::core::clone::Clone::clone(&__topic))),
            ParamKind::Reason => args.push(quote!(__reason)),
            ParamKind::State => {
                // `Self::State` is this very type: another method's other state type fails here.
                lets.extend(quote_spanned! {span=>
                    let #local: #ty = ::websock::__private::channels::channel_state::<Self, _>(__socket);
                });
                args.push(quote!(#local));
            }
            ParamKind::Capture(name) => {
                lets.extend(quote_spanned! {span=>
                    let #local: #ty = ::websock::__private::channels::topic_capture(
                        &__topic,
                        #name,
                        <#ty as ::websock::__private::FromCapture>::from_capture,
                    )?;
                });
                args.push(quote!(#local));
            }
            ParamKind::Value => {
                let value = value(ty);
                lets.extend(quote_spanned! {span=> let #local: #ty = #value; });
                args.push(quote!(#local));
            }
        }
    }
    let ident = method.ident();
    let mut invoke = quote!(Self::#ident(#(#args),*));
    if method.func.sig.receiver().is_some() {
        invoke = quote!(self.#ident(#(#args),*));
    }
    if method.is_async() {
        invoke = quote!(#invoke.await);
    }
    (lets, invoke)
}

fn reply_span(method: &Method<'_>) -> proc_macro2::Span {
    match &method.func.sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => method.func.sig.ident.span(),
    }
}

/// A block that calls the method and converts what it returns, the conversion spanned at the
/// return type so a type that is not a reply is reported there.
fn reply(method: &Method<'_>, invoke: TokenStream) -> TokenStream {
    let span = reply_span(method);
    let convert = quote_spanned!(span=> ::websock::__private::channels::IntoChannelReply::into_reply(__returned));
    quote!({
        let __returned = #invoke;
        #convert
    })
}

fn channel_impl(
    item: &ItemImpl,
    methods: &[Method<'_>],
    topic: &parse::Topic,
    limits: &[(syn::Ident, RateLimit)],
) -> TokenStream {
    let self_ty = &item.self_ty;
    let pattern = &topic.lit;
    let by_kind = |kind| methods.iter().filter(move |m| m.kind == kind);
    let join = join_fn(methods);
    let events = by_kind(Kind::Event).map(|method| {
        let limit = limits.iter().find(|(ident, _)| ident == method.ident());
        event_arm(method, limit.map(|(_, limit)| limit))
    });
    let outs: Vec<_> = by_kind(Kind::Out).map(|m| event_arm(m, None)).collect();
    let intercept = by_kind(Kind::Out).map(|m| m.event.as_ref());
    let handle_out = handle_out_fn(&outs);
    let (info_type, info_items) = info::info_items(self_ty, methods);
    let info_fns = info::info_fns(self_ty, methods, |method| {
        let (lets, invoke) = call(method, |_| quote!(__value));
        let reply = reply(method, invoke);
        quote!({
            #lets
            #reply
        })
    });
    let state_type = state_type(methods);
    let terminate = terminate_fn(methods);
    // A field that is not `Send` is reported once, by this bound (which then holds inside the
    // impl, so the supertrait and each callback's future do not report it again).
    let send = quote_spanned!(self_ty.span()=> where #self_ty: ::core::marker::Send);
    let topic_fn = info::topic_fn(item);

    quote! {
        #info_items
        #topic_fn
        #[allow(unused_variables, clippy::needless_question_mark, clippy::unused_async)]
        impl ::websock::channels::Channel for #self_ty #send {
            const TOPIC: &'static str = #pattern;
            const INTERCEPT: &'static [&'static str] = &[#(#intercept),*];
            type Info = #info_type;
            type State = #state_type;

            #join

            async fn handle_in(
                &mut self,
                __event: &str,
                __payload: ::websock::channels::Payload,
                __socket: &mut ::websock::channels::ChannelSocket<'_, Self>,
            ) -> ::websock::channels::ChannelReply {
                match __event {
                    #(#events)*
                    _ => ::websock::__private::channels::unhandled_event(__event),
                }
            }

            #info_fns
            #handle_out
            #terminate
        }
    }
}

/// The channel's `State`: the type of the first `State<S>` parameter, `()` without one.
fn state_type(methods: &[Method<'_>]) -> TokenStream {
    methods
        .iter()
        .flat_map(|m| &m.params)
        .find(|p| p.kind == ParamKind::State)
        .map_or_else(
            || quote!(()),
            |p| {
                let ty = p.ty;
                quote!(#ty)
            },
        )
}

/// `Channel::join`: parse the params, call the `#[on_join]` method, convert its result.
fn join_fn(methods: &[Method<'_>]) -> Option<TokenStream> {
    methods.iter().find(|m| m.kind == Kind::Join).map(|method| {
        let (lets, invoke) = call(method, |ty| {
            quote_spanned! {ty.span()=>
                match <#ty as ::websock::__private::channels::FromPayload>::from_payload(__params) {
                    ::core::result::Result::Ok(__value) => __value,
                    ::core::result::Result::Err(__error) => {
                        return ::core::result::Result::Err(::websock::channels::JoinError::reason(__error));
                    }
                }
            }
        });
        let span = reply_span(method);
        let convert = quote_spanned! {span=>
            ::websock::__private::channels::IntoJoin::<Self>::into_join(__returned)
        };
        let convert = quote! {
            let __returned = #invoke;
            #convert
        };
        quote! {
            async fn join(
                __topic: ::websock::channels::Topic,
                __params: ::websock::channels::Payload,
                __socket: &mut ::websock::channels::ChannelSocket<'_, Self>,
            ) -> ::core::result::Result<(Self, ::websock::channels::Payload), ::websock::channels::JoinError> {
                #lets
                #convert
            }
        }
    })
}

/// A payload that does not deserialize gets the error reply `{"reason": ..}`.
fn parse_payload(ty: &syn::Type) -> TokenStream {
    quote_spanned! {ty.span()=>
    match <#ty as ::websock::__private::channels::FromPayload>::from_payload(__payload) {
        ::core::result::Result::Ok(__value) => __value,
        ::core::result::Result::Err(__error) => {
            return ::websock::channels::ChannelReply::error(::websock::channels::Payload::reason(__error));
        }
    }
    }
}

/// One `match` arm of `handle_in` or `handle_out`: the event name, its rate limit, then the
/// call.
fn event_arm(method: &Method<'_>, limit: Option<&RateLimit>) -> TokenStream {
    let (lets, invoke) = call(method, parse_payload);
    let event = method.event.as_ref();
    let check = limit
        .zip(event)
        .map(|(limit, event)| rate_limit::channel_check(limit, event));
    let cfgs = method
        .func
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg"));
    let reply = reply(method, invoke);
    quote! {
        #(#cfgs)*
        #event => {
            #check
            #lets
            #reply
        }
    }
}

/// `Channel::handle_out`, when a method has `#[on_out]`.
fn handle_out_fn(outs: &[TokenStream]) -> Option<TokenStream> {
    (!outs.is_empty()).then(|| {
        quote! {
            async fn handle_out(
                &mut self,
                __event: &str,
                __payload: ::websock::channels::Payload,
                __socket: &mut ::websock::channels::ChannelSocket<'_, Self>,
            ) -> ::websock::channels::ChannelReply {
                match __event {
                    #(#outs)*
                    _ => {
                        __socket.push(__event, __payload);
                        ::websock::channels::ChannelReply::none()
                    }
                }
            }
        }
    })
}

/// `Channel::terminate`, when a method has `#[on_leave]`.
fn terminate_fn(methods: &[Method<'_>]) -> Option<TokenStream> {
    methods
        .iter()
        .find(|m| m.kind == Kind::Leave)
        .map(|method| {
            let (lets, invoke) = call(method, |_| quote!(()));
            quote! {
                async fn terminate(
                    &mut self,
                    __reason: ::websock::channels::LeaveReason,
                    __socket: &mut ::websock::channels::ChannelSocket<'_, Self>,
                ) {
                    #lets
                    #invoke;
                }
            }
        })
}
