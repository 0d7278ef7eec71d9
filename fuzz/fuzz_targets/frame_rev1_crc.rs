#![no_main]
//! cargo fuzz target: see `pollmsgr::fuzzing::frame_rev1_crc`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| pollmsgr::fuzzing::frame_rev1_crc(data));
