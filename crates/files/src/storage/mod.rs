//! Where the bytes live: one small trait, two backends.

pub(crate) mod local;
pub(crate) mod s3;

use std::{fmt, io, ops::Range, pin::Pin, time::SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

/// A body on its way in or out, chunk by chunk. An upload's may borrow the request's body,
/// so that what is left of it can still be read (and thrown away) after a refusal.
pub type ByteStream<'a> = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("no such object")]
    NotFound,
    /// The body went past the limit [`Storage::put`] was given; nothing was kept.
    #[error("the body is larger than allowed")]
    TooLarge,
    #[error("storage failed: {0}")]
    Failed(String),
}

/// One stored file's top folder, as the sweep sees it.
#[derive(Debug, Clone)]
pub struct Listed {
    pub id: String,
    /// When anything under it last changed, as the backend knows.
    pub modified: SystemTime,
}

/// Keys are `<file id>/<object>`; the backends never see anything a client wrote.
#[async_trait]
pub trait Storage: Send + Sync + fmt::Debug {
    /// Stores `body` under `key`, reading it as it arrives and refusing it
    /// ([`StorageError::TooLarge`]) once it passes `limit` bytes. Nothing is visible under
    /// `key` until the whole body is there. Returns the size.
    async fn put(&self, key: &str, body: ByteStream<'_>, limit: u64) -> Result<u64, StorageError>;

    /// The object's bytes, or `range` of them (within its size).
    async fn get(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream<'static>, StorageError>;

    /// Removes `key`; one that is already gone is fine.
    async fn delete(&self, key: &str) -> Result<(), StorageError>;

    /// Up to `limit` file ids, in order, after `after`.
    async fn list(&self, after: Option<&str>, limit: usize) -> Result<Vec<Listed>, StorageError>;

    /// Removes what an interrupted write left behind (a temporary file), older than `age`.
    async fn clean_up(&self, _age: std::time::Duration) {}
}

/// The whole of a small object (metadata, a marker).
pub(crate) async fn read_all(
    storage: &dyn Storage,
    key: &str,
    limit: usize,
) -> Result<Vec<u8>, StorageError> {
    let mut stream = storage.get(key, None).await?;
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| StorageError::Failed(e.to_string()))?;
        if out.len() + chunk.len() > limit {
            return Err(StorageError::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The error a limited body ends with once it passes its limit.
#[derive(Debug, thiserror::Error)]
#[error("the body is larger than allowed")]
struct OverLimit;

/// `body`, ending with an error as soon as more than `limit` bytes have come through: the
/// backends stop reading there, and hyper stops taking the client's bytes.
pub(crate) fn limited(body: ByteStream<'_>, limit: u64) -> ByteStream<'_> {
    Box::pin(body.scan((0u64, false), move |(seen, over), chunk| {
        if *over {
            return std::future::ready(None);
        }
        let chunk = chunk.and_then(|chunk| {
            *seen = seen.saturating_add(chunk.len() as u64);
            if *seen > limit {
                *over = true;
                Err(io::Error::other(OverLimit))
            } else {
                Ok(chunk)
            }
        });
        std::future::ready(Some(chunk))
    }))
}

/// Whether `error` is the one [`limited`] ends with.
pub(crate) fn is_over_limit(error: &io::Error) -> bool {
    error.get_ref().is_some_and(|inner| inner.is::<OverLimit>())
}

impl StorageError {
    /// A body error seen while writing: past the limit, or a failure.
    pub(crate) fn from_body(error: &io::Error) -> Self {
        if is_over_limit(error) {
            Self::TooLarge
        } else {
            Self::Failed(format!("the body failed: {error}"))
        }
    }
}
