//! The `#[websock_handler]` attribute of [websock](https://docs.rs/websock); use it through
//! that crate, which re-exports it with the runtime the generated code needs.

#![allow(unreachable_pub)] // a proc-macro crate exports nothing but its macros

extern crate proc_macro;

mod ast;
mod attr;
mod ctxt;
mod expand;
mod fallback;
#[cfg(test)]
mod tests;
mod valid;

use proc_macro::TokenStream;

/// DOCS
#[proc_macro_attribute]
pub fn websock_handler(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(attr.into(), item.into()).into()
}
