//! The reactor layer: [`driver::Driver`] runs sans-IO msgr2 connections over
//! any [`Transport`], and a reactor is a thread pinned to a core that owns a
//! transport, a [`Driver`] and an application, and runs them to completion
//! with no locks on the data path (design: "reactor"; style card 7).
//!
//! Arrows point down only: the reactor uses `net` (the transports, below it)
//! and `proto`; `pool` (the messenger, above it) implements [`ReactorApp`].
//!
//! Other threads reach the reactor only through its mailbox: a crossbeam
//! channel of closures that run on the reactor thread between polls.

pub mod driver;
pub mod stats;

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel::{self, Receiver, Sender};

use crate::net::transport::Transport;
use crate::proto::Event;
use driver::{ConnId, Driver};

/// What runs on a reactor: it sets up listeners and connections, and
/// handles every connection event of its driver.
pub trait ReactorApp<T: Transport>: Send + 'static {
    /// Called once on the reactor thread before the loop.
    fn start(&mut self, driver: &mut Driver<T>, now: Instant) -> io::Result<()>;
    /// Called for each connection event.
    fn on_event(&mut self, driver: &mut Driver<T>, conn: ConnId, event: Event, now: Instant);
    /// Called after every poll; the place for periodic work.
    fn on_tick(&mut self, _driver: &mut Driver<T>, _now: Instant) {}
    /// Called once when the loop ends, with the driver's final state
    /// (counters an app reports, such as [`driver::Driver::stats`]).
    fn stopped(&mut self, _driver: &mut Driver<T>) {}
    /// True when the app has finished and the reactor may stop.
    fn finished(&self) -> bool {
        false
    }
}

/// A closure run on the reactor thread with its driver and app.
pub type Mail<T, A> = Box<dyn FnOnce(&mut Driver<T>, &mut A) + Send>;

pub use crate::net::transport::IdlePolicy;

/// A handle to a running reactor.
pub struct ReactorHandle<T: Transport, A> {
    mailbox: Sender<Mail<T, A>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<io::Result<A>>>,
}

impl<T: Transport, A: ReactorApp<T>> ReactorHandle<T, A> {
    /// Sends `f` to run on the reactor thread.
    pub fn post(&self, f: impl FnOnce(&mut Driver<T>, &mut A) + Send + 'static) -> bool {
        self.mailbox.send(Box::new(f)).is_ok()
    }

    /// Asks the reactor to stop after its current pass.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// True once the reactor thread has ended.
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Stops the reactor and returns its app.
    pub fn join(mut self) -> io::Result<A> {
        self.request_stop();
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("reactor thread panicked")),
            None => Err(io::Error::other("reactor already joined")),
        }
    }
}

/// Starts a reactor thread named `name`, pinned to `core` if given, that
/// builds its transport with `make_transport` on its own thread (device
/// queues and TAP descriptors belong to the thread that polls them).
pub fn spawn<T, A, F>(
    name: String,
    core: Option<usize>,
    idle: IdlePolicy,
    make_transport: F,
    app: A,
) -> io::Result<ReactorHandle<T, A>>
where
    T: Transport + 'static,
    A: ReactorApp<T>,
    F: FnOnce() -> io::Result<T> + Send + 'static,
{
    let (tx, rx) = channel::unbounded::<Mail<T, A>>();
    let stop = Arc::new(AtomicBool::new(false));
    let stop_in = Arc::clone(&stop);
    let thread = std::thread::Builder::new().name(name).spawn(move || {
        if let Some(core) = core {
            pin_to(core);
        }
        let transport = make_transport()?;
        run(Driver::with_transport(transport), app, &rx, &stop_in, idle)
    })?;
    Ok(ReactorHandle {
        mailbox: tx,
        stop,
        thread: Some(thread),
    })
}

/// Pins the calling thread to `core` (best effort: an absent core is ignored).
pub fn pin_to(core: usize) {
    if let Some(id) = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.id == core)
    {
        core_affinity::set_for_current(id);
    }
}

fn run<T: Transport, A: ReactorApp<T>>(
    mut driver: Driver<T>,
    mut app: A,
    mailbox: &Receiver<Mail<T, A>>,
    stop: &AtomicBool,
    idle: IdlePolicy,
) -> io::Result<A> {
    app.start(&mut driver, Instant::now())?;
    let wait = match idle {
        IdlePolicy::BusyPoll => Duration::ZERO,
        IdlePolicy::Sleep(d) => d,
    };
    while !stop.load(Ordering::Relaxed) && !app.finished() {
        while let Ok(mail) = mailbox.try_recv() {
            mail(&mut driver, &mut app);
        }
        let events = driver.poll_once(wait)?;
        let now = driver.now();
        // The app's work on a heavy peer's events (answering its requests)
        // is charged to the heavy share, like its reads: a flood's cost is
        // mostly in answering it. A connection's events come together, so
        // the clock is read once per run of them, not per message.
        let mut heavy_run: Option<(ConnId, Instant)> = None;
        for (conn, event) in events {
            if heavy_run.is_some_and(|(c, _)| c != conn) {
                driver.charge_heavy(heavy_run.take().map(|(_, t0)| t0));
            }
            if heavy_run.is_none() {
                heavy_run = driver.heavy_clock(conn).map(|t0| (conn, t0));
            }
            app.on_event(&mut driver, conn, event, now);
        }
        driver.charge_heavy(heavy_run.map(|(_, t0)| t0));
        app.on_tick(&mut driver, now);
    }
    app.stopped(&mut driver);
    Ok(app)
}
