#![no_main]
//! cargo fuzz target: see `pollmsgr::fuzzing::osd_op`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| pollmsgr::fuzzing::osd_op(data));
