#![no_main]
//! cargo fuzz target: see `pollmsgr::fuzzing::frame_rev1_secure`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| pollmsgr::fuzzing::frame_rev1_secure(data));
