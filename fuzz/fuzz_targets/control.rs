#![no_main]
//! cargo fuzz target: see `pollmsgr::fuzzing::control`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| pollmsgr::fuzzing::control(data));
