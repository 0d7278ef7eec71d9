//! The READY data path: MESSAGE frames out and in, acknowledgements
//! (msgr2 reference sections 6 and 9).

use bytes::Bytes;

use super::connection::{frame_bytes, Connection, Event};
use super::error::ConnError;
use super::frame::Frame;
use super::message::{Message, HEADER2_FLAGS_USERLAND};
use super::session::InSeq;
use crate::wire::control::AckFrame;
use crate::wire::header2::MsgHeader2Repr;
use crate::wire::Tag;

impl Connection {
    pub(super) fn handle_message(&mut self, mut frame: Frame) -> Result<(), ConnError> {
        let header = MsgHeader2Repr::parse(&frame.segments[0])?;
        // ack_seq piggy-backs an ACK (reference 6).
        self.session.handle_ack(header.ack_seq)?;
        if self.session.receive_seq(header.seq)? == InSeq::Duplicate {
            return Ok(());
        }
        let [_, front, middle, data] = std::mem::take(&mut frame.segments);
        self.events.push_back(Event::Message(Message {
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

    /// Sends every queued message, then an ACK if the peer has not yet been
    /// told our `in_seq` (lossless sessions only).
    pub(super) fn flush_ready(&mut self) {
        if let Err(e) = self.try_flush_ready() {
            let now = self.last_now;
            self.fault(e, now);
        }
    }

    fn try_flush_ready(&mut self) -> Result<(), ConnError> {
        while let Some(mut msg) = self.session.out_queue.pop_front() {
            self.session.assign_seq(&mut msg);
            let header = MsgHeader2Repr {
                seq: msg.seq,
                tid: msg.tid,
                ty: msg.ty,
                priority: msg.priority,
                version: msg.version,
                data_pre_padding_len: 0,
                data_off: msg.data_off,
                ack_seq: self.session.in_seq,
                flags: HEADER2_FLAGS_USERLAND,
                compat_version: msg.compat_version,
                reserved: 0,
            };
            let head = frame_bytes(|o| header.emit(o));
            let Some(encoder) = self.t.encoder.as_mut() else {
                self.session.out_queue.push_front(msg);
                return Ok(());
            };
            let segments: [&[u8]; 4] = [&head, &msg.front, &msg.middle, &msg.data];
            // Large payloads go to the transport by reference (crc mode).
            self.t.tx.lend([
                None,
                Some(msg.front.clone()),
                Some(msg.middle.clone()),
                Some(msg.data.clone()),
            ]);
            let res = encoder.encode_to(Tag::Message, &segments, &mut self.t.tx);
            self.t.tx.lend(Default::default());
            if let Err(e) = res {
                self.session.out_queue.push_front(msg);
                return Err(e.into());
            }
            self.session.acked_in_seq = self.session.in_seq;
            if !self.session.lossy {
                self.session.sent.push_back(msg);
            }
        }
        if !self.session.lossy && self.session.in_seq > self.session.acked_in_seq {
            let ack = AckFrame {
                seq: self.session.in_seq,
            };
            self.send_control(Tag::Ack, &frame_bytes(|o| ack.emit(o)))?;
            self.session.acked_in_seq = self.session.in_seq;
        }
        Ok(())
    }
}
