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
//! fn handle<'__easynet>(&'__easynet self, client: &'__easynet StreamClient<Self::Response>)
//!     -> ::easynet::__private::Handler<'__easynet, <Self as StreamRequestHandler>::Request>
//! {
//!     ::easynet::__private::Handler::new(move |__easynet_recv| {
//!         ::easynet::__private::finish::<Result<(), HandlerError>, _>(async move {
//!             let request = (__easynet_recv.recv(RecvParams::new(Some(30s))).await)?;
//!             ...
//!         })
//!     })
//! }
//! ```
//! Every `recv!()` written directly in the body (in loops, matches, other macros'
//! arguments too) is replaced by a suspension of the generator. One inside a closure, an
//! async block or a nested item cannot suspend the generator: it is reported, all of them
//! at once, and replaced by `unreachable!()` so that the rest of the function still
//! type-checks and the user sees one error per mistake.

use proc_macro2::{Delimiter, Group, Ident, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{Expr, FnArg, ItemFn, Macro, ReturnType, Stmt, Type};

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
                "`#[handler]` must be applied to an `async fn` of a `StreamRequestHandler` impl",
            );
            let err = err.to_compile_error();
            return quote!(#err #item);
        }
    };

    let signature_ok = check_signature(&function, &mut errors);
    let output = if signature_ok {
        let mut rewriter = Rewriter {
            errors: &mut errors,
        };
        rewriter.visit_block_mut(&mut function.block);
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
    let mut inputs = sig.inputs.iter();
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
            format!("a `#[handler]` fn takes `&self` as its first parameter: write `{SIGNATURE}`"),
        )),
        None => fail(syn::Error::new_spanned(
            &sig.inputs,
            format!("a `#[handler]` fn takes `&self` and the client: write `{SIGNATURE}`"),
        )),
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
    let output = match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => ty.to_token_stream(),
    };
    let recv = recv_ident();
    let block = &function.block;
    // Naming the request type here (not only in the return type) lets rustc infer the
    // type of `recv!()` before it type-checks the body.
    let generator = quote_spanned! {sig.span()=>
        ::easynet::__private::Handler::<
            '_,
            <Self as ::easynet::__private::StreamRequestHandler>::Request,
        >::new(move |#recv: ::easynet::__private::Recv<
            <Self as ::easynet::__private::StreamRequestHandler>::Request,
        >| {
            ::easynet::__private::finish::<#output, _>(async move #block)
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
    let client = quote! {
        _client: &#lifetime ::easynet::__private::StreamClient<
            <Self as ::easynet::__private::StreamRequestHandler>::Response,
        >
    };
    assemble(function, receiver, client, quote!(::core::unreachable!()))
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
            <Self as ::easynet::__private::StreamRequestHandler>::Request,
        >
    };
    if sig.ident == "on_connection" {
        let hidden = Ident::new("__on_connection_handler", sig.ident.span());
        return quote_spanned! {span=>
            #(#attrs)*
            #[allow(clippy::needless_lifetimes)]
            #vis fn #hidden<#lifetime>(#receiver, #client)
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
        #vis fn #ident<#lifetime>(#receiver, #client) -> #handler_ty {
            #generator
        }
    }
}

/// The hidden variable holding the generator's `Recv` handle. `mixed_site` hygiene makes
/// it invisible to the user's code.
fn recv_ident() -> Ident {
    Ident::new("__easynet_recv", Span::mixed_site())
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
/// generator's hidden handle, which `easynet::recv!` expands into a suspension. Going
/// through the user's own path keeps their `use easynet::recv` meaningful.
fn suspension(
    path: &syn::Path,
    args: TokenStream,
    span: Span,
    errors: &mut Option<syn::Error>,
) -> Expr {
    match syn::parse2::<RecvArgs>(args) {
        Ok(args) => {
            let args = args.suspend_args();
            let recv = recv_ident();
            syn::parse_quote_spanned! {span=>
                (#path!(@__easynet_suspend #recv, #args))
            }
        }
        Err(error) => {
            push(errors, error);
            unreachable_expr(span)
        }
    }
}

fn unreachable_expr(span: Span) -> Expr {
    syn::parse_quote_spanned!(span=> ::core::unreachable!())
}

/// Walks the handler body and replaces every `recv!()` that may suspend the generator.
struct Rewriter<'e> {
    errors: &'e mut Option<syn::Error>,
}

impl Rewriter<'_> {
    /// A visitor that reports every `recv!()` inside a closure, async block or nested
    /// item (`place`) and replaces each with `unreachable!()`.
    fn forbid<'s>(&'s mut self, place: &'s str) -> Misplaced<'s> {
        Misplaced {
            errors: self.errors,
            place,
        }
    }

    /// Rewrites `recv!` inside the tokens of another macro's invocation
    /// (`println!("{:?}", recv!())`, `assert_eq!(recv!()?, ...)`).
    fn rewrite_tokens(&mut self, tokens: TokenStream) -> TokenStream {
        let mut out = Vec::new();
        let mut iter = tokens.into_iter().peekable();
        while let Some(tree) = iter.next() {
            match tree {
                TokenTree::Ident(ident) if ident == "recv" => {
                    let mut lookahead = iter.clone();
                    let bang =
                        matches!(lookahead.next(), Some(TokenTree::Punct(p)) if p.as_char() == '!');
                    let group = match lookahead.next() {
                        Some(TokenTree::Group(g)) if bang => Some(g),
                        _ => None,
                    };
                    match group {
                        Some(group) => {
                            iter.next();
                            iter.next();
                            let span = ident.span().join(group.span()).unwrap_or(ident.span());
                            let path = syn::Path::from(ident.clone());
                            let expr = suspension(&path, group.stream(), span, self.errors);
                            out.extend(expr.into_token_stream());
                        }
                        None => out.push(TokenTree::Ident(ident)),
                    }
                }
                TokenTree::Group(group) => {
                    let mut rebuilt =
                        Group::new(group.delimiter(), self.rewrite_tokens(group.stream()));
                    rebuilt.set_span(group.span());
                    out.push(TokenTree::Group(rebuilt));
                }
                other => out.push(other),
            }
        }
        out.into_iter().collect()
    }
}

impl VisitMut for Rewriter<'_> {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        match expr {
            Expr::Macro(m) if is_recv(&m.mac) => {
                let span = m.mac.span();
                *expr = suspension(&m.mac.path, m.mac.tokens.clone(), span, self.errors);
            }
            Expr::Macro(m) => {
                m.mac.tokens = self.rewrite_tokens(m.mac.tokens.clone());
            }
            Expr::Closure(closure) => {
                self.forbid("a closure").visit_expr_closure_mut(closure);
            }
            Expr::Async(block) => {
                self.forbid("an `async` block").visit_expr_async_mut(block);
            }
            _ => visit_mut::visit_expr_mut(self, expr),
        }
    }

    fn visit_stmt_mut(&mut self, stmt: &mut Stmt) {
        if let Stmt::Macro(m) = stmt {
            if is_recv(&m.mac) {
                let span = m.mac.span();
                let expr = suspension(&m.mac.path, m.mac.tokens.clone(), span, self.errors);
                // `recv!();` as a statement: keep the semicolon (or its absence).
                let semi = m.semi_token.or_else(|| {
                    (m.mac.delimiter != syn::MacroDelimiter::Brace(Default::default()))
                        .then(Default::default)
                });
                *stmt = Stmt::Expr(expr, semi);
                return;
            }
            m.mac.tokens = self.rewrite_tokens(m.mac.tokens.clone());
            return;
        }
        visit_mut::visit_stmt_mut(self, stmt);
    }

    fn visit_item_mut(&mut self, item: &mut syn::Item) {
        self.forbid("a nested item").visit_item_mut(item);
    }
}

/// Finds `recv!()` where it cannot suspend the generator.
struct Misplaced<'e> {
    errors: &'e mut Option<syn::Error>,
    place: &'e str,
}

impl Misplaced<'_> {
    fn report(&mut self, mac: &Macro) -> Expr {
        let place = self.place;
        push(
            self.errors,
            syn::Error::new_spanned(
                mac,
                format!(
                    "`recv!()` cannot be used inside {place}: only the body of the \
                     `#[handler]` fn itself can wait for the next request; \
                     call `recv!()` there and pass the request in"
                ),
            ),
        );
        unreachable_expr(mac.span())
    }

    fn scan_tokens(&mut self, tokens: &TokenStream) {
        let trees: Vec<TokenTree> = tokens.clone().into_iter().collect();
        for (i, tree) in trees.iter().enumerate() {
            match tree {
                TokenTree::Ident(ident) if ident == "recv" => {
                    if let (Some(TokenTree::Punct(p)), Some(TokenTree::Group(g))) =
                        (trees.get(i + 1), trees.get(i + 2))
                        && p.as_char() == '!'
                        && g.delimiter() != Delimiter::None
                    {
                        let mac: Macro = syn::parse_quote_spanned!(ident.span()=> recv!());
                        let _ = self.report(&mac);
                    }
                }
                TokenTree::Group(g) => self.scan_tokens(&g.stream()),
                _ => {}
            }
        }
    }
}

impl VisitMut for Misplaced<'_> {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        match expr {
            Expr::Macro(m) if is_recv(&m.mac) => *expr = self.report(&m.mac.clone()),
            Expr::Macro(m) => self.scan_tokens(&m.mac.tokens),
            _ => visit_mut::visit_expr_mut(self, expr),
        }
    }

    fn visit_stmt_mut(&mut self, stmt: &mut Stmt) {
        if let Stmt::Macro(m) = stmt {
            if is_recv(&m.mac) {
                let expr = self.report(&m.mac.clone());
                *stmt = Stmt::Expr(expr, Some(Default::default()));
            } else {
                self.scan_tokens(&m.mac.tokens);
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
        assert!(out.contains(":: new (move |"), "{out}");
    }

    #[test]
    fn reports_recv_in_closures_and_async_blocks() {
        let out = expand_str(
            "async fn handle(&self, client: &StreamClient<Self::Response>) {
                let f = || recv!();
                let g = async { recv!() };
            }",
        );
        assert_eq!(out.matches("compile_error").count(), 2, "{out}");
        assert!(out.contains("inside a closure"), "{out}");
        assert!(out.contains("inside an `async` block"), "{out}");
    }

    #[test]
    fn wrong_signatures_give_a_stub_and_an_error() {
        let out = expand_str("fn handle(&self, client: &StreamClient<Self::Response>) {}");
        assert!(out.contains("must be applied to an `async fn`"), "{out}");
        assert!(out.contains("unreachable"), "{out}");
        let out = expand_str("async fn handle(self, client: StreamClient<R>) {}");
        assert!(
            out.contains("takes `&self` as its first parameter"),
            "{out}"
        );
        assert!(out.contains("taken by reference"), "{out}");
    }
}
