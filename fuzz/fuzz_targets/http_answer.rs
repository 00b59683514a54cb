//! Fuzz target `http_answer`: see `loopback_core::fuzz`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| loopback_core::fuzz::run("http_answer", data));
