//! Compatibility path: the driver moved to [`crate::reactor::driver`] (the
//! reactor layer, above the transports). Kept so callers outside `net`,
//! `pool` and the CLI still build; new code imports `crate::reactor::driver`.

pub use crate::reactor::driver::*;
