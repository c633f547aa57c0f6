//! Fuzzes easynet's PROXY protocol header parser (`proxy_header`): see `easynet_tests::fuzz`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    easynet_tests::fuzz::fuzz_decoder("proxy_header", data);
});
