#![no_main]
//! cargo fuzz target: see `pollmsgr::fuzzing::frame_rev0_crc`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| pollmsgr::fuzzing::frame_rev0_crc(data));
