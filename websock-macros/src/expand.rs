//! Code generation. Everything here was validated before: nothing can fail.
//!
//! Generated code names everything by absolute path (`::websock::__private::..`, `::core::..`),
//! its own identifiers start with `__`, and type-directed expressions are spanned at the user's
//! tokens so a type error points at the parameter or return type that causes it.

use crate::{
    ast::{self, Handler, Method, Param, Role},
    attr::{self, Args, Kind, Segment, TextPattern},
    ctxt::Ctxt,
    fallback,
    info::{info_enum_ident, info_items, info_methods},
    valid,
};
use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::{ImplItem, ImplItemFn, Item, ItemImpl, ReturnType, spanned::Spanned};

/// Expands `#[websock_handler(attr)] item`. Errors become `compile_error!`s next to a
/// fallback expansion, never a panic.
pub fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let cx = Ctxt::new();
    if !attr.is_empty() {
        cx.error_spanned(
            &attr,
            "`#[websock_handler]` takes no arguments (the attributes on the methods say what \
             each one handles); write `#[websock_handler]`",
        );
    }
    let mut item = match syn::parse2::<Item>(item) {
        Ok(Item::Impl(item)) => item,
        Ok(other) => {
            cx.error_spanned(
                not_an_impl_tokens(&other),
                format!(
                    "`#[websock_handler]` goes on an inherent impl block, such as \
                     `impl ChatSocket {{ .. }}`, not on {}",
                    describe(&other)
                ),
            );
            return fallback::not_an_impl(&other, cx);
        }
        Err(error) => {
            cx.syn_error(error);
            return fallback::errors(cx);
        }
    };

    let mut helpers = attr::strip(&mut item, &cx);
    rate_limits(&mut item, &mut helpers, &cx);
    if let Some((path, for_token)) = &item.trait_ {
        cx.error_spanned(
            quote!(#path #for_token),
            format!(
                "`#[websock_handler]` writes the `Handler` impl itself: put it on an inherent \
                 impl, `impl {} {{ .. }}`, not on `impl {} for ..`",
                crate::ctxt::pretty(&item.self_ty),
                crate::ctxt::pretty(path)
            ),
        );
        return fallback::stripped(&item, cx);
    }
    let generics = &item.generics;
    if !generics.params.is_empty() || generics.where_clause.is_some() {
        cx.error_spanned(
            generics,
            format!(
                "`#[websock_handler]` does not support generic impl blocks (`impl{} ..`): it \
                 generates the info enum and dispatch for one concrete type; write the impl for a \
                 concrete type, or implement `websock::Handler` by hand",
                crate::ctxt::pretty(generics)
            ),
        );
    }
    let handler = Handler::from_syn(&item, helpers, &cx);
    valid::check(&handler, &cx);
    match cx.check() {
        Ok(()) => generate(&handler),
        Err(errors) => fallback::handler(&handler, errors),
    }
}

fn not_an_impl_tokens(item: &Item) -> TokenStream {
    match item {
        Item::Struct(item) => {
            let (token, ident) = (&item.struct_token, &item.ident);
            quote!(#token #ident)
        }
        Item::Enum(item) => {
            let (token, ident) = (&item.enum_token, &item.ident);
            quote!(#token #ident)
        }
        Item::Fn(item) => {
            let (token, ident) = (&item.sig.fn_token, &item.sig.ident);
            quote!(#token #ident)
        }
        Item::Trait(item) => {
            let (token, ident) = (&item.trait_token, &item.ident);
            quote!(#token #ident)
        }
        Item::Mod(item) => {
            let (token, ident) = (&item.mod_token, &item.ident);
            quote!(#token #ident)
        }
        other => other.to_token_stream(),
    }
}

fn describe(item: &Item) -> &'static str {
    match item {
        Item::Struct(_) => "a struct (keep the struct, and put the attribute on its `impl` block)",
        Item::Enum(_) => "an enum (keep the enum, and put the attribute on its `impl` block)",
        Item::Fn(_) => "a function (handlers are methods of an `impl` block)",
        Item::Trait(_) => "a trait",
        Item::Mod(_) => "a module",
        _ => "this item",
    }
}

/// Lints that generated code must not trigger in the user's crate: the `Handler` impl.
fn allow_lints() -> TokenStream {
    quote! {
        #[allow(
            unused_variables,
            unused_qualifications,
            unreachable_code,
            clippy::all,
            clippy::pedantic,
            clippy::nursery
        )]
    }
}

fn generate(handler: &Handler<'_>) -> TokenStream {
    let item = with_send_bounds(handler.item);
    let self_ty = handler.self_ty;
    let (info_ty, info_items) = info_items(handler);
    let allow = allow_lints();
    let init = init_fn(handler);
    let init_ty = handler
        .init
        .as_ref()
        .map_or_else(|| quote!(()), ast::Init::init_ty);
    let handle_in = handle_in(handler);
    let handle_info = handle_info(handler);
    let handle_control = handle_control(handler);
    let terminate = terminate(handler);
    let send = send_bound(self_ty);
    quote! {
        #item

        #info_items

        #allow
        impl ::websock::__private::Handler for #self_ty where #send {
            type Init = #init_ty;
            type Info = #info_ty;

            #init
            #handle_in
            #handle_info
            #handle_control
            #terminate
        }
    }
}

/// `where Chat: Send` on the `Handler` impl and on every method of the user's impl, spanned at
/// the self type. A handler with a field that is not `Send` then fails only these bounds, all
/// one diagnostic at one place (which rustc reports once, naming the field's type): inside
/// the impl the bound holds, so the `Send` supertrait and each callback's `Send` future are
/// not reported again, and the user's methods that take `&mut Context<Self>` (which needs
/// `Chat: Handler`) are not either.
fn send_bound(self_ty: &syn::Type) -> TokenStream {
    quote_spanned!(self_ty.span()=> #self_ty: ::core::marker::Send)
}

fn with_send_bounds(item: &syn::ItemImpl) -> syn::ItemImpl {
    let mut item = item.clone();
    let bound = send_bound(&item.self_ty);
    let bound: syn::WherePredicate = syn::parse_quote!(#bound);
    for impl_item in &mut item.items {
        if let syn::ImplItem::Fn(func) = impl_item {
            func.sig
                .generics
                .make_where_clause()
                .predicates
                .push(bound.clone());
        }
    }
    item
}

/// Strips the `#[rate_limit]`s (allowed on the methods that take a client's message) and gives
/// each to its method's helper.
fn rate_limits(item: &mut ItemImpl, helpers: &mut [(usize, attr::Helper)], cx: &Ctxt) {
    let messages: Vec<usize> = helpers
        .iter()
        .filter(|(_, h)| matches!(h.kind, Kind::Text | Kind::Binary | Kind::Json))
        .map(|(index, _)| *index)
        .collect();
    let limits = crate::rate_limit::strip(
        item,
        |index| messages.contains(&index),
        "`#[rate_limit]` goes on an `#[on_text]`, `#[on_binary]` or `#[on_json]` method: it \
         limits the messages a client sends",
        cx,
    );
    let self_ty = crate::ctxt::pretty(&item.self_ty);
    for (ident, limit) in limits {
        let method = helpers.iter_mut().find(|(index, _)| {
            matches!(&item.items[*index], ImplItem::Fn(func) if func.sig.ident == ident)
        });
        if let Some((_, helper)) = method {
            helper.rate_limit = Some((limit, format!("{self_ty}::{ident}")));
        }
    }
}

/// `Self::name(self, args..)` (with `.await` for async methods), then the conversion of what
/// it returns, spanned at its return type.
fn call(
    func: &ImplItemFn,
    params: &[Param<'_>],
    receiver: bool,
    value: impl Fn(&Param<'_>) -> TokenStream,
) -> TokenStream {
    let name = &func.sig.ident;
    let receiver = receiver.then(|| quote!(self));
    let args = receiver
        .into_iter()
        .chain(params.iter().map(|param| match param.role {
            Role::Ctx => quote!(&mut *__ctx),
            Role::Value | Role::Extractor(_) => value(param),
            Role::Capture(index) => format_ident!("__capture{}", index).into_token_stream(),
        }));
    let awaited = func.sig.asyncness.map(|_| quote!(.await));
    quote!(Self::#name(#(#args),*) #awaited)
}

fn return_span(func: &ImplItemFn) -> Span {
    match &func.sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => func.sig.ident.span(),
    }
}

/// Whether the method is declared `-> &'static str`: its text can be sent without a copy,
/// which `IntoReply for &str` (any lifetime) cannot do.
fn returns_static_str(func: &ImplItemFn) -> bool {
    let ReturnType::Type(_, ty) = &func.sig.output else {
        return false;
    };
    let syn::Type::Reference(reference) = &**ty else {
        return false;
    };
    reference.mutability.is_none()
        && reference
            .lifetime
            .as_ref()
            .is_some_and(|lifetime| lifetime.ident == "static")
        && matches!(&*reference.elem, syn::Type::Path(path) if path.qself.is_none() && path.path.is_ident("str"))
}

/// A block that calls the method and evaluates to its `Reply`.
fn reply(method: &Method<'_>, value: impl Fn(&Param<'_>) -> TokenStream) -> TokenStream {
    let call = call(method.func, &method.params, true, value);
    let convert = if returns_static_str(method.func) {
        quote_spanned!(return_span(method.func)=>
            ::websock::__private::static_text(__returned)
        )
    } else {
        quote_spanned!(return_span(method.func)=>
            ::websock::__private::IntoReply::into_reply(__returned)
        )
    };
    let check = method
        .helper
        .rate_limit
        .as_ref()
        .map(|(limit, rule)| crate::rate_limit::handler_check(limit, rule));
    quote!({
        #check
        let __returned = #call;
        #convert
    })
}

fn init_fn(handler: &Handler<'_>) -> TokenStream {
    let Some(init) = &handler.init else {
        return TokenStream::new();
    };
    // `Init` is the one extractor, or the tuple of several: take the tuple apart again.
    let several = init.extractors().count() > 1;
    let name = |index: usize| format_ident!("__init{}", index);
    let unpack = several.then(|| {
        let names = (0..init.extractors().count()).map(name);
        quote!(let (#(#names),*) = __init;)
    });
    let call = call(init.func, &init.params, false, |param| match param.role {
        Role::Extractor(index) if several => name(index).into_token_stream(),
        _ => quote!(__init),
    });
    let convert = quote_spanned!(return_span(init.func)=>
        ::websock::__private::IntoInit::<Self>::into_init(__returned)
    );
    quote! {
        async fn init(
            __init: Self::Init,
            __ctx: &mut ::websock::__private::Context<Self>,
        ) -> ::core::result::Result<Self, ::websock::__private::Close> {
            #unpack
            let __returned = #call;
            #convert
        }
    }
}

fn text_arg(param: &Param<'_>) -> TokenStream {
    let ty = param.ty;
    quote_spanned!(ty.span()=> <#ty as ::websock::__private::TextArg<'_>>::from_text(&__text))
}

fn binary_arg(param: &Param<'_>) -> TokenStream {
    let ty = param.ty;
    quote_spanned!(ty.span()=> <#ty as ::websock::__private::BinaryArg<'_>>::from_bytes(&__bytes))
}

/// `Handler::handle_in`: a `match` on the message kind, text and binary each in their own
/// function.
fn handle_in(handler: &Handler<'_>) -> TokenStream {
    let text_arm = text_arm(handler);
    let binary_arm = binary_arm(handler);
    quote! {
        async fn handle_in(
            &mut self,
            __message: ::websock::__private::Message,
            __ctx: &mut ::websock::__private::Context<Self>,
        ) -> ::websock::__private::Reply {
            match __message {
                #text_arm
                #binary_arm
            }
        }
    }
}

/// The methods of `handler` that `pred` selects, in declaration order.
fn methods<'h, 'a>(
    handler: &'h Handler<'a>,
    pred: impl Fn(&Method<'_>) -> bool,
) -> Vec<&'h Method<'a>> {
    handler.methods.iter().filter(|m| pred(m)).collect()
}

/// The text arm, in the documented order: exact texts, capture patterns, tagged JSON, untagged
/// JSON, the fallback.
fn text_arm(handler: &Handler<'_>) -> TokenStream {
    let exact = methods(handler, |m| {
        matches!(m.helper.args, Args::Text(TextPattern::Exact { .. }))
    });
    let captures = methods(handler, |m| {
        matches!(m.helper.args, Args::Text(TextPattern::Captures { .. }))
    });
    let tagged = methods(handler, |m| matches!(m.helper.args, Args::Tag { .. }));
    let untagged = methods(handler, |m| {
        m.kind() == Kind::Json && matches!(m.helper.args, Args::None)
    });
    let text_fallback = methods(handler, |m| {
        m.kind() == Kind::Text && matches!(m.helper.args, Args::None)
    });
    let hooks = methods(handler, |m| m.kind() == Kind::JsonError);
    let ok = quote!(::websock::__private::Reply::ok());
    if exact.is_empty()
        && captures.is_empty()
        && tagged.is_empty()
        && untagged.is_empty()
        && text_fallback.is_empty()
    {
        return quote!(::websock::__private::Message::Text(_) => #ok,);
    }
    let exact_match = exact_match(&exact);
    // 2. Capture patterns, in declaration order.
    let capture_blocks = captures.iter().enumerate().map(|(index, method)| {
        let Args::Text(TextPattern::Captures { segments, .. }) = &method.helper.args else {
            unreachable!()
        };
        capture_block(method, segments, index)
    });
    let tagged_block = tagged_block(&tagged, &hooks);
    // Without a text fallback, a text that no untagged method parses gets the JSON error
    // reply (the last method's error) instead of being ignored.
    let untagged_error = text_fallback.is_empty() && !untagged.is_empty();
    let untagged_blocks = untagged_blocks(&untagged, untagged_error);
    // 5. The fallback, else the JSON error, else ignore.
    let text_rest = if untagged_error {
        let reply = json_error_reply(
            &hooks,
            quote!(::websock::__private::json_error_untagged(__error)),
        );
        quote!({
            if let ::core::option::Option::Some(__error) = __json_error {
                return #reply;
            }
            #ok
        })
    } else {
        fallback_call(&text_fallback, text_arg, &ok)
    };
    quote! {
        ::websock::__private::Message::Text(__text) => {
            #exact_match
            #(#capture_blocks)*
            #tagged_block
            #(#untagged_blocks)*
            #text_rest
        }
    }
}

/// 1. Exact texts: one `match` on the string.
fn exact_match(exact: &[&Method<'_>]) -> Option<TokenStream> {
    (!exact.is_empty()).then(|| {
        let arms = exact.iter().map(|method| {
            let Args::Text(TextPattern::Exact { value, .. }) = &method.helper.args else {
                unreachable!()
            };
            let cfgs = method.cfgs();
            let reply = reply(method, text_arg);
            quote!(#(#cfgs)* #value => return #reply,)
        });
        quote! {
            match __text.as_str() {
                #(#arms)*
                _ => {}
            }
        }
    })
}

/// Tagged JSON (step 3): read the tag once, `match` on it. A body that does not deserialize
/// goes to the `#[on_json_error]` method, else gets the default error reply.
fn tagged_block(tagged: &[&Method<'_>], hooks: &[&Method<'_>]) -> Option<TokenStream> {
    tagged.first().map(|first| {
        let Args::Tag { field, .. } = &first.helper.args else {
            unreachable!()
        };
        let field = syn::ext::IdentExt::unraw(field).to_string();
        let json_error = json_error_reply(
            hooks,
            quote!(::websock::__private::json_error_tagged(#field, &__tag, __error)),
        );
        let arms = tagged.iter().map(|method| {
            let Args::Tag { value, .. } = &method.helper.args else {
                unreachable!()
            };
            let cfgs = method.cfgs();
            let body = match method.value() {
                Some(param) => {
                    let parse = json_parse(param);
                    let reply = reply(method, |_| quote!(__json));
                    quote! {
                        match #parse {
                            ::core::result::Result::Ok(__json) => return #reply,
                            ::core::result::Result::Err(__error) => return #json_error,
                        }
                    }
                }
                None => {
                    let reply = reply(method, |_| TokenStream::new());
                    quote!(return #reply;)
                }
            };
            quote!(#(#cfgs)* #value => { #body })
        });
        quote! {
            if let ::core::option::Option::Some(__tag) =
                ::websock::__private::json_tag(__text.as_str(), #field)
            {
                match &*__tag {
                    #(#arms)*
                    _ => {}
                }
            }
        }
    })
}

/// Untagged JSON (step 4), in declaration order. With `keep_error`, each miss keeps its serde
/// error in `__json_error` for the end of the text arm.
fn untagged_blocks(untagged: &[&Method<'_>], keep_error: bool) -> Vec<TokenStream> {
    let first = keep_error.then(|| {
        quote! {
            let __json_error: ::core::option::Option<::websock::__private::serde_json::Error> =
                ::core::option::Option::None;
        }
    });
    let blocks = untagged.iter().filter_map(|method| {
        let param = method.value()?;
        let cfgs = method.cfgs();
        let parse = json_parse(param);
        let reply = reply(method, |_| quote!(__json));
        Some(if keep_error {
            quote! {
                #(#cfgs)*
                let __json_error = match #parse {
                    ::core::result::Result::Ok(__json) => return #reply,
                    ::core::result::Result::Err(__error) => ::core::option::Option::Some(__error),
                };
            }
        } else {
            quote! {
                #(#cfgs)*
                if let ::core::result::Result::Ok(__json) = #parse {
                    return #reply;
                }
            }
        })
    });
    first.into_iter().chain(blocks).collect()
}

/// A block that evaluates to the reply to an `#[on_json]` payload that did not deserialize
/// (`error` builds the `JsonError`): the `#[on_json_error]` method's, else the documented
/// default (`invalid_json`: a debug log and the error reply).
fn json_error_reply(hooks: &[&Method<'_>], error: TokenStream) -> TokenStream {
    let default = quote!(::websock::__private::invalid_json(__json_error));
    let reply = fallback_call(hooks, json_error_arg, &default);
    quote!({
        let __json_error = #error;
        #reply
    })
}

fn json_error_arg(param: &Param<'_>) -> TokenStream {
    let ty = param.ty;
    quote_spanned!(ty.span()=>
        <#ty as ::websock::__private::JsonErrorArg>::from_json_error(__json_error)
    )
}

/// The binary arm: the longest prefix first, as slice patterns in one `match`, then the
/// fallback.
fn binary_arm(handler: &Handler<'_>) -> TokenStream {
    let mut prefixed = methods(handler, |m| matches!(m.helper.args, Args::Prefix { .. }));
    let binary_fallback = methods(handler, |m| {
        m.kind() == Kind::Binary && matches!(m.helper.args, Args::None)
    });
    let ok = quote!(::websock::__private::Reply::ok());
    prefixed.sort_by_key(|method| match &method.helper.args {
        Args::Prefix { bytes, .. } => std::cmp::Reverse(bytes.len()),
        _ => std::cmp::Reverse(0),
    });
    let binary_rest = fallback_call(&binary_fallback, binary_arg, &ok);
    if prefixed.is_empty() && binary_fallback.is_empty() {
        quote!(::websock::__private::Message::Binary(_) => #ok,)
    } else if prefixed.is_empty() {
        quote!(::websock::__private::Message::Binary(__bytes) => #binary_rest,)
    } else {
        let arms = prefixed.iter().map(|method| {
            let Args::Prefix { bytes, .. } = &method.helper.args else {
                unreachable!()
            };
            let cfgs = method.cfgs();
            let reply = reply(method, binary_arg);
            quote!(#(#cfgs)* [#(#bytes,)* ..] => #reply,)
        });
        quote! {
            ::websock::__private::Message::Binary(__bytes) => match &__bytes[..] {
                #(#arms)*
                _ => #binary_rest,
            },
        }
    }
}

fn fallback_call(
    fallback: &[&Method<'_>],
    value: impl Fn(&Param<'_>) -> TokenStream,
    ok: &TokenStream,
) -> TokenStream {
    // Fallbacks under `#[cfg]` may be several (for exclusive cfgs): each returns if compiled
    // in; the first unconditional one, or "ignore", ends the block.
    let mut steps = Vec::new();
    for method in fallback {
        let cfgs: Vec<_> = method.cfgs().collect();
        let reply = reply(method, &value);
        if cfgs.is_empty() {
            return quote!({
                #(#steps)*
                #reply
            });
        }
        steps.push(quote! {
            #(#cfgs)*
            {
                return #reply;
            }
        });
    }
    if steps.is_empty() {
        return ok.clone();
    }
    quote!({
        #(#steps)*
        #ok
    })
}

fn json_parse(param: &Param<'_>) -> TokenStream {
    let ty = param.ty;
    quote_spanned!(ty.span()=> <#ty as ::websock::__private::FromJson>::from_json(__text.as_str()))
}

/// One capture pattern: strip the literal prefix and suffix, split at the literals between
/// captures (first occurrence), parse each capture; any miss breaks out to the next pattern.
fn capture_block(method: &Method<'_>, segments: &[Segment], index: usize) -> TokenStream {
    let label = syn::Lifetime::new(&format!("'__pattern{index}"), Span::call_site());
    let miss = quote!(else { break #label; });
    let mut steps = Vec::new();
    let mut segments = segments;
    if let [Segment::Literal(prefix), rest @ ..] = segments {
        steps.push(quote! {
            let ::core::option::Option::Some(__rest) = __rest.strip_prefix(#prefix) #miss;
        });
        segments = rest;
    }
    if let [rest @ .., Segment::Literal(suffix)] = segments {
        steps.push(quote! {
            let ::core::option::Option::Some(__rest) = __rest.strip_suffix(#suffix) #miss;
        });
        segments = rest;
    }
    // Now `capture (literal capture)*`.
    let mut raw = Vec::new();
    let mut capture = 0usize;
    for segment in segments {
        match segment {
            Segment::Literal(literal) => {
                let var = format_ident!("__raw{}", capture - 1);
                steps.push(quote! {
                    let ::core::option::Option::Some((#var, __rest)) = __rest.split_once(#literal) #miss;
                });
            }
            Segment::Capture(_) => {
                raw.push(format_ident!("__raw{}", capture));
                capture += 1;
            }
        }
    }
    let last = format_ident!("__raw{}", capture - 1);
    steps.push(quote!(let #last = __rest;));
    let non_empty = quote! {
        if #(#raw.is_empty())||* {
            break #label;
        }
    };
    let parses = method.params.iter().filter_map(|param| {
        let Role::Capture(index) = param.role else {
            return None;
        };
        let raw = format_ident!("__raw{}", index);
        let var = format_ident!("__capture{}", index);
        let ty = param.ty;
        Some(if ast::is_str_ref(ty) {
            quote!(let #var = #raw;)
        } else {
            let parse = quote_spanned!(ty.span()=>
                <#ty as ::websock::__private::FromCapture>::from_capture(#raw)
            );
            quote!(let ::core::option::Option::Some(#var) = #parse #miss;)
        })
    });
    let cfgs = method.cfgs();
    let reply = reply(method, |_| TokenStream::new());
    quote! {
        #(#cfgs)*
        #label: {
            let __rest: &str = __text.as_str();
            #(#steps)*
            #non_empty
            #(#parses)*
            return #reply;
        }
    }
}

fn handle_info(handler: &Handler<'_>) -> TokenStream {
    let infos = info_methods(handler);
    if infos.is_empty() {
        return TokenStream::new();
    }
    let name = info_enum_ident(handler);
    let arms = infos.iter().enumerate().map(|(index, (method, _))| {
        let cfgs = method.cfgs();
        let variant = format_ident!("__Info{}", index);
        let reply = reply(method, |_| quote!(__info_value));
        quote!(#(#cfgs)* #name::#variant(__info_value) => #reply,)
    });
    quote! {
        async fn handle_info(
            &mut self,
            __info: Self::Info,
            __ctx: &mut ::websock::__private::Context<Self>,
        ) -> ::websock::__private::Reply {
            match __info {
                #(#arms)*
            }
        }
    }
}

fn handle_control(handler: &Handler<'_>) -> TokenStream {
    let arms: Vec<TokenStream> = handler
        .methods
        .iter()
        .filter_map(|method| {
            let variant = match method.kind() {
                Kind::Ping => quote!(Ping),
                Kind::Pong => quote!(Pong),
                _ => return None,
            };
            let cfgs = method.cfgs();
            let reply = reply(method, binary_arg);
            Some(quote!(#(#cfgs)* ::websock::__private::Control::#variant(__bytes) => #reply,))
        })
        .collect();
    if arms.is_empty() {
        return TokenStream::new();
    }
    quote! {
        async fn handle_control(
            &mut self,
            __control: ::websock::__private::Control,
            __ctx: &mut ::websock::__private::Context<Self>,
        ) -> ::websock::__private::Reply {
            match __control {
                #(#arms)*
                _ => ::websock::__private::Reply::ok(),
            }
        }
    }
}

/// A statement that calls an `#[on_close]`/`#[on_terminate]` method, which returns `()`.
fn terminated(method: &Method<'_>, value: impl Fn(&Param<'_>) -> TokenStream) -> TokenStream {
    let call = call(method.func, &method.params, true, value);
    let check = quote_spanned!(return_span(method.func)=>
        ::websock::__private::Terminated::terminated(__returned)
    );
    quote! {
        let __returned = #call;
        #check;
    }
}

fn terminate(handler: &Handler<'_>) -> TokenStream {
    let close = handler.methods.iter().find(|m| m.kind() == Kind::Close);
    let term = handler.methods.iter().find(|m| m.kind() == Kind::Terminate);
    if close.is_none() && term.is_none() {
        return TokenStream::new();
    }
    let close = close.map(|method| {
        let cfgs = method.cfgs();
        let body = match method.value() {
            Some(param) => {
                let ty = param.ty;
                let arg = quote_spanned!(ty.span()=>
                    <#ty as ::websock::__private::CloseArg>::from_close(__peer)
                );
                let call = terminated(method, |_| quote!(__close));
                quote! {
                    if let ::core::option::Option::Some(__close) = #arg {
                        #call
                    }
                }
            }
            None => terminated(method, |_| TokenStream::new()),
        };
        quote! {
            #(#cfgs)*
            {
                if let ::websock::__private::TerminateReason::Remote(__peer) = &__reason {
                    #body
                }
            }
        }
    });
    let term = term.map(|method| {
        let cfgs = method.cfgs();
        let call = terminated(method, |_| quote!(__reason));
        quote! {
            #(#cfgs)*
            {
                #call
            }
        }
    });
    quote! {
        async fn terminate(
            &mut self,
            __reason: ::websock::__private::TerminateReason,
            __ctx: &mut ::websock::__private::Context<Self>,
        ) {
            #close
            #term
        }
    }
}
