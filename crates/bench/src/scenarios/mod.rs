//! The scenarios. [`phase`] is the engine they share: one paced, measured window over a
//! connected fleet. [`fanout`] is one phase, [`ramp`] a series at rising rates, [`idle`]
//! only connects and weighs the server. [`attack`] replays hostile clients and [`soak`] churns
//! connections for minutes, both watching the server's memory and descriptors ([`watch`]).

pub mod attack;
pub mod fanout;
pub mod idle;
pub mod phase;
pub mod ramp;
pub mod requests;
pub mod setup;
pub mod soak;
pub mod watch;
