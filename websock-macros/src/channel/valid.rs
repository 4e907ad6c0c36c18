//! Checks across methods: exactly one `#[on_join]`, one method per event, one per info type,
//! at most one `#[on_leave]`.

use super::parse::{Kind, Method, ParamKind};
use crate::ctxt::{Ctxt, line, pretty};
use quote::ToTokens;
use syn::spanned::Spanned;

/// `has_join`: whether some method carries `#[on_join]`, even one with its own errors (then
/// "missing `#[on_join]`" would only add noise).
pub(crate) fn check(methods: &[Method<'_>], has_join: bool, self_ty: &syn::Type, cx: &Ctxt) {
    let joins: Vec<_> = methods.iter().filter(|m| m.kind == Kind::Join).collect();
    if !has_join {
        cx.error_spanned(
            self_ty,
            format!(
                "a channel needs an `#[on_join]` method to build it: add \
                 `#[on_join] fn join(params: JoinParams, socket: &mut ChannelSocket) -> Result<Self, JoinError>` \
                 to `impl {}`",
                pretty(self_ty)
            ),
        );
    }
    for extra in joins.iter().skip(1) {
        cx.error_spanned(
            &extra.attr,
            format!(
                "a second `#[on_join]`: `{}` (line {}) already builds the channel; remove one",
                joins[0].ident(),
                line(joins[0].attr.span())
            ),
        );
    }
    for kind in [Kind::Event, Kind::Out] {
        let with_kind: Vec<_> = methods.iter().filter(|m| m.kind == kind).collect();
        for (i, method) in with_kind.iter().enumerate() {
            let Some(event) = &method.event else { continue };
            if let Some(first) = with_kind[..i]
                .iter()
                .find(|m| m.event.as_ref().is_some_and(|e| e.value() == event.value()))
            {
                cx.error_spanned(
                    &method.attr,
                    format!(
                        "duplicate `#[{}({:?})]`: `{}` (line {}) already handles this event and \
                         wins; remove one",
                        kind.name(),
                        event.value(),
                        first.ident(),
                        line(first.attr.span())
                    ),
                );
            }
        }
    }
    let infos: Vec<_> = methods.iter().filter(|m| m.kind == Kind::Info).collect();
    for (i, method) in infos.iter().enumerate() {
        let Some(ty) = method.values().next().map(|p| p.ty) else {
            continue;
        };
        let text = ty.to_token_stream().to_string();
        if let Some(first) = infos[..i].iter().find(|m| {
            m.values()
                .next()
                .is_some_and(|p| p.ty.to_token_stream().to_string() == text)
        }) {
            cx.error_spanned(
                ty,
                format!(
                    "`{}` is already handled by `{}` (line {}): one `#[on_info]` method per info type",
                    pretty(ty),
                    first.ident(),
                    line(first.attr.span())
                ),
            );
        }
    }
    check_state(methods, cx);
    let leaves: Vec<_> = methods.iter().filter(|m| m.kind == Kind::Leave).collect();
    for extra in leaves.iter().skip(1) {
        cx.error_spanned(
            &extra.attr,
            format!(
                "a second `#[on_leave]`: `{}` (line {}) already runs when the channel ends; remove one",
                leaves[0].ident(),
                line(leaves[0].attr.span())
            ),
        );
    }
}

/// One state type per channel: its route's socket value has one type.
fn check_state(methods: &[Method<'_>], cx: &Ctxt) {
    let mut first: Option<(&Method<'_>, &syn::Type, String)> = None;
    for method in methods {
        for param in method.params.iter().filter(|p| p.kind == ParamKind::State) {
            let text = param.ty.to_token_stream().to_string();
            match &first {
                None => first = Some((method, param.ty, text)),
                Some((other, ty, seen)) if *seen != text => cx.error_spanned(
                    param.ty,
                    format!(
                        "`{}`: this channel already reads `{}` (in `{}`, line {}); a channel reads \
                         one state, the socket value of the route that serves it",
                        pretty(param.ty),
                        pretty(ty),
                        other.ident(),
                        line(ty.span())
                    ),
                ),
                Some(_) => {}
            }
        }
    }
}
