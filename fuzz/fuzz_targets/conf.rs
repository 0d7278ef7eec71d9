#![no_main]
//! cargo fuzz target: see `pollmsgr::fuzzing::conf`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| pollmsgr::fuzzing::conf(data));
