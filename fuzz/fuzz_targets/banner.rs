#![no_main]
//! cargo fuzz target: see `pollmsgr::fuzzing::banner`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| pollmsgr::fuzzing::banner(data));
