//! The sweep: files that no message references `keep_unreferenced` (24 h) after their upload
//! are removed. It reads only what storage holds (the `ref` marker, the metadata's upload
//! time), so it survives restarts and any node may run it.

use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::{
    FileId, Files,
    service::{REF, now_ms},
    storage::StorageError,
};

/// Files examined per pass, so one pass never holds a huge listing.
const BATCH: usize = 256;
/// Temporary files older than this are an interrupted upload's.
const PARTIAL_AGE: Duration = Duration::from_secs(60 * 60);
/// Bounds of the time between passes (a quarter of `keep_unreferenced` within these).
const SHORTEST_PAUSE: Duration = Duration::from_secs(1);
const LONGEST_PAUSE: Duration = Duration::from_secs(10 * 60);

impl Files {
    /// Sweeps until `shutdown`: a pass at once, then one every while; between passes,
    /// removes the files of deleted messages as they are released. Only one task may run it.
    pub async fn sweep_until(&self, shutdown: CancellationToken) {
        let released = self
            .released
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let Some(mut released) = released else {
            tracing::warn!("the file sweep is already running");
            return;
        };
        let pause = (self.config().keep_unreferenced / 4).clamp(SHORTEST_PAUSE, LONGEST_PAUSE);
        let mut after: Option<String> = None;
        loop {
            let next = tokio::select! {
                () = shutdown.cancelled() => return,
                next = self.sweep_pass(after.as_deref()) => next,
            };
            // A full batch goes on soon after where it stopped; otherwise the next pass
            // starts again from the beginning, later.
            let wait = tokio::time::sleep(if next.is_some() {
                SHORTEST_PAUSE
            } else {
                pause
            });
            tokio::pin!(wait);
            after = next;
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = &mut wait => break,
                    Some(ids) = released.recv() => self.release(&ids).await,
                }
            }
        }
    }

    /// One pass over up to [`BATCH`] files after `after`; the id to go on from, if there may
    /// be more.
    pub async fn sweep_pass(&self, after: Option<&str>) -> Option<String> {
        self.storage().clean_up(PARTIAL_AGE).await;
        let listed = match self.storage().list(after, BATCH).await {
            Ok(listed) => listed,
            Err(error) => {
                tracing::warn!(%error, "the file sweep could not list files");
                return None;
            }
        };
        let keep = self.config().keep_unreferenced;
        let mut removed = 0usize;
        for entry in &listed {
            let Some(id) = FileId::parse(&entry.id) else {
                continue;
            };
            let age = match self.read_meta(&id).await {
                Ok(meta) => Duration::from_millis(now_ms().saturating_sub(meta.uploaded_ms)),
                // No metadata: an upload in progress, or one a crash interrupted.
                Err(crate::OpenError::NotFound) => SystemTime::now()
                    .duration_since(entry.modified)
                    .unwrap_or_default(),
                Err(crate::OpenError::Failed(_)) => continue,
            };
            if age < keep {
                continue;
            }
            match self.storage().get(&id.key(REF), Some(0..1)).await {
                Ok(_) => continue,
                Err(StorageError::NotFound) => {}
                Err(error) => {
                    tracing::warn!(file = %id, %error, "the file sweep could not check a file");
                    continue;
                }
            }
            self.remove(&id).await;
            removed += 1;
        }
        if removed > 0 {
            tracing::info!(removed, "the file sweep removed unreferenced files");
        }
        (listed.len() == BATCH)
            .then(|| listed.last().map(|l| l.id.clone()))
            .flatten()
    }
}
