#![no_main]
//! cargo fuzz target: see `pollmsgr::fuzzing::crush_map`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| pollmsgr::fuzzing::crush_map(data));
