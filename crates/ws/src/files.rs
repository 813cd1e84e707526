//! The core's seam to file sharing (implemented by `chat-files`): the `upload` object of
//! `welcome`. The core never touches a file's bytes.

use std::{fmt, time::Duration};

use serde::Serialize;

use crate::protocol::User;

/// File sharing as the core sees it.
pub trait FileSharing: Send + Sync + fmt::Debug {
    /// `welcome.upload` for `user`, whose sign-in ends in `signed_in_for` (`None`: it lasts
    /// as long as the connection).
    fn upload(&self, user: &User, signed_in_for: Option<Duration>) -> Upload;
}

/// `welcome.upload`: where and with what token to upload, and the largest file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Upload {
    pub url: &'static str,
    pub token: String,
    pub max_bytes: u64,
}
