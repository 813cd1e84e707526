//! The scenarios. [`phase`] is the engine they share: one paced, measured window over a
//! connected fleet. [`fanout`] is one phase, [`ramp`] a series at rising rates, [`idle`]
//! only connects and weighs the server.

pub mod fanout;
pub mod idle;
pub mod phase;
pub mod ramp;
pub mod setup;
