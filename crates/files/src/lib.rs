//! File sharing: uploads checked against their own bytes, image sizes and thumbnails, the
//! bytes and their metadata in a folder or an S3-compatible object store, upload tokens, the
//! per-user upload rate, and the sweep that removes what no message keeps.
//!
//! # Layout
//! - [`Files`] (`service.rs`): the one handle the server holds: `upload`, `open`/`read`;
//!   `references.rs`: `attach` (a `send` naming files), `release` (a deleted message's files).
//! - `storage/`: the [`Storage`] trait (put a stream under a byte limit, get a range, delete,
//!   list) and its two backends, `local.rs` (a folder; temporary file, then rename) and
//!   `s3.rs` (object_store's S3 client).
//! - `id.rs` ([`FileId`]), `meta.rs` ([`FileMeta`], what is kept beside the bytes, and the
//!   file object clients see), `kind.rs` (the type from magic numbers), `picture.rs`
//!   (dimensions from the header, the thumbnail on the blocking pool), `rate.rs` (uploads per
//!   user per minute), `token.rs` (the upload token of `welcome`), `sweep.rs`, `sharing.rs`
//!   (the core's seam, `chat_ws::files::FileSharing`).
//!
//! Every node reads and writes the same objects (`<id>/file`, `<id>/thumb`, `<id>/meta.json`,
//! `<id>/ref`), so files uploaded on one node are served and swept by any.
//!
//! This crate knows neither HTTP nor the chat protocol: chat-http turns requests into calls
//! here, and the core sees files only as the JSON array [`Files::attach`] returns.

mod id;
mod kind;
mod meta;
mod picture;
mod rate;
mod references;
mod service;
mod sharing;
mod storage;
mod sweep;
mod token;

pub use id::FileId;
pub use meta::FileMeta;
pub use service::{
    AttachError, Download, Files, FilesConfig, MAX_FILES_PER_MESSAGE, OpenError, Part, UploadError,
};
pub use storage::{ByteStream, Listed, Storage, StorageError, local::LocalStorage, s3::S3Storage};
pub use token::{UPLOAD_TOKEN_LIFETIME, UploadTokens, Uploader};
