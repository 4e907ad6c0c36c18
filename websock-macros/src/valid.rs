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
        let attr = method.helper.display();
        let (key, duplicate) = match (&method.helper.args, method.kind()) {
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
            (Args::Tag { field, value }, _) => {
                match tag_field {
                    Some(first) => {
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
                                    "`{attr}` selects by the field `{field}`, but `{}` (line {}) \
                                     selects by `{first_field}`: the tagged `#[on_json]` methods of \
                                     one impl read one field; write `{first_field} = {:?}`",
                                    first.ident(),
                                    line(first.ident().span()),
                                    value.value()
                                ),
                            );
                        }
                    }
                    None => tag_field = Some(method),
                }
                (
                    format!("tag {}", value.value()),
                    "already handles this tag and wins; remove one".to_owned(),
                )
            }
            (Args::None, Kind::Json) => match method.value() {
                Some(value) => (
                    format!("json {}", crate::ctxt::pretty(value.ty)),
                    "already parses this type and is tried first; remove one".to_owned(),
                ),
                None => continue,
            },
            (Args::None, Kind::Info) => {
                let Some(value) = method.value() else {
                    continue;
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
                continue;
            }
            (Args::None, kind) => (
                String::new(),
                format!("is already the `#[{}]` method; keep one", kind.name()),
            ),
        };
        let key = (method.kind(), key);
        match seen.get(&key).filter(|first| !exclusive(first, method)) {
            Some(first) => {
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
            None => {
                seen.insert(key, method);
            }
        }
    }
}

/// Two methods under `#[cfg]` may be exclusive (`feature = "a"` and `not(feature = "a")`):
/// rustc sees at most one of them, so they are not reported as duplicates.
fn exclusive(first: &Method<'_>, second: &Method<'_>) -> bool {
    first.cfgs().next().is_some() && second.cfgs().next().is_some()
}
