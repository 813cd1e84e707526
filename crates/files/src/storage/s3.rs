//! Any S3-compatible object store, through object_store's S3 client. A body goes up as a
//! multipart upload, which S3 makes visible only when it completes (and which is aborted when
//! the body fails or passes its limit).

use std::{ops::Range, sync::Arc};

use async_trait::async_trait;
use futures_util::{StreamExt, TryStreamExt};
use object_store::{
    GetOptions, GetRange, ObjectStore, ObjectStoreExt, WriteMultipart, aws::AmazonS3Builder,
    path::Path,
};

use super::{ByteStream, Listed, Storage, StorageError, limited};

/// Parts of a multipart upload in flight at once (each up to 5 MiB).
const PARTS_IN_FLIGHT: usize = 2;

#[derive(Debug)]
pub struct S3Storage {
    store: Arc<dyn ObjectStore>,
}

fn failed(error: object_store::Error) -> StorageError {
    match error {
        object_store::Error::NotFound { .. } => StorageError::NotFound,
        other => StorageError::Failed(other.to_string()),
    }
}

impl S3Storage {
    /// The bucket `bucket` at `endpoint` (empty: AWS) in `region` (empty: `AWS_REGION`, else
    /// `us-east-1`); credentials from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`. An
    /// `http://` endpoint is allowed (a local S3 API).
    pub fn new(bucket: &str, endpoint: &str, region: &str) -> Result<Self, StorageError> {
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if !endpoint.is_empty() {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if !region.is_empty() {
            builder = builder.with_region(region);
        }
        let store = builder.build().map_err(failed)?;
        Ok(Self {
            store: Arc::new(store),
        })
    }
}

#[async_trait]
impl Storage for S3Storage {
    async fn put(&self, key: &str, body: ByteStream<'_>, limit: u64) -> Result<u64, StorageError> {
        let upload = self
            .store
            .put_multipart(&Path::from(key))
            .await
            .map_err(failed)?;
        let mut writer = WriteMultipart::new(upload);
        let mut body = limited(body, limit);
        let mut size = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(error) => {
                    let _ = writer.abort().await;
                    return Err(StorageError::from_body(&error));
                }
            };
            if let Err(error) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                return Err(failed(error));
            }
            size += chunk.len() as u64;
            writer.put(chunk);
        }
        writer.finish().await.map_err(failed)?;
        Ok(size)
    }

    async fn get(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream<'static>, StorageError> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let found = self
            .store
            .get_opts(&Path::from(key), options)
            .await
            .map_err(failed)?;
        Ok(Box::pin(found.into_stream().map_err(std::io::Error::other)))
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(failed(error)),
        }
    }

    async fn list(&self, after: Option<&str>, limit: usize) -> Result<Vec<Listed>, StorageError> {
        // Objects come in key order, so a file's objects are together; the listing is read
        // only as far as `limit` ids.
        let mut objects = match after {
            // `<id>/` sorts before anything under it; `<id>0` after all of it.
            Some(after) => self
                .store
                .list_with_offset(None, &Path::from(format!("{after}0"))),
            None => self.store.list(None),
        };
        let mut listed: Vec<Listed> = Vec::new();
        while let Some(object) = objects.next().await {
            let object = object.map_err(failed)?;
            let Some(id) = object.location.parts().next() else {
                continue;
            };
            let id = id.as_ref().to_owned();
            if listed.last().is_some_and(|last| last.id == id) {
                continue;
            }
            if listed.len() == limit {
                break;
            }
            listed.push(Listed {
                id,
                modified: object.last_modified.into(),
            });
        }
        Ok(listed)
    }
}
