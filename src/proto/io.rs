//! The READY part of a connection (msgr2 reference sections 6 and 9), as
//! crimson's `IOHandler` is to its `ProtocolV2`: it owns the frame codec
//! the handshake handed over and moves MESSAGE, ACK and KEEPALIVE2 frames
//! between the session's queues and the transport.

use bytes::Bytes;

use super::connection::Core;
use super::error::{ConnError, PeerMisbehaved};
use super::event::Event;
use super::frame::Frame;
use super::handshake::{frame_bytes, Codec};
use super::message::{Message, HEADER2_FLAGS_USERLAND};
use super::session::InSeq;
use super::tx::LEND_THRESHOLD;
use crate::wire::control::{AckFrame, Keepalive2AckFrame, Keepalive2Frame};
use crate::wire::header2::MsgHeader2Repr;
use crate::wire::utime::UTime;
use crate::wire::{ConMode, Tag};

/// Bytes a message frame adds to its segments, at most: preamble, header
/// segment, four segments' padding and crcs or tags, epilogue.
const FRAME_OVERHEAD_BOUND: usize = 256;

/// A READY transport: its codec and the mode it was negotiated in.
pub(super) struct Io {
    pub(super) codec: Codec,
    pub(super) mode: ConMode,
    /// The stamp of the latest KEEPALIVE2 not yet answered. KEEPALIVE2s
    /// received in one input are answered with one ACK carrying the latest
    /// stamp (as crimson's `next_keepalive_ack`): the peer only learns
    /// that we are alive as of that stamp, and a flood of keepalives cannot
    /// make us write one reply per frame.
    pub(super) keepalive_ack: Option<UTime>,
    /// The buffer each outgoing message's header segment is encoded in.
    pub(super) header_scratch: Vec<u8>,
}

impl Io {
    /// Handles one frame received while READY.
    pub(super) fn handle_frame(
        &mut self,
        core: &mut Core,
        tag: Tag,
        mut frame: Frame,
    ) -> Result<(), ConnError> {
        let res = self.dispatch(core, tag, &mut frame);
        // What is left (a message's header segment, a control frame's
        // payload) was only parsed: its buffer serves the next frame instead
        // of a fresh allocation per frame.
        self.codec.decoder.recycle(frame);
        res
    }

    /// Acts on one READY frame; the buffers it does not keep stay in `frame`.
    fn dispatch(&mut self, core: &mut Core, tag: Tag, frame: &mut Frame) -> Result<(), ConnError> {
        match tag {
            Tag::Message => handle_message(core, frame),
            Tag::Ack => {
                let ack = AckFrame::parse(&frame.segments[0])?;
                Ok(core.session.handle_ack(ack.seq)?)
            }
            Tag::Keepalive2 => {
                let k = Keepalive2Frame::parse(&frame.segments[0])?;
                self.keepalive_ack = Some(k.stamp);
                Ok(())
            }
            Tag::Keepalive2Ack => {
                let k = Keepalive2AckFrame::parse(&frame.segments[0])?;
                core.events
                    .push_back(Event::KeepaliveAck { stamp: k.stamp });
                Ok(())
            }
            tag => Err(PeerMisbehaved::unexpected(tag, "ready").into()),
        }
    }

    /// Encodes a control frame onto the transmit chain.
    pub(super) fn send_control(
        &mut self,
        core: &mut Core,
        tag: Tag,
        payload: &[u8],
    ) -> Result<(), ConnError> {
        core.send_control(&mut self.codec.encoder, None, tag, payload)
    }

    /// Answers the latest KEEPALIVE2, then sends every queued message, then
    /// an ACK if the peer has not yet been told our `in_seq` (lossless
    /// sessions only).
    pub(super) fn flush(&mut self, core: &mut Core) -> Result<(), ConnError> {
        if let Some(stamp) = self.keepalive_ack.take() {
            let ack = Keepalive2AckFrame { stamp };
            self.send_control(core, Tag::Keepalive2Ack, &frame_bytes(|o| ack.emit(o)))?;
        }
        let session = &mut core.session;
        let tx = &mut core.link.tx;
        let encoder = &mut self.codec.encoder;
        while let Some(mut msg) = session.out_queue.pop_front() {
            session.assign_seq(&mut msg);
            let header = MsgHeader2Repr {
                seq: msg.seq,
                tid: msg.tid,
                ty: msg.ty,
                priority: msg.priority,
                version: msg.version,
                data_pre_padding_len: 0,
                data_off: msg.data_off,
                ack_seq: session.in_seq,
                flags: HEADER2_FLAGS_USERLAND,
                compat_version: msg.compat_version,
                reserved: 0,
            };
            // Encoded into a buffer kept for it: no allocation per message.
            let head = &mut self.header_scratch;
            head.clear();
            header.emit(head);
            let segments: [&[u8]; 4] = [head, &msg.front, &msg.middle, &msg.data];
            // Large payloads go to the transport by reference (crc mode);
            // the rest is copied into one allocation.
            let copied = [&msg.front, &msg.middle, &msg.data]
                .into_iter()
                .map(|s| {
                    if s.len() >= LEND_THRESHOLD {
                        0
                    } else {
                        s.len()
                    }
                })
                .sum::<usize>();
            tx.expect(copied + FRAME_OVERHEAD_BOUND);
            tx.lend([
                None,
                Some(msg.front.clone()),
                Some(msg.middle.clone()),
                Some(msg.data.clone()),
            ]);
            let res = encoder.encode_to(Tag::Message, &segments, tx);
            tx.lend(Default::default());
            let lent = tx.take_lent();
            if let Err(e) = res {
                session.out_queue.push_front(msg);
                return Err(e.into());
            }
            let payload = msg.payload_len() as u64;
            core.link.tx_payload += payload;
            core.link.tx_copied += payload.saturating_sub(lent);
            session.acked_in_seq = session.in_seq;
            if !session.lossy {
                session.sent.push_back(msg);
            }
        }
        if !core.session.lossy && core.session.in_seq > core.session.acked_in_seq {
            let ack = AckFrame {
                seq: core.session.in_seq,
            };
            self.send_control(core, Tag::Ack, &frame_bytes(|o| ack.emit(o)))?;
            core.session.acked_in_seq = core.session.in_seq;
        }
        Ok(())
    }
}

/// Queues the message `frame` carries; its header segment stays in `frame`.
fn handle_message(core: &mut Core, frame: &mut Frame) -> Result<(), ConnError> {
    let header = MsgHeader2Repr::parse(&frame.segments[0])?;
    // ack_seq piggy-backs an ACK (reference 6).
    core.session.handle_ack(header.ack_seq)?;
    if core.session.receive_seq(header.seq)? == InSeq::Duplicate {
        return Ok(());
    }
    let [_, front, middle, data] = &mut frame.segments;
    let [front, middle, data] = [front, middle, data].map(std::mem::take);
    core.events.push_back(Event::Message(Message {
        ty: header.ty,
        tid: header.tid,
        priority: header.priority,
        version: header.version,
        compat_version: header.compat_version,
        data_off: header.data_off,
        seq: header.seq,
        front: Bytes::from(front),
        middle: Bytes::from(middle),
        data: Bytes::from(data),
    }));
    Ok(())
}
