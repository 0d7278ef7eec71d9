#![no_main]
//! cargo fuzz target: see `pollmsgr::fuzzing::command`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| pollmsgr::fuzzing::command(data));
