//! Session state that outlives one TCP connection (msgr2 reference section 9):
//! cookies, sequence numbers, and the queues that make lossless sessions lose,
//! duplicate and reorder nothing across reconnects.

use std::collections::VecDeque;

use super::error::PeerMisbehaved;
use super::message::Message;

/// What happened to a received message's sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InSeq {
    /// The next message in order: deliver it.
    Deliver,
    /// Already received before a reconnect: drop it silently.
    Duplicate,
}

/// The state of one msgr2 session.
#[derive(Debug, Default)]
pub struct Session {
    /// Our cookie (connector), or the peer's (acceptor). 0 when lossy.
    pub client_cookie: u64,
    /// The acceptor's cookie; 0 until SERVER_IDENT, and when lossy.
    pub server_cookie: u64,
    /// Global seq of the current connection attempt (connector) or the peer's (acceptor).
    pub global_seq: u64,
    /// The peer's global seq as last seen in its IDENT or RECONNECT.
    pub peer_global_seq: u64,
    /// Reconnect attempts of this session (0 for a new session).
    pub connect_seq: u64,
    /// Last sequence number assigned to an outgoing message.
    pub out_seq: u64,
    /// Last sequence number received in order.
    pub in_seq: u64,
    /// Highest `in_seq` we have told the peer about (ACK frame or ack_seq).
    pub acked_in_seq: u64,
    /// Messages waiting to be sent, in order; requeued ones keep their seq.
    pub out_queue: VecDeque<Message>,
    /// Sent but not yet acknowledged messages, oldest first (lossless only).
    pub sent: VecDeque<Message>,
    /// True if the acceptor's policy made this session lossy.
    pub lossy: bool,
}

impl Session {
    /// Checks a received message's seq against `in_seq` (reference section 6).
    ///
    /// A gap is a protocol error here, as in the kernel client: on a lossless
    /// session it means a message was lost, which must never pass silently.
    pub fn receive_seq(&mut self, seq: u64) -> Result<InSeq, PeerMisbehaved> {
        if seq <= self.in_seq {
            return Ok(InSeq::Duplicate);
        }
        if seq != self.in_seq + 1 {
            return Err(PeerMisbehaved::SeqGap {
                expected: self.in_seq + 1,
                got: seq,
            });
        }
        self.in_seq = seq;
        Ok(InSeq::Deliver)
    }

    /// Assigns the next seq to a new message (requeued messages keep theirs).
    pub fn assign_seq(&mut self, msg: &mut Message) {
        if msg.seq == 0 {
            self.out_seq += 1;
            msg.seq = self.out_seq;
        }
    }

    /// Drops every sent message with `seq <= acked` (ACK frame or ack_seq).
    pub fn handle_ack(&mut self, acked: u64) -> Result<(), PeerMisbehaved> {
        if acked > self.out_seq {
            return Err(PeerMisbehaved::AckFromFuture {
                acked,
                sent: self.out_seq,
            });
        }
        while self.sent.front().is_some_and(|m| m.seq <= acked) {
            self.sent.pop_front();
        }
        Ok(())
    }

    /// Moves unacknowledged messages back in front of the queue, same seqs and
    /// order, for replay after a reconnect (reference section 9).
    pub fn requeue_sent(&mut self) {
        while let Some(m) = self.sent.pop_back() {
            self.out_queue.push_front(m);
        }
    }

    /// Drops requeued messages the peer already has (`seq <= msg_seq`), after
    /// SESSION_RECONNECT / RECONNECT_OK told us its `in_seq`.
    pub fn discard_requeued_upto(&mut self, msg_seq: u64) {
        while self
            .out_queue
            .front()
            .is_some_and(|m| m.seq != 0 && m.seq <= msg_seq)
        {
            self.out_queue.pop_front();
        }
    }

    /// Forgets everything after a full reset: queues cleared of sent state,
    /// seqs and cookies zeroed. Queued-but-unsent messages stay, renumbered
    /// later, since they were never delivered under the old session.
    pub fn reset(&mut self) {
        self.sent.clear();
        self.out_queue.retain(|m| m.seq == 0);
        self.out_seq = 0;
        self.in_seq = 0;
        self.acked_in_seq = 0;
        self.server_cookie = 0;
        self.connect_seq = 0;
    }

    /// Starts a new session with the same peer after SESSION_RESET(full=false):
    /// cookies and seqs restart, and every unacknowledged or queued message is
    /// renumbered from 1, since the acceptor now expects seq 1.
    pub fn restart_numbering(&mut self) {
        self.requeue_sent();
        for m in self.out_queue.iter_mut() {
            m.seq = 0;
        }
        self.out_seq = 0;
        self.in_seq = 0;
        self.acked_in_seq = 0;
        self.server_cookie = 0;
        self.connect_seq = 0;
    }

    /// True if nothing is queued or awaiting acknowledgement.
    pub fn is_idle(&self) -> bool {
        self.out_queue.is_empty() && self.sent.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg() -> Message {
        Message::new(1, 1, &b"x"[..])
    }

    #[test]
    fn in_seq_delivers_in_order_drops_duplicates_rejects_gaps() {
        let mut s = Session::default();
        assert_eq!(s.receive_seq(1), Ok(InSeq::Deliver));
        assert_eq!(s.receive_seq(1), Ok(InSeq::Duplicate));
        assert_eq!(s.receive_seq(2), Ok(InSeq::Deliver));
        assert_eq!(
            s.receive_seq(4),
            Err(PeerMisbehaved::SeqGap {
                expected: 3,
                got: 4
            })
        );
    }

    #[test]
    fn requeue_keeps_seqs_and_order_and_ack_trims() {
        let mut s = Session::default();
        for _ in 0..3 {
            let mut m = msg();
            s.assign_seq(&mut m);
            s.sent.push_back(m);
        }
        s.handle_ack(1).unwrap();
        let mut fresh = msg();
        fresh.seq = 0;
        s.out_queue.push_back(fresh);
        s.requeue_sent();
        let seqs: Vec<u64> = s.out_queue.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, vec![2, 3, 0]);
        s.discard_requeued_upto(2);
        let seqs: Vec<u64> = s.out_queue.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, vec![3, 0]);
        assert!(s.handle_ack(9).is_err());
    }
}
