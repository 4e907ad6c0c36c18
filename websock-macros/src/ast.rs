//! The typed model of a `#[websock_handler]` impl block. It borrows the (already stripped) syn
//! tree, so every part keeps its original tokens for spans.

use crate::{
    attr::{Args, Helper, Kind, TextPattern},
    ctxt::Ctxt,
};
use quote::ToTokens;
use syn::{
    Attribute, FnArg, Ident, ImplItem, ImplItemFn, ItemImpl, Pat, ReceiverKind, ReturnType, Safety,
    Type,
};

/// The whole impl block.
pub(crate) struct Handler<'a> {
    pub(crate) item: &'a ItemImpl,
    pub(crate) self_ty: &'a Type,
    /// The last segment of the self type's path: `ConnectionTimer`.
    pub(crate) self_ident: Option<&'a Ident>,
    pub(crate) init: Option<Init<'a>>,
    pub(crate) methods: Vec<Method<'a>>,
}

/// The method that builds the handler.
pub(crate) struct Init<'a> {
    pub(crate) func: &'a ImplItemFn,
    pub(crate) params: Vec<Param<'a>>,
}

impl Init<'_> {
    /// The most extractors `init` takes: the runtime's `FromRequest` covers tuples up to 8.
    pub(crate) const MAX_EXTRACTORS: usize = 8;

    /// The extractors `init` takes, in order.
    pub(crate) fn extractors(&self) -> impl Iterator<Item = &Type> {
        self.params
            .iter()
            .filter(|param| matches!(param.role, Role::Extractor(_)))
            .map(|param| param.ty)
    }

    /// The handler's `Init`: `()` for no extractor, the extractor's type for one, the tuple of
    /// them for several.
    pub(crate) fn init_ty(&self) -> proc_macro2::TokenStream {
        let types: Vec<&Type> = self.extractors().collect();
        match types.as_slice() {
            [one] => one.to_token_stream(),
            types => quote::quote!((#(#types),*)),
        }
    }
}

/// A method with a helper attribute.
pub(crate) struct Method<'a> {
    pub(crate) func: &'a ImplItemFn,
    pub(crate) helper: Helper,
    pub(crate) params: Vec<Param<'a>>,
}

impl<'a> Method<'a> {
    pub(crate) fn ident(&self) -> &Ident {
        &self.func.sig.ident
    }

    pub(crate) fn kind(&self) -> Kind {
        self.helper.kind
    }

    /// The method's value parameter (the text, the bytes, the JSON body, the info, ..).
    pub(crate) fn value(&self) -> Option<&Param<'a>> {
        self.params
            .iter()
            .find(|param| matches!(param.role, Role::Value))
    }

    /// Its `#[cfg]` attributes, forwarded to its dispatch arm.
    pub(crate) fn cfgs(&self) -> impl Iterator<Item = &Attribute> {
        cfgs(self.func)
    }
}

pub(crate) fn cfgs(func: &ImplItemFn) -> impl Iterator<Item = &Attribute> {
    func.attrs.iter().filter(|attr| attr.path().is_ident("cfg"))
}

/// One typed parameter of a method (the receiver excluded).
pub(crate) struct Param<'a> {
    pub(crate) ty: &'a Type,
    pub(crate) role: Role,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// `&mut Context<Self>`
    Ctx,
    /// The value the method receives: text, bytes, JSON body, info, payload, reason.
    Value,
    /// The capture with this index in the `#[on_text("..")]` pattern.
    Capture(usize),
    /// The `init` parameter with this index among its extractors.
    Extractor(usize),
}

impl<'a> Handler<'a> {
    /// Builds the model, reporting per-method mistakes to `cx`. Parts that are wrong are left
    /// out, so the fallback can still use the rest.
    pub(crate) fn from_syn(item: &'a ItemImpl, helpers: Vec<(usize, Helper)>, cx: &Ctxt) -> Self {
        let self_ty = &*item.self_ty;
        let self_ident = match self_ty {
            Type::Path(path) if path.qself.is_none() => path.path.segments.last().map(|s| &s.ident),
            _ => {
                cx.error_spanned(
                    self_ty,
                    "`#[websock_handler]` needs a named type, such as `impl ChatSocket { .. }`",
                );
                None
            }
        };

        let mut methods = Vec::new();
        let mut marked_init: Option<&ImplItemFn> = None;
        for (index, helper) in helpers {
            let ImplItem::Fn(func) = &item.items[index] else {
                continue;
            };
            if helper.kind == Kind::Init {
                if let Some(first) = marked_init {
                    cx.error_spanned(
                        &helper.attr,
                        format!(
                            "a second `#[init]`: `{}` (line {}) already builds the handler; remove one",
                            first.sig.ident,
                            crate::ctxt::line(first.sig.ident.span())
                        ),
                    );
                } else {
                    marked_init = Some(func);
                }
                continue;
            }
            if let Some(method) = Method::from_syn(func, helper, cx) {
                methods.push(method);
            }
        }

        // Without `#[init]`, the method named `init` that has no other helper attribute.
        let init_func = marked_init.or_else(|| {
            item.items.iter().find_map(|impl_item| match impl_item {
                ImplItem::Fn(func)
                    if func.sig.ident == "init"
                        && !methods.iter().any(|m| std::ptr::eq(m.func, func)) =>
                {
                    Some(func)
                }
                _ => None,
            })
        });
        let init = match init_func {
            Some(func) => Init::from_syn(func, cx),
            None => {
                if self_ident.is_some() {
                    cx.error_spanned(
                        self_ty,
                        format!(
                            "`#[websock_handler]` needs an `init` method that builds `{}`: add \
                             `fn init(ctx: &mut Context<Self>) -> Self {{ .. }}` (it may also take \
                             extractors, such as `Path(name): Path<String>`, and return \
                             `Result<Self, Close>`), or mark another method with `#[init]`",
                            crate::ctxt::pretty(self_ty)
                        ),
                    );
                }
                None
            }
        };

        Handler {
            item,
            self_ty,
            self_ident,
            init,
            methods,
        }
    }
}

impl<'a> Init<'a> {
    fn from_syn(func: &'a ImplItemFn, cx: &Ctxt) -> Option<Self> {
        let sig = &func.sig;
        let mut ok = true;
        check_generics(func, "`init`", cx, &mut ok);
        check_safety(func, "`init`", cx, &mut ok);
        if let Some(receiver) = sig.receiver() {
            cx.error_spanned(
                receiver,
                format!(
                    "`init` builds the handler, so it takes no `self`: remove `{}` and return `Self`",
                    receiver_text(receiver)
                ),
            );
            ok = false;
        }
        if let ReturnType::Default = sig.output {
            cx.error_spanned(
                &sig.ident,
                format!(
                    "`{}` must return the handler: add `-> Self`, or `-> Result<Self, Close>` to \
                     refuse the connection",
                    sig.ident
                ),
            );
            ok = false;
        }
        let mut params = Vec::new();
        let mut has_ctx = false;
        let mut extractors = 0;
        for arg in &sig.inputs {
            let FnArg::Typed(typed) = arg else { continue };
            let ty = &*typed.ty;
            if is_context(ty) {
                if has_ctx {
                    cx.error_spanned(
                        typed,
                        "`init` takes `&mut Context<Self>` once; remove this parameter",
                    );
                    ok = false;
                }
                has_ctx = true;
                params.push(Param {
                    ty,
                    role: Role::Ctx,
                });
                continue;
            }
            if extractors == Init::MAX_EXTRACTORS {
                cx.error_spanned(
                    typed,
                    format!(
                        "`init` takes at most {} extractors (and `&mut Context<Self>`); group \
                         `{}` with others into a tuple, such as `(a, b): (Path<String>, \
                         HeaderMap)`, or into a type that implements `FromRequest`",
                        Init::MAX_EXTRACTORS,
                        crate::ctxt::pretty(ty)
                    ),
                );
                ok = false;
            }
            params.push(Param {
                ty,
                role: Role::Extractor(extractors),
            });
            extractors += 1;
        }
        ok.then_some(Init { func, params })
    }
}

impl<'a> Method<'a> {
    /// The stages: the receiver, the parameters by role, the captures without a parameter,
    /// the number of values the attribute allows.
    fn from_syn(func: &'a ImplItemFn, helper: Helper, cx: &Ctxt) -> Option<Self> {
        let sig = &func.sig;
        let attr = helper.display();
        let name = &sig.ident;
        let mut ok = true;
        check_generics(func, &format!("`{attr}` method `{name}`"), cx, &mut ok);
        check_safety(func, &format!("`{attr}` method `{name}`"), cx, &mut ok);
        check_receiver(sig, &attr, cx, &mut ok);
        let (params, values) = method_params(sig, &helper, cx, &mut ok);
        check_arity(sig, &helper, &attr, &values, cx, &mut ok);
        ok.then_some(Method {
            func,
            helper,
            params,
        })
    }
}

/// Handler methods take `&mut self`.
fn check_receiver(sig: &syn::Signature, attr: &str, cx: &Ctxt, ok: &mut bool) {
    let name = &sig.ident;
    match sig.receiver() {
        Some(receiver) => match &receiver.kind {
            ReceiverKind::Reference(_, _, Some(_)) => {}
            ReceiverKind::Reference(..) => {
                cx.error_spanned(
                    receiver,
                    format!(
                        "`{attr}` methods take `&mut self`, not `{}`: write `fn {name}(&mut self, ..)`",
                        receiver_text(receiver)
                    ),
                );
                *ok = false;
            }
            ReceiverKind::Typed(..) if is_mut_self(receiver) => {}
            _ => {
                cx.error_spanned(
                    receiver,
                    format!(
                        "`{attr}` methods take `&mut self`, not `{}`: the connection keeps its \
                         handler between messages; write `fn {name}(&mut self, ..)`",
                        receiver_text(receiver)
                    ),
                );
                *ok = false;
            }
        },
        None => {
            cx.error_spanned(
                name,
                format!(
                    "`{attr}` method `{name}` has no receiver: handler methods take `&mut self` \
                     first; write `fn {name}(&mut self, ..)`"
                ),
            );
            *ok = false;
        }
    }
}

/// Each typed parameter with its role (`ctx`, a capture by name, or a value), and the value
/// parameters for the arity check. Reports captures without a parameter.
fn method_params<'a>(
    sig: &'a syn::Signature,
    helper: &Helper,
    cx: &Ctxt,
    ok: &mut bool,
) -> (Vec<Param<'a>>, Vec<&'a syn::PatType>) {
    let name = &sig.ident;
    let captures = match &helper.args {
        Args::Text(pattern) => pattern.captures(),
        _ => Vec::new(),
    };
    let mut bound = vec![false; captures.len()];
    let mut params = Vec::new();
    let mut has_ctx = false;
    let mut values = Vec::new();
    for arg in &sig.inputs {
        let FnArg::Typed(typed) = arg else { continue };
        let ty = &*typed.ty;
        if is_context_not_mut(ty) {
            report_context_not_mut(typed, &helper.display(), cx);
            *ok = false;
            continue;
        }
        if is_channel_socket(ty) {
            cx.error_spanned(
                typed,
                "`ChannelSocket` belongs to `#[channel]`: a `#[websock_handler]` method pushes \
                 and schedules through its context; write `ctx: &mut Context<Self>`",
            );
            *ok = false;
            continue;
        }
        if is_context(ty) {
            if has_ctx {
                cx.error_spanned(
                    typed,
                    format!("`{name}` takes `&mut Context<Self>` twice; remove this parameter"),
                );
                *ok = false;
            }
            has_ctx = true;
            params.push(Param {
                ty,
                role: Role::Ctx,
            });
            continue;
        }
        if let (Args::Text(TextPattern::Captures { lit, .. }), Some(_)) =
            (&helper.args, captures.first())
        {
            if let Some(index) = capture_param(typed, &captures, lit, cx, ok) {
                bound[index] = true;
                params.push(Param {
                    ty,
                    role: Role::Capture(index),
                });
            }
            continue;
        }
        values.push(typed);
        params.push(Param {
            ty,
            role: Role::Value,
        });
    }

    if let Args::Text(TextPattern::Captures { lit, .. }) = &helper.args {
        for (capture, bound) in captures.iter().zip(&bound) {
            if !bound {
                cx.error_spanned(
                    lit,
                    format!(
                        "capture `{{{capture}}}` has no parameter: add `{capture}: T` to \
                         `{name}`, where `T` is `&str` or any type that implements `FromStr`"
                    ),
                );
                *ok = false;
            }
        }
    }
    (params, values)
}

/// The index of the capture a parameter of a capture pattern is named after.
fn capture_param(
    typed: &syn::PatType,
    captures: &[&str],
    lit: &syn::LitStr,
    cx: &Ctxt,
    ok: &mut bool,
) -> Option<usize> {
    let ident = match &*typed.pat {
        Pat::Ident(pat) => Some(&pat.ident),
        _ => None,
    };
    let index = ident.and_then(|ident| captures.iter().position(|c| ident == c));
    match (index, ident) {
        (Some(index), _) => return Some(index),
        (None, Some(ident)) => {
            cx.error_spanned(
                typed,
                format!(
                    "parameter `{ident}` has no capture in the pattern {:?}: add \
                     `{{{ident}}}` to the pattern, or remove the parameter",
                    lit.value()
                ),
            );
        }
        (None, None) => {
            cx.error_spanned(
                &typed.pat,
                format!(
                    "captures are passed by parameter name: name this parameter after a \
                     capture of {:?}",
                    lit.value()
                ),
            );
        }
    }
    *ok = false;
    None
}

/// The number of value parameters the attribute allows.
fn check_arity(
    sig: &syn::Signature,
    helper: &Helper,
    attr: &str,
    values: &[&syn::PatType],
    cx: &Ctxt,
    ok: &mut bool,
) {
    let name = &sig.ident;
    let (min, max, what) = match (helper.kind, &helper.args) {
        (Kind::Text, Args::Text(TextPattern::Captures { .. })) => (0, 0, ""),
        (Kind::Text, _) => (0, 1, "the text (`&str`, `String` or `Utf8Bytes`)"),
        (Kind::Binary, _) | (Kind::Ping, _) | (Kind::Pong, _) => {
            (0, 1, "the payload (`&[u8]`, `Vec<u8>` or `Bytes`)")
        }
        (Kind::Json, Args::Tag { .. }) => (0, 1, "the type to parse the JSON into"),
        (Kind::Json, _) => (1, 1, "the type to parse the JSON into"),
        (Kind::JsonError, _) => (1, 1, "the error (`JsonError`)"),
        (Kind::Info, _) => (1, 1, "the info type it receives"),
        (Kind::Close, _) => (0, 1, "the close frame (`Option<PeerClose>` or `PeerClose`)"),
        (Kind::Terminate, _) => (0, 1, "the reason (`TerminateReason`)"),
        (Kind::Init, _) => (0, 1, "the extractors"),
    };
    if values.len() < min {
        let example = match helper.kind {
            Kind::Info => {
                format!("`fn {name}(&mut self, alert: Alert, ctx: &mut Context<Self>)`")
            }
            Kind::JsonError => format!("`fn {name}(&mut self, error: JsonError)`"),
            _ => format!("`fn {name}(&mut self, message: NewMessage)`"),
        };
        cx.error_spanned(
            &sig.ident,
            format!(
                "`{attr}` method `{name}` needs one parameter besides `&mut Context<Self>`: \
                 {what}, such as {example}"
            ),
        );
        *ok = false;
    }
    for extra in values.iter().skip(max) {
        let message = if max == 0 {
            format!(
                "parameter `{}` is not a capture of `{attr}`: every parameter of a capture \
                 pattern is a capture or `&mut Context<Self>`; add `{{{}}}` to the pattern or \
                 remove it",
                crate::ctxt::pretty(extra),
                crate::ctxt::pretty(&extra.pat)
            )
        } else {
            format!(
                "`{attr}` method `{name}` takes one parameter besides `&mut Context<Self>`: \
                 {what}; remove `{}`",
                crate::ctxt::pretty(extra)
            )
        };
        cx.error_spanned(extra, message);
        *ok = false;
    }
}

fn check_generics(func: &ImplItemFn, what: &str, cx: &Ctxt, ok: &mut bool) {
    let generics = &func.sig.generics;
    if !generics.params.is_empty() || generics.where_clause.is_some() {
        cx.error_spanned(
            generics,
            format!(
                "{what} cannot be generic: the macro calls it with concrete types; remove `{}`",
                crate::ctxt::pretty(generics)
            ),
        );
        *ok = false;
    }
}

fn check_safety(func: &ImplItemFn, what: &str, cx: &Ctxt, ok: &mut bool) {
    if let Safety::Unsafe(token) = &func.sig.safety {
        cx.error_spanned(
            token,
            format!("{what} cannot be `unsafe`: the runtime calls it; remove `unsafe`"),
        );
        *ok = false;
    }
}

/// `&mut Context<..>`, recognised by the last path segment.
pub(crate) fn is_context(ty: &Type) -> bool {
    let Type::Reference(reference) = ty else {
        return false;
    };
    reference.mutability.is_some()
        && matches!(&*reference.elem, Type::Path(path)
            if path.qself.is_none()
                && path.path.segments.last().is_some_and(|segment| segment.ident == "Context"))
}

/// `&Context<..>` or `Context<Self>`: a context the method cannot use, which would otherwise
/// be taken for the value parameter.
fn is_context_not_mut(ty: &Type) -> bool {
    let named_context = |ty: &Type| {
        matches!(ty, Type::Path(path)
            if path.qself.is_none()
                && path.path.segments.last().is_some_and(|segment| segment.ident == "Context"))
    };
    match ty {
        Type::Reference(reference) => {
            reference.mutability.is_none() && named_context(&reference.elem)
        }
        // By value only with arguments (`Context<Self>`): a payload type of the user's own may
        // be called `Context`.
        Type::Path(path) => named_context(ty) && has_arguments(path),
        _ => false,
    }
}

fn has_arguments(path: &syn::TypePath) -> bool {
    path.path
        .segments
        .last()
        .is_some_and(|segment| !segment.arguments.is_none())
}

/// `ChannelSocket`, by any reference or by value: a `#[channel]` parameter.
fn is_channel_socket(ty: &Type) -> bool {
    let ty = match ty {
        Type::Reference(reference) => &*reference.elem,
        other => other,
    };
    matches!(ty, Type::Path(path)
        if path.qself.is_none()
            && path.path.segments.last().is_some_and(|segment| segment.ident == "ChannelSocket"))
}

/// `ctx: &Context<Self>` gets "write `ctx: &mut Context<Self>`": the context schedules
/// timers and pushes frames, which needs `&mut`.
fn report_context_not_mut(typed: &syn::PatType, attr: &str, cx: &Ctxt) {
    cx.error_spanned(
        typed,
        format!(
            "`{attr}` methods take the context as `&mut Context<Self>`, not `{}`: write `{}: \
             &mut Context<Self>`",
            crate::ctxt::pretty(&typed.ty),
            crate::ctxt::pretty(&typed.pat)
        ),
    );
}

/// `self: &mut Self`
fn is_mut_self(receiver: &syn::Receiver) -> bool {
    let ReceiverKind::Typed(_, ty) = &receiver.kind else {
        return false;
    };
    matches!(&**ty, Type::Reference(reference)
        if reference.mutability.is_some()
            && matches!(&*reference.elem, Type::Path(path) if path.path.is_ident("Self")))
}

/// `&str`, which a capture borrows instead of parsing.
pub(crate) fn is_str_ref(ty: &Type) -> bool {
    matches!(ty, Type::Reference(reference)
        if reference.mutability.is_none()
            && matches!(&*reference.elem, Type::Path(path) if path.path.is_ident("str")))
}

/// A receiver as people write it: `&self`, `mut self`, `self: Box<Self>`.
fn receiver_text(receiver: &syn::Receiver) -> String {
    let mutability = if receiver.mutability.is_some() {
        "mut "
    } else {
        ""
    };
    match &receiver.kind {
        ReceiverKind::Reference(_, lifetime, inner) => {
            let lifetime = lifetime
                .as_ref()
                .map(|l| format!("{l} "))
                .unwrap_or_default();
            let inner = if inner.is_some() { "mut " } else { "" };
            format!("&{lifetime}{inner}self")
        }
        ReceiverKind::Typed(_, ty) => {
            let ty = ty
                .to_token_stream()
                .to_string()
                .replace(" < ", "<")
                .replace(" >", ">");
            format!("{mutability}self: {ty}")
        }
        _ => format!("{mutability}self"),
    }
}
