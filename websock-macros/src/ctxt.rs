//! Collects every error of one expansion, so a user with three mistakes sees three errors in
//! one build (the approach of serde_derive's `Ctxt`).

use proc_macro2::Span;
use quote::ToTokens;
use std::{cell::RefCell, fmt::Display};

#[derive(Default)]
pub(crate) struct Ctxt {
    errors: RefCell<Option<syn::Error>>,
}

impl Ctxt {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// An error spanning all of `tokens`.
    pub(crate) fn error_spanned(&self, tokens: impl ToTokens, message: impl Display) {
        self.syn_error(syn::Error::new_spanned(tokens, message));
    }

    pub(crate) fn syn_error(&self, error: syn::Error) {
        let mut errors = self.errors.borrow_mut();
        match errors.as_mut() {
            Some(errors) => errors.combine(error),
            None => *errors = Some(error),
        }
    }

    /// All the errors, if any.
    pub(crate) fn check(self) -> Result<(), syn::Error> {
        match self.errors.into_inner() {
            Some(errors) => Err(errors),
            None => Ok(()),
        }
    }
}

/// The line a span starts on, for messages that point at another handler.
pub(crate) fn line(span: Span) -> usize {
    span.start().line
}

/// Tokens as people write them, for messages: `Option<u32>`, not `Option < u32 >`.
pub(crate) fn pretty(tokens: impl ToTokens) -> String {
    let mut text = tokens.to_token_stream().to_string();
    for (from, to) in [
        (" < ", "<"),
        ("< ", "<"),
        (" <", "<"),
        (" >", ">"),
        (" ,", ","),
        (" :: ", "::"),
        (":: ", "::"),
        ("& ", "&"),
        ("( ", "("),
        (" )", ")"),
        ("[ ", "["),
        (" ]", "]"),
        (" : ", ": "),
        (" ;", ";"),
    ] {
        text = text.replace(from, to);
    }
    text
}
