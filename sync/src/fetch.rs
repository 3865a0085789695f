//! Executing a plan: fetching objects in parallel, verifying each before it is written.
//!
//! Several workers share the source's keep-alive connection pool, so that a link with a
//! long round trip stays busy with small objects. Each object is checked against its
//! hash and length before it reaches the repository; a corrupt download is discarded and
//! fetched once more from byte 0, then refused with the object's name.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use preau_pack::{Error, Hash, Repo, Result};

use crate::apply::store_verified;
use crate::source::{Source, max_stored_len};

/// Runs `work` on every job with `workers` threads; stops at the first error.
pub fn parallel<T: Send>(jobs: Vec<T>, workers: usize, work: &(dyn Fn(T) -> Result<()> + Sync)) -> Result<()> {
    let queue = Mutex::new(VecDeque::from(jobs));
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..workers.max(1) {
            s.spawn(|| {
                loop {
                    if failed.load(Ordering::Relaxed) {
                        return;
                    }
                    let job = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                    let Some(job) = job else { return };
                    if let Err(e) = work(job) {
                        failed.store(true, Ordering::Relaxed);
                        first_error.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(e);
                        return;
                    }
                }
            });
        }
    });
    match first_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Fetches one object, verifies it and writes it durably. Returns its decoded bytes, or
/// `None` when the source does not have it.
pub fn fetch_object(
    source: &dyn Source,
    repo: &Repo,
    partial_dir: &Path,
    hash: &Hash,
    len: u64,
    fetched: &AtomicU64,
) -> Result<Option<Vec<u8>>> {
    if repo.has_object(hash) {
        return repo.read_object(hash, len).map(Some);
    }
    let partial = partial_dir.join(hash.to_hex());
    let max = max_stored_len(len);
    for attempt in 0..2 {
        let Some(stored) = source.get_object(hash, max, &partial)? else {
            return Ok(None);
        };
        match store_verified(repo, hash, len, &stored) {
            Ok(data) => {
                let _ = std::fs::remove_file(&partial);
                fetched.fetch_add(1, Ordering::Relaxed);
                return Ok(Some(data));
            }
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                if attempt == 1 || !matches!(e, Error::CorruptObject { .. }) {
                    return Err(Error::Other(format!("{} served a bad copy of object {hash}: {e}", source.describe())));
                }
            }
        }
    }
    unreachable!("the loop returns")
}
