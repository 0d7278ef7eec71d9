//! Workloads in turn on one objecter reactor: a client that runs several
//! commands (`rados bench` reads its metadata, runs, then cleans up) keeps
//! one objecter, its OSD sessions and its transport for all of them, which
//! a DPDK port needs (it cannot be opened twice in one process).

use std::time::Instant;

use crossbeam::channel::Sender;

use super::app::Workload;
use super::{Completion, ObjectRequest};

/// One workload and where it goes when it is done.
trait Turn: Send {
    fn workload(&mut self) -> &mut dyn Workload;
    fn workload_ref(&self) -> &dyn Workload;
    fn hand_back(self: Box<Self>);
}

struct Handed<W> {
    workload: W,
    back: Sender<W>,
}

impl<W: Workload> Turn for Handed<W> {
    fn workload(&mut self) -> &mut dyn Workload {
        &mut self.workload
    }

    fn workload_ref(&self) -> &dyn Workload {
        &self.workload
    }

    fn hand_back(self: Box<Self>) {
        // The caller may have given up waiting; the workload is then dropped.
        let _ = self.back.send(self.workload);
    }
}

/// A [`Workload`] that runs the workloads it is given one at a time and
/// sends each back, with its results, once it is done. It is done itself
/// only after [`Turns::close`], so its reactor outlives every turn.
#[derive(Default)]
pub struct Turns {
    current: Option<Box<dyn Turn>>,
    closing: bool,
}

impl Turns {
    /// No workload yet.
    pub fn new() -> Self {
        Turns::default()
    }

    /// Starts `workload`; it is sent on `back` once done. A workload still
    /// running is refused: the new one is returned.
    pub fn start<W: Workload>(&mut self, workload: W, back: Sender<W>) -> Result<(), W> {
        if self.current.is_some() || self.closing {
            return Err(workload);
        }
        self.current = Some(Box::new(Handed { workload, back }));
        self.hand_back_if_done();
        Ok(())
    }

    /// True while a workload runs.
    pub fn busy(&self) -> bool {
        self.current.is_some()
    }

    /// Takes no more workloads: done once the current one is.
    pub fn close(&mut self) {
        self.closing = true;
    }

    fn hand_back_if_done(&mut self) {
        if self
            .current
            .as_ref()
            .is_some_and(|t| t.workload_ref().done())
        {
            if let Some(t) = self.current.take() {
                t.hand_back();
            }
        }
    }
}

impl Workload for Turns {
    fn next_request(&mut self, now: Instant) -> Option<(ObjectRequest, u64)> {
        self.current.as_mut()?.workload().next_request(now)
    }

    fn peek_bytes(&self) -> usize {
        self.current
            .as_ref()
            .map_or(0, |t| t.workload_ref().peek_bytes())
    }

    fn complete(&mut self, completion: Completion, now: Instant) {
        if let Some(t) = self.current.as_mut() {
            t.workload().complete(completion, now);
        }
        self.hand_back_if_done();
    }

    fn done(&self) -> bool {
        self.closing && self.current.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Done after `left` completions; submits nothing.
    struct Count {
        left: u32,
    }

    impl Workload for Count {
        fn next_request(&mut self, _now: Instant) -> Option<(ObjectRequest, u64)> {
            None
        }
        fn complete(&mut self, _c: Completion, _now: Instant) {
            self.left -= 1;
        }
        fn done(&self) -> bool {
            self.left == 0
        }
    }

    fn completion() -> Completion {
        Completion {
            token: 0,
            tid: 1,
            submitted: Instant::now(),
            attempts: 1,
            result: Err(super::super::OpError::TimedOut(std::time::Duration::ZERO)),
        }
    }

    #[test]
    fn each_workload_comes_back_when_done_and_the_next_one_starts() {
        let now = Instant::now();
        let mut turns = Turns::new();
        let (tx, rx) = crossbeam::channel::bounded(1);
        assert!(turns.start(Count { left: 2 }, tx.clone()).is_ok());
        assert!(
            turns.start(Count { left: 1 }, tx.clone()).is_err(),
            "one at a time"
        );
        turns.complete(completion(), now);
        assert!(rx.try_recv().is_err() && turns.busy());
        turns.complete(completion(), now);
        assert_eq!(rx.try_recv().map(|c| c.left).ok(), Some(0));
        assert!(!turns.busy() && !turns.done(), "open until closed");
        // A workload with nothing to wait for comes back at once.
        assert!(turns.start(Count { left: 0 }, tx).is_ok());
        assert!(rx.try_recv().is_ok() && !turns.busy());
        turns.close();
        assert!(turns.done());
    }
}
