//! What each backend makes of what its system said, as pure functions of recorded inputs, so
//! that they compile and are tested on every platform (the backends that call them compile on
//! their own system only).

pub mod macos;
pub mod windows;
