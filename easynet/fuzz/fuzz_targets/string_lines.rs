//! Fuzzes easynet's `string_lines` decoder: see `easynet_tests::fuzz`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    easynet_tests::fuzz::fuzz_decoder("string_lines", data);
});
