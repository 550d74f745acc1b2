//! libFuzzer entry point: see [`tollgate_fuzz::region`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tollgate_fuzz::region(data));
