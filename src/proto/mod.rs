//! The sans-IO msgr2 connection: bytes and time in, bytes and events out.
pub mod frame;
