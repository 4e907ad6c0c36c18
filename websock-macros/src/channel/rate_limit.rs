//! `#[rate_limit(30, per = WINDOW, key = self.user_id)]` on an `#[on_event]` method: parsed
//! and stripped here (every mistake reported), expanded into a check that runs before the
//! payload is decoded.

use super::parse::Kind;
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
pub(crate) struct RateLimit {
    pub(crate) attr: Attribute,
    limit: Expr,
    per: Expr,
    key: Option<Expr>,
    reply: Option<Expr>,
}

/// Removes every `#[rate_limit]` from the methods of `item`; returns those that parse, by
/// method. `kinds` are the helper attributes of the methods, by item index: a limit goes on
/// an `#[on_event]` method only.
pub(crate) fn strip(
    item: &mut ItemImpl,
    kinds: &[(usize, Kind)],
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
                    "this method already has a `#[rate_limit]`: one limit per event; put the \
                     strictest one here",
                );
            } else {
                first = Some(attr.clone());
            }
            false
        });
        let Some(attr) = first else { continue };
        let kind = kinds.iter().find(|(i, _)| *i == index).map(|(_, k)| *k);
        if kind != Some(Kind::Event) {
            cx.error_spanned(
                &attr,
                "`#[rate_limit]` goes on an `#[on_event(\"..\")]` method: it limits the events \
                 a client pushes",
            );
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
    if per.is_none() {
        cx.error_spanned(
            &attr,
            format!("`#[rate_limit]` needs its window, `per = <Duration>`: write {USAGE}"),
        );
    }
    Some(RateLimit {
        attr,
        limit: limit?,
        per: per?,
        key,
        reply,
    })
    .filter(|_| ok)
}

/// The check that starts the event's arm: a hit over the limit returns the refusal before
/// the payload is decoded or the method runs; every hit counts, refused ones included.
/// `socket` and `self` are in scope for the expressions.
pub(crate) fn check(limit: &RateLimit, event: &LitStr) -> TokenStream {
    let RateLimit {
        limit,
        per,
        key,
        reply,
        ..
    } = limit;
    let limit = quote_spanned!(limit.span()=> let __limit: u64 = #limit;);
    let per = quote_spanned!(per.span()=> let __window: ::core::time::Duration = #per;);
    let key = match key {
        Some(key) => quote_spanned!(key.span()=> let __key: &dyn ::core::fmt::Display = &(#key);),
        None => quote! {
            let __key: &dyn ::core::fmt::Display =
                &::websock::__private::channels::default_rate_key(socket);
        },
    };
    let refusal = match reply {
        Some(reply) => {
            quote_spanned!(reply.span()=> ::websock::__private::channels::into_reply(#reply))
        }
        None => quote!(::websock::__private::channels::rate_limited_reply()),
    };
    quote! {
        let __over = {
            let socket: &::websock::channels::ChannelSocket = &*__socket;
            #limit
            #per
            #key
            ::websock::__private::channels::over_rate_limit(socket, #event, __key, __limit, __window)
        };
        if __over.await {
            let socket: &mut ::websock::channels::ChannelSocket = &mut *__socket;
            return #refusal;
        }
    }
}
