//! `Files` over a real folder: attaching checks the owner and marks the file, the sweep keeps
//! marked files and removes the others once old enough, release removes at once, and a
//! refused body leaves nothing behind.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use chat_files::{
    AttachError, ByteStream, Files, FilesConfig, LocalStorage, Storage, UploadError, UploadTokens,
    Uploader,
};
use futures_util::stream;

fn config(keep: Duration) -> FilesConfig {
    FilesConfig {
        max_bytes: 1024,
        max_pixels: 1_000_000,
        allowed_types: vec!["text/plain".into(), "image/png".into()],
        uploads_per_min: 100,
        keep_unreferenced: keep,
    }
}

async fn files(dir: &std::path::Path, keep: Duration) -> Files {
    let storage: Arc<dyn Storage> = Arc::new(LocalStorage::open(dir).await.expect("a folder"));
    Files::new(storage, config(keep), UploadTokens::new(None))
}

fn user(id: &str) -> Uploader {
    Uploader {
        id: id.into(),
        name: id.into(),
    }
}

fn body(chunks: &[&'static [u8]]) -> ByteStream<'static> {
    let chunks: Vec<std::io::Result<Bytes>> =
        chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
    Box::pin(stream::iter(chunks))
}

#[tokio::test]
async fn attaching_checks_the_owner_and_the_sweep_keeps_what_is_attached() {
    let dir = tempfile::tempdir().expect("a folder");
    let files = files(dir.path(), Duration::ZERO).await;
    let kept = files
        .upload(&user("alice"), "a.txt", None, body(&[b"kept"]))
        .await
        .expect("stored");
    let dropped = files
        .upload(&user("alice"), "b.txt", None, body(&[b"dropped"]))
        .await
        .expect("stored");

    assert_eq!(
        files.attach("bob", std::slice::from_ref(&kept.id)).await,
        Err(AttachError::NotYours(kept.id.clone()))
    );
    let unknown = "f_00000000000000000000000000000000".to_owned();
    assert_eq!(
        files.attach("alice", std::slice::from_ref(&unknown)).await,
        Err(AttachError::Unknown(unknown))
    );
    assert_eq!(
        files.attach("alice", &["../etc".to_owned()]).await,
        Err(AttachError::Unknown("../etc".into()))
    );
    assert_eq!(
        files.attach("alice", &vec![kept.id.clone(); 11]).await,
        Err(AttachError::TooMany)
    );
    let json = files
        .attach("alice", std::slice::from_ref(&kept.id))
        .await
        .expect("attached");
    let parsed: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(parsed[0]["id"], kept.id.as_str());
    assert_eq!(parsed[0]["url"], format!("/files/{}/a.txt", kept.id));

    // Nothing is younger than zero: the unattached file goes, the attached one stays.
    assert_eq!(files.sweep_pass(None).await, None);
    assert!(files.meta(&kept.id).await.is_ok());
    assert!(files.meta(&dropped.id).await.is_err());

    files.release(std::slice::from_ref(&kept.id)).await;
    assert!(files.meta(&kept.id).await.is_err());
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("the folder")
        .flatten()
        .map(|e| e.file_name().into_string().expect("utf-8"))
        .filter(|name| !name.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn a_young_file_survives_the_sweep() {
    let dir = tempfile::tempdir().expect("a folder");
    let files = files(dir.path(), Duration::from_secs(3600)).await;
    let file = files
        .upload(&user("alice"), "a.txt", None, body(&[b"young"]))
        .await
        .expect("stored");
    files.sweep_pass(None).await;
    assert!(files.meta(&file.id).await.is_ok());
}

#[tokio::test]
async fn a_body_over_the_limit_leaves_no_file_and_no_temporary_one() {
    let dir = tempfile::tempdir().expect("a folder");
    let files = files(dir.path(), Duration::from_secs(3600)).await;
    let chunk: &'static [u8] = &[b'a'; 600];
    // Past the head that decides the type, so the limit is the storage's, while writing.
    let big: Vec<&'static [u8]> = std::iter::repeat_n(chunk, 20).collect();
    let refused = files
        .upload(&user("alice"), "big.txt", None, body(&big))
        .await;
    assert!(
        matches!(refused, Err(UploadError::TooLarge(1024))),
        "{refused:?}"
    );
    let refused = files
        .upload(&user("alice"), "big.txt", Some(1025), body(&[b"x"]))
        .await;
    assert!(matches!(refused, Err(UploadError::TooLarge(1024))));
    let mut left = Vec::new();
    for entry in walk(dir.path()) {
        left.push(entry);
    }
    assert!(left.is_empty(), "{left:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.path().is_dir() {
            out.extend(walk(&entry.path()));
        } else {
            out.push(entry.path());
        }
    }
    out
}

#[tokio::test]
async fn a_released_message_files_go_at_once_through_the_sweeps_task() {
    let dir = tempfile::tempdir().expect("a folder");
    let files = Arc::new(files(dir.path(), Duration::from_secs(3600)).await);
    let file = files
        .upload(&user("alice"), "a.txt", None, body(&[b"in a message"]))
        .await
        .expect("stored");
    let json = files
        .attach("alice", std::slice::from_ref(&file.id))
        .await
        .expect("attached");
    let stop = tokio_util::sync::CancellationToken::new();
    let sweeper = tokio::spawn({
        let (files, stop) = (files.clone(), stop.clone());
        async move { files.sweep_until(stop).await }
    });
    files.release_later(&json);
    tokio::time::timeout(Duration::from_secs(5), async {
        while files.meta(&file.id).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("removed");
    stop.cancel();
    sweeper.await.expect("the sweep ends");
}
