//! The wire protocol of `PROTOCOL.md`: what clients send, what the server answers, and the
//! validation rules. Nothing outside this module builds or parses protocol JSON.

mod error_code;
mod event_wire;
mod frame;
mod inbound;
mod outbound;
mod room;
mod user;

pub use error_code::ErrorCode;
pub use event_wire::{EventsWire, MAX_ANSWER_BYTES, history_frame, keep_latest_within};
pub use frame::Frame;
pub(crate) use frame::whole_frames_len;
pub use inbound::{
    FrameError, MAX_CLIENT_ID_CHARS, MAX_FILES, Parsed, Request, SendFiles, parse_request,
};
pub use outbound::{Joined, Limits, PresenceEvent, ServerFrame};
pub use room::{RoomError, RoomName};
pub use user::{User, UserId, display_name};
