//! libFuzzer entry point: see [`tollgate_fuzz::rules`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tollgate_fuzz::rules(data));
