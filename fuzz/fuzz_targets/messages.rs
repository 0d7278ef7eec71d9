#![no_main]
//! cargo fuzz target: see `pollmsgr::fuzzing::messages`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| pollmsgr::fuzzing::messages(data));
