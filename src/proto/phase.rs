//! Where a connection is: a role (connector or acceptor) holding its
//! phase, handshake step, READY, faulted or closed. Every transition goes
//! through [`Phase::enter`].

use std::time::Instant;

use super::frame::FrameDecoder;
#[cfg(any(test, feature = "test-support"))]
use super::frame::FrameEncoder;
use super::handshake::acceptor::{Acceptor, AcceptorStep};
use super::handshake::connector::{Connector, ConnectorStep};
use super::handshake::{Step, Transcripts};
use super::io::Io;
use crate::wire::ConMode;

/// Where one role's connection is: in the handshake (the role's own step
/// enum), READY, waiting to reconnect, or finished.
// READY holds the codec inline, as the connection held it before: a box
// would cost a pointer chase on every frame, and the handshake steps that
// are moved hold a codec of the same size anyway.
#[allow(clippy::large_enum_variant)]
pub(super) enum Phase<H> {
    Handshake(H),
    Ready(Io),
    /// Transport gone; a lossless connector waits for backoff (or a message, in standby).
    Faulted {
        reconnect_at: Option<Instant>,
    },
    /// Final.
    Closed,
}

/// Where a connection is, whatever its role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    Handshake,
    Ready,
    Faulted { reconnect_at: Option<Instant> },
    Closed,
}

/// How a transport ends, whatever the role.
pub(super) enum End {
    Faulted { reconnect_at: Option<Instant> },
    Closed,
}

impl<H: Step> Phase<H> {
    /// Every transition of a connection goes through here.
    pub(super) fn enter(&mut self, next: Phase<H>) {
        *self = next;
    }

    /// Takes the handshake step out to consume it (the phase is `Closed`
    /// until the next [`Phase::enter`]); `None` outside the handshake.
    pub(super) fn take_step(&mut self) -> Option<H> {
        match std::mem::replace(self, Phase::Closed) {
            Phase::Handshake(step) => Some(step),
            other => {
                *self = other;
                None
            }
        }
    }

    pub(super) fn status(&self) -> Status {
        match self {
            Phase::Handshake(_) => Status::Handshake,
            Phase::Ready(_) => Status::Ready,
            Phase::Faulted { reconnect_at } => Status::Faulted {
                reconnect_at: *reconnect_at,
            },
            Phase::Closed => Status::Closed,
        }
    }

    pub(super) fn name(&self) -> &'static str {
        match self {
            Phase::Handshake(step) => step.name(),
            Phase::Ready(_) => "ready",
            Phase::Faulted { .. } => "faulted",
            Phase::Closed => "closed",
        }
    }

    pub(super) fn decoder(&self) -> Option<&FrameDecoder> {
        match self {
            Phase::Handshake(step) => step.codec().map(|c| &c.decoder),
            Phase::Ready(io) => Some(&io.codec.decoder),
            _ => None,
        }
    }

    pub(super) fn transcripts(&self) -> Option<&Transcripts> {
        match self {
            Phase::Handshake(step) => step.transcripts(),
            _ => None,
        }
    }

    pub(super) fn mode(&self) -> Option<ConMode> {
        match self {
            Phase::Handshake(step) => step.mode(),
            Phase::Ready(io) => Some(io.mode),
            _ => None,
        }
    }

    pub(super) fn end(&mut self, end: End) {
        self.enter(match end {
            End::Faulted { reconnect_at } => Phase::Faulted { reconnect_at },
            End::Closed => Phase::Closed,
        });
    }
}

/// The role, with its phase inside: a connector's handshake steps cannot
/// meet an acceptor's state.
pub(super) enum Role {
    Connector(Connector),
    Acceptor(Acceptor),
}

/// Runs `$body` with `$p` bound to the role's phase (whatever its step type).
macro_rules! with_phase {
    ($role:expr, $p:ident => $body:expr) => {
        match $role {
            Role::Connector(c) => {
                let $p = &c.phase;
                $body
            }
            Role::Acceptor(a) => {
                let $p = &a.phase;
                $body
            }
        }
    };
}

impl Role {
    pub(super) fn status(&self) -> Status {
        with_phase!(self, p => p.status())
    }

    pub(super) fn io_mut(&mut self) -> Option<&mut Io> {
        match self {
            Role::Connector(c) => match &mut c.phase {
                Phase::Ready(io) => Some(io),
                _ => None,
            },
            Role::Acceptor(a) => match &mut a.phase {
                Phase::Ready(io) => Some(io),
                _ => None,
            },
        }
    }

    pub(super) fn end(&mut self, end: End) {
        match self {
            Role::Connector(c) => c.phase.end(end),
            Role::Acceptor(a) => a.phase.end(end),
        }
    }

    /// A new transport: back to expecting the banner, with fresh transcripts.
    pub(super) fn restart(&mut self, log: Transcripts) {
        match self {
            Role::Connector(c) => c
                .phase
                .enter(Phase::Handshake(ConnectorStep::ExpectBanner { log })),
            Role::Acceptor(a) => a
                .phase
                .enter(Phase::Handshake(AcceptorStep::ExpectBanner { log })),
        }
    }

    pub(super) fn expects_banner(&self) -> bool {
        match self {
            Role::Connector(c) => matches!(&c.phase, Phase::Handshake(s) if s.expects_banner()),
            Role::Acceptor(a) => matches!(&a.phase, Phase::Handshake(s) if s.expects_banner()),
        }
    }

    pub(super) fn awaits_decision(&self) -> bool {
        match &self {
            Role::Connector(_) => false,
            Role::Acceptor(a) => matches!(&a.phase, Phase::Handshake(s) if s.awaits_decision()),
        }
    }

    /// The decoder and the received transcript (while recorded), to parse input.
    pub(super) fn rx_parts(&mut self) -> (Option<&mut FrameDecoder>, Option<&mut Vec<u8>>) {
        let (codec, log) = match self {
            Role::Connector(c) => match &mut c.phase {
                Phase::Handshake(s) => s.parts(),
                Phase::Ready(io) => (Some(&mut io.codec), None),
                _ => (None, None),
            },
            Role::Acceptor(a) => match &mut a.phase {
                Phase::Handshake(s) => s.parts(),
                Phase::Ready(io) => (Some(&mut io.codec), None),
                _ => (None, None),
            },
        };
        (codec.map(|c| &mut c.decoder), log.map(|l| &mut l.rx))
    }

    #[cfg(any(test, feature = "test-support"))]
    pub(super) fn encoder_mut(&mut self) -> Option<&mut FrameEncoder> {
        let codec = match self {
            Role::Connector(c) => match &mut c.phase {
                Phase::Handshake(s) => s.parts().0,
                Phase::Ready(io) => Some(&mut io.codec),
                _ => None,
            },
            Role::Acceptor(a) => match &mut a.phase {
                Phase::Handshake(s) => s.parts().0,
                Phase::Ready(io) => Some(&mut io.codec),
                _ => None,
            },
        };
        codec.map(|c| &mut c.encoder)
    }

    #[cfg(any(test, feature = "test-support"))]
    pub(super) fn decoder_mut(&mut self) -> Option<&mut FrameDecoder> {
        self.rx_parts().0
    }
}

pub(super) use with_phase;
