//! [`Files`]: what the server does with files, over one [`Storage`].

use std::{
    io,
    ops::Range,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, stream};
use tokio::sync::Semaphore;

use crate::{
    FileId, FileMeta, UploadTokens, Uploader,
    kind::{SNIFF_BYTES, detect, is_image},
    meta::clean_name,
    picture::{PictureError, examine},
    rate::UploadRate,
    storage::{ByteStream, Storage, StorageError, read_all},
};

/// The objects of one file.
pub(crate) const FILE: &str = "file";
pub(crate) const THUMB: &str = "thumb";
pub(crate) const META: &str = "meta.json";
/// Present while a message names the file: the sweep keeps it.
pub(crate) const REF: &str = "ref";

/// Largest `meta.json` read back.
const MAX_META_BYTES: usize = 16 * 1024;
/// Images checked at once: each is held in memory whole while it is decoded.
const IMAGE_WORKERS: usize = 2;
/// Most files one message may carry (PROTOCOL.md).
pub const MAX_FILES_PER_MESSAGE: usize = 10;

/// The limits of [`Files`].
#[derive(Debug, Clone)]
pub struct FilesConfig {
    pub max_bytes: u64,
    pub max_pixels: u64,
    pub allowed_types: Vec<String>,
    pub uploads_per_min: u32,
    /// How long a file no message references is kept (24 h).
    pub keep_unreferenced: Duration,
}

/// Why an upload was refused.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("too many uploads; try again in a minute")]
    RateLimited,
    #[error("the file is larger than {0} bytes")]
    TooLarge(u64),
    #[error("files of type {0} are not accepted")]
    Unsupported(String),
    #[error("the image is {width}x{height}, more than {max} pixels")]
    TooManyPixels { width: u32, height: u32, max: u64 },
    #[error("the image cannot be decoded")]
    NotAnImage,
    #[error("the file could not be stored")]
    Failed(String),
}

/// Why a download found nothing to send.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("no such file")]
    NotFound,
    #[error("the file could not be read: {0}")]
    Failed(String),
}

/// Why a message cannot carry its files.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AttachError {
    #[error("a message carries at most {MAX_FILES_PER_MESSAGE} files")]
    TooMany,
    #[error("no file {0}")]
    Unknown(String),
    #[error("file {0} was uploaded by someone else")]
    NotYours(String),
    #[error("the files could not be checked")]
    Failed(String),
}

/// Which of a file's objects a download asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    File,
    Thumb,
}

/// A file to send: its metadata, and the type and size of the part asked for.
#[derive(Debug)]
pub struct Download {
    pub meta: FileMeta,
    pub media_type: String,
    pub size: u64,
}

/// File sharing over one storage backend, shared by every request.
#[derive(Debug)]
pub struct Files {
    storage: Arc<dyn Storage>,
    config: FilesConfig,
    rate: UploadRate,
    tokens: UploadTokens,
    images: Semaphore,
    /// Files of deleted messages, removed by the sweep's task: whoever hands them over (the
    /// hub) does not wait for storage.
    pub(crate) releases: tokio::sync::mpsc::UnboundedSender<Vec<String>>,
    pub(crate) released:
        std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<Vec<String>>>>,
}

fn storage_failed(error: StorageError) -> UploadError {
    match error {
        StorageError::TooLarge => UploadError::Failed("the storage refused the size".into()),
        other => UploadError::Failed(other.to_string()),
    }
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Files {
    pub fn new(storage: Arc<dyn Storage>, config: FilesConfig, tokens: UploadTokens) -> Self {
        let (releases, released) = tokio::sync::mpsc::unbounded_channel();
        Self {
            releases,
            released: std::sync::Mutex::new(Some(released)),
            rate: UploadRate::new(config.uploads_per_min),
            storage,
            config,
            tokens,
            images: Semaphore::new(IMAGE_WORKERS),
        }
    }

    pub fn tokens(&self) -> &UploadTokens {
        &self.tokens
    }

    pub fn config(&self) -> &FilesConfig {
        &self.config
    }

    pub(crate) fn storage(&self) -> &dyn Storage {
        &*self.storage
    }

    /// Takes one upload from `uploader`'s rate; false: 429.
    pub fn take_upload(&self, uploader: &Uploader) -> bool {
        self.rate.take(&uploader.id, tokio::time::Instant::now())
    }

    /// Stores an upload from `uploader` named `name`: the type from its first bytes, the
    /// size limit while it arrives (`declared`, a `Content-Length`, refuses at once), and for
    /// an image its dimensions and thumbnail. The metadata is written last.
    pub async fn upload(
        &self,
        uploader: &Uploader,
        name: &str,
        declared: Option<u64>,
        mut body: ByteStream<'_>,
    ) -> Result<FileMeta, UploadError> {
        let max = self.config.max_bytes;
        if declared.is_some_and(|length| length > max) {
            return Err(UploadError::TooLarge(max));
        }
        let mut head = BytesMut::new();
        let mut ended = false;
        while head.len() < SNIFF_BYTES {
            match body.next().await {
                Some(Ok(chunk)) => head.extend_from_slice(&chunk),
                Some(Err(error)) => return Err(UploadError::Failed(error.to_string())),
                None => {
                    ended = true;
                    break;
                }
            }
            if head.len() as u64 > max {
                return Err(UploadError::TooLarge(max));
            }
        }
        let media_type = detect(&head);
        if !self.config.allowed_types.iter().any(|t| t == media_type) {
            return Err(UploadError::Unsupported(media_type.to_owned()));
        }
        let head = head.freeze();
        let rest: ByteStream<'_> = if ended {
            Box::pin(stream::empty())
        } else {
            body
        };
        let id = FileId::random();
        let mut meta = FileMeta {
            id: id.as_str().to_owned(),
            owner: uploader.id.clone(),
            name: clean_name(name),
            size: 0,
            media_type: media_type.to_owned(),
            uploaded_ms: now_ms(),
            width: None,
            height: None,
            thumb_type: None,
            thumb_size: None,
        };
        if is_image(media_type) {
            self.store_image(&id, &mut meta, head, rest).await?;
        } else {
            let whole: ByteStream<'_> = Box::pin(stream::once(async { Ok(head) }).chain(rest));
            meta.size = self
                .storage
                .put(&id.key(FILE), whole, max)
                .await
                .map_err(|error| match error {
                    StorageError::TooLarge => UploadError::TooLarge(max),
                    other => storage_failed(other),
                })?;
        }
        let json = serde_json::to_vec(&meta).map_err(|e| UploadError::Failed(e.to_string()))?;
        if let Err(error) = self.put_small(&id.key(META), json).await {
            self.remove(&id).await;
            return Err(storage_failed(error));
        }
        Ok(meta)
    }

    /// An image is read whole (within the limit) before it is stored: decoding needs all of
    /// it, and a picture that does not decode is refused rather than kept.
    async fn store_image(
        &self,
        id: &FileId,
        meta: &mut FileMeta,
        head: Bytes,
        mut rest: ByteStream<'_>,
    ) -> Result<(), UploadError> {
        let max = self.config.max_bytes;
        let _permit = self
            .images
            .acquire()
            .await
            .map_err(|e| UploadError::Failed(e.to_string()))?;
        let mut whole = BytesMut::from(&head[..]);
        while let Some(chunk) = rest.next().await {
            let chunk = chunk.map_err(|e| UploadError::Failed(e.to_string()))?;
            if (whole.len() + chunk.len()) as u64 > max {
                return Err(UploadError::TooLarge(max));
            }
            whole.extend_from_slice(&chunk);
        }
        let whole = whole.freeze();
        let (bytes, media_type, max_pixels) = (
            whole.clone(),
            meta.media_type.clone(),
            self.config.max_pixels,
        );
        let picture = tokio::task::spawn_blocking(move || examine(&bytes, &media_type, max_pixels))
            .await
            .map_err(|e| UploadError::Failed(e.to_string()))?
            .map_err(|error| match error {
                PictureError::TooManyPixels { width, height } => UploadError::TooManyPixels {
                    width,
                    height,
                    max: max_pixels,
                },
                PictureError::Broken => UploadError::NotAnImage,
            })?;
        meta.size = whole.len() as u64;
        meta.width = Some(picture.width);
        meta.height = Some(picture.height);
        meta.thumb_type = Some(picture.thumb_type.to_owned());
        meta.thumb_size = Some(picture.thumb.len() as u64);
        let stored = async {
            self.put_small(&id.key(FILE), whole).await?;
            self.put_small(&id.key(THUMB), picture.thumb).await
        };
        if let Err(error) = stored.await {
            self.remove(id).await;
            return Err(storage_failed(error));
        }
        Ok(())
    }

    pub(crate) async fn put_small(
        &self,
        key: &str,
        bytes: impl Into<Bytes>,
    ) -> Result<u64, StorageError> {
        let bytes: Bytes = bytes.into();
        let limit = bytes.len() as u64;
        let body: ByteStream<'static> = Box::pin(stream::once(async { Ok::<_, io::Error>(bytes) }));
        self.storage.put(key, body, limit).await
    }

    /// The metadata of file `id`; `NotFound` for an id of the wrong shape too.
    pub async fn meta(&self, id: &str) -> Result<FileMeta, OpenError> {
        let id = FileId::parse(id).ok_or(OpenError::NotFound)?;
        self.read_meta(&id).await
    }

    pub(crate) async fn read_meta(&self, id: &FileId) -> Result<FileMeta, OpenError> {
        let bytes = read_all(&*self.storage, &id.key(META), MAX_META_BYTES)
            .await
            .map_err(|error| match error {
                StorageError::NotFound => OpenError::NotFound,
                other => OpenError::Failed(other.to_string()),
            })?;
        serde_json::from_slice(&bytes).map_err(|e| OpenError::Failed(e.to_string()))
    }

    /// What a download of `part` of file `id` sends.
    pub async fn open(&self, id: &str, part: Part) -> Result<Download, OpenError> {
        let meta = self.meta(id).await?;
        let (media_type, size) = match part {
            Part::File => (meta.media_type.clone(), meta.size),
            Part::Thumb => match (&meta.thumb_type, meta.thumb_size) {
                (Some(media_type), Some(size)) => (media_type.clone(), size),
                _ => return Err(OpenError::NotFound),
            },
        };
        Ok(Download {
            meta,
            media_type,
            size,
        })
    }

    /// The bytes of `part` of an opened file, or `range` of them.
    pub async fn read(
        &self,
        download: &Download,
        part: Part,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream<'static>, OpenError> {
        let id = FileId::parse(&download.meta.id).ok_or(OpenError::NotFound)?;
        let object = match part {
            Part::File => FILE,
            Part::Thumb => THUMB,
        };
        self.storage
            .get(&id.key(object), range)
            .await
            .map_err(|error| match error {
                StorageError::NotFound => OpenError::NotFound,
                other => OpenError::Failed(other.to_string()),
            })
    }

    /// Removes every object of `id`, its metadata first so that it is served no more.
    pub(crate) async fn remove(&self, id: &FileId) {
        for object in [META, REF, THUMB, FILE] {
            if let Err(error) = self.storage.delete(&id.key(object)).await {
                tracing::warn!(file = %id, %error, "a file's object could not be removed");
            }
        }
    }
}
