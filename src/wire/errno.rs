//! Linux errno values, as Ceph carries them in replies (negative results).
//! Ceph encodes errors with the host's (Linux) numbers on the wire.

/// Operation not permitted.
pub const EPERM: i32 = 1;
/// No such object.
pub const ENOENT: i32 = 2;
/// No such device or address (Ceph: no such pool or PG).
pub const ENXIO: i32 = 6;
/// I/O error.
pub const EIO: i32 = 5;
/// Resource temporarily unavailable (retry).
pub const EAGAIN: i32 = 11;
/// Permission denied.
pub const EACCES: i32 = 13;
/// Already exists.
pub const EEXIST: i32 = 17;
/// Invalid argument.
pub const EINVAL: i32 = 22;
/// Object too large.
pub const EFBIG: i32 = 27;
/// No space left on device (the store is full).
pub const ENOSPC: i32 = 28;
/// Out of range.
pub const ERANGE: i32 = 34;
/// No such attribute (`ENOATTR`).
pub const ENODATA: i32 = 61;
/// Operation not supported.
pub const EOPNOTSUPP: i32 = 95;
/// Timed out.
pub const ETIMEDOUT: i32 = 110;
