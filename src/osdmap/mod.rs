//! The cluster map a RADOS client places objects with: Ceph's hashes
//! ([`hash`], `src/common/ceph_hash.cc` and `src/crush/hash.c`) and the CRUSH
//! map with its rule evaluation ([`crush`], `src/crush/`), as Ceph 16.2
//! (Pacific) encodes and evaluates them.

pub mod crush;
pub mod hash;
