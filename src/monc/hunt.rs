//! The sans-IO part of monitor hunting: which monitor to try next, how long
//! to wait between rounds (backoff with jitter), which subscriptions to
//! renew on a new session and from which epoch, and the record of what each
//! monitor answered.
//!
//! Ceph sources: `src/mon/MonClient.cc` (`_reopen_session`, `_add_conns`,
//! `tick`: a hunt that finds no monitor waits `mon_client_hunt_interval`
//! times a multiplier that grows by `mon_client_hunt_interval_backoff` up to
//! `mon_client_hunt_interval_max_multiple`, and `_un_backoff` shrinks it
//! again after a session holds), `src/mon/MonSub.cc` (`got`, `reload`: a
//! renewed continuous subscription starts at the last epoch received + 1; a
//! satisfied one-time subscription is dropped), and the option defaults in
//! `src/common/options.cc`.
//!
//! Nothing here touches a socket or a clock: time is passed in, randomness
//! comes from the caller's generator.

use std::time::Duration;

use rand::Rng;

use crate::msg::subscribe::SUBSCRIBE_ONETIME;
use crate::msg::{MonMap, MonSubscribe, SubscribeItem};
use crate::wire::addr::{AddrType, EntityAddr};

/// How a client hunts for a monitor (Ceph's `mon_client_hunt_*` options).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HuntPolicy {
    /// Base wait between rounds that found no monitor, and how long one
    /// connection attempt may take before the next monitor is tried
    /// (`mon_client_hunt_interval`, 3 s).
    pub interval: Duration,
    /// Factor the wait grows by after each failed round
    /// (`mon_client_hunt_interval_backoff`, 1.5).
    pub backoff: f64,
    /// Smallest multiple of `interval` (`mon_client_hunt_interval_min_multiple`, 1).
    pub min_multiple: f64,
    /// Largest multiple of `interval` (`mon_client_hunt_interval_max_multiple`, 10).
    pub max_multiple: f64,
    /// Fraction of each wait that is random (0.5: a wait is between half
    /// and all of its nominal length), so clients that lost the same
    /// monitor do not all come back at the same instant.
    pub jitter: f64,
}

impl Default for HuntPolicy {
    fn default() -> Self {
        HuntPolicy {
            interval: Duration::from_secs(3),
            backoff: 1.5,
            min_multiple: 1.0,
            max_multiple: 10.0,
            jitter: 0.5,
        }
    }
}

/// The backoff state of one client: the current multiple of the interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    policy: HuntPolicy,
    multiple: f64,
}

impl Backoff {
    /// A fresh state at the policy's smallest multiple.
    pub fn new(policy: HuntPolicy) -> Self {
        Backoff {
            multiple: policy.min_multiple.max(0.0),
            policy,
        }
    }

    /// The current multiple of the interval.
    pub fn multiple(&self) -> f64 {
        self.multiple
    }

    /// How long one connection attempt may take at the current multiple.
    pub fn attempt_timeout(&self) -> Duration {
        self.policy.interval.mul_f64(self.multiple.max(0.0))
    }

    /// A round of attempts found no monitor: returns how long to wait
    /// before the next round (jittered), and grows the multiple.
    pub fn round_failed(&mut self, rng: &mut impl Rng) -> Duration {
        let nominal = self.policy.interval.mul_f64(self.multiple.max(0.0));
        let jitter = self.policy.jitter.clamp(0.0, 1.0);
        let factor = 1.0 - jitter * rng.gen::<f64>();
        self.multiple = (self.multiple * self.policy.backoff.max(1.0))
            .min(self.policy.max_multiple)
            .max(self.policy.min_multiple);
        nominal.mul_f64(factor)
    }

    /// A session was established: shrink the multiple one step (`_un_backoff`).
    pub fn succeeded(&mut self) {
        self.multiple = (self.multiple / self.policy.backoff.max(1.0))
            .max(self.policy.min_multiple)
            .min(self.policy.max_multiple);
    }
}

/// What one monitor answered during a hunt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonAttempt {
    /// The monitor.
    pub mon: EntityAddr,
    /// Connection attempts made.
    pub attempts: u32,
    /// Why the last one failed.
    pub last_error: String,
}

/// The attempts of one hunt, one entry per monitor, in the order first tried.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HuntLog {
    /// One entry per monitor tried.
    pub tried: Vec<MonAttempt>,
}

impl HuntLog {
    /// Records a failed attempt at `mon`.
    pub fn failed(&mut self, mon: EntityAddr, error: String) {
        match self.tried.iter_mut().find(|a| a.mon == mon) {
            Some(a) => {
                a.attempts = a.attempts.saturating_add(1);
                a.last_error = error;
            }
            None => self.tried.push(MonAttempt {
                mon,
                attempts: 1,
                last_error: error,
            }),
        }
    }
}

/// `mon1 (N attempts): error; mon2 (...): error`, for error messages.
pub fn describe_attempts(tried: &[MonAttempt]) -> String {
    if tried.is_empty() {
        return "no monitor was tried".into();
    }
    tried
        .iter()
        .map(|a| {
            format!(
                "{} ({} attempt{}): {}",
                a.mon,
                a.attempts,
                if a.attempts == 1 { "" } else { "s" },
                a.last_error
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The msgr2 addresses of a monmap's monitors, in rank order (monitors not
/// in `ranks` follow in name order), without duplicates.
pub fn monmap_v2_addrs(map: &MonMap) -> Vec<EntityAddr> {
    let mut out: Vec<EntityAddr> = Vec::new();
    let by_rank = map
        .ranks
        .iter()
        .filter_map(|name| map.mons.iter().find(|m| &m.name == name));
    let rest = map.mons.iter().filter(|m| !map.ranks.contains(&m.name));
    for info in by_rank.chain(rest) {
        for a in &info.public_addrs.0 {
            if a.ty == AddrType::Msgr2 && a.addr.is_some() && !out.contains(a) {
                out.push(*a);
            }
        }
    }
    out
}

/// The client's subscriptions and what it has received of each
/// (Ceph's `MonSub`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonSubs {
    subs: MonSubscribe,
}

impl MonSubs {
    /// Adds or replaces a subscription.
    pub fn want(&mut self, what: &str, start: u64, flags: u8) {
        self.subs.want(what, start, flags);
    }

    /// Adds every item of `sub` (and its hostname).
    pub fn want_all(&mut self, sub: &MonSubscribe) {
        for (what, item) in &sub.what {
            self.subs.want(what, item.start, item.flags);
        }
        if !sub.hostname.is_empty() {
            self.subs.hostname.clone_from(&sub.hostname);
        }
    }

    /// Epoch `have` of `what` arrived: a continuous subscription will start
    /// after it on the next session; a one-time one is done (`MonSub::got`).
    pub fn got(&mut self, what: &str, have: u64) {
        let Some(i) = self.subs.what.iter().position(|(n, _)| n == what) else {
            return;
        };
        let item: SubscribeItem = self.subs.what[i].1;
        if item.start > have {
            return;
        }
        if item.flags & SUBSCRIBE_ONETIME != 0 {
            self.subs.what.remove(i);
        } else {
            self.subs.what[i].1.start = have.saturating_add(1);
        }
    }

    /// The subscription item for `what`.
    pub fn get(&self, what: &str) -> Option<SubscribeItem> {
        self.subs.get(what)
    }

    /// True if there is nothing to subscribe to.
    pub fn is_empty(&self) -> bool {
        self.subs.what.is_empty()
    }

    /// The MMonSubscribe a new session sends (`MonSub::reload`).
    pub fn renewal(&self) -> MonSubscribe {
        self.subs.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::MonInfo;
    use crate::wire::addr::EntityAddrVec;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn backoff_grows_to_the_cap_with_jitter_and_shrinks_on_success() {
        let p = HuntPolicy::default();
        let mut b = Backoff::new(p);
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(b.attempt_timeout(), Duration::from_secs(3));
        let mut nominal = 3.0;
        for _ in 0..12 {
            let wait = b.round_failed(&mut rng).as_secs_f64();
            // Jitter 0.5: between half and all of the nominal wait.
            assert!(
                wait <= nominal + 1e-9 && wait >= nominal / 2.0 - 1e-9,
                "{wait} vs {nominal}"
            );
            nominal = (nominal * 1.5).min(30.0);
        }
        assert_eq!(b.multiple(), 10.0, "capped at max_multiple");
        b.succeeded();
        assert!((b.multiple() - 10.0 / 1.5).abs() < 1e-9);
        for _ in 0..20 {
            b.succeeded();
        }
        assert_eq!(b.multiple(), 1.0, "never below min_multiple");
    }

    #[test]
    fn renewed_subscriptions_start_after_the_last_epoch() {
        let mut s = MonSubs::default();
        s.want("osdmap", 0, 0);
        s.want("monmap", 3, SUBSCRIBE_ONETIME);
        s.got("osdmap", 41);
        s.got("osdmap", 40); // older: no change
        assert_eq!(s.get("osdmap").map(|i| i.start), Some(42));
        s.got("monmap", 2); // before the wanted start: still wanted
        assert!(s.get("monmap").is_some());
        s.got("monmap", 3); // one-time and satisfied: dropped
        assert!(s.get("monmap").is_none());
        s.got("config", 9); // not subscribed: ignored
        let r = s.renewal();
        assert_eq!(r.what.len(), 1);
        assert_eq!(r.get("osdmap").map(|i| i.start), Some(42));
    }

    #[test]
    fn attempts_are_kept_per_monitor_and_described() {
        let a: EntityAddr = "v2:127.0.0.1:3300/0".parse().unwrap();
        let b: EntityAddr = "v2:127.0.0.2:3300/0".parse().unwrap();
        let mut log = HuntLog::default();
        log.failed(a, "refused".into());
        log.failed(b, "reset".into());
        log.failed(a, "timed out".into());
        assert_eq!(log.tried.len(), 2);
        assert_eq!(log.tried[0].attempts, 2);
        assert_eq!(log.tried[0].last_error, "timed out");
        let text = describe_attempts(&log.tried);
        assert!(text.contains("127.0.0.1:3300"), "{text}");
        assert!(text.contains("(2 attempts): timed out"), "{text}");
        assert!(text.contains("(1 attempt): reset"), "{text}");
    }

    #[test]
    fn monmap_addresses_in_rank_order_v2_only() {
        let info = |name: &str, addrs: &[&str]| MonInfo {
            name: name.into(),
            public_addrs: EntityAddrVec(addrs.iter().map(|a| a.parse().unwrap()).collect()),
            priority: 0,
            weight: 0,
            crush_loc: Vec::new(),
        };
        let map = MonMap {
            mons: vec![
                info("a", &["v2:127.0.0.1:3300/0", "v1:127.0.0.1:6789/0"]),
                info("b", &["v2:127.0.0.2:3300/0"]),
                info("c", &["v1:127.0.0.3:6789/0"]),
            ],
            ranks: vec!["b".into(), "a".into(), "c".into()],
            ..MonMap::default()
        };
        let got: Vec<String> = monmap_v2_addrs(&map)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(got, ["v2:127.0.0.2:3300/0", "v2:127.0.0.1:3300/0"]);
    }
}
