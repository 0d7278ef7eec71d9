//! Authentication: the sans-IO auth traits, auth none and cephx.
