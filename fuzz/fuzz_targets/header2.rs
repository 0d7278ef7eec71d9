#![no_main]
//! cargo fuzz target: see `pollmsgr::fuzzing::header2`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| pollmsgr::fuzzing::header2(data));
