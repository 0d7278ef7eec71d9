//! Compatibility path: the reactor thread moved to [`crate::reactor`]. Kept
//! so callers outside `pool` and the CLI still build; new code imports
//! `crate::reactor`.

pub use crate::reactor::*;
