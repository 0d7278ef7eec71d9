#![no_main]
//! cargo fuzz target: see `pollmsgr::fuzzing::cephx`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| pollmsgr::fuzzing::cephx(data));
