//! The sans-IO msgr2 connection: bytes and time in, bytes and events out.
//!
//! [`Connection`] runs one msgr2 connection in either role, with one API
//! (`handle_*` for input and timers, `poll_*` and `tx_pending` or `tx_fill`
//! for output)
//! over two parts, as Ceph's crimson splits `ProtocolV2` from its
//! `IOHandler`: the handshake (`handshake`: a connector and an acceptor
//! state enum whose variants carry their transcripts, auth outcome and
//! mode) and the READY part (`io`, which owns the frame codec and moves
//! messages, ACKs and keepalives). [`Session`] holds what survives a
//! reconnect and [`SessionRegistry`] what an acceptor decides with;
//! [`frame`] encodes and decodes frames in all four formats. Nothing here
//! touches a socket, a clock or a thread.

mod config;
mod connection;
mod error;
mod event;
pub mod frame;
#[cfg(test)]
mod frame_rx_tests;
mod handshake;
mod io;
mod link;
mod message;
mod phase;
mod registry;
mod reply_marks;
mod seal_run;
mod session;
#[cfg(test)]
mod tests;
mod tx;

pub use config::{ConnectionConfig, Policies, Policy};
pub use connection::Connection;
pub use error::{ConnError, PeerIncompatible, PeerMisbehaved};
pub use event::{Established, Event, SessionDecision, SessionRequest};
pub use message::{Message, HEADER2_FLAGS_USERLAND, PRIO_DEFAULT, PRIO_HIGH};
pub use registry::{Outgoing, SessionRegistry};
pub use seal_run::SealRun;
pub use session::{InSeq, Session};
