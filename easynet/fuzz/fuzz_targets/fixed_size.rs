//! Fuzzes easynet's `fixed_size` decoder: see `easynet_tests::fuzz`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    easynet_tests::fuzz::fuzz_decoder("fixed_size", data);
});
