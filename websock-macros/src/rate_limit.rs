//! `#[rate_limit(30, per = WINDOW, key = self.user_id)]` on a channel's `#[on_event]` method
//! or a handler's `#[on_text]`/`#[on_binary]`/`#[on_json]` method: parsed and stripped here
//! (every mistake reported), expanded into a check that runs before the message is decoded.

use crate::ctxt::Ctxt;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::{
    Attribute, Expr, Ident, ImplItem, ItemImpl, LitStr, Token, punctuated::Punctuated,
    spanned::Spanned,
};

const USAGE: &str = "`#[rate_limit(30, per = Duration::from_secs(60), key = self.user_id)]`";

/// One `#[rate_limit(..)]`: the limit and the window are expressions evaluated at each event
/// (a value read from the environment works as well as a literal).
#[derive(Clone)]
pub(crate) struct RateLimit {
    limit: Expr,
    per: Expr,
    key: Option<Expr>,
    reply: Option<Expr>,
}

/// Removes every `#[rate_limit]` from the methods of `item`; returns those that parse, by
/// method. `allowed` says which methods (by item index) may have one; the others get
/// `misplaced`.
pub(crate) fn strip(
    item: &mut ItemImpl,
    allowed: impl Fn(usize) -> bool,
    misplaced: &str,
    cx: &Ctxt,
) -> Vec<(Ident, RateLimit)> {
    let mut found = Vec::new();
    for (index, impl_item) in item.items.iter_mut().enumerate() {
        let ImplItem::Fn(func) = impl_item else {
            continue;
        };
        let mut first: Option<Attribute> = None;
        func.attrs.retain(|attr| {
            if !attr.path().is_ident("rate_limit") {
                return true;
            }
            if first.is_some() {
                cx.error_spanned(
                    attr,
                    "this method already has a `#[rate_limit]`: one limit per method; keep the \
                     strictest one",
                );
            } else {
                first = Some(attr.clone());
            }
            false
        });
        let Some(attr) = first else { continue };
        if !allowed(index) {
            cx.error_spanned(&attr, misplaced);
            continue;
        }
        if let Some(limit) = parse(attr, cx) {
            found.push((func.sig.ident.clone(), limit));
        }
    }
    found
}

/// The limit (positional), then `per`, `key` and `reply` by name, all reported together.
fn parse(attr: Attribute, cx: &Ctxt) -> Option<RateLimit> {
    let args = match &attr.meta {
        syn::Meta::List(list) => {
            match list.parse_args_with(Punctuated::<Expr, Token![,]>::parse_terminated) {
                Ok(args) => args,
                Err(error) => {
                    cx.error_spanned(
                        &list.tokens,
                        format!("cannot parse `#[rate_limit]` ({error}): write {USAGE}"),
                    );
                    return None;
                }
            }
        }
        _ => {
            cx.error_spanned(
                &attr,
                format!("`#[rate_limit]` needs a limit and a window: write {USAGE}"),
            );
            return None;
        }
    };
    let mut limit = None;
    let mut named: [(&str, Option<Expr>); 3] = [("per", None), ("key", None), ("reply", None)];
    let mut ok = true;
    for arg in args {
        match arg {
            Expr::Assign(assign) => {
                let name = match &*assign.left {
                    Expr::Path(path) => path.path.get_ident().map(Ident::to_string),
                    _ => None,
                };
                let slot = named
                    .iter_mut()
                    .find(|(known, _)| name.as_deref() == Some(*known));
                match slot {
                    Some((known, Some(_))) => {
                        cx.error_spanned(&assign, format!("`{known}` is given twice; keep one"));
                        ok = false;
                    }
                    Some((_, slot)) => *slot = Some(*assign.right),
                    None => {
                        cx.error_spanned(
                            &assign.left,
                            "unknown argument of `#[rate_limit]`: it takes the limit, then \
                             `per = <Duration>`, `key = <expression>` (default: the socket's \
                             id) and `reply = <reply>` (default: the error `{\"reason\":\"rate_limited\"}`)",
                        );
                        ok = false;
                    }
                }
            }
            expr if limit.is_none() => limit = Some(expr),
            expr => {
                cx.error_spanned(
                    &expr,
                    format!("a second limit: `#[rate_limit]` takes one count; write {USAGE}"),
                );
                ok = false;
            }
        }
    }
    let [(_, per), (_, key), (_, reply)] = named;
    if limit.is_none() {
        cx.error_spanned(
            &attr,
            format!("`#[rate_limit]` needs the most events per window first: write {USAGE}"),
        );
    }
    // An unknown argument is most likely the window misnamed (`every = ..`): its error says
    // what the arguments are, a second one would only repeat it.
    if per.is_none() && ok {
        cx.error_spanned(
            &attr,
            format!("`#[rate_limit]` needs its window, `per = <Duration>`: write {USAGE}"),
        );
    }
    Some(RateLimit {
        limit: limit?,
        per: per?,
        key,
        reply,
    })
    .filter(|_| ok)
}

/// `let`s of the limit, the window and the key (`default` without `key = ..`), each typed
/// and spanned at the user's expression.
fn values(limit: &RateLimit, default: TokenStream) -> TokenStream {
    let RateLimit {
        limit, per, key, ..
    } = limit;
    let key = match key {
        Some(key) => quote_spanned!(key.span()=> let __key: &dyn ::core::fmt::Display = &(#key);),
        None => quote!(let __key: &dyn ::core::fmt::Display = &#default;),
    };
    let limit = quote_spanned!(limit.span()=> let __limit: u64 = #limit;);
    let per = quote_spanned!(per.span()=> let __window: ::core::time::Duration = #per;);
    quote!(#limit #per #key)
}

/// The check that starts a channel event's arm: a hit over the limit returns the refusal
/// before the payload is decoded or the method runs; every hit counts, refused ones included.
/// `socket` and `self` are in scope for the expressions.
pub(crate) fn channel_check(limit: &RateLimit, event: &LitStr) -> TokenStream {
    let values = values(
        limit,
        quote!(::websock::__private::channels::default_rate_key(socket)),
    );
    let reply = &limit.reply;
    let refusal = match reply {
        Some(reply) => {
            quote_spanned!(reply.span()=> ::websock::__private::channels::into_reply(#reply))
        }
        None => quote!(::websock::__private::channels::rate_limited_reply()),
    };
    quote! {
        let __over = {
            let socket: &::websock::channels::ChannelSocket<'_, Self> = &*__socket;
            #values
            ::websock::__private::channels::over_rate_limit(socket, #event, __key, __limit, __window)
        };
        if __over.await {
            let socket: &mut ::websock::channels::ChannelSocket<'_, Self> = &mut *__socket;
            return #refusal;
        }
    }
}

/// The check that starts a handler method's call: a hit over the limit returns the refusal
/// (by default nothing: the message is dropped, counted and logged by the limiter) before the
/// message is decoded or the method runs. `ctx` and `self` are in scope for the expressions;
/// the rule is `Type::method`.
pub(crate) fn handler_check(limit: &RateLimit, rule: &str) -> TokenStream {
    let values = values(limit, quote!(::websock::__private::default_rate_key(ctx)));
    let refusal = match &limit.reply {
        Some(reply) => quote_spanned!(reply.span()=> ::websock::__private::into_reply(#reply)),
        None => quote!(::websock::__private::Reply::ok()),
    };
    quote! {
        let __over = {
            let ctx: &::websock::__private::Context<Self> = &*__ctx;
            #values
            ::websock::__private::over_rate_limit(#rule, __key, __limit, __window)
        };
        if __over.await {
            let ctx: &mut ::websock::__private::Context<Self> = &mut *__ctx;
            return #refusal;
        }
    }
}
