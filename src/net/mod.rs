//! Transports that drive sans-IO connections over real byte streams.
pub mod kernel;
