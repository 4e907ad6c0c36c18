//! `#[channel("room:{id}")]`: an impl block becomes a Phoenix channel. The phases mirror
//! `#[websock_handler]`'s: `parse` (strip the helper attributes, a typed model of the methods,
//! per-method checks), `valid` (checks across methods), `expand` (code generation that cannot
//! fail) and a fallback when there were errors.

mod expand;
mod info;
mod parse;
mod valid;

pub(crate) use expand::expand;
