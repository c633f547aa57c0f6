//! Fuzzes easynet's `base64_hmac` decoder: see `easynet_tests::fuzz`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    easynet_tests::fuzz::fuzz_decoder("base64_hmac", data);
});
