//! Parsing: the topic pattern, the helper attributes (stripped from the impl whether they parse
//! or not) and a model of each method.

use crate::{
    attr::{self, TextPattern},
    ctxt::{Ctxt, pretty},
};
use syn::{Attribute, FnArg, Ident, ImplItem, ImplItemFn, ItemImpl, LitStr, Pat, ReturnType, Type};

/// The helper attributes of `#[channel]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Join,
    Event,
    Info,
    Out,
    Leave,
}

impl Kind {
    const ALL: [Kind; 5] = [Kind::Join, Kind::Event, Kind::Info, Kind::Out, Kind::Leave];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Join => "on_join",
            Kind::Event => "on_event",
            Kind::Info => "on_info",
            Kind::Out => "on_out",
            Kind::Leave => "on_leave",
        }
    }
}

/// The topic pattern of `#[channel("..")]`.
pub(crate) struct Topic {
    pub(crate) lit: LitStr,
    pub(crate) captures: Vec<String>,
}

/// Parses and checks the pattern with the rules of the runtime's matcher: `{name}` captures
/// with literal text between them, an optional `*` at the end.
pub(crate) fn topic(lit: LitStr) -> syn::Result<Topic> {
    let source = lit.value();
    let error = |message: String| Err(syn::Error::new_spanned(&lit, message));
    if source.is_empty() || source == "*" {
        return error(format!(
            "the topic pattern {source:?} matches every topic: give it a prefix, such as \
             `\"room:*\"` or `\"room:{{id}}\"`"
        ));
    }
    if source.contains("{{") || source.contains("}}") {
        return error(format!(
            "topic patterns have no literal braces (`{{{{`/`}}}}` in {source:?}): a topic \
             is matched by its `{{capture}}`s and literal text"
        ));
    }
    let body = match source.strip_suffix('*') {
        Some(body) => {
            if body.ends_with('}') {
                return error(format!(
                    "a capture cannot be followed by `*` in {source:?}: the capture already \
                     takes the rest of the topic; write `{body}`"
                ));
            }
            body
        }
        None => &source,
    };
    if body.contains('*') {
        return error(format!(
            "`*` may only end a topic pattern (a prefix match, `\"room:*\"`), not appear inside {source:?}"
        ));
    }
    let pattern = attr::parse_pattern(LitStr::new(body, lit.span()))?;
    let captures = match &pattern {
        TextPattern::Exact { .. } => Vec::new(),
        TextPattern::Captures { .. } => pattern.captures().into_iter().map(str::to_owned).collect(),
    };
    Ok(Topic { lit, captures })
}

/// What a parameter is, decided by its type (the socket, the topic, the leave reason, the
/// app state) or its name (a capture).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ParamKind {
    Socket,
    Topic,
    Reason,
    /// `State<S>`: the route's socket value.
    State,
    Capture(String),
    Value,
}

pub(crate) struct Param<'a> {
    pub(crate) ty: &'a Type,
    pub(crate) kind: ParamKind,
    pub(crate) arg: &'a FnArg,
}

pub(crate) struct Method<'a> {
    pub(crate) kind: Kind,
    pub(crate) attr: Attribute,
    /// The event of `#[on_event("..")]` / `#[on_out("..")]`.
    pub(crate) event: Option<LitStr>,
    pub(crate) func: &'a ImplItemFn,
    pub(crate) params: Vec<Param<'a>>,
}

impl Method<'_> {
    pub(crate) fn ident(&self) -> &Ident {
        &self.func.sig.ident
    }

    pub(crate) fn is_async(&self) -> bool {
        self.func.sig.asyncness.is_some()
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &Param<'_>> {
        self.params.iter().filter(|p| p.kind == ParamKind::Value)
    }
}

/// Removes every helper attribute (and anything named `on_*`) from `item`; returns the helper
/// of each method that has one, by item index.
pub(crate) fn strip(
    item: &mut ItemImpl,
    cx: &Ctxt,
) -> Vec<(usize, Kind, Attribute, Option<LitStr>)> {
    let mut found = Vec::new();
    for (index, impl_item) in item.items.iter_mut().enumerate() {
        let (attrs, is_fn) = match impl_item {
            ImplItem::Fn(func) => (&mut func.attrs, true),
            ImplItem::Const(item) => (&mut item.attrs, false),
            ImplItem::Type(item) => (&mut item.attrs, false),
            ImplItem::Macro(item) => (&mut item.attrs, false),
            _ => continue,
        };
        let mut first: Option<(Kind, Attribute, Option<LitStr>)> = None;
        attrs.retain(|attr| {
            let Some(ident) = attr.path().get_ident() else {
                return true;
            };
            let name = ident.to_string();
            if !name.starts_with("on_") {
                return true;
            }
            let Some(kind) = Kind::ALL.into_iter().find(|k| k.name() == name) else {
                cx.error_spanned(attr.path(), unknown_message(&name));
                return false;
            };
            if !is_fn {
                cx.error_spanned(
                    attr,
                    format!("`#[{name}]` goes on a method of the impl block"),
                );
                return false;
            }
            let Some(event) = parse_args(kind, attr, cx) else {
                return false;
            };
            match &first {
                Some((first_kind, _, _)) => cx.error_spanned(
                    attr,
                    format!(
                        "this method already has `#[{}]`; a method handles one kind of \
                         message: move `#[{name}]` to a method of its own",
                        first_kind.name()
                    ),
                ),
                None => first = Some((kind, attr.clone(), event)),
            }
            false
        });
        if let Some((kind, attr, event)) = first {
            found.push((index, kind, attr, event));
        }
    }
    found
}

fn unknown_message(name: &str) -> String {
    if let Some(message) = handler_attribute_message(name) {
        return message;
    }
    let closest = Kind::ALL
        .into_iter()
        .map(|kind| {
            let known = kind.name();
            let related = known.starts_with(name) || name.starts_with(known);
            (!related, crate::attr::distance(name, known), known)
        })
        .min()
        .map_or("on_event", |(_, _, known)| known);
    format!(
        "unknown attribute `#[{name}]`; did you mean `#[{closest}]`? (`#[channel]` knows \
         `#[on_join]`, `#[on_event(\"..\")]`, `#[on_info]`, `#[on_out(\"..\")]` and `#[on_leave]`)"
    )
}

/// A `#[websock_handler]` attribute written in a `#[channel]`: the channel's counterpart,
/// which spelling distance would not find (`#[on_terminate]` is closest to `#[on_event]`).
fn handler_attribute_message(name: &str) -> Option<String> {
    let counterpart = match name {
        "on_terminate" | "on_close" => {
            "`#[on_leave]`, called when the channel ends (`reason: LeaveReason` says why)"
        }
        "on_text" | "on_json" | "on_binary" => {
            "`#[on_event(\"new_msg\")]`, called with the event's payload"
        }
        "on_init" => "`#[on_join]`, which builds the channel",
        _ => return None,
    };
    Some(format!(
        "`#[{name}]` is a `#[websock_handler]` attribute; in a `#[channel]`, write {counterpart}"
    ))
}

/// `Some(event)` for the kinds that take one, `Some(None)` for those that take none.
fn parse_args(kind: Kind, attr: &Attribute, cx: &Ctxt) -> Option<Option<LitStr>> {
    let takes_event = matches!(kind, Kind::Event | Kind::Out);
    let name = kind.name();
    match (&attr.meta, takes_event) {
        (syn::Meta::Path(_), false) => Some(None),
        (syn::Meta::Path(_), true) => {
            cx.error_spanned(
                attr,
                format!("`#[{name}]` needs the event it handles: write `#[{name}(\"new_msg\")]`"),
            );
            None
        }
        (syn::Meta::List(list), true) => match list.parse_args::<LitStr>() {
            Ok(lit) if lit.value().is_empty() => {
                cx.error_spanned(&lit, format!("the event of `#[{name}]` cannot be empty"));
                None
            }
            Ok(lit) if lit.value().starts_with("phx_") => {
                cx.error_spanned(
                    &lit,
                    format!(
                        "`{}` is a protocol event the socket handles itself; use `#[on_join]` \
                         or `#[on_leave]`",
                        lit.value()
                    ),
                );
                None
            }
            Ok(lit) => Some(Some(lit)),
            Err(_) => {
                cx.error_spanned(
                    &list.tokens,
                    format!("`#[{name}]` takes the event as a string: `#[{name}(\"new_msg\")]`"),
                );
                None
            }
        },
        _ => {
            cx.error_spanned(
                attr,
                format!("`#[{name}]` takes no arguments: write `#[{name}]`"),
            );
            None
        }
    }
}

/// The model of one method, with the per-method checks.
/// The stages: the signature (receiver, generics, return type), each parameter's role, the
/// number of values, the captures.
pub(crate) fn method<'a>(
    func: &'a ImplItemFn,
    kind: Kind,
    attr: Attribute,
    event: Option<LitStr>,
    topic: Option<&Topic>,
    cx: &Ctxt,
) -> Option<Method<'a>> {
    let mut ok = true;
    check_signature(func, kind, cx, &mut ok);
    let params = params(func, kind, topic);
    check_socket(&params, cx, &mut ok);
    check_no_context(&params, cx, &mut ok);
    check_values(func, kind, topic, &params, cx, &mut ok);
    check_captures(func, kind, topic, &params, cx, &mut ok);
    ok.then_some(Method {
        kind,
        attr,
        event,
        func,
        params,
    })
}

/// The receiver (`&mut self`, none for `#[on_join]`), no generics, the return type.
fn check_signature(func: &ImplItemFn, kind: Kind, cx: &Ctxt, ok: &mut bool) {
    let name = kind.name();
    let ident = &func.sig.ident;
    let receiver = func.sig.receiver();
    match (kind, receiver) {
        (Kind::Join, Some(receiver)) => {
            cx.error_spanned(
                receiver,
                format!(
                    "`#[{name}]` builds the channel, so it has no `self`: write \
                     `fn {ident}(.., socket: &mut ChannelSocket) -> Result<Self, JoinError>`"
                ),
            );
            *ok = false;
        }
        (Kind::Join, None) => {}
        (_, None) => {
            cx.error_spanned(
                &func.sig,
                format!("`#[{name}]` methods take `&mut self`: write `fn {ident}(&mut self, ..)`"),
            );
            *ok = false;
        }
        (_, Some(receiver)) => {
            let by_mut_ref = match &receiver.kind {
                syn::ReceiverKind::Reference(_, _, mutability) => mutability.is_some(),
                syn::ReceiverKind::Typed(_, ty) => matches!(&**ty, Type::Reference(r)
                    if r.mutability.is_some() && matches!(&*r.elem, Type::Path(p) if p.path.is_ident("Self"))),
                _ => false,
            };
            if !by_mut_ref {
                cx.error_spanned(
                    receiver,
                    format!(
                        "`#[{name}]` methods take `&mut self`, not `{}`: the channel stays \
                         alive after the call and is borrowed only",
                        pretty(receiver)
                    ),
                );
                *ok = false;
            }
        }
    }
    if !func.sig.generics.params.is_empty() {
        cx.error_spanned(
            &func.sig.generics,
            format!(
                "`#[{name}]` methods cannot be generic: the macro calls them with concrete types"
            ),
        );
        *ok = false;
    }
    if matches!(kind, Kind::Leave) {
        if let ReturnType::Type(_, ty) = &func.sig.output {
            cx.error_spanned(
                ty,
                "`#[on_leave]` methods return `()`: the channel is already ending; remove the return type",
            );
            *ok = false;
        }
    }
    if matches!(kind, Kind::Join) && matches!(func.sig.output, ReturnType::Default) {
        cx.error_spanned(
            &func.sig,
            format!("`#[on_join]` returns the channel: add `-> Self` or `-> Result<Self, JoinError>` to `{ident}`"),
        );
        *ok = false;
    }
}

/// Each typed parameter and its role, by type or (captures of `#[on_join]`) by name.
fn params<'a>(func: &'a ImplItemFn, kind: Kind, topic: Option<&Topic>) -> Vec<Param<'a>> {
    let mut params = Vec::new();
    for arg in &func.sig.inputs {
        let FnArg::Typed(typed) = arg else { continue };
        let name = match &*typed.pat {
            Pat::Ident(pat) => Some(&pat.ident),
            _ => None,
        };
        let ty = &*typed.ty;
        // A socket taken by `&` or by value is still the socket (so it is not taken for the
        // payload); `check_socket` reports it.
        let kind_of = if is_socket(ty) || is_socket_not_mut(ty) {
            ParamKind::Socket
        } else if is_state(ty) {
            ParamKind::State
        } else if is_named(ty, "Topic") && kind == Kind::Join {
            ParamKind::Topic
        } else if is_named(ty, "LeaveReason") && kind == Kind::Leave {
            ParamKind::Reason
        } else if let (Kind::Join, Some(name), Some(topic)) = (kind, name, topic) {
            let text = name.to_string();
            let text = text.trim_start_matches("r#");
            if topic.captures.iter().any(|c| c == text) {
                ParamKind::Capture(text.to_owned())
            } else {
                ParamKind::Value
            }
        } else {
            ParamKind::Value
        };
        params.push(Param {
            ty,
            kind: kind_of,
            arg,
        });
    }
    params
}

/// `socket: &ChannelSocket` gets "write `socket: &mut ChannelSocket`": pushing, broadcasting
/// and tracking presence need `&mut`.
fn check_socket(params: &[Param<'_>], cx: &Ctxt, ok: &mut bool) {
    for param in params {
        let FnArg::Typed(typed) = param.arg else {
            continue;
        };
        if param.kind == ParamKind::Socket && is_socket_not_mut(param.ty) {
            cx.error_spanned(
                typed,
                format!(
                    "channel methods take the socket as `&mut ChannelSocket`, not `{}`: write \
                     `{}: &mut ChannelSocket`",
                    pretty(&typed.ty),
                    pretty(&typed.pat)
                ),
            );
            *ok = false;
        }
    }
}

/// `ctx: &mut Context<Self>` is a `#[websock_handler]` parameter, which would otherwise be
/// taken for the payload.
fn check_no_context(params: &[Param<'_>], cx: &Ctxt, ok: &mut bool) {
    for param in params {
        // By value only with arguments (`Context<Self>`): a payload type of the user's own
        // may be called `Context`.
        let context = match param.ty {
            Type::Reference(reference) => is_named(&reference.elem, "Context"),
            Type::Path(path) => {
                is_named(param.ty, "Context")
                    && path
                        .path
                        .segments
                        .last()
                        .is_some_and(|segment| !segment.arguments.is_none())
            }
            _ => false,
        };
        if param.kind == ParamKind::Value && context {
            cx.error_spanned(
                param.arg,
                "`Context` belongs to `#[websock_handler]`: a channel method pushes, \
                 broadcasts and schedules through its socket; write `socket: &mut ChannelSocket`",
            );
            *ok = false;
        }
    }
}

/// At most one socket, and the number of value parameters the attribute takes.
fn check_values(
    func: &ImplItemFn,
    kind: Kind,
    topic: Option<&Topic>,
    params: &[Param<'_>],
    cx: &Ctxt,
    ok: &mut bool,
) {
    let ident = &func.sig.ident;
    let count = |k: &ParamKind| params.iter().filter(|p| &p.kind == k).count();
    if count(&ParamKind::Socket) > 1 {
        cx.error_spanned(
            &func.sig.inputs,
            "one `&mut ChannelSocket` parameter is enough",
        );
        *ok = false;
    }
    let values: Vec<&Param<'_>> = params
        .iter()
        .filter(|p| p.kind == ParamKind::Value)
        .collect();
    let what = match kind {
        Kind::Join => "the join params (parsed from the join payload)",
        Kind::Event | Kind::Out => "the payload (parsed from the event's payload)",
        Kind::Info => "the info",
        Kind::Leave => "",
    };
    match kind {
        Kind::Leave => {
            for value in &values {
                cx.error_spanned(
                    value.arg,
                    "`#[on_leave]` takes `&mut self`, and optionally `reason: LeaveReason` and \
                     `socket: &mut ChannelSocket`",
                );
                *ok = false;
            }
        }
        Kind::Info if values.is_empty() => {
            cx.error_spanned(
                &func.sig,
                format!("`#[on_info]` needs a parameter for the info: `fn {ident}(&mut self, tick: Tick)`"),
            );
            *ok = false;
        }
        _ => {
            if let Some(extra) = values.get(1) {
                let hint = match (kind, topic) {
                    (Kind::Join, Some(topic)) if !topic.captures.is_empty() => format!(
                        "; a capture parameter is named after its capture ({})",
                        topic
                            .captures
                            .iter()
                            .map(|c| format!("`{c}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    _ => String::new(),
                };
                cx.error_spanned(
                    extra.arg,
                    format!(
                        "`{}` would be a second value parameter: `{ident}` already takes {what} \
                         as `{}`{hint}",
                        pretty(extra.arg),
                        pretty(values[0].arg)
                    ),
                );
                *ok = false;
            }
        }
    }
}

/// Every capture of the topic has an owned parameter in `#[on_join]`.
fn check_captures(
    func: &ImplItemFn,
    kind: Kind,
    topic: Option<&Topic>,
    params: &[Param<'_>],
    cx: &Ctxt,
    ok: &mut bool,
) {
    let ident = &func.sig.ident;
    let count = |k: &ParamKind| params.iter().filter(|p| &p.kind == k).count();
    if kind == Kind::Join {
        if let Some(topic) = topic {
            for capture in &topic.captures {
                if count(&ParamKind::Capture(capture.clone())) == 0 {
                    cx.error_spanned(
                        &func.sig,
                        format!(
                            "the capture `{{{capture}}}` of {:?} has no parameter in `{ident}`: \
                             add `{capture}: T` (`&str` is not possible; use `String` or any `FromStr` type)",
                            topic.lit.value()
                        ),
                    );
                    *ok = false;
                }
            }
        }
    }
    for param in params {
        if let ParamKind::Capture(_) = param.kind {
            if matches!(param.ty, Type::Reference(_)) {
                cx.error_spanned(
                    param.ty,
                    "a capture parameter owns its value: use `String` or any `FromStr` type, not a reference",
                );
                *ok = false;
            }
        }
    }
}

/// `&mut ChannelSocket`, recognised by the last path segment.
fn is_socket(ty: &Type) -> bool {
    matches!(ty, Type::Reference(reference)
        if reference.mutability.is_some() && is_named(&reference.elem, "ChannelSocket"))
}

/// `&ChannelSocket` or `ChannelSocket`: a socket the method cannot use.
fn is_socket_not_mut(ty: &Type) -> bool {
    match ty {
        Type::Reference(reference) => {
            reference.mutability.is_none() && is_named(&reference.elem, "ChannelSocket")
        }
        other => is_named(other, "ChannelSocket"),
    }
}

/// `State<S>` (with its type argument: a payload type named `State` is a payload).
pub(crate) fn is_state(ty: &Type) -> bool {
    matches!(ty, Type::Path(path)
    if path.qself.is_none() && path.path.segments.last().is_some_and(|s| {
        s.ident == "State" && matches!(s.arguments, syn::PathArguments::AngleBracketed(_))
    }))
}

fn is_named(ty: &Type, name: &str) -> bool {
    matches!(ty, Type::Path(path)
        if path.qself.is_none() && path.path.segments.last().is_some_and(|s| s.ident == name))
}
