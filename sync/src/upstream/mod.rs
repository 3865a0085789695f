//! The upstream push: the box's outbox of xAPI statements goes to a learning record store
//! (LRS), exactly once as far as the LRS can tell, with nothing personal in it.
//!
//! - [`plan`]: pure rules (batches, what each answer means, halving a refused batch,
//!   back-off with jitter), tested without sockets;
//! - [`publish`]: pure rewriting of a stored statement into what leaves the box;
//! - [`outbox`]: the box's SQLite outbox, read and marked with bounded queries;
//! - [`http`]: the thin HTTP transport; [`health`]: the box's health statement.
//!
//! Exactly once: a statement is marked sent only after the LRS acknowledged the batch
//! holding it, in one SQLite transaction. A crash between the acknowledgement and the
//! commit makes the next push send it again, which the LRS takes as a no-op (same id,
//! same content: xAPI 1.0.3 says an LRS must not store it twice, and Ralph answers 204).

pub mod health;
pub mod http;
pub mod outbox;
pub mod plan;
pub mod publish;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use preau_pack::Result;
use serde::Serialize;

pub use health::{Health, health_statement};
pub use http::{HttpTransport, LrsEndpoint, Transport};
pub use outbox::{Counts, PushStatus, SqliteOutbox};
pub use plan::{Item, Reply, Step, Window};
pub use publish::{PublishOptions, publish};

/// How one push runs.
#[derive(Debug, Clone)]
pub struct PushOptions {
    pub publish: PublishOptions,
    pub max_batch: usize,
    pub max_bytes: usize,
    /// First wait after a failure; doubled each time, at most an hour.
    pub retry_base: Duration,
    /// Consecutive failures after which this push gives up (the next one resumes).
    pub max_retries: u32,
    /// Days an acknowledged statement is kept on the box.
    pub keep_days: u32,
    /// Most rows the outbox keeps (see [`SqliteOutbox::retain`]).
    pub max_outbox: u64,
}

impl PushOptions {
    pub fn new(publish: PublishOptions) -> PushOptions {
        PushOptions {
            publish,
            max_batch: plan::MAX_BATCH_STATEMENTS,
            max_bytes: plan::MAX_BATCH_BYTES,
            retry_base: Duration::from_secs(1),
            max_retries: 8,
            keep_days: 30,
            max_outbox: 200_000,
        }
    }
}

/// What a push did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PushSummary {
    pub sent: u64,
    pub quarantined: u64,
    /// Statements still waiting after the push.
    pub remaining: u64,
    /// Request body bytes on the wire (compressed when the LRS takes gzip).
    pub bytes: u64,
    pub requests: u64,
    pub retries: u64,
    pub gzip: bool,
    /// Acknowledged statements deleted by retention, and waiting ones dropped (outbox full).
    pub deleted: u64,
    pub dropped: u64,
    pub seconds: f64,
    /// The reason of the last retried request, if any (a cut, a timeout, a 5xx).
    pub last_retry: Option<String>,
    /// Why the push stopped before the outbox was empty, if it did.
    pub error: Option<String>,
}

/// Progress: (statements settled so far, statements waiting at the start).
pub type Progress<'a> = &'a dyn Fn(u64, u64);
/// Sleeps for a back-off; returns true if the push must stop instead (shutdown).
pub type Sleep<'a> = &'a dyn Fn(Duration) -> bool;

/// Pushes everything waiting, in order, until the outbox is empty, the LRS keeps failing
/// (`max_retries`), or it refuses the configuration. Retention runs first.
pub fn push(
    outbox: &mut SqliteOutbox,
    transport: &mut dyn Transport,
    opts: &PushOptions,
    now: &dyn Fn() -> i64,
    progress: Progress<'_>,
    sleep: Sleep<'_>,
) -> Result<PushSummary> {
    let started = Instant::now();
    let mut sum = PushSummary::default();
    (sum.deleted, sum.dropped) = outbox.retain(now(), opts.keep_days, opts.max_outbox)?;
    let total = outbox.counts()?.waiting;
    let (mut cursor, mut failures, mut done) = (0i64, 0u32, 0u64);
    'windows: loop {
        let rows = outbox.pending(cursor, opts.max_batch.clamp(1, plan::MAX_BATCH_STATEMENTS))?;
        let Some(last) = rows.last() else { break };
        cursor = last.rowid;
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            let rendered = serde_json::from_str(&row.statement)
                .map_err(|e| format!("not JSON: {e}"))
                .and_then(|v| publish(&v, &opts.publish));
            match rendered {
                Ok(v) => items.push(Item { id: row.id, json: v.to_string() }),
                Err(why) => {
                    outbox.quarantine(&row.id, &format!("not sendable: {why}"), now())?;
                    sum.quarantined += 1;
                    done += 1;
                }
            }
        }
        let mut window = Window::new(items, opts.max_batch, opts.max_bytes);
        while let Some(batch) = window.next_batch() {
            let reply = transport.post(&plan::body(batch));
            match window.reply(reply) {
                Step::Sent(ids) => {
                    outbox.mark_sent(&ids, now())?;
                    failures = 0;
                    sum.sent += ids.len() as u64;
                    done += ids.len() as u64;
                }
                Step::Quarantine { id, why } => {
                    outbox.quarantine(&id, &why, now())?;
                    sum.quarantined += 1;
                    done += 1;
                }
                Step::Split => {}
                Step::Retry(why) => {
                    failures += 1;
                    sum.retries += 1;
                    sum.last_retry = Some(why.clone());
                    if failures > opts.max_retries {
                        sum.error = Some(why);
                        break 'windows;
                    }
                    let wait = plan::backoff(failures, opts.retry_base, plan::jitter());
                    if sleep(wait) {
                        sum.error = Some(format!("stopped while waiting to retry: {why}"));
                        break 'windows;
                    }
                }
                Step::Stop(why) => {
                    sum.error = Some(why);
                    break 'windows;
                }
            }
            progress(done, total);
        }
    }
    if let Some(e) = &sum.error {
        outbox.set_error(now(), e)?;
    }
    sum.remaining = outbox.counts()?.waiting;
    sum.bytes = transport.bytes();
    sum.requests = transport.requests();
    sum.gzip = transport.gzip();
    sum.seconds = started.elapsed().as_secs_f64();
    Ok(sum)
}

/// The learner database inside a box data folder.
pub const DB_FILE: &str = "preau.sqlite";

/// Everything a push from a data folder needs (the CLI and the background loop).
#[derive(Debug, Clone)]
pub struct UpstreamJob {
    pub data_dir: PathBuf,
    pub endpoint: LrsEndpoint,
    pub push: PushOptions,
    /// Send the box's health statement after a push that reached the LRS.
    pub send_health: bool,
}

/// One push from the data folder's outbox, then the health statement. `last_sync` is
/// the last content sync's outcome, for the health report.
pub fn run_job(
    job: &UpstreamJob,
    last_sync: Option<String>,
    progress: Progress<'_>,
    sleep: Sleep<'_>,
) -> Result<(PushSummary, bool)> {
    let mut outbox = SqliteOutbox::open(&job.data_dir.join(DB_FILE))?;
    let mut transport = HttpTransport::new(job.endpoint.clone())?;
    // The box's corrected time, as its statements use.
    let offset = outbox.clock_offset()?;
    let now = move || preau_pack::meta::now_unix() as i64 + offset;
    let summary = push(&mut outbox, &mut transport, &job.push, &now, progress, sleep)?;
    let mut health_sent = false;
    if job.send_health && summary.error.is_none() {
        let mut h = Health::probe(&job.data_dir);
        h.box_id = job.push.publish.box_id.clone();
        h.clock_offset_secs = offset;
        h.last_sync = last_sync;
        h.packs = preau_pack::installed::Installed::load(&job.data_dir.join("repo"))
            .map(|i| i.packs.into_iter().map(|(id, p)| (id, p.version)).collect())
            .unwrap_or_default();
        let statement = health_statement(&h, &job.push.publish, now());
        let item = Item { id: String::new(), json: statement.to_string() };
        health_sent = transport.post(&plan::body(std::slice::from_ref(&item))) == Reply::Stored;
    }
    Ok((summary, health_sent))
}

#[cfg(test)]
mod tests;
