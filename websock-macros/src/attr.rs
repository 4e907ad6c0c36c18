//! Parsing and stripping the helper attributes (`#[on_text("..")]`, `#[on_info]`, `#[init]`, ..).
//!
//! Helper attributes are not real attributes: rustc would reject them if they were left on the
//! impl, so every one is removed here, whether it parses or not.

use crate::ctxt::Ctxt;
use proc_macro2::TokenStream;
use syn::{
    Attribute, Ident, ImplItem, ItemImpl, LitByteStr, LitStr, Meta, Token,
    ext::IdentExt,
    parse::{ParseStream, Parser},
};

/// The kinds of helper attribute, in the order the docs list them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Init,
    Text,
    Binary,
    Json,
    JsonError,
    Info,
    Ping,
    Pong,
    Close,
    Terminate,
}

impl Kind {
    pub(crate) const ALL: [Kind; 10] = [
        Kind::Init,
        Kind::Text,
        Kind::Binary,
        Kind::Json,
        Kind::JsonError,
        Kind::Info,
        Kind::Ping,
        Kind::Pong,
        Kind::Close,
        Kind::Terminate,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Init => "init",
            Kind::Text => "on_text",
            Kind::Binary => "on_binary",
            Kind::Json => "on_json",
            Kind::JsonError => "on_json_error",
            Kind::Info => "on_info",
            Kind::Ping => "on_ping",
            Kind::Pong => "on_pong",
            Kind::Close => "on_close",
            Kind::Terminate => "on_terminate",
        }
    }

    fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

/// One parsed helper attribute.
pub(crate) struct Helper {
    pub(crate) kind: Kind,
    /// The whole attribute as written, for spans and messages.
    pub(crate) attr: Attribute,
    pub(crate) args: Args,
    /// The method's `#[rate_limit]` and its rule (`Type::method`), stripped apart.
    pub(crate) rate_limit: Option<(crate::rate_limit::RateLimit, String)>,
}

impl Helper {
    /// The attribute as the user wrote it, for messages: `#[on_text("ping")]`.
    pub(crate) fn display(&self) -> String {
        match &self.args {
            Args::None => format!("#[{}]", self.kind.name()),
            Args::Text(pattern) => format!("#[on_text({:?})]", pattern.source()),
            Args::Prefix { lit, .. } => {
                format!("#[on_binary(prefix = {})]", crate::ctxt::pretty(lit))
            }
            Args::Tag { field, value } => {
                format!("#[on_json({field} = {:?})]", value.value())
            }
        }
    }
}

/// What a helper attribute says besides its name.
pub(crate) enum Args {
    None,
    /// `#[on_text("..")]`
    Text(TextPattern),
    /// `#[on_binary(prefix = b"..")]`
    Prefix {
        lit: LitByteStr,
        bytes: Vec<u8>,
    },
    /// `#[on_json(field = "value")]`
    Tag {
        field: Ident,
        value: LitStr,
    },
}

/// The pattern of `#[on_text("..")]`.
pub(crate) enum TextPattern {
    /// No captures: the whole text must equal `value` (braces already unescaped).
    Exact { lit: LitStr, value: String },
    /// At least one capture.
    Captures { lit: LitStr, segments: Vec<Segment> },
}

impl TextPattern {
    pub(crate) fn lit(&self) -> &LitStr {
        match self {
            TextPattern::Exact { lit, .. } | TextPattern::Captures { lit, .. } => lit,
        }
    }

    fn source(&self) -> String {
        self.lit().value()
    }

    /// The capture names, in order.
    pub(crate) fn captures(&self) -> Vec<&str> {
        match self {
            TextPattern::Exact { .. } => Vec::new(),
            TextPattern::Captures { segments, .. } => segments
                .iter()
                .filter_map(|segment| match segment {
                    Segment::Capture(name) => Some(name.as_str()),
                    Segment::Literal(_) => None,
                })
                .collect(),
        }
    }
}

/// A piece of a capture pattern.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Segment {
    Literal(String),
    Capture(String),
}

/// Removes every helper attribute from `item`, returning those that parsed, by the index of
/// the impl item they were on. Errors (unknown attributes, bad arguments, two helpers on one
/// method, helpers on something that is not a method) go to `cx`.
pub(crate) fn strip(item: &mut ItemImpl, cx: &Ctxt) -> Vec<(usize, Helper)> {
    let mut helpers = Vec::new();
    for (index, impl_item) in item.items.iter_mut().enumerate() {
        let (attrs, is_fn) = match impl_item {
            ImplItem::Fn(func) => (&mut func.attrs, true),
            ImplItem::Const(item) => (&mut item.attrs, false),
            ImplItem::Type(item) => (&mut item.attrs, false),
            ImplItem::Macro(item) => (&mut item.attrs, false),
            _ => continue,
        };
        let mut found: Option<Helper> = None;
        attrs.retain(|attr| {
            let Some(name) = helper_name(attr) else {
                return true;
            };
            let Some(kind) = Kind::from_name(&name) else {
                cx.error_spanned(attr.path(), unknown_message(&name));
                return false;
            };
            if !is_fn {
                cx.error_spanned(
                    attr,
                    format!(
                        "`#[{name}]` goes on a method of the impl block, such as `fn {}(&mut self, ..)`",
                        example_name(kind)
                    ),
                );
                return false;
            }
            let Some(args) = parse_args(kind, attr, cx) else {
                return false;
            };
            let helper = Helper {
                kind,
                attr: attr.clone(),
                args,
                rate_limit: None,
            };
            match &found {
                Some(first) => cx.error_spanned(
                    &helper.attr,
                    format!(
                        "this method already has `{}`; a method handles one kind of message: \
                         move `{}` to a method of its own",
                        first.display(),
                        helper.display()
                    ),
                ),
                None => found = Some(helper),
            }
            false
        });
        if let Some(helper) = found {
            helpers.push((index, helper));
        }
    }
    helpers
}

/// `Some(name)` when `attr` is ours or looks like it was meant to be (`on_*`).
fn helper_name(attr: &Attribute) -> Option<String> {
    let ident = attr.path().get_ident()?;
    let name = ident.to_string();
    (name == "init" || name.starts_with("on_")).then_some(name)
}

fn unknown_message(name: &str) -> String {
    if let Some(message) = channel_attribute_message(name) {
        return message;
    }
    let closest = Kind::ALL
        .into_iter()
        .filter(|kind| *kind != Kind::Init)
        .map(|kind| {
            let known = kind.name();
            let related = known.starts_with(name) || name.starts_with(known);
            (!related, distance(name, known), known)
        })
        .min()
        .map(|(_, _, closest)| closest)
        .unwrap_or("on_text");
    format!(
        "unknown attribute `#[{name}]`; did you mean `#[{closest}]`? \
         (`#[websock_handler]` knows `#[on_text]`, `#[on_binary]`, `#[on_json]`, \
         `#[on_json_error]`, `#[on_info]`, `#[on_ping]`, `#[on_pong]`, `#[on_close]`, \
         `#[on_terminate]` and `#[init]`)"
    )
}

/// A `#[channel]` attribute written in a `#[websock_handler]`: the handler's counterpart,
/// which spelling distance would not find (`#[on_leave]` is closest to `#[on_pong]`).
fn channel_attribute_message(name: &str) -> Option<String> {
    let counterpart = match name {
        "on_leave" => {
            "`#[on_terminate]` (called however the connection ends) or `#[on_close]` (called \
             with the client's close frame)"
        }
        "on_event" => {
            "`#[on_json(type = \"new_msg\")]` (a JSON message by its tag) or \
             `#[on_text(\"new_msg\")]` (a text message)"
        }
        "on_join" => "`fn init(ctx: &mut Context<Self>) -> Self`, which builds the handler",
        "on_out" => "`#[on_info]` for messages from other tasks, pushed with `Reply::push`",
        _ => return None,
    };
    Some(format!(
        "`#[{name}]` is a `#[channel]` attribute; in a `#[websock_handler]`, write {counterpart}"
    ))
}

fn example_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Init => "init",
        Kind::Text => "on_text",
        Kind::Binary => "on_binary",
        Kind::Json => "on_json",
        Kind::JsonError => "invalid_payload",
        Kind::Info => "on_info",
        Kind::Ping => "on_ping",
        Kind::Pong => "on_pong",
        Kind::Close => "on_close",
        Kind::Terminate => "on_terminate",
    }
}

/// Levenshtein distance, for "did you mean".
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(current + 1);
            previous = current;
        }
    }
    row[b.len()]
}

/// Parses the arguments of a known helper attribute; `None` (with an error in `cx`) when they
/// are wrong.
fn parse_args(kind: Kind, attr: &Attribute, cx: &Ctxt) -> Option<Args> {
    let name = kind.name();
    let tokens = match &attr.meta {
        Meta::Path(_) => return Some(Args::None),
        Meta::List(list) => list.tokens.clone(),
        Meta::NameValue(_) => {
            cx.error_spanned(
                attr,
                format!(
                    "`#[{name} = ..]` is not a form `#[{name}]` takes; write {}",
                    usage(kind)
                ),
            );
            return None;
        }
    };
    if tokens.is_empty() {
        return Some(Args::None);
    }
    let result = match kind {
        Kind::Text => parse_text_args(name, tokens),
        Kind::Binary => parse_prefix_args.parse2(tokens),
        Kind::Json => parse_tag_args.parse2(tokens),
        Kind::Init
        | Kind::JsonError
        | Kind::Info
        | Kind::Ping
        | Kind::Pong
        | Kind::Close
        | Kind::Terminate => Err(syn::Error::new_spanned(
            tokens,
            format!(
                "`#[{name}]` takes no arguments: {}; write `#[{name}]`",
                no_args_reason(kind)
            ),
        )),
    };
    match result {
        Ok(args) => Some(args),
        Err(error) => {
            cx.syn_error(error);
            None
        }
    }
}

fn usage(kind: Kind) -> &'static str {
    match kind {
        Kind::Text => "`#[on_text(\"exact text\")]`, `#[on_text(\"join {room}\")]` or `#[on_text]`",
        Kind::Binary => "`#[on_binary]` or `#[on_binary(prefix = b\"\\x01\")]`",
        Kind::Json => "`#[on_json]` or `#[on_json(type = \"tag\")]`",
        Kind::Init => "`#[init]`",
        Kind::JsonError => "`#[on_json_error]`",
        Kind::Info => "`#[on_info]`",
        Kind::Ping => "`#[on_ping]`",
        Kind::Pong => "`#[on_pong]`",
        Kind::Close => "`#[on_close]`",
        Kind::Terminate => "`#[on_terminate]`",
    }
}

fn no_args_reason(kind: Kind) -> &'static str {
    match kind {
        Kind::Info => "the info type is the type of the method's parameter",
        Kind::JsonError => "it receives every `#[on_json]` payload that does not deserialize",
        Kind::Init => "the handler's `Init` is made of the method's parameters (its extractors)",
        _ => "the method is called for every such event",
    }
}

fn parse_text_args(name: &str, tokens: TokenStream) -> syn::Result<Args> {
    let parser = |input: ParseStream| -> syn::Result<LitStr> {
        if input.peek(Ident::peek_any) && input.peek2(Token![=]) {
            let key = input.call(Ident::parse_any)?;
            return Err(syn::Error::new_spanned(
                &key,
                format!(
                    "unknown argument `{key}` in `#[{name}]`; write {}",
                    usage(Kind::Text)
                ),
            ));
        }
        let lit: LitStr = input.parse().map_err(|error| {
            syn::Error::new(
                error.span(),
                format!(
                    "`#[{name}]` takes a string literal: write {}",
                    usage(Kind::Text)
                ),
            )
        })?;
        if !input.is_empty() {
            return Err(input.error(format!(
                "unexpected tokens after the pattern in `#[{name}]`; write {}",
                usage(Kind::Text)
            )));
        }
        Ok(lit)
    };
    let lit = parser.parse2(tokens)?;
    parse_pattern(lit).map(Args::Text)
}

fn parse_prefix_args(input: ParseStream) -> syn::Result<Args> {
    let key = input.call(Ident::parse_any)?;
    if key != "prefix" {
        return Err(syn::Error::new_spanned(
            &key,
            format!(
                "unknown argument `{key}` in `#[on_binary]`; write {}",
                usage(Kind::Binary)
            ),
        ));
    }
    input.parse::<Token![=]>()?;
    let lit: LitByteStr = input.parse().map_err(|error| {
        syn::Error::new(
            error.span(),
            "`prefix` takes a byte string literal, such as `prefix = b\"\\x01\"`",
        )
    })?;
    if !input.is_empty() {
        return Err(input.error("unexpected tokens after the prefix in `#[on_binary(..)]`"));
    }
    let bytes = lit.value();
    if bytes.is_empty() {
        return Err(syn::Error::new_spanned(
            &lit,
            "an empty prefix matches every binary message: write `#[on_binary]` for a fallback",
        ));
    }
    Ok(Args::Prefix { lit, bytes })
}

fn parse_tag_args(input: ParseStream) -> syn::Result<Args> {
    let field = input.call(Ident::parse_any)?;
    if !input.peek(Token![=]) {
        return Err(syn::Error::new_spanned(
            &field,
            format!(
                "unknown argument `{field}` in `#[on_json]`; to select by a field, write \
                 `#[on_json({field} = \"value\")]`, or `#[on_json]` to take any JSON"
            ),
        ));
    }
    input.parse::<Token![=]>()?;
    let value: LitStr = input.parse().map_err(|error| {
        syn::Error::new(
            error.span(),
            format!(
                "`{field}` takes the tag as a string literal, such as `{field} = \"new_message\"`"
            ),
        )
    })?;
    if !input.is_empty() {
        return Err(input
            .error("`#[on_json]` selects by one field only: write `#[on_json(type = \"tag\")]`"));
    }
    Ok(Args::Tag { field, value })
}

/// Parses `"join {room}"`: literal text, `{name}` captures, `{{`/`}}` for literal braces.
pub(crate) fn parse_pattern(lit: LitStr) -> syn::Result<TextPattern> {
    let source = lit.value();
    let error = |message: String| Err(syn::Error::new_spanned(&lit, message));
    let mut segments = Vec::new();
    let mut literal = String::new();
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                literal.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                literal.push('}');
            }
            '{' => {
                let mut name = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '}' {
                        closed = true;
                        break;
                    }
                    name.push(c);
                }
                if !closed {
                    return error(format!(
                        "unclosed `{{` in the pattern {source:?}: close the capture as `{{name}}`, \
                         or write `{{{{` for a literal brace"
                    ));
                }
                if name.is_empty() {
                    return error(format!(
                        "empty capture `{{}}` in the pattern {source:?}: name it after a parameter, \
                         such as `{{room}}`, or write `{{{{}}}}` for literal braces"
                    ));
                }
                if !is_identifier(&name) {
                    return error(format!(
                        "`{{{name}}}` in the pattern {source:?} is not a capture name: a capture is \
                         a parameter name such as `{{room}}`; write `{{{{` for a literal brace"
                    ));
                }
                if literal.is_empty() {
                    if let Some(Segment::Capture(previous)) = segments.last() {
                        return error(format!(
                            "captures `{{{previous}}}` and `{{{name}}}` are adjacent in the pattern \
                             {source:?}: nothing tells where one ends; put literal text between \
                             them, such as `{{{previous}}} {{{name}}}`"
                        ));
                    }
                } else {
                    segments.push(Segment::Literal(std::mem::take(&mut literal)));
                }
                if segments.contains(&Segment::Capture(name.clone())) {
                    return error(format!(
                        "capture `{{{name}}}` appears twice in the pattern {source:?}: \
                         give each capture its own name"
                    ));
                }
                segments.push(Segment::Capture(name));
            }
            '}' => {
                return error(format!(
                    "unmatched `}}` in the pattern {source:?}: write `}}}}` for a literal brace"
                ));
            }
            c => literal.push(c),
        }
    }
    if segments.is_empty() {
        return Ok(TextPattern::Exact {
            lit,
            value: literal,
        });
    }
    if !literal.is_empty() {
        segments.push(Segment::Literal(literal));
    }
    Ok(TextPattern::Captures { lit, segments })
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
        && name != "_"
}

#[cfg(test)]
mod tests {
    use super::*;
    use proc_macro2::Span;

    fn pattern(source: &str) -> Result<Vec<Segment>, String> {
        match parse_pattern(LitStr::new(source, Span::call_site())) {
            Ok(TextPattern::Exact { value, .. }) => Ok(vec![Segment::Literal(value)]),
            Ok(TextPattern::Captures { segments, .. }) => Ok(segments),
            Err(error) => Err(error.to_string()),
        }
    }

    #[test]
    fn patterns() {
        use Segment::{Capture as C, Literal as L};
        assert_eq!(pattern("ping"), Ok(vec![L("ping".into())]));
        assert_eq!(pattern("{{x}}"), Ok(vec![L("{x}".into())]));
        assert_eq!(
            pattern("join {room}"),
            Ok(vec![L("join ".into()), C("room".into())])
        );
        assert_eq!(
            pattern("{a}-{b}!"),
            Ok(vec![
                C("a".into()),
                L("-".into()),
                C("b".into()),
                L("!".into())
            ])
        );
        assert!(pattern("join {room").unwrap_err().contains("unclosed"));
        assert!(pattern("join {}").unwrap_err().contains("empty capture"));
        assert!(pattern("{a}{b}").unwrap_err().contains("adjacent"));
        assert!(pattern("{a} {a}").unwrap_err().contains("twice"));
        assert!(pattern("a}").unwrap_err().contains("unmatched"));
        assert!(pattern("{a b}").unwrap_err().contains("not a capture name"));
    }

    #[test]
    fn suggestions() {
        assert!(unknown_message("on_txt").contains("`#[on_text]`?"));
        assert!(unknown_message("on_bin").contains("`#[on_binary]`?"));
        assert!(unknown_message("on_terminated").contains("`#[on_terminate]`?"));
    }
}
