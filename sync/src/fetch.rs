//! Executing a plan: fetching objects in parallel, verifying each before it is written.
//!
//! Several workers share the source's keep-alive connection pool, so that a link with a
//! long round trip stays busy with small objects. Each object is checked against its
//! hash and length before it reaches the repository; a corrupt download is discarded and
//! fetched once more from byte 0, then refused with the object's name.
//!
//! A pull runs on one [`Pool`]: jobs may queue more jobs (a manifest that arrives queues
//! its objects at once), and the pool ends when nothing is queued or running.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

use preau_pack::{Hash, Repo};

use crate::apply::store_verified;
use crate::error::{Error, Result};
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

/// Where a job waits in a [`Pool`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Before any object: manifests, bundles, local work that unblocks others.
    First,
    /// A large object: it keeps a connection streaming for longer than a round trip.
    Large,
    /// A small object: mostly a round trip. About half of the workers take these while
    /// the others stream large ones, so that the link stays full while the round trips
    /// of small objects are paid (all large first would leave a latency-bound tail of
    /// small ones; all small first would leave the link mostly idle at the start).
    Small,
}

struct PoolState<J> {
    first: VecDeque<J>,
    large: VecDeque<J>,
    small: VecDeque<J>,
    running: usize,
    large_running: usize,
    error: Option<Error>,
}

/// A work queue run by a fixed number of threads, where jobs can queue more jobs.
pub struct Pool<J> {
    state: Mutex<PoolState<J>>,
    wake: Condvar,
    workers: usize,
}

impl<J: Send> Pool<J> {
    pub fn new(workers: usize) -> Pool<J> {
        Pool {
            state: Mutex::new(PoolState {
                first: VecDeque::new(),
                large: VecDeque::new(),
                small: VecDeque::new(),
                running: 0,
                large_running: 0,
                error: None,
            }),
            wake: Condvar::new(),
            workers: workers.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState<J>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn push(&self, lane: Lane, job: J) {
        let mut st = self.lock();
        match lane {
            Lane::First => st.first.push_back(job),
            Lane::Large => st.large.push_back(job),
            Lane::Small => st.small.push_back(job),
        }
        drop(st);
        self.wake.notify_one();
    }

    /// Runs every job (and those they queue) with `workers` threads. Stops at the first
    /// error and returns it; jobs already running finish.
    pub fn run(&self, work: &(dyn Fn(J, &Pool<J>) -> Result<()> + Sync)) -> Result<()> {
        std::thread::scope(|s| {
            for _ in 0..self.workers {
                s.spawn(|| self.worker(work));
            }
        });
        match self.lock().error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn worker(&self, work: &(dyn Fn(J, &Pool<J>) -> Result<()> + Sync)) {
        let half = (self.workers / 2).max(1);
        loop {
            let (job, large) = {
                let mut st = self.lock();
                loop {
                    if st.error.is_some() {
                        return;
                    }
                    let take_large = !st.large.is_empty() && (st.large_running < half || st.small.is_empty());
                    let next = if let Some(j) = st.first.pop_front() {
                        Some((j, false))
                    } else if take_large {
                        st.large.pop_front().map(|j| (j, true))
                    } else {
                        st.small.pop_front().map(|j| (j, false))
                    };
                    if let Some((j, large)) = next {
                        st.running += 1;
                        st.large_running += usize::from(large);
                        break (j, large);
                    }
                    if st.running == 0 {
                        // Nothing queued, nothing running that could queue more: done.
                        self.wake.notify_all();
                        return;
                    }
                    st = self.wake.wait(st).unwrap_or_else(|e| e.into_inner());
                }
            };
            let r = work(job, self);
            let mut st = self.lock();
            st.running -= 1;
            st.large_running -= usize::from(large);
            if let Err(e) = r {
                st.error.get_or_insert(e);
            }
            drop(st);
            self.wake.notify_all();
        }
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
        return Ok(Some(repo.read_object(hash, len)?));
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
                    return Err(Error::CorruptObject {
                        hash: *hash,
                        detail: format!("{} served a bad copy of it: {e}", source.describe()),
                    });
                }
            }
        }
    }
    unreachable!("the loop returns")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_runs_jobs_that_queue_jobs_and_stops_at_the_first_error() {
        let pool: Pool<u32> = Pool::new(3);
        for lane in [Lane::Large, Lane::Small, Lane::First] {
            pool.push(lane, 5);
        }
        let done = AtomicU64::new(0);
        pool.run(&|n, p| {
            done.fetch_add(1, Ordering::Relaxed);
            if n > 0 {
                p.push(if n % 2 == 0 { Lane::Small } else { Lane::Large }, n - 1);
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(done.load(Ordering::Relaxed), 18, "3 chains of 6 jobs");

        let pool: Pool<u32> = Pool::new(2);
        for n in 0..100 {
            pool.push(Lane::Small, n);
        }
        let err = pool.run(&|n, _| if n == 3 { Err(Error::Other("job 3".into())) } else { Ok(()) });
        assert_eq!(err.unwrap_err().to_string(), "job 3");
    }

    #[test]
    fn half_of_the_workers_stream_large_objects_while_the_others_take_small_ones() {
        let pool: Pool<bool> = Pool::new(4);
        for _ in 0..10 {
            pool.push(Lane::Large, true);
        }
        for _ in 0..100 {
            pool.push(Lane::Small, false);
        }
        let (large_now, most, small_done) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
        pool.run(&|large, _| {
            if large {
                let n = large_now.fetch_add(1, Ordering::SeqCst) + 1;
                if small_done.load(Ordering::SeqCst) < 90 {
                    most.fetch_max(n, Ordering::SeqCst);
                }
                std::thread::sleep(std::time::Duration::from_millis(3));
                large_now.fetch_sub(1, Ordering::SeqCst);
            } else {
                std::thread::sleep(std::time::Duration::from_millis(1));
                small_done.fetch_add(1, Ordering::SeqCst);
            }
            Ok(())
        })
        .unwrap();
        assert!(most.load(Ordering::SeqCst) <= 2, "at most half of the workers on large objects while small ones wait");
    }
}
