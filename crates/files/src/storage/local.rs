//! A folder on this machine: `<dir>/<id>/<object>`. A body is written to a temporary file in
//! `<dir>/.partial/` (the same file system) and renamed into place once complete and synced,
//! so a crash leaves no half file under a file's name; the sweep removes old temporary files.

use std::{
    io::{self, SeekFrom},
    ops::Range,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use async_trait::async_trait;
use futures_util::StreamExt;
use tokio::{
    fs,
    io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt},
};
use tokio_util::io::ReaderStream;

use super::{ByteStream, Listed, Storage, StorageError, limited};

/// The folder of temporary files, beside the files' folders. Its name cannot be a file id.
const PARTIAL: &str = ".partial";

/// Chunk size of a download read from disk.
const READ_CHUNK: usize = 64 * 1024;

#[derive(Debug)]
pub struct LocalStorage {
    dir: PathBuf,
}

impl LocalStorage {
    /// The folder `dir`; it is created at the first upload, so a server that never gets one
    /// leaves nothing behind. Something at `dir` that is not a folder is an error now.
    pub async fn open(dir: &Path) -> io::Result<Self> {
        match fs::metadata(dir).await {
            Ok(meta) if !meta.is_dir() => {
                return Err(io::Error::new(
                    io::ErrorKind::NotADirectory,
                    "it exists and is not a folder",
                ));
            }
            _ => {}
        }
        Ok(Self {
            dir: dir.to_owned(),
        })
    }

    fn path(&self, key: &str) -> Result<PathBuf, StorageError> {
        // Keys are made by this crate; a key that could leave the folder is a bug, not input.
        let safe = !key.is_empty()
            && key
                .split('/')
                .all(|part| !part.is_empty() && !part.starts_with('.'));
        if !safe {
            return Err(StorageError::Failed(format!("not a storage key: {key:?}")));
        }
        Ok(self.dir.join(key))
    }
}

fn failed(error: io::Error) -> StorageError {
    if error.kind() == io::ErrorKind::NotFound {
        StorageError::NotFound
    } else {
        StorageError::Failed(error.to_string())
    }
}

#[async_trait]
impl Storage for LocalStorage {
    async fn put(&self, key: &str, body: ByteStream<'_>, limit: u64) -> Result<u64, StorageError> {
        let target = self.path(key)?;
        let temporary = self
            .dir
            .join(PARTIAL)
            .join(format!("{:032x}", rand::random::<u128>()));
        fs::create_dir_all(self.dir.join(PARTIAL))
            .await
            .map_err(failed)?;
        let written = write_file(&temporary, limited(body, limit)).await;
        let finished = match written {
            Ok(size) => {
                let parent = target.parent().unwrap_or(&self.dir);
                match fs::create_dir_all(parent).await {
                    Ok(()) => fs::rename(&temporary, &target)
                        .await
                        .map(|()| size)
                        .map_err(failed),
                    Err(error) => Err(failed(error)),
                }
            }
            Err(error) => Err(error),
        };
        if finished.is_err() {
            let _ = fs::remove_file(&temporary).await;
        }
        finished
    }

    async fn get(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream<'static>, StorageError> {
        let mut file = fs::File::open(self.path(key)?).await.map_err(failed)?;
        let stream: ByteStream<'static> = match range {
            None => Box::pin(ReaderStream::with_capacity(file, READ_CHUNK)),
            Some(range) => {
                file.seek(SeekFrom::Start(range.start))
                    .await
                    .map_err(failed)?;
                let part = file.take(range.end.saturating_sub(range.start));
                Box::pin(ReaderStream::with_capacity(part, READ_CHUNK))
            }
        };
        Ok(stream)
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let path = self.path(key)?;
        match fs::remove_file(&path).await {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(failed(error)),
        }
        // The file's folder goes with its last object; one that still holds some stays.
        if let Some(parent) = path.parent().filter(|parent| *parent != self.dir) {
            let _ = fs::remove_dir(parent).await;
        }
        Ok(())
    }

    async fn list(&self, after: Option<&str>, limit: usize) -> Result<Vec<Listed>, StorageError> {
        let mut entries = match fs::read_dir(&self.dir).await {
            Ok(entries) => entries,
            // Nothing uploaded yet.
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(failed(error)),
        };
        let mut names = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(failed)? {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.starts_with('.') || after.is_some_and(|after| name.as_str() <= after) {
                continue;
            }
            names.push(name);
        }
        names.sort_unstable();
        names.truncate(limit);
        let mut listed = Vec::with_capacity(names.len());
        for id in names {
            let modified = fs::metadata(self.dir.join(&id))
                .await
                .and_then(|meta| meta.modified())
                .unwrap_or_else(|_| SystemTime::now());
            listed.push(Listed { id, modified });
        }
        Ok(listed)
    }

    async fn clean_up(&self, age: Duration) {
        let Ok(mut entries) = fs::read_dir(self.dir.join(PARTIAL)).await else {
            return;
        };
        let now = SystemTime::now();
        while let Ok(Some(entry)) = entries.next_entry().await {
            let old = entry
                .metadata()
                .await
                .and_then(|meta| meta.modified())
                .is_ok_and(|at| now.duration_since(at).unwrap_or_default() > age);
            if old {
                let _ = fs::remove_file(entry.path()).await;
            }
        }
    }
}

/// Writes `body` to a new file at `path` and syncs it; the size written.
async fn write_file(path: &Path, mut body: ByteStream<'_>) -> Result<u64, StorageError> {
    let mut file = fs::File::create(path).await.map_err(failed)?;
    let mut size = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| StorageError::from_body(&e))?;
        file.write_all(&chunk).await.map_err(failed)?;
        size += chunk.len() as u64;
    }
    file.sync_all().await.map_err(failed)?;
    Ok(size)
}
