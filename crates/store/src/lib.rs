//! Message history behind `chat_ws::history::History`: where each room's messages get their
//! seq and are kept. The hub holds a `Box<dyn History>` and never learns which one it has.
//!
//! # Layout
//! - [`SqliteHistory`] (`sqlite/`): the durable default. One SQLite file in WAL mode; the writer
//!   commits each batch's messages in one transaction (`writer.rs`), retention deletes in steps
//!   between commits (`trim.rs`); recent messages are served from
//!   memory and older pages by indexed reads (`room.rs`), the rooms in memory within their
//!   byte budget, least recently used first (`rooms.rs`); a row of the `events` table becomes an
//!   event in one function, and the other way in the writer (`event.rs`, `writer.rs`); a change
//!   (edit, delete, react) is checked by `chat_ws::log::apply` when it is sequenced and its
//!   target's new state written over the target's row; the versioned schema and its migrations (`schema.rs`).
//! - [`MemoryHistory`] (`memory.rs`): everything in process memory, for tests and ephemeral
//!   deployments A change replaces its target's event there.
//! - `weight.rs`: what a message and a room cost in memory, for both histories' byte budget
//!   (`history.memory_bytes`): the SQLite cache sheds the least recently used rooms' committed
//!   messages (the file still has them), the memory history forgets them.
//! - `resend.rs`: the resend rule's index (a repeated client `id` among a room's last 1,000
//!   messages or the last 10 minutes), shared by both.
//!
//! # The guarantee
//! With the SQLite history, a message that any client has received (its echo or a broadcast)
//! survives `kill -9` of the server: it is committed to the database file before it is sent
//! to anyone. After a restart each room continues its seq where it stopped, and never reuses
//! one, even when retention has deleted all of the room's messages.
//!
//! This crate knows nothing of WebSockets, the hub's rooms or configuration files: it gets
//! sequenced messages and answers reads.

mod memory;
mod resend;
mod sqlite;
mod weight;

pub use memory::MemoryHistory;
pub use sqlite::{FileHealth, Fsync, OpenError, SqliteHistory, SqliteOptions};
