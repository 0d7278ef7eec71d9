//! The client's tickets (Ceph `CephXTicketManager` / `CephXTicketHandler`,
//! `src/auth/cephx/CephxProtocol.cc`).
//!
//! One [`TicketStore`] per local entity is shared by its mon connection (which
//! fills it) and every connection to an OSD/MGR/MDS (which builds authorizers
//! from it). It is a cheap `Arc<Mutex<..>>` handle: this is the control path
//! only, touched once per connection setup or renewal.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::key::CryptoKey;
use super::types::{CephXTicketBlob, DecodedServiceTicket};
use super::{type_name, UTime};
use crate::wire::entity::AuthEntityName;

/// A ticket for one service, with its session key and lifetime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceTicket {
    /// The service (entity type, e.g. OSD = 4, AUTH = 0x20).
    pub service_id: u32,
    /// Shared with the service; keys the msgr2 signatures and secure mode.
    pub session_key: CryptoKey,
    /// Opaque ticket to present.
    pub ticket: CephXTicketBlob,
    /// Local time after which the ticket is unusable.
    pub expires: UTime,
    /// Local time after which it should be renewed (3/4 of the validity).
    pub renew_after: UTime,
}

impl ServiceTicket {
    /// Keeps a decoded ticket received at `now`
    /// (`CephXTicketHandler::verify_service_ticket_reply`).
    pub fn from_decoded(t: DecodedServiceTicket, now: UTime) -> Self {
        let validity = t.service_ticket.validity;
        let expires = now.saturating_add(validity);
        ServiceTicket {
            service_id: t.service_id,
            session_key: t.service_ticket.session_key,
            ticket: t.ticket,
            expires,
            renew_after: expires.saturating_sub(validity.quarter()),
        }
    }

    /// Whether it can still be used at `now`.
    pub fn is_valid(&self, now: UTime) -> bool {
        now < self.expires
    }

    /// Whether it should be renewed at `now`.
    pub fn needs_renewal(&self, now: UTime) -> bool {
        now >= self.renew_after
    }
}

#[derive(Debug)]
struct State {
    name: AuthEntityName,
    global_id: u64,
    tickets: BTreeMap<u32, ServiceTicket>,
}

/// Shared handle to one entity's tickets and global id.
#[derive(Debug, Clone)]
pub struct TicketStore {
    inner: Arc<Mutex<State>>,
}

impl TicketStore {
    /// An empty store for `name` (global id 0: none assigned yet).
    pub fn new(name: AuthEntityName) -> Self {
        TicketStore {
            inner: Arc::new(Mutex::new(State {
                name,
                global_id: 0,
                tickets: BTreeMap::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves the map consistent
        // (each update is one insert), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The entity whose tickets these are.
    pub fn name(&self) -> AuthEntityName {
        self.lock().name.clone()
    }

    /// The global id the mon assigned (0 if none yet).
    pub fn global_id(&self) -> u64 {
        self.lock().global_id
    }

    /// Records the global id the mon assigned.
    pub fn set_global_id(&self, global_id: u64) {
        self.lock().global_id = global_id;
    }

    /// The ticket for `service_id`, valid or not.
    pub fn get(&self, service_id: u32) -> Option<ServiceTicket> {
        self.lock().tickets.get(&service_id).cloned()
    }

    /// The ticket for `service_id` if it is still valid at `now`.
    pub fn valid(&self, service_id: u32, now: UTime) -> Option<ServiceTicket> {
        self.get(service_id).filter(|t| t.is_valid(now))
    }

    /// Bitmask of services among `mask` whose ticket is missing or due for
    /// renewal at `now` (`CephXTicketManager::validate_tickets` "need").
    pub fn need(&self, mask: u32, now: UTime) -> u32 {
        let s = self.lock();
        (0..32)
            .map(|b| 1u32 << b)
            .filter(|bit| mask & bit != 0)
            .filter(|bit| !matches!(s.tickets.get(bit), Some(t) if !t.needs_renewal(now)))
            .fold(0, |acc, bit| acc | bit)
    }

    /// Adds or replaces a ticket.
    pub fn insert(&self, ticket: ServiceTicket) {
        self.lock().tickets.insert(ticket.service_id, ticket);
    }

    /// Drops the ticket of `service_id`.
    pub fn invalidate(&self, service_id: u32) {
        self.lock().tickets.remove(&service_id);
    }

    /// Services held, with names, for logs (no key material).
    pub fn summary(&self) -> Vec<(&'static str, UTime)> {
        self.lock()
            .tickets
            .values()
            .map(|t| (type_name(t.service_id), t.expires))
            .collect()
    }
}
