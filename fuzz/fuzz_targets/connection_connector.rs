#![no_main]
//! cargo fuzz target: see `pollmsgr::fuzzing::connection_connector`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| pollmsgr::fuzzing::connection_connector(data));
