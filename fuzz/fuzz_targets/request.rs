//! libFuzzer entry point: see [`tollgate_fuzz::request`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tollgate_fuzz::request(data));
