//! Parsing of the arguments of `recv!(...)`: nothing, or `timeout = <duration>`.
//!
//! A duration is a literal with a unit (`30s`, `500ms`, `1.5s`), which is checked and
//! converted here at compile time, or any expression giving a `Duration` or an
//! `Option<Duration>`, which is converted at run time through `easynet::__private`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Expr, Ident, Lit, Token};

/// The timeout argument of one `recv!()`, as the user wrote it.
pub(crate) enum Timeout {
    /// `recv!()`: wait as long as it takes.
    None,
    /// `recv!(timeout = 1.5s)`: a literal, already converted to nanoseconds.
    Literal { nanos: u64, span: Span },
    /// `recv!(timeout = some_expression)`.
    Expr(Box<Expr>),
}

/// The parsed arguments of `recv!(...)`.
pub(crate) struct RecvArgs {
    pub(crate) timeout: Timeout,
}

impl Parse for RecvArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut timeout: Option<(Ident, Timeout)> = None;
        while !input.is_empty() {
            let key: Ident = input.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "expected `timeout = <duration>`, as in `recv!(timeout = 30s)`",
                )
            })?;
            if key != "timeout" {
                return Err(syn::Error::new(
                    key.span(),
                    format!(
                        "unknown argument `{key}`; the only argument of `recv!` is `timeout`, \
                         as in `recv!(timeout = 30s)`"
                    ),
                ));
            }
            if let Some((first, _)) = &timeout {
                let mut err = syn::Error::new(key.span(), "`timeout` given more than once");
                err.combine(syn::Error::new(first.span(), "first given here"));
                return Err(err);
            }
            if !input.peek(Token![=]) {
                return Err(syn::Error::new(
                    key.span(),
                    "expected `timeout = <duration>`, as in `recv!(timeout = 30s)`",
                ));
            }
            input.parse::<Token![=]>()?;
            let value = parse_duration(input)?;
            timeout = Some((key, value));
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(RecvArgs {
            timeout: timeout.map_or(Timeout::None, |(_, t)| t),
        })
    }
}

/// Parses the value of `timeout = ...`.
fn parse_duration(input: ParseStream<'_>) -> syn::Result<Timeout> {
    if input.is_empty() || input.peek(Token![,]) {
        return Err(input.error("expected a duration such as `30s`, `500ms` or `1.5s`"));
    }
    // A literal is only taken as a duration literal when it is the whole value:
    // `timeout = 2 * base` is an expression.
    let fork = input.fork();
    if let Ok(lit) = fork.parse::<Lit>()
        && (fork.is_empty() || fork.peek(Token![,]))
    {
        match &lit {
            Lit::Int(_) | Lit::Float(_) => {
                input.parse::<Lit>()?;
                return literal_duration(&lit);
            }
            _ => {
                return Err(syn::Error::new(
                    lit.span(),
                    "expected a duration such as `30s`, `500ms` or `1.5s`, \
                     or an expression giving a `Duration` or an `Option<Duration>`",
                ));
            }
        }
    }
    Ok(Timeout::Expr(Box::new(input.parse()?)))
}

/// Converts `30s`, `500ms`, `1.5s` to nanoseconds, checking the unit.
fn literal_duration(lit: &Lit) -> syn::Result<Timeout> {
    let (digits, suffix) = match lit {
        Lit::Int(i) => (i.base10_digits().to_owned(), i.suffix().to_owned()),
        Lit::Float(f) => (f.base10_digits().to_owned(), f.suffix().to_owned()),
        _ => unreachable!("only called on numbers"),
    };
    let span = lit.span();
    let scale: f64 = match suffix.as_str() {
        "s" => 1e9,
        "ms" => 1e6,
        "" => {
            return Err(syn::Error::new(
                span,
                format!("missing unit: write `{digits}s` or `{digits}ms`"),
            ));
        }
        other => {
            return Err(syn::Error::new(
                span,
                format!("unknown unit `{other}`; expected `ms` or `s`"),
            ));
        }
    };
    let value: f64 = digits
        .parse()
        .map_err(|_| syn::Error::new(span, "invalid number in duration"))?;
    let nanos = (value * scale).round();
    if !nanos.is_finite() || nanos >= u64::MAX as f64 {
        return Err(syn::Error::new(span, "duration is too large"));
    }
    Ok(Timeout::Literal {
        nanos: nanos as u64,
        span,
    })
}

impl RecvArgs {
    /// The arguments of the internal form `recv!(@__easynet_suspend <handle>, ...)` that
    /// `easynet::recv!` expands into the actual suspension.
    pub(crate) fn suspend_args(&self) -> TokenStream {
        match &self.timeout {
            Timeout::None => quote!(none),
            Timeout::Literal { nanos, span } => {
                let nanos = proc_macro2::Literal::u64_unsuffixed(*nanos);
                quote_spanned!(*span=> nanos #nanos)
            }
            Timeout::Expr(expr) => quote_spanned!(expr.span()=> expr #expr),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> syn::Result<RecvArgs> {
        syn::parse_str(src)
    }

    fn nanos(src: &str) -> u64 {
        match parse(src).unwrap().timeout {
            Timeout::Literal { nanos, .. } => nanos,
            _ => panic!("not a literal: {src}"),
        }
    }

    #[test]
    fn literals_convert_at_compile_time() {
        assert_eq!(nanos("timeout = 30s"), 30_000_000_000);
        assert_eq!(nanos("timeout = 500ms"), 500_000_000);
        assert_eq!(nanos("timeout = 1.5s"), 1_500_000_000);
        assert_eq!(nanos("timeout = 0.25ms,"), 250_000);
    }

    #[test]
    fn empty_and_expressions() {
        assert!(matches!(parse("").unwrap().timeout, Timeout::None));
        assert!(matches!(
            parse("timeout = self.timeout").unwrap().timeout,
            Timeout::Expr(_)
        ));
        assert!(matches!(
            parse("timeout = 2 * base").unwrap().timeout,
            Timeout::Expr(_)
        ));
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let msg = |src: &str| parse(src).err().unwrap().to_string();
        assert_eq!(
            msg("timeout = 30min"),
            "unknown unit `min`; expected `ms` or `s`"
        );
        assert_eq!(msg("timeout = 30"), "missing unit: write `30s` or `30ms`");
        assert_eq!(
            msg("timeout = 1s, timeout = 2s"),
            "`timeout` given more than once"
        );
        assert!(msg("deadline = 1s").starts_with("unknown argument `deadline`"));
        assert!(msg("timeout").starts_with("expected `timeout = <duration>`"));
        assert!(msg("timeout = \"1s\"").starts_with("expected a duration"));
    }
}
