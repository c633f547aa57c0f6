//! Drives the compile-pass and compile-fail cases of `#[handler]` and `recv!()`.
//!
//! Update the `.stderr` snapshots with `TRYBUILD=overwrite cargo test -p easynet-ui-tests`.

use std::ffi::OsString;
use std::io::Write;
use std::process::Command;

/// The `rustc --version` prefix of the toolchain that wrote the `.stderr` snapshots.
const SNAPSHOT_TOOLCHAIN: &str = "rustc 1.95.";

/// The `rustc --version` line of the compiler trybuild will use (`$RUSTC`, else `rustc`
/// from `PATH`), or why it could not be read.
fn rustc_version() -> Result<String, String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"));
    let output = Command::new(&rustc)
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run `{} --version`: {e}", rustc.to_string_lossy()))?;
    if !output.status.success() {
        return Err(format!(
            "`{} --version` failed: {}",
            rustc.to_string_lossy(),
            output.status
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Says, past the test harness's capture, why the snapshots are not compared.
fn skip(reason: &str) {
    // Written to the real stderr, not through `eprintln!`, which the test harness
    // captures and hides for a passing test.
    let _ = writeln!(
        std::io::stderr(),
        "easynet-ui-tests: SKIPPED, the .stderr snapshots were not compared.\n\
         They were written by `{SNAPSHOT_TOOLCHAIN}x`, and rustc's diagnostics change between \
         versions; {reason}.\n\
         To move the suite to this toolchain: run TRYBUILD=overwrite cargo test -p \
         easynet-ui-tests, read every changed .stderr, and update SNAPSHOT_TOOLCHAIN in \
         tests/ui.rs."
    );
}

#[test]
fn handler() {
    match rustc_version() {
        Ok(version) if version.starts_with(SNAPSHOT_TOOLCHAIN) => {}
        Ok(version) => return skip(&format!("this toolchain is `{version}`")),
        Err(why) => return skip(&format!("the toolchain's version is unknown: {why}")),
    }
    let cases = trybuild::TestCases::new();
    cases.pass("tests/handler/pass/*.rs");
    cases.compile_fail("tests/handler/fail/*.rs");
}
