//! Shared helpers for pollmsgr benchmarks.
