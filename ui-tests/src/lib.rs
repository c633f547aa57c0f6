//! Compile-pass and compile-fail tests of easynet's `#[handler]` attribute and `recv!()`
//! macro, run with [trybuild](https://docs.rs/trybuild).
//!
//! This crate has no code of its own: everything lives under `tests/`.
//!
//! ```text
//! tests/ui.rs                  the driver (trybuild::TestCases)
//! tests/handler/pass/*.rs      handler shapes of the how-to that must compile
//! tests/handler/fail/*.rs      one misuse per file, named after the misuse
//! tests/handler/fail/*.stderr  the expected diagnostics: easynet's own message
//! ```
//!
//! Every pass case is a complete program (`fn main`) that type-checks a
//! `StreamRequestHandler` impl and the bounds of `TcpServer::bind`; none of them opens a
//! socket. Every fail case has a committed `.stderr` snapshot that must show easynet's
//! message (from the macro, from `recv!`'s stand-in, or from a
//! `#[diagnostic::on_unimplemented]` note), not only a generic rustc error.
//!
//! # Running
//!
//! ```text
//! cargo test -p easynet-ui-tests
//! ```
//!
//! # Updating the snapshots
//!
//! After changing a diagnostic of `easynet-macros` or `easynet`, regenerate the `.stderr`
//! files, then read every changed one before committing it:
//!
//! ```text
//! TRYBUILD=overwrite cargo test -p easynet-ui-tests
//! ```
//!
//! # Toolchain
//!
//! rustc's diagnostics change from one compiler version to the next, so the snapshots are
//! only compared with the toolchain that wrote them (`rustc 1.95.x`, see
//! `SNAPSHOT_TOOLCHAIN` in `tests/ui.rs`). With any other `rustc` (the one named by the
//! `RUSTC` environment variable, or the one on `PATH`), the test prints why it compares
//! nothing and passes. When moving to a new toolchain, regenerate the snapshots with it and
//! update `SNAPSHOT_TOOLCHAIN` in the same change.
