//! The sans-IO msgr2 connection: bytes and time in, bytes and events out.
//!
//! [`Connection`] runs one msgr2 connection in either role; [`Session`]
//! holds what survives a reconnect; [`frame`] encodes and decodes frames in
//! all four formats. Nothing here touches a socket, a clock or a thread.

mod config;
mod connection;
mod error;
pub mod frame;
mod handshake;
mod ident;
mod message;
mod ready;
mod registry;
mod session;
#[cfg(test)]
mod tests;
mod tx;

pub use config::{ConnectionConfig, Policies, Policy};
pub use connection::{Connection, Established, Event, SessionDecision, SessionRequest};
pub use error::{ConnError, PeerIncompatible, PeerMisbehaved};
pub use message::{Message, HEADER2_FLAGS_USERLAND, PRIO_DEFAULT, PRIO_HIGH};
pub use registry::{Outgoing, SessionRegistry};
pub use session::{InSeq, Session};
