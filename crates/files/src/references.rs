//! What messages make of files: a `send` attaches its files (checked, then marked with a
//! `ref` object so the sweep keeps them), a deleted message releases them.

use std::sync::Arc;

use bytes::Bytes;

use crate::{
    FileId, FileMeta, Files,
    service::{AttachError, MAX_FILES_PER_MESSAGE, OpenError, REF},
};

impl Files {
    /// The files a `send` from `owner` names: each must exist and be `owner`'s. Marks each
    /// as referenced (the sweep keeps it) and returns the `files` array of the message, as
    /// JSON.
    pub async fn attach(&self, owner: &str, ids: &[String]) -> Result<Arc<str>, AttachError> {
        if ids.len() > MAX_FILES_PER_MESSAGE {
            return Err(AttachError::TooMany);
        }
        let metas = futures_util::future::join_all(ids.iter().map(|id| async move {
            let meta = match self.meta(id).await {
                Ok(meta) => meta,
                Err(OpenError::NotFound) => return Err(AttachError::Unknown(id.clone())),
                Err(OpenError::Failed(why)) => return Err(AttachError::Failed(why)),
            };
            if meta.owner != owner {
                return Err(AttachError::NotYours(id.clone()));
            }
            Ok(meta)
        }))
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
        for meta in &metas {
            let key = format!("{}/{REF}", meta.id);
            self.put_small(&key, Bytes::from_static(b"1"))
                .await
                .map_err(|e| AttachError::Failed(e.to_string()))?;
        }
        let objects: Vec<String> = metas.iter().map(FileMeta::to_json).collect();
        Ok(format!("[{}]", objects.join(",")).into())
    }

    /// Removes files `ids` (a deleted message's), whoever uploaded them.
    pub async fn release(&self, ids: &[String]) {
        for id in ids.iter().filter_map(|id| FileId::parse(id)) {
            self.remove(&id).await;
        }
    }

    /// Queues the files of `files`, a message's `files` JSON array, for removal by the
    /// sweep's task ([`Files::sweep_until`]); returns at once.
    pub fn release_later(&self, files: &str) {
        #[derive(serde::Deserialize)]
        struct Named {
            id: String,
        }
        match serde_json::from_str::<Vec<Named>>(files) {
            Ok(named) if !named.is_empty() => {
                let _ = self
                    .releases
                    .send(named.into_iter().map(|n| n.id).collect());
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "the files of a deleted message do not parse"),
        }
    }
}
