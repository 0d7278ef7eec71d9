#![no_main]
//! cargo fuzz target: see `pollmsgr::fuzzing::caps`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| pollmsgr::fuzzing::caps(data));
