//! An [`Objecter`] on a reactor, driven by a [`Workload`]: the workload
//! says what to submit and takes the completions; new osdmaps arrive
//! through the reactor's mailbox ([`RadosApp::set_map`]).

use std::io;
use std::sync::Arc;
use std::time::Instant;

use super::{Completion, ObjectRequest, Objecter, Placement};
use crate::net::transport::Transport;
use crate::proto::Event;
use crate::reactor::driver::{ConnId, Driver};
use crate::reactor::ReactorApp;

/// What an application does with an objecter: produce requests, consume
/// completions, and say when it is done.
pub trait Workload: Send + 'static {
    /// The next request to submit now (with the token its completion
    /// carries), or `None` if there is nothing to submit at the moment.
    /// Called only while the objecter has room for `peek_bytes` more.
    fn next_request(&mut self, now: Instant) -> Option<(ObjectRequest, u64)>;
    /// Payload bytes of the request [`Workload::next_request`] would return
    /// (0 if unknown): lets the objecter's bytes budget hold it back.
    fn peek_bytes(&self) -> usize {
        0
    }
    /// A request finished.
    fn complete(&mut self, completion: Completion, now: Instant);
    /// True once the workload will submit nothing more and has every
    /// completion it waits for.
    fn done(&self) -> bool;
}

/// The reactor app: an objecter plus the workload that uses it.
pub struct RadosApp<W: Workload> {
    /// The objecter (public so a caller can read its stats after the run).
    pub objecter: Objecter,
    /// The workload (public for its results after the run).
    pub workload: W,
    finished: bool,
}

impl<W: Workload> RadosApp<W> {
    /// An app that starts submitting once the first map arrives.
    pub fn new(objecter: Objecter, workload: W) -> Self {
        RadosApp {
            objecter,
            workload,
            finished: false,
        }
    }

    /// A new osdmap (posted through the reactor's mailbox).
    pub fn set_map<T: Transport>(
        &mut self,
        driver: &mut Driver<T>,
        map: Arc<dyn Placement>,
        now: Instant,
    ) {
        self.objecter.handle_map(driver, map, now);
        self.pump(driver, now);
    }

    /// Hands completions to the workload and submits what it wants while
    /// the objecter has room.
    fn pump<T: Transport>(&mut self, driver: &mut Driver<T>, now: Instant) {
        loop {
            while let Some(c) = self.objecter.poll_completion() {
                self.workload.complete(c, now);
            }
            if self.objecter.epoch() == 0 || !self.objecter.has_room(self.workload.peek_bytes()) {
                return;
            }
            let Some((req, token)) = self.workload.next_request(now) else {
                return;
            };
            if self.objecter.submit(driver, req, token, now).is_err() {
                // has_room said yes; a request larger than it announced is
                // still never queued without bound.
                return;
            }
        }
    }
}

impl<T: Transport + 'static, W: Workload> ReactorApp<T> for RadosApp<W> {
    fn start(&mut self, driver: &mut Driver<T>, now: Instant) -> io::Result<()> {
        self.pump(driver, now);
        Ok(())
    }

    fn on_event(&mut self, driver: &mut Driver<T>, conn: ConnId, event: Event, now: Instant) {
        self.objecter.handle_event(driver, conn, event, now);
        self.pump(driver, now);
    }

    fn on_tick(&mut self, driver: &mut Driver<T>, now: Instant) {
        self.objecter.handle_tick(driver, now);
        self.pump(driver, now);
        if !self.finished && self.workload.done() && self.objecter.in_flight() == 0 {
            self.objecter.shutdown(driver);
            self.finished = true;
        }
    }

    fn finished(&self) -> bool {
        self.finished
    }
}
