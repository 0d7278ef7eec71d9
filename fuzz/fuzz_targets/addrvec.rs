#![no_main]
//! cargo fuzz target: see `pollmsgr::fuzzing::addrvec`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| pollmsgr::fuzzing::addrvec(data));
