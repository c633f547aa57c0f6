//! Procedural macros for [easynet](https://docs.rs/easynet).
//!
//! Do not depend on this crate directly: use `easynet::handler`, which re-exports the
//! attribute and pins this crate to the matching version. The generated code names only
//! items of `easynet::__private`, so it never depends on the user's imports.

mod handler;
mod recv_args;

use proc_macro::TokenStream;

/// Turns an `async fn` request handler with `recv!()` points into a resumable generator.
///
/// See `easynet::handler` for the full documentation; this crate is an implementation
/// detail of easynet.
#[proc_macro_attribute]
pub fn handler(args: TokenStream, item: TokenStream) -> TokenStream {
    handler::expand(args.into(), item.into()).into()
}
