//! The sans-IO part of the monitor client: the messages it sends after the
//! handshake (MAuth carrying a cephx request) and the renewal schedule.
//!
//! Nothing here touches a socket or a clock: `now` is passed in.

use crate::auth::cephx::mauth::{MAuth, MAuthReply};
use crate::auth::cephx::{TicketStore, UTime};
use crate::msg::types;
use crate::proto::Message;
use crate::wire::entity::EntityType;
use crate::wire::{DecodeError, Reader};

/// `MAuth` header version (`PaxosServiceMessage` default encoding version 1).
pub const MAUTH_HEAD_VERSION: u16 = 1;

/// Wraps a cephx request (`auth_payload`) in an MAuth message (type 17),
/// as `MonClient::_check_auth_rotating` / `_check_auth_tickets` do.
pub fn mauth_message(auth_payload: Vec<u8>, monmap_epoch: u32) -> Message {
    let mut front = Vec::with_capacity(auth_payload.len() + 40);
    MAuth::cephx(auth_payload, monmap_epoch).emit(&mut front);
    Message::new(types::AUTH, MAUTH_HEAD_VERSION, front)
}

/// Decodes the front of an MAuthReply (type 18). `None` if `m` is another type.
pub fn parse_mauth_reply(m: &Message) -> Option<Result<MAuthReply, DecodeError>> {
    if m.ty != types::AUTH_REPLY {
        return None;
    }
    Some(MAuthReply::parse(&mut Reader::new(&m.front, "MAuthReply")))
}

/// What a client must do to keep its tickets fresh (renew after 3/4 of the
/// validity, as `CephXTicketManager::validate_tickets` decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RenewalPlan {
    /// The AUTH ticket is missing or due: authenticate again (a new mon
    /// session, presenting the old ticket to reclaim the global id).
    pub reauthenticate: bool,
    /// Service tickets (bitmask of entity types) to renew with a
    /// `CEPHX_GET_PRINCIPAL_SESSION_KEY` MAuth request.
    pub services: u32,
}

impl RenewalPlan {
    /// True if nothing needs doing.
    pub fn is_empty(&self) -> bool {
        !self.reauthenticate && self.services == 0
    }
}

/// Which of `want_keys` (plus the AUTH ticket) need renewal at `now`.
pub fn renewal_plan(store: &TicketStore, want_keys: u32, now: UTime) -> RenewalPlan {
    RenewalPlan {
        reauthenticate: store.need(EntityType::Auth.service_id(), now) != 0,
        services: store.need(want_keys & !EntityType::Auth.service_id(), now),
    }
}

/// When the earliest of these tickets falls due for renewal (`None` if the
/// store holds none of them).
pub fn next_renewal(store: &TicketStore, want_keys: u32) -> Option<UTime> {
    let mask = want_keys | EntityType::Auth.service_id();
    (0..32)
        .map(|b| 1u32 << b)
        .filter(|bit| mask & bit != 0)
        .filter_map(|bit| store.get(bit).map(|t| t.renew_after))
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::cephx::mauth::{
        build_ticket_renewal_request, handle_ticket_renewal_reply, CEPH_MSG_AUTH,
    };
    use crate::auth::cephx::{
        fixed_clock, CephxMonClient, CephxTestMon, CryptoKey, Keyring, TestMonAuthority,
    };
    use crate::auth::{AuthClient, AuthServer, AuthServerStep};
    use crate::wire::entity::AuthEntityName;
    use crate::wire::ConMode;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    const T0: u32 = 1_700_000_000;

    /// Logs client.admin in to a test mon whose tickets live `mon_ttl` /
    /// `svc_ttl` seconds; returns the store and the authority.
    fn login(mon_ttl: u32, svc_ttl: u32) -> (TicketStore, TestMonAuthority) {
        let mut r = StdRng::seed_from_u64(5);
        let now = UTime::from_secs(T0);
        let admin = AuthEntityName::new(EntityType::Client, "admin");
        let key = CryptoKey::generate(&mut r, now);
        let mut ring = Keyring::new();
        ring.add_key(admin.clone(), key.clone());
        let auth = TestMonAuthority::new(ring, &mut r, now);
        auth.set_ticket_ttls(UTime::from_secs(mon_ttl), UTime::from_secs(svc_ttl));
        let store = TicketStore::new(admin);
        let clock = fixed_clock(now);
        let mut c = CephxMonClient::new(
            key,
            store.clone(),
            Box::new(StdRng::seed_from_u64(6)),
            clock.clone(),
        )
        .with_modes(vec![ConMode::Secure]);
        let mut s = CephxTestMon::new(auth.clone(), Box::new(StdRng::seed_from_u64(7)), clock);
        let req = c.request().expect("request");
        let AuthServerStep::More(ch) = s
            .handle_request(8, 2, ConMode::Secure, &req)
            .expect("challenge")
        else {
            panic!("the mon challenges first");
        };
        let proof = c.handle_reply_more(&ch).expect("proof");
        let AuthServerStep::Done { outcome, payload } =
            s.handle_request_more(&proof).expect("done")
        else {
            panic!("the mon answers the proof with AUTH_DONE");
        };
        c.handle_done(outcome.global_id, ConMode::Secure, &payload)
            .expect("tickets");
        (store, auth)
    }

    #[test]
    fn renewal_is_due_after_three_quarters_of_validity() {
        let (store, _) = login(400, 40);
        let want = EntityType::Mon.service_id() | EntityType::Osd.service_id();
        let t = |s| UTime::from_secs(T0 + s);
        assert!(renewal_plan(&store, want, t(0)).is_empty());
        assert!(renewal_plan(&store, want, t(29)).is_empty());
        // 3/4 of 40 s: both service tickets are due, the AUTH ticket (400 s) is not.
        let p = renewal_plan(&store, want, t(30));
        assert_eq!(p.services, want);
        assert!(!p.reauthenticate);
        assert_eq!(next_renewal(&store, want), Some(t(30)));
        // 3/4 of 400 s: the AUTH ticket needs a new authentication.
        assert!(renewal_plan(&store, want, t(300)).reauthenticate);
    }

    #[test]
    fn renewal_round_trip_extends_tickets() {
        let (store, auth) = login(400, 40);
        let want = EntityType::Osd.service_id();
        let old = store.get(EntityType::Osd.service_id()).expect("osd ticket");
        let now = UTime::from_secs(T0 + 31);
        let plan = renewal_plan(&store, want, now);
        assert_eq!(plan.services, EntityType::Osd.service_id());
        let mut rng = StdRng::seed_from_u64(9);
        let payload =
            build_ticket_renewal_request(&store, plan.services, &mut rng, now).expect("request");
        let msg = mauth_message(payload, 1);
        assert_eq!(msg.ty, CEPH_MSG_AUTH);
        // The test mon reads the MAuth the way the real one does.
        let m = MAuth::parse(&mut Reader::new(&msg.front, "MAuth")).expect("MAuth decodes");
        let result_bl = auth
            .handle_mauth(&store.name(), &m.auth_payload, &mut rng, now)
            .expect("mon answers");
        let reply = MAuthReply {
            protocol: 2,
            result: 0,
            global_id: store.global_id(),
            result_bl,
            result_msg: String::new(),
        };
        let mut front = Vec::new();
        reply.emit(&mut front);
        let back = parse_mauth_reply(&Message::new(types::AUTH_REPLY, 1, front))
            .expect("an MAuthReply")
            .expect("decodes");
        let renewed = handle_ticket_renewal_reply(&store, &back.result_bl, now).expect("renewed");
        assert_eq!(renewed, EntityType::Osd.service_id());
        let new = store.get(EntityType::Osd.service_id()).expect("osd ticket");
        assert_ne!(new.session_key, old.session_key, "a new session key");
        assert!(new.expires > old.expires);
        assert!(renewal_plan(&store, want, now).is_empty());
    }
}
