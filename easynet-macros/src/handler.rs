//! `#[handler]`: rewrites an `async fn` with `recv!()` points into an `easynet::Handler`.
//!
//! ```text
//! #[handler]
//! async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError> {
//!     let request = recv!(timeout = 30s)?;
//!     ...
//! }
//! ```
//! becomes
//! ```text
//! fn handle<'__easynet>(
//!     &'__easynet self,
//!     client: &'__easynet StreamClient<Self::Response>,
//!     __easynet_slot: &'__easynet RecvSlot<Self::Request>,
//! ) -> Handler<'__easynet, Self::Request,
//!              impl Future<Output = Result<(), HandlerError>> + Send + '__easynet>
//! {
//!     Handler::new(__easynet_slot, move |__easynet_recv: Recv<'_, _>| async move {
//!         <Result<(), HandlerError> as IntoHandlerResult>::into_handler_result(async move {
//!             '__easynet_recv_must_be_directly_in_the_handler_body: {
//!                 let request = recv!(@__easynet_suspend __easynet_recv
//!                     '__easynet_recv_must_be_directly_in_the_handler_body, nanos 30000000000)?;
//!                 ...
//!             }
//!         }.await)
//!     })
//! }
//! ```
//! (all paths through `::easynet::__private`). `easynet::recv!` expands its internal
//! `@__easynet_suspend` form into the generator's suspension; going through the user's
//! own path keeps their `use easynet::recv` used. The slot through which the server
//! hands requests over is one per connection, lent to each generator. A `#[handler]`
//! `on_connection` becomes the trait's hidden `__on_connection_handler` instead.
//!
//! Every `recv!()` written directly in the body (in loops, matches, other macros'
//! arguments too) is replaced by a suspension of the generator. One inside a closure, an
//! async block or a nested item cannot suspend the generator, and one with bad arguments
//! cannot be built: each is replaced in place by `recv!(@__easynet_error "..")`, which
//! the `recv!` stand-in expands to `compile_error!`. rustc reports it where the user wrote
//! it and checks nothing further in that expression, so each mistake gives one error.
//!
//! In another macro's invocation:
//! - every `recv!()` anywhere inside a macro that polls futures concurrently
//!   ([`CONCURRENT_MACROS`]: `tokio::join!`, `tokio::select!`, `futures::join!`...) is
//!   misplaced: two suspensions of one generator cannot be pending at once;
//! - other macros' tokens that parse as comma-separated expressions
//!   (`assert_eq!(recv!()?, x)`, `println!("{:?}", recv!())`) follow the body's rules, so
//!   a closure or an async block there is found as in the body;
//! - tokens that do not (a macro's own syntax, `vec![x; n]`) are cut at `,`, `;` and `=>`
//!   and each piece is parsed as an expression, or else scanned: `async {..}`,
//!   `async move {..}`, `|..|` starting a piece and `move |..|` are found there.
//!
//! Those checks only see the tokens the user wrote. A macro whose expansion puts its
//! argument inside a closure or an async block (`macro_rules! later { ($e:expr) => {
//! async move { $e } } }`, then `later!(recv!())`) is caught by rustc instead: the body is
//! labelled [`BODY_LABEL`] (hygienic, so user code cannot name it), and each suspension
//! contains `if false { loop { break 'label unreachable!() } }`, never taken. Labels are
//! unreachable through closures, async blocks and fns, so a suspension that ended up in
//! one is rejected with "use of unreachable label" and the label's name, which says what
//! is wrong, pointing at its `recv`. (The `loop` keeps rustc from also reporting a `break`
//! inside a closure or an async block; a plain closure still gets rustc's error for the
//! suspension's `.await` as well.)

use proc_macro2::{Delimiter, Group, Ident, Spacing, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{Expr, FnArg, ItemFn, Macro, ReturnType, Stmt, Token, Type};

use crate::recv_args::RecvArgs;

/// Entry point, on `proc_macro2` tokens so that it can be unit-tested.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors: Option<syn::Error> = None;
    if !args.is_empty() {
        push(
            &mut errors,
            syn::Error::new_spanned(&args, "`#[handler]` takes no arguments"),
        );
    }
    let mut function: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(_) => {
            let err = syn::Error::new(
                Span::call_site(),
                "`#[handler]` must be applied to an `async fn` of a `StreamRequestHandler` or `DatagramRequestHandler` impl",
            );
            let err = err.to_compile_error();
            return quote!(#err #item);
        }
    };

    let signature_ok = check_signature(&function, &mut errors);
    let output = if signature_ok {
        Rewriter.visit_block_mut(&mut function.block);
        generate(&function)
    } else {
        stub(&function)
    };
    let errors = errors.map(|e| e.to_compile_error());
    quote!(#errors #output)
}

fn push(errors: &mut Option<syn::Error>, error: syn::Error) {
    match errors {
        Some(e) => e.combine(error),
        None => *errors = Some(error),
    }
}

const SIGNATURE: &str =
    "async fn NAME(&self, client: &StreamClient<Self::Response>) -> Result<(), HandlerError>";

/// Checks `async fn name(&self, client: &T) [-> R]`, reporting every problem found.
fn check_signature(function: &ItemFn, errors: &mut Option<syn::Error>) -> bool {
    let sig = &function.sig;
    let mut found: Vec<syn::Error> = Vec::new();
    let mut fail = |error: syn::Error| found.push(error);
    if sig.asyncness.is_none() {
        fail(syn::Error::new_spanned(
            sig.fn_token,
            format!("`#[handler]` must be applied to an `async fn`: write `{SIGNATURE}`"),
        ));
    }
    if let Some(token) = &sig.constness {
        fail(syn::Error::new_spanned(
            token,
            "a `#[handler]` fn cannot be `const`",
        ));
    }
    if let Some(token) = &sig.unsafety {
        fail(syn::Error::new_spanned(
            token,
            "a `#[handler]` fn cannot be `unsafe`",
        ));
    }
    if let Some(abi) = &sig.abi {
        fail(syn::Error::new_spanned(
            abi,
            "a `#[handler]` fn cannot have an ABI",
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        fail(syn::Error::new_spanned(
            &sig.generics,
            "a `#[handler]` fn cannot have generic parameters or a where clause",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        fail(syn::Error::new_spanned(
            variadic,
            "a `#[handler]` fn cannot be variadic",
        ));
    }
    let mut inputs = sig.inputs.iter().peekable();
    // `async fn handle(client: &StreamClient<..>)`: the client is there, `&self` is not.
    let missing_self = matches!(
        inputs.peek(),
        Some(FnArg::Typed(first)) if matches!(*first.ty, Type::Reference(_))
    );
    if missing_self {
        fail(syn::Error::new_spanned(
            &sig.inputs,
            format!("a `#[handler]` fn takes `&self` before the client: write `{SIGNATURE}`"),
        ));
    } else {
        match inputs.next() {
            Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() => {
                if r.colon_token.is_some() {
                    fail(syn::Error::new_spanned(
                        r,
                        "a `#[handler]` fn takes its receiver as plain `&self`",
                    ));
                }
            }
            Some(other) => fail(syn::Error::new_spanned(
                other,
                format!(
                    "a `#[handler]` fn takes `&self` as its first parameter: write `{SIGNATURE}`"
                ),
            )),
            None => fail(syn::Error::new_spanned(
                &sig.inputs,
                format!("a `#[handler]` fn takes `&self` and the client: write `{SIGNATURE}`"),
            )),
        }
    }
    match inputs.next() {
        Some(FnArg::Typed(arg)) if matches!(*arg.ty, Type::Reference(_)) => {
            if let Type::Reference(r) = &*arg.ty
                && r.mutability.is_some()
            {
                fail(syn::Error::new_spanned(
                    &arg.ty,
                    "the client parameter is a shared reference: `&StreamClient<Self::Response>`",
                ));
            }
        }
        Some(other) => fail(syn::Error::new_spanned(
            other,
            "the second parameter of a `#[handler]` fn is the client, \
             taken by reference: `client: &StreamClient<Self::Response>`",
        )),
        None => fail(syn::Error::new_spanned(
            &sig.ident,
            format!(
                "a `#[handler]` fn takes the client as its second parameter: write `{SIGNATURE}`"
            ),
        )),
    }
    if let Some(extra) = inputs.next() {
        fail(syn::Error::new_spanned(
            extra,
            format!("a `#[handler]` fn takes exactly two parameters: write `{SIGNATURE}`"),
        ));
    }
    let ok = found.is_empty();
    for error in found {
        push(errors, error);
    }
    ok
}

/// The rewritten function, for a signature that passed `check_signature`.
fn generate(function: &ItemFn) -> TokenStream {
    let sig = &function.sig;
    let lifetime = lifetime();
    let mut inputs = sig.inputs.iter();
    let receiver = match inputs.next() {
        Some(FnArg::Receiver(r)) => {
            let self_token = &r.self_token;
            quote!(&#lifetime #self_token)
        }
        _ => unreachable!("checked"),
    };
    let client = match inputs.next() {
        Some(FnArg::Typed(arg)) => {
            let Type::Reference(reference) = &*arg.ty else {
                unreachable!("checked")
            };
            let mut reference = reference.clone();
            reference.lifetime = Some(lifetime.clone());
            let pat = &arg.pat;
            quote!(#pat: #reference)
        }
        _ => unreachable!("checked"),
    };
    let (output, output_span) = match &sig.output {
        ReturnType::Default => (quote!(()), sig.span()),
        ReturnType::Type(_, ty) => (ty.to_token_stream(), ty.span()),
    };
    // The body's value is converted by one call spanned on the return type: a wrong
    // return type is one error, there.
    let convert = quote_spanned!(output_span=>
        <#output as ::easynet::__private::IntoHandlerResult>::into_handler_result
    );
    let recv = recv_ident();
    let block = &function.block;
    let label = body_label(block.brace_token.span.open());
    let slot = slot_ident();
    // Naming the request type here (not only in the return type) lets rustc infer the
    // type of `recv!()` before it type-checks the body.
    let generator = quote_spanned! {sig.span()=>
        ::easynet::__private::Handler::<
            '_,
            Self::Request,
            _,
        >::new(#slot, move |#recv: ::easynet::__private::Recv<
            '_,
            Self::Request,
        >| {
            async move { #convert(async move { #label: #block }.await) }
        })
    };
    assemble(function, receiver, client, generator)
}

/// A function with the right signature whose body is never run: emitted when the user's
/// signature is wrong, next to the error, so that the impl still type-checks and the user
/// sees our message alone.
fn stub(function: &ItemFn) -> TokenStream {
    let lifetime = lifetime();
    let receiver = quote!(&#lifetime self);
    // The client type the user wrote decides the trait: a datagram handler's client is
    // a `DatagramClient`.
    let client = if names_datagram_client(function) {
        quote! {
            _client: &#lifetime ::easynet::__private::DatagramClient<Self::Response>
        }
    } else {
        quote! {
            _client: &#lifetime ::easynet::__private::StreamClient<Self::Response>
        }
    };
    // Name what the user's signature and body name, without type-checking the body, so
    // that their imports stay used and our error comes alone.
    let types = function.sig.inputs.iter().filter_map(|arg| match arg {
        FnArg::Typed(arg) => Some(&arg.ty),
        FnArg::Receiver(_) => None,
    });
    let output = match &function.sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => ty.to_token_stream(),
    };
    let mut paths = RecvPaths(Vec::new());
    paths.visit_block_mut(&mut function.block.clone());
    let paths = paths.0;
    let slot = slot_ident();
    let body = quote! {
        let _: ::core::marker::PhantomData<fn(#(#types),*) -> #output>;
        #(#paths!(@__easynet_unused);)*
        ::easynet::__private::Handler::new(#slot, |_| {
            ::core::future::ready(::core::result::Result::Ok(()))
        })
    };
    assemble(function, receiver, client, body)
}

/// Does the fn's second parameter name `DatagramClient` (a datagram handler's)?
fn names_datagram_client(function: &ItemFn) -> bool {
    function.sig.inputs.iter().any(|arg| match arg {
        FnArg::Typed(arg) => contains_ident(arg.ty.to_token_stream(), "DatagramClient"),
        FnArg::Receiver(_) => false,
    })
}

fn contains_ident(tokens: TokenStream, name: &str) -> bool {
    tokens.into_iter().any(|tree| match tree {
        TokenTree::Ident(ident) => ident == name,
        TokenTree::Group(group) => contains_ident(group.stream(), name),
        _ => false,
    })
}

/// The paths of the `recv!` calls of a body (`recv`, `easynet::recv`).
struct RecvPaths(Vec<TokenStream>);

impl VisitMut for RecvPaths {
    fn visit_macro_mut(&mut self, mac: &mut Macro) {
        if is_recv(mac) {
            self.0.push(mac.path.to_token_stream());
        } else if contains_recv(mac.tokens.clone()) {
            // `println!("{:?}", recv!())`: the user's `recv` import is named there.
            self.0.push(quote!(recv));
        }
    }
}

fn contains_recv(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|tree| match tree {
        TokenTree::Ident(ident) => ident == "recv",
        TokenTree::Group(group) => contains_recv(group.stream()),
        _ => false,
    })
}

/// Do the tokens call `recv!` (or `path::recv!`) anywhere? `rx.recv()` does not.
fn calls_recv(tokens: TokenStream) -> bool {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    trees.iter().enumerate().any(|(i, tree)| match tree {
        TokenTree::Ident(ident) => ident == "recv" && bang_group(&trees, i).is_some(),
        TokenTree::Group(group) => calls_recv(group.stream()),
        _ => false,
    })
}

fn lifetime() -> syn::Lifetime {
    syn::Lifetime::new("'__easynet", Span::call_site())
}

/// The generated method around `generator`, an expression of type `Handler`.
///
/// `handle` returns the generator. A generator `on_connection` (one that may `recv!()`)
/// becomes the trait's hidden `__on_connection_handler`, returning `Some(generator)`; the
/// plain `on_connection` then keeps its default and is not called.
fn assemble(
    function: &ItemFn,
    receiver: TokenStream,
    client: TokenStream,
    generator: TokenStream,
) -> TokenStream {
    let ItemFn {
        attrs, vis, sig, ..
    } = function;
    let lifetime = lifetime();
    let span = sig.span();
    let handler_ty = quote_spanned! {span=>
        ::easynet::__private::Handler<
            #lifetime,
            Self::Request,
            impl ::core::future::Future<
                Output = ::core::result::Result<(), ::easynet::__private::HandlerError>,
            > + ::core::marker::Send + #lifetime,
        >
    };
    let slot = slot_ident();
    let slot = quote_spanned! {span=>
        #slot: &#lifetime ::easynet::__private::RecvSlot<
            Self::Request,
        >
    };
    if sig.ident == "on_connection" {
        let hidden = Ident::new("__on_connection_handler", sig.ident.span());
        return quote_spanned! {span=>
            #(#attrs)*
            #[allow(clippy::needless_lifetimes)]
            #vis fn #hidden<#lifetime>(#receiver, #client, #slot)
                -> ::core::option::Option<#handler_ty>
            {
                ::core::option::Option::Some(#generator)
            }
        };
    }
    let ident = &sig.ident;
    quote_spanned! {span=>
        #(#attrs)*
        #[allow(clippy::needless_lifetimes)]
        #vis fn #ident<#lifetime>(#receiver, #client, #slot) -> #handler_ty {
            #generator
        }
    }
}

/// The hidden parameter through which the server hands requests to `recv!()`.
fn slot_ident() -> Ident {
    Ident::new("__easynet_slot", Span::mixed_site())
}

/// The hidden variable holding the generator's `Recv` handle. `mixed_site` hygiene makes
/// it invisible to the user's code.
fn recv_ident() -> Ident {
    Ident::new("__easynet_recv", Span::mixed_site())
}

/// The name of the label on the user's body, which every suspension names in a `break`
/// that is never taken. rustc rejects a `recv!()` that still ended up inside a closure
/// or an async block (another macro's expansion put it there) with "use of unreachable
/// label" and this name, which says what is wrong. The leading `_` keeps rustc's
/// `unused_labels` lint quiet for a body without `recv!()`.
const BODY_LABEL: &str = "'__easynet_recv_must_be_directly_in_the_handler_body";

/// The label on the user's body, or its use in one suspension, with the line and column
/// of `at`. `mixed_site` hygiene makes it invisible to the user's code.
fn body_label(at: Span) -> syn::Lifetime {
    syn::Lifetime::new(BODY_LABEL, Span::mixed_site().located_at(at))
}

/// Is this macro invocation `recv!`, `easynet::recv!` or `::easynet::recv!`?
fn is_recv(mac: &Macro) -> bool {
    let segments: Vec<String> = mac
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    match segments.as_slice() {
        [last] => last == "recv",
        [krate, last] => krate == "easynet" && last == "recv",
        _ => false,
    }
}

/// The expression that replaces one `recv!(args)`: the same macro, called with the
/// generator's hidden handle and the body's label, which `easynet::recv!` expands into a
/// suspension. Going through the user's own path keeps their `use easynet::recv`
/// meaningful, and works inside other macros' arguments
/// (`assert!(easynet::recv!().is_ok())`). `group` is the span of the user's `( .. )`, so
/// the new invocation keeps the span of the old one.
fn suspension(path: &TokenStream, args: TokenStream, group: Span) -> TokenStream {
    match syn::parse2::<RecvArgs>(args) {
        Ok(args) => {
            let args = args.suspend_args();
            let recv = recv_ident();
            // rustc's "use of unreachable label" points at the `recv` of `recv!(..)`.
            let name = path.clone().into_iter().last().map_or(group, |t| t.span());
            let label = body_label(name);
            let mut inner = Group::new(
                Delimiter::Parenthesis,
                quote!(@__easynet_suspend #recv #label, #args),
            );
            inner.set_span(group);
            quote_spanned!(group=> #path ! #inner)
        }
        // Reported in place: the call becomes `compile_error!`, an expression rustc does
        // not check further, so `recv!(timeout = 30min)?` gives one error.
        Err(error) => error_call(path, error),
    }
}

/// `path!(@__easynet_error "message")` for each message of `error`, spanned where the
/// error is: the `recv!` stand-in turns it into `compile_error!` in place. Going through
/// the user's path keeps their `use easynet::recv` used (no unused-import warning).
fn error_call(path: &TokenStream, error: syn::Error) -> TokenStream {
    let calls = error.into_iter().map(|e| {
        let span = e.span();
        let message = e.to_string();
        let path: TokenStream = path
            .clone()
            .into_iter()
            .map(|mut t| {
                t.set_span(span);
                t
            })
            .collect();
        quote_spanned!(span=> #path!(@__easynet_error #message))
    });
    quote!({ #(#calls);* })
}

/// The macros that run futures concurrently, by the last segment of their path (so that
/// `tokio::join!`, `::futures::join!` and an imported `join!` are all recognised):
/// `join!`, `try_join!` and `select!` of tokio and futures, futures' `select_biased!` and
/// `stream_select!`, and the names other crates give the same thing (`join_all!`,
/// `try_join_all!`, `select_all!`, `race!`). Two `recv!()` polled at once would both try
/// to suspend the one generator, so a `recv!()` anywhere inside one of these is an error,
/// including in a `select!` branch's body (which would work, but is not worth the rule's
/// exception).
const CONCURRENT_MACROS: &[&str] = &[
    "join",
    "try_join",
    "join_all",
    "try_join_all",
    "select",
    "select_biased",
    "select_all",
    "stream_select",
    "race",
];

/// Is `name` (a macro path's last segment) one of [`CONCURRENT_MACROS`]?
fn is_concurrent(name: &Ident) -> bool {
    CONCURRENT_MACROS.iter().any(|m| name == m)
}

/// The path of a macro as the user wrote it, for messages: `tokio::join`.
fn path_name(path: &syn::Path) -> String {
    let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    let leading = if path.leading_colon.is_some() {
        "::"
    } else {
        ""
    };
    format!("{leading}{}", segments.join("::"))
}

/// Walks the handler body and replaces every `recv!()` that may suspend the generator.
struct Rewriter;

impl Rewriter {
    /// A visitor that replaces every `recv!()` inside a closure, async block or nested
    /// item (`place`) with its error, reported in place.
    fn forbid(place: &str) -> Misplaced {
        Misplaced::inside(place)
    }

    /// Rewrites the `recv!` inside another macro's invocation: all of them are errors in
    /// a macro that runs futures concurrently; elsewhere, arguments that parse as
    /// expressions (`assert_eq!(recv!()?, x)`, `println!("{:?}", recv!())`) go through the
    /// same rules as the body, and other tokens are scanned.
    fn rewrite_macro(&mut self, mac: &mut Macro) {
        // Tokens without `recv!` stay exactly as written.
        if !calls_recv(mac.tokens.clone()) {
            return;
        }
        if let Some(last) = mac.path.segments.last()
            && is_concurrent(&last.ident)
        {
            let mut misplaced = Misplaced::concurrent(&path_name(&mac.path));
            mac.tokens = misplaced.rewrite_tokens(mac.tokens.clone());
            return;
        }
        let parser = Punctuated::<Expr, Token![,]>::parse_terminated;
        mac.tokens = match parser.parse2(mac.tokens.clone()) {
            Ok(mut args) => {
                for arg in &mut args {
                    self.visit_expr_mut(arg);
                }
                args.into_token_stream()
            }
            Err(_) => self.rewrite_tokens(mac.tokens.clone()),
        };
    }

    /// Rewrites `recv!` in tokens that are not a list of expressions (`vec![recv!()?; 2]`,
    /// a macro's own syntax). They are cut at `,`, `;` and `=>`; a piece that parses as an
    /// expression goes through the same rules as the body, any other is scanned by
    /// [`Rewriter::scan`].
    fn rewrite_tokens(&mut self, tokens: TokenStream) -> TokenStream {
        let trees: Vec<TokenTree> = tokens.into_iter().collect();
        let mut out = TokenStream::new();
        let mut start = 0;
        let mut i = 0;
        while i < trees.len() {
            let separator = match &trees[i] {
                TokenTree::Punct(p) if p.as_char() == ',' || p.as_char() == ';' => 1,
                TokenTree::Punct(p)
                    if p.as_char() == '='
                        && p.spacing() == Spacing::Joint
                        && matches!(trees.get(i + 1), Some(TokenTree::Punct(q)) if q.as_char() == '>') =>
                {
                    2
                }
                _ => 0,
            };
            if separator == 0 {
                i += 1;
                continue;
            }
            out.extend(self.rewrite_piece(&trees[start..i]));
            out.extend(trees[i..i + separator].iter().cloned());
            i += separator;
            start = i;
        }
        out.extend(self.rewrite_piece(&trees[start..]));
        out
    }

    /// One piece of [`Rewriter::rewrite_tokens`], between separators.
    fn rewrite_piece(&mut self, trees: &[TokenTree]) -> TokenStream {
        let tokens: TokenStream = trees.iter().cloned().collect();
        if !calls_recv(tokens.clone()) {
            return tokens;
        }
        match syn::parse2::<Expr>(tokens) {
            Ok(mut expr) => {
                self.visit_expr_mut(&mut expr);
                expr.into_token_stream()
            }
            Err(_) => self.scan(trees),
        }
    }

    /// Rewrites `recv!` in one piece of tokens that is not an expression. What is surely
    /// an async block, a closure or a concurrent macro is reported as such: `async {..}`
    /// and `async move {..}`; a closure starting the piece or after `move` (its body
    /// taken as the rest of the piece, or its `{..}` after `-> Type`); `join!(..)` and
    /// the others of [`CONCURRENT_MACROS`]. Any other `recv!(..)` becomes a suspension: if
    /// it is in fact inside a closure or an async block, rustc rejects it (see
    /// [`BODY_LABEL`]).
    fn scan(&mut self, trees: &[TokenTree]) -> TokenStream {
        let mut out = Vec::new();
        let mut i = 0;
        while i < trees.len() {
            match &trees[i] {
                TokenTree::Ident(ident) if ident == "recv" => {
                    if let Some(group) = bang_group(trees, i) {
                        let path = TokenTree::Ident(ident.clone()).into_token_stream();
                        out.extend(suspension(&path, group.stream(), group.span()));
                        i += 3;
                        continue;
                    }
                    out.push(trees[i].clone());
                }
                TokenTree::Ident(ident) if is_concurrent(ident) => {
                    if let Some(group) = bang_group(trees, i) {
                        let mut misplaced = Misplaced::concurrent(&scanned_path(trees, i));
                        out.extend(trees[i..i + 2].iter().cloned());
                        out.push(misplaced.rewrite_group(group));
                        i += 3;
                        continue;
                    }
                    out.push(trees[i].clone());
                }
                TokenTree::Ident(ident) if ident == "async" || ident == "move" => {
                    let mut next = i + 1;
                    if ident == "async" && is_ident(trees.get(next), "move") {
                        next += 1;
                    }
                    match trees.get(next) {
                        Some(TokenTree::Group(g)) if ident == "async" && is_brace(g) => {
                            out.extend(trees[i..next].iter().cloned());
                            out.push(Misplaced::inside("an `async` block").rewrite_group(g));
                            i = next + 1;
                            continue;
                        }
                        Some(TokenTree::Punct(p)) if p.as_char() == '|' => {
                            if let Some(end) = closure(trees, next, &mut out) {
                                i = end;
                                continue;
                            }
                            out.push(trees[i].clone());
                        }
                        _ => out.push(trees[i].clone()),
                    }
                }
                TokenTree::Punct(p) if p.as_char() == '|' && i == 0 => {
                    if let Some(end) = closure(trees, i, &mut out) {
                        i = end;
                        continue;
                    }
                    out.push(trees[i].clone());
                }
                TokenTree::Group(group) => {
                    let mut rebuilt =
                        Group::new(group.delimiter(), self.rewrite_tokens(group.stream()));
                    rebuilt.set_span(group.span());
                    out.push(TokenTree::Group(rebuilt));
                }
                other => out.push(other.clone()),
            }
            i += 1;
        }
        out.into_iter().collect()
    }
}

/// The `(..)` of `trees[i]! (..)`, if `trees[i]` starts a macro invocation.
fn bang_group(trees: &[TokenTree], i: usize) -> Option<&Group> {
    match (trees.get(i + 1), trees.get(i + 2)) {
        (Some(TokenTree::Punct(p)), Some(TokenTree::Group(g)))
            if p.as_char() == '!' && g.delimiter() != Delimiter::None =>
        {
            Some(g)
        }
        _ => None,
    }
}

/// The path ending at the identifier `trees[i]` (`tokio :: join`), for messages.
fn scanned_path(trees: &[TokenTree], i: usize) -> String {
    let is_colon = |t: &TokenTree| matches!(t, TokenTree::Punct(p) if p.as_char() == ':');
    let mut name = trees[i].to_string();
    let mut start = i;
    while start >= 2 && is_colon(&trees[start - 1]) && is_colon(&trees[start - 2]) {
        match start.checked_sub(3).map(|j| &trees[j]) {
            Some(TokenTree::Ident(segment)) => {
                name = format!("{segment}::{name}");
                start -= 3;
            }
            _ => {
                name = format!("::{name}");
                break;
            }
        }
    }
    name
}

fn is_ident(tree: Option<&TokenTree>, word: &str) -> bool {
    matches!(tree, Some(TokenTree::Ident(ident)) if ident == word)
}

fn is_brace(group: &Group) -> bool {
    group.delimiter() == Delimiter::Brace
}

/// If a closure's parameter list opens at `trees[bar]` (after `move` or `async move`,
/// which `out` already has), copies the closure to `out` with every `recv!` of its body
/// reported, and returns the index after it. Its body is the `{..}` after `-> Type`, or
/// else the rest of the piece (the piece ends where the closure must). `None`, and
/// nothing copied, when the closing `|` or the `{..}` after `->` is missing.
fn closure(trees: &[TokenTree], bar: usize, out: &mut Vec<TokenTree>) -> Option<usize> {
    let is_bar = |t: &TokenTree| matches!(t, TokenTree::Punct(p) if p.as_char() == '|');
    let close = bar + 1 + trees[bar + 1..].iter().position(is_bar)?;
    let mut misplaced = Misplaced::inside("a closure");
    let arrow = matches!(
        (trees.get(close + 1), trees.get(close + 2)),
        (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
            if a.as_char() == '-' && a.spacing() == Spacing::Joint && b.as_char() == '>'
    );
    if arrow {
        let brace = |(index, tree): (usize, &TokenTree)| match tree {
            TokenTree::Group(g) if is_brace(g) => Some((index, g.clone())),
            _ => None,
        };
        let (body, group) = trees.iter().enumerate().skip(close + 1).find_map(brace)?;
        out.extend(trees[bar..body].iter().cloned());
        out.push(misplaced.rewrite_group(&group));
        return Some(body + 1);
    }
    out.extend(trees[bar..=close].iter().cloned());
    let rest: TokenStream = trees[close + 1..].iter().cloned().collect();
    out.extend(misplaced.rewrite_tokens(rest));
    Some(trees.len())
}

impl VisitMut for Rewriter {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        match expr {
            Expr::Macro(m) if is_recv(&m.mac) => {
                let path = m.mac.path.to_token_stream();
                let group = m.mac.delimiter.span().join();
                let tokens = suspension(&path, m.mac.tokens.clone(), group);
                *expr = syn::parse2(tokens).expect("a macro call is an expression");
            }
            Expr::Macro(m) => self.rewrite_macro(&mut m.mac),
            Expr::Closure(closure) => {
                Self::forbid("a closure").visit_expr_closure_mut(closure);
            }
            Expr::Async(block) => {
                Self::forbid("an `async` block").visit_expr_async_mut(block);
            }
            _ => visit_mut::visit_expr_mut(self, expr),
        }
    }

    fn visit_stmt_mut(&mut self, stmt: &mut Stmt) {
        if let Stmt::Macro(m) = stmt {
            if is_recv(&m.mac) {
                let path = m.mac.path.to_token_stream();
                let group = m.mac.delimiter.span().join();
                let tokens = suspension(&path, m.mac.tokens.clone(), group);
                let expr: Expr = syn::parse2(tokens).expect("a macro call is an expression");
                // `recv!();` as a statement: keep the semicolon (or its absence).
                let semi = m.semi_token.or_else(|| {
                    (m.mac.delimiter != syn::MacroDelimiter::Brace(Default::default()))
                        .then(Default::default)
                });
                *stmt = Stmt::Expr(expr, semi);
                return;
            }
            self.rewrite_macro(&mut m.mac);
            return;
        }
        visit_mut::visit_stmt_mut(self, stmt);
    }

    fn visit_item_mut(&mut self, item: &mut syn::Item) {
        Self::forbid("a nested item").visit_item_mut(item);
    }
}

/// Finds `recv!()` where it cannot suspend the generator, and reports every one it finds.
struct Misplaced {
    message: String,
}

impl Misplaced {
    /// Inside a closure, an async block or a nested item (`place`).
    fn inside(place: &str) -> Self {
        Misplaced {
            message: format!(
                "`recv!()` cannot be used inside {place}: only the body of the \
                 `#[handler]` fn itself can wait for the next request; \
                 call `recv!()` there and pass the request in"
            ),
        }
    }

    /// Inside `name!(..)`, one of [`CONCURRENT_MACROS`].
    fn concurrent(name: &str) -> Self {
        let last = name.rsplit("::").next().unwrap_or(name);
        let branches = if last.contains("select") {
            " (its branches' bodies included)"
        } else {
            ""
        };
        Misplaced {
            message: format!(
                "`recv!()` cannot be used inside `{name}!`{branches}: it polls futures \
                 concurrently, and a handler waits for one request at a time; \
                 call `recv!()` before or after `{name}!` and pass the request in"
            ),
        }
    }

    /// The error, in place of the misplaced `recv!(..)` (`path` and `group` spans).
    fn report(&mut self, path: &TokenStream, group: Span) -> TokenStream {
        let message = &self.message;
        let mut inner = Group::new(Delimiter::Parenthesis, quote!(@__easynet_error #message));
        inner.set_span(group);
        quote_spanned!(group=> #path ! #inner)
    }

    fn rewrite_group(&mut self, group: &Group) -> TokenTree {
        let mut rebuilt = Group::new(group.delimiter(), self.rewrite_tokens(group.stream()));
        rebuilt.set_span(group.span());
        TokenTree::Group(rebuilt)
    }

    fn rewrite_tokens(&mut self, tokens: TokenStream) -> TokenStream {
        let trees: Vec<TokenTree> = tokens.into_iter().collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < trees.len() {
            match &trees[i] {
                TokenTree::Ident(ident) if ident == "recv" => {
                    if let Some(group) = bang_group(&trees, i) {
                        let path = TokenTree::Ident(ident.clone()).into_token_stream();
                        out.extend(self.report(&path, group.span()));
                        i += 3;
                        continue;
                    }
                    out.push(trees[i].clone());
                }
                TokenTree::Group(g) => out.push(self.rewrite_group(g)),
                other => out.push(other.clone()),
            }
            i += 1;
        }
        out.into_iter().collect()
    }
}

impl VisitMut for Misplaced {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        match expr {
            Expr::Macro(m) if is_recv(&m.mac) => {
                let path = m.mac.path.to_token_stream();
                let tokens = self.report(&path, m.mac.delimiter.span().join());
                *expr = syn::parse2(tokens).expect("a macro call is an expression");
            }
            Expr::Macro(m) => m.mac.tokens = self.rewrite_tokens(m.mac.tokens.clone()),
            _ => visit_mut::visit_expr_mut(self, expr),
        }
    }

    fn visit_stmt_mut(&mut self, stmt: &mut Stmt) {
        if let Stmt::Macro(m) = stmt {
            if is_recv(&m.mac) {
                let path = m.mac.path.to_token_stream();
                let tokens = self.report(&path, m.mac.delimiter.span().join());
                let expr = syn::parse2(tokens).expect("a macro call is an expression");
                *stmt = Stmt::Expr(expr, Some(Default::default()));
            } else {
                m.mac.tokens = self.rewrite_tokens(m.mac.tokens.clone());
            }
            return;
        }
        visit_mut::visit_stmt_mut(self, stmt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(src: &str) -> String {
        expand(TokenStream::new(), src.parse().unwrap()).to_string()
    }

    #[test]
    fn rewrites_every_recv_in_the_body() {
        let out = expand_str(
            "async fn handle(&self, client: &StreamClient<Self::Response>) -> Result<(), E> {
                let a = recv!()?;
                loop { let b = recv!(timeout = 1s); if b.is_err() { break; } }
                recv!();
                assert!(recv!().is_ok());
                Ok(())
            }",
        );
        assert_eq!(out.matches("@ __easynet_suspend").count(), 4, "{out}");
        assert!(!out.contains("compile_error"), "{out}");
        assert!(out.contains("into_handler_result"), "{out}");
    }

    #[test]
    fn reports_recv_in_closures_and_async_blocks() {
        let out = expand_str(
            "async fn handle(&self, client: &StreamClient<Self::Response>) {
                let f = || recv!();
                let g = async { recv!() };
            }",
        );
        assert_eq!(out.matches("@ __easynet_error").count(), 2, "{out}");
        assert!(out.contains("inside a closure"), "{out}");
        assert!(out.contains("inside an `async` block"), "{out}");
    }

    /// The body of a handler, expanded.
    fn expand_body(body: &str) -> String {
        expand_str(&format!(
            "async fn handle(&self, client: &StreamClient<Self::Response>) {{ {body} }}"
        ))
    }

    fn errors(out: &str) -> usize {
        out.matches("@ __easynet_error").count()
    }

    fn suspensions(out: &str) -> usize {
        out.matches("@ __easynet_suspend").count()
    }

    #[test]
    fn reports_every_recv_in_concurrent_macros() {
        let out = expand_body(
            "let (a, b) = tokio::join!(async { recv!() }, async { recv!() });
             let c = ::futures::try_join!(async { easynet::recv!() }, other());
             join!(async { recv!(timeout = 1s) });
             tokio::select! {
                 r = async { recv!() } => {}
                 () = sleep() => { let d = recv!(); }
             }",
        );
        assert_eq!(errors(&out), 6, "{out}");
        assert_eq!(suspensions(&out), 0, "{out}");
        assert!(out.contains("inside `tokio::join!`: it polls"), "{out}");
        assert!(out.contains("after `::futures::try_join!`"), "{out}");
        assert!(out.contains("inside `join!`"), "{out}");
        assert!(
            out.contains("inside `tokio::select!` (its branches' bodies included)"),
            "{out}"
        );
    }

    #[test]
    fn macros_without_recv_calls_keep_their_tokens() {
        let src = r#"println!("{:?} {}", rx.recv().await, x = | y | z);"#;
        let out = expand_body(src);
        let kept: TokenStream = src.parse().unwrap();
        assert!(out.contains(&kept.to_string()), "{out}");
        assert!(calls_recv(
            "a, easynet::recv!(timeout = 1s)".parse().unwrap()
        ));
        assert!(calls_recv("f(g[recv!()])".parse().unwrap()));
        assert!(!calls_recv("rx.recv(), recv, recv!".parse().unwrap()));
    }

    #[test]
    fn concurrent_macros_without_recv_are_left_alone() {
        let out = expand_body(
            "tokio::select! { v = rx.recv() => v, () = sleep() => {} }
             let r = recv!();",
        );
        assert_eq!(errors(&out), 0, "{out}");
        assert_eq!(suspensions(&out), 1, "{out}");
        assert!(out.contains("rx . recv ()"), "{out}");
    }

    #[test]
    fn other_macros_arguments_follow_the_body_rules() {
        let out = expand_body(
            r#"println!("{:?}", (0..2).map(|_| recv!()).count());
               assert!(identity(async move { recv!() }).await.is_ok());
               assert_eq!(recv!()?, 1, "message {}", recv!(timeout = 1s).is_ok());
               assert!(matches!(recv!(), Ok(_)));
               println!("{}", format!("{x:?}", x = tokio::join!(async { recv!() })));"#,
        );
        assert_eq!(errors(&out), 3, "{out}");
        assert_eq!(suspensions(&out), 3, "{out}");
        assert!(out.contains("inside a closure"), "{out}");
        assert!(out.contains("inside an `async` block"), "{out}");
        assert!(out.contains("inside `tokio::join!`"), "{out}");
    }

    #[test]
    fn tokens_that_are_not_expressions_are_scanned() {
        // `wait for ..` is a macro's own syntax: it does not parse as an expression.
        let cases = [
            (
                "run!(wait for async { recv!() })",
                "inside an `async` block",
            ),
            (
                "run!(wait for async move { recv!() })",
                "inside an `async` block",
            ),
            ("run!(call move |x| f(x, recv!()))", "inside a closure"),
            ("run!(call async move |x| recv!())", "inside a closure"),
            (
                "run!(wait for tokio::join!(async { recv!() }))",
                "inside `tokio::join!`",
            ),
            // Pieces cut at `;`, `,` and `=>` are parsed as expressions.
            ("vec![|| recv!(); 2]", "inside a closure"),
            (
                "run!(case x => |y| -> u8 { recv!() }, then)",
                "inside a closure",
            ),
            ("run!(|x| recv!() then more)", "inside a closure"),
        ];
        for (body, message) in cases {
            let out = expand_body(body);
            assert_eq!(errors(&out), 1, "{body}: {out}");
            assert_eq!(suspensions(&out), 0, "{body}: {out}");
            assert!(out.contains(message), "{body}: {out}");
        }
        let legal = [
            "vec![recv!()?; 2]",
            "run!(wait for recv!())",
            "run!(case x => recv!(), then)",
            // A lone `|`, or `->` without a block: not taken for closures.
            "run!(| then recv!())",
            "run!(|x| -> u8 then recv!())",
            // An expression after all: a bitwise or, not a closure.
            "run!(wait | x | recv!())",
            "run!(wait for a | recv!())",
        ];
        for body in legal {
            let out = expand_body(body);
            assert_eq!(errors(&out), 0, "{body}: {out}");
            assert_eq!(suspensions(&out), 1, "{body}: {out}");
        }
    }

    #[test]
    fn every_suspension_names_the_label_on_the_body() {
        let out = expand_body("let a = recv!(); run!(wait for recv!()); assert!(recv!().is_ok());");
        assert_eq!(suspensions(&out), 3, "{out}");
        // The definition, then one use per suspension.
        assert_eq!(out.matches(BODY_LABEL).count(), 4, "{out}");
        assert!(
            out.contains(&format!("async move {{ {BODY_LABEL} : {{")),
            "{out}"
        );
        assert!(
            out.contains(&format!(
                "@ __easynet_suspend __easynet_recv {BODY_LABEL} , none"
            )),
            "{out}"
        );
    }

    #[test]
    fn wrong_signatures_give_a_stub_and_an_error() {
        let out = expand_str("fn handle(&self, client: &StreamClient<Self::Response>) {}");
        assert!(out.contains("must be applied to an `async fn`"), "{out}");
        // The stub keeps the generated signature, so the impl still type-checks.
        assert!(out.contains("__easynet_slot"), "{out}");
        let out = expand_str("async fn handle(self, client: StreamClient<R>) {}");
        assert!(
            out.contains("takes `&self` as its first parameter"),
            "{out}"
        );
        assert!(out.contains("taken by reference"), "{out}");
    }
}
