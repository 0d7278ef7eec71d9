#![no_main]
//! cargo fuzz target: see `pollmsgr::fuzzing::monmap`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| pollmsgr::fuzzing::monmap(data));
