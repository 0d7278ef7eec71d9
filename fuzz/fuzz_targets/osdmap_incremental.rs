#![no_main]
//! cargo fuzz target: see `pollmsgr::fuzzing::osdmap_incremental`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| pollmsgr::fuzzing::osdmap_incremental(data));
