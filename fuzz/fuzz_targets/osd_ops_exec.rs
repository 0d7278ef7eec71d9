#![no_main]
//! cargo fuzz target: see `pollmsgr::fuzzing::osd_ops_exec`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| pollmsgr::fuzzing::osd_ops_exec(data));
