//! Checks that look across methods: two handlers for the same message, fallbacks, info types.

use crate::{
    ast::{Handler, Method},
    attr::{Args, Kind, TextPattern},
    ctxt::{Ctxt, line},
};
use quote::ToTokens;
use std::collections::HashMap;

pub(crate) fn check(handler: &Handler<'_>, cx: &Ctxt) {
    // What each method matches, as a key: two methods with one key can't both be reached.
    let mut seen: HashMap<(Kind, String), &Method<'_>> = HashMap::new();
    let mut tag_field: Option<&Method<'_>> = None;
    for method in &handler.methods {
        if let Args::Tag { field, value } = &method.helper.args {
            check_tag_field(method, field, value, &mut tag_field, cx);
        }
        if let (Args::None, Kind::Info) = (&method.helper.args, method.kind()) {
            check_info(method, &mut seen, cx);
            continue;
        }
        let Some((key, duplicate)) = match_key(method) else {
            continue;
        };
        let key = (method.kind(), key);
        match seen.get(&key).filter(|first| !exclusive(first, method)) {
            Some(first) => report_duplicate(first, method, &duplicate, cx),
            None => {
                seen.insert(key, method);
            }
        }
    }
    check_json_error_reached(handler, cx);
}

/// An `#[on_json_error]` method must be reachable: from a tagged `#[on_json]` method with a
/// payload, or from an untagged one when no `#[on_text]` fallback takes the text instead.
fn check_json_error_reached(handler: &Handler<'_>, cx: &Ctxt) {
    let Some(hook) = handler.methods.iter().find(|m| m.kind() == Kind::JsonError) else {
        return;
    };
    let is = |pred: &dyn Fn(&Method<'_>) -> bool| handler.methods.iter().any(pred);
    let tagged = is(&|m| matches!(m.helper.args, Args::Tag { .. }) && m.value().is_some());
    let untagged = is(&|m| m.kind() == Kind::Json && matches!(m.helper.args, Args::None));
    let text_fallback = is(&|m| m.kind() == Kind::Text && matches!(m.helper.args, Args::None));
    if tagged || (untagged && !text_fallback) {
        return;
    }
    let why = if untagged {
        "the `#[on_text]` fallback receives the texts the untagged `#[on_json]` methods do not \
         parse; handle them there, or remove the fallback"
    } else {
        "it receives the payloads of `#[on_json]` methods that do not deserialize, and this impl \
         has no `#[on_json]` method with a payload parameter; add one, or remove this method"
    };
    cx.error_spanned(
        &hook.helper.attr,
        format!(
            "`#[on_json_error]` method `{}` is never called: {why}",
            hook.ident()
        ),
    );
}

/// What a method matches, as a key, and what to say when a second method has that key.
/// `None` for methods that cannot collide this way.
fn match_key(method: &Method<'_>) -> Option<(String, String)> {
    Some(match (&method.helper.args, method.kind()) {
        (Args::Text(TextPattern::Exact { value, .. }), _) => (
            format!("exact {value}"),
            "already handles this text and wins; remove one".to_owned(),
        ),
        (Args::Text(TextPattern::Captures { segments, .. }), _) => (
            format!("captures {segments:?}"),
            "has the same pattern and is tried first; remove one".to_owned(),
        ),
        (Args::None, Kind::Text) => (
            "fallback".to_owned(),
            "is already the `#[on_text]` fallback for every other text; keep one fallback \
             (merge the two methods)"
                .to_owned(),
        ),
        (Args::None, Kind::Binary) => (
            "fallback".to_owned(),
            "is already the `#[on_binary]` fallback for every other binary message; keep one \
             fallback (merge the two methods)"
                .to_owned(),
        ),
        (Args::Prefix { bytes, .. }, _) => (
            format!("prefix {bytes:?}"),
            "already handles this prefix and wins; remove one".to_owned(),
        ),
        (Args::Tag { value, .. }, _) => (
            format!("tag {}", value.value()),
            "already handles this tag and wins; remove one".to_owned(),
        ),
        (Args::None, Kind::Json) => {
            let value = method.value()?;
            (
                format!("json {}", crate::ctxt::pretty(value.ty)),
                "already parses this type and is tried first; remove one".to_owned(),
            )
        }
        (Args::None, kind) => (
            String::new(),
            format!("is already the `#[{}]` method; keep one", kind.name()),
        ),
    })
}

/// The tagged `#[on_json]` methods of one impl read one field.
fn check_tag_field<'h, 'a>(
    method: &'h Method<'a>,
    field: &syn::Ident,
    value: &syn::LitStr,
    tag_field: &mut Option<&'h Method<'a>>,
    cx: &Ctxt,
) {
    let Some(first) = tag_field else {
        *tag_field = Some(method);
        return;
    };
    let Args::Tag {
        field: first_field, ..
    } = &first.helper.args
    else {
        unreachable!()
    };
    if first_field != field {
        cx.error_spanned(
            field,
            format!(
                "`{}` selects by the field `{field}`, but `{}` (line {}) \
                 selects by `{first_field}`: the tagged `#[on_json]` methods of \
                 one impl read one field; write `{first_field} = {:?}`",
                method.helper.display(),
                first.ident(),
                line(first.ident().span()),
                value.value()
            ),
        );
    }
}

/// Each info type goes to one `#[on_info]` method (two under exclusive `#[cfg]`s are fine).
fn check_info<'h, 'a>(
    method: &'h Method<'a>,
    seen: &mut HashMap<(Kind, String), &'h Method<'a>>,
    cx: &Ctxt,
) {
    let Some(value) = method.value() else {
        return;
    };
    let key = (Kind::Info, value.ty.to_token_stream().to_string());
    if let Some(first) = seen.get(&key).filter(|first| !exclusive(first, method)) {
        cx.error_spanned(
            value.ty,
            format!(
                "`{}` already receives `{}` (line {}): each info type goes to one \
                 `#[on_info]` method; remove one, or wrap one of them in a new type",
                first.ident(),
                crate::ctxt::pretty(value.ty),
                line(first.ident().span())
            ),
        );
    } else {
        seen.insert(key, method);
    }
}

fn report_duplicate(first: &Method<'_>, method: &Method<'_>, duplicate: &str, cx: &Ctxt) {
    let attr = method.helper.display();
    let message = match &method.helper.args {
        Args::Text(TextPattern::Exact { .. })
        | Args::Text(TextPattern::Captures { .. })
        | Args::Prefix { .. }
        | Args::Tag { .. } => format!(
            "duplicate `{attr}`: `{}` (line {}) {duplicate}",
            first.ident(),
            line(first.ident().span())
        ),
        Args::None => format!(
            "a second `{attr}` method: `{}` (line {}) {duplicate}",
            first.ident(),
            line(first.ident().span())
        ),
    };
    cx.error_spanned(&method.helper.attr, message);
}

/// Two methods under `#[cfg]` may be exclusive (`feature = "a"` and `not(feature = "a")`):
/// rustc sees at most one of them, so they are not reported as duplicates.
fn exclusive(first: &Method<'_>, second: &Method<'_>) -> bool {
    first.cfgs().next().is_some() && second.cfgs().next().is_some()
}
