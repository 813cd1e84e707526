//! The chat core's seam to file sharing, implemented over [`Files`].

use std::{sync::Arc, time::Duration};

use chat_ws::{
    files::{Attached, FileSharing, Upload},
    protocol::User,
};

use crate::{Files, Uploader};

/// Where uploads go (PROTOCOL.md).
const UPLOAD_URL: &str = "/files";

impl FileSharing for Files {
    fn upload(&self, user: &User, signed_in_for: Option<Duration>) -> Upload {
        let uploader = Uploader {
            id: user.id.to_string(),
            name: user.name.to_string(),
        };
        Upload {
            url: UPLOAD_URL,
            token: self.tokens().mint(&uploader, signed_in_for),
            max_bytes: self.config().max_bytes,
        }
    }

    fn attach(self: Arc<Self>, owner: Arc<str>, ids: Vec<Arc<str>>) -> Attached {
        Box::pin(async move {
            let ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
            match Files::attach(&self, &owner, &ids).await {
                Ok(json) => Ok(json.to_string()),
                Err(refusal) => Err(refusal.to_string()),
            }
        })
    }

    fn release(&self, files: &str) {
        self.release_later(files);
    }
}
