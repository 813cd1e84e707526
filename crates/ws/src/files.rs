//! The core's seam to file sharing (implemented by `chat-files`): the `upload` object of
//! `welcome`, the files a `send` names (resolved by the reader, before the hub sees the
//! send), and the files of a deleted message (handed back to be removed). The core never
//! touches a file's bytes.

use std::{fmt, future::Future, pin::Pin, sync::Arc, time::Duration};

use serde::Serialize;

use crate::protocol::User;

/// What resolving a `send`'s files gives: their JSON array for the `message`, or why not (a
/// `bad_request` message).
pub type Attached = Pin<Box<dyn Future<Output = Result<String, String>> + Send>>;

/// File sharing as the core sees it.
pub trait FileSharing: Send + Sync + fmt::Debug {
    /// `welcome.upload` for `user`, whose sign-in ends in `signed_in_for` (`None`: it lasts
    /// as long as the connection).
    fn upload(&self, user: &User, signed_in_for: Option<Duration>) -> Upload;

    /// The files `ids` of a `send` by `owner`: each must exist and be theirs. Marks them as
    /// referenced by a message.
    fn attach(self: Arc<Self>, owner: Arc<str>, ids: Vec<Arc<str>>) -> Attached;

    /// The files of a deleted message (its `files` JSON array), to be removed. Returns at
    /// once: the removal happens elsewhere.
    fn release(&self, files: &str);
}

/// `welcome.upload`: where and with what token to upload, and the largest file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Upload {
    pub url: &'static str,
    pub token: String,
    pub max_bytes: u64,
}
