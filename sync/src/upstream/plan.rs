//! Pure rules of the push (sans-IO): how pending statements are cut into batches, what
//! each LRS answer means, how a rejected batch is split down to the bad statement, and how
//! long to wait after a failure. Nothing here touches a socket or a file.

use std::time::Duration;

/// Most statements in one `POST /xAPI/statements` (the limit the issue sets; Ralph and
/// most LRSs take more, but a small batch loses little when a link drops mid-request).
pub const MAX_BATCH_STATEMENTS: usize = 500;
/// Most bytes of JSON in one request body (before compression).
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// Longest wait between two attempts after failures.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// One statement ready to go: its id and its JSON text as it will be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub id: String,
    pub json: String,
}

/// What an LRS answer means for the batch that was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// 200 or 204: every statement of the batch is stored (a duplicate id with the same
    /// content is answered like a new one, so a resend is harmless).
    Stored,
    /// 409: a statement of the batch has an id the LRS already holds with other content.
    Conflict(String),
    /// 400, 413, 422: the LRS refuses something in the batch (a malformed statement, or
    /// a body too large).
    Rejected(String),
    /// Timeout, connection cut, 5xx, 429: nothing is known; try the same batch later.
    Retry(String),
    /// 401, 403, 404 and the like: no statement is at fault, the configuration is. Stop.
    Fatal(String),
}

/// Classifies an HTTP status and the start of the response body.
pub fn classify(status: u16, body: &str) -> Reply {
    let why = |what: &str| {
        let body: String = body.chars().filter(|c| !c.is_control()).take(300).collect();
        if body.is_empty() { format!("{status} {what}") } else { format!("{status} {what}: {body}") }
    };
    match status {
        200 | 204 => Reply::Stored,
        409 => Reply::Conflict(why("conflict (same id, different content)")),
        400 | 413 | 422 => Reply::Rejected(why("refused by the LRS")),
        408 | 429 | 500..=599 => Reply::Retry(why("LRS unavailable")),
        401 | 403 => Reply::Fatal(why("the LRS refused the credentials ([upstream] username, password)")),
        404 | 405 => Reply::Fatal(why("no xAPI statements resource there (check [upstream] lrs)")),
        _ => Reply::Fatal(why("unexpected answer")),
    }
}

/// Cuts items into consecutive batches of at most `max_count` statements and
/// `max_bytes` bytes of body (a statement larger than `max_bytes` goes alone).
pub fn batches(items: &[Item], max_count: usize, max_bytes: usize) -> Vec<std::ops::Range<usize>> {
    let max_count = max_count.clamp(1, MAX_BATCH_STATEMENTS);
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 2usize);
    for (i, it) in items.iter().enumerate() {
        let len = it.json.len() + 1;
        if i > start && (i - start >= max_count || bytes + len > max_bytes) {
            out.push(start..i);
            (start, bytes) = (i, 2);
        }
        bytes += len;
    }
    if start < items.len() {
        out.push(start..items.len());
    }
    out
}

/// The JSON array body of a batch.
pub fn body(batch: &[Item]) -> Vec<u8> {
    let mut b = Vec::with_capacity(batch.iter().map(|i| i.json.len() + 1).sum::<usize>() + 2);
    b.push(b'[');
    for (i, it) in batch.iter().enumerate() {
        if i > 0 {
            b.push(b',');
        }
        b.extend_from_slice(it.json.as_bytes());
    }
    b.push(b']');
    b
}

/// What to do after an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Mark these ids sent (in one transaction), then go on.
    Sent(Vec<String>),
    /// Mark this statement quarantined with this reason (never resent), then go on.
    Quarantine { id: String, why: String },
    /// The batch was split in halves; send the next batch.
    Split,
    /// Wait (see [`backoff`]) and send the same batch again.
    Retry(String),
    /// Stop the push: a configuration problem no statement can fix.
    Stop(String),
}

/// A window of pending statements being pushed: a stack of batches, the next on top.
/// A refused batch is replaced by its two halves, so a bad statement is found in
/// log2(batch) extra requests and the good ones around it still go.
#[derive(Debug)]
pub struct Window {
    stack: Vec<Vec<Item>>,
}

impl Window {
    pub fn new(items: Vec<Item>, max_count: usize, max_bytes: usize) -> Window {
        let ranges = batches(&items, max_count, max_bytes);
        let mut rest = items;
        let mut parts = Vec::with_capacity(ranges.len());
        for r in ranges.iter().rev() {
            parts.push(rest.split_off(r.start));
        }
        Window { stack: parts }
    }

    /// The batch to send now, if any is left.
    pub fn next_batch(&self) -> Option<&[Item]> {
        self.stack.last().map(Vec::as_slice)
    }

    /// Statements not yet settled in this window.
    pub fn remaining(&self) -> usize {
        self.stack.iter().map(Vec::len).sum()
    }

    /// Applies the answer to the batch returned by [`Window::next_batch`].
    pub fn reply(&mut self, reply: Reply) -> Step {
        let Some(top) = self.stack.last() else { return Step::Stop("no batch was sent".into()) };
        match reply {
            Reply::Stored => {
                let batch = self.stack.pop().unwrap_or_default();
                Step::Sent(batch.into_iter().map(|i| i.id).collect())
            }
            Reply::Conflict(why) | Reply::Rejected(why) if top.len() == 1 => {
                let it = self.stack.pop().unwrap_or_default().remove(0);
                Step::Quarantine { id: it.id, why }
            }
            Reply::Conflict(_) | Reply::Rejected(_) => {
                let mut first = self.stack.pop().unwrap_or_default();
                let second = first.split_off(first.len() / 2);
                self.stack.push(second);
                self.stack.push(first);
                Step::Split
            }
            Reply::Retry(why) => Step::Retry(why),
            Reply::Fatal(why) => Step::Stop(why),
        }
    }
}

/// Wait after `failures` consecutive failures (1, 2, …): `base` doubled each time, at
/// most [`MAX_BACKOFF`], times a jitter factor between 0.5 and 1 drawn from `jitter`
/// (0 to 1) so that many boxes coming back online at once do not knock in step.
pub fn backoff(failures: u32, base: Duration, jitter: f64) -> Duration {
    let exp = base.saturating_mul(1u32 << failures.saturating_sub(1).min(20));
    exp.min(MAX_BACKOFF).mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// A number between 0 and 1 that differs between processes and calls (for jitter; not
/// for secrets).
pub fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(n: usize, len: usize) -> Vec<Item> {
        (0..n).map(|i| Item { id: format!("id{i}"), json: "x".repeat(len) }).collect()
    }

    #[test]
    fn batches_respect_count_and_bytes() {
        let b = batches(&items(1200, 10), 500, MAX_BATCH_BYTES);
        assert_eq!(b, vec![0..500, 500..1000, 1000..1200]);
        // 100 bytes + comma each, 2 for the brackets: 9 fit in 1000 bytes.
        let b = batches(&items(20, 100), 500, 1000);
        assert_eq!(b[0], 0..9);
        assert!(b.iter().all(|r| r.len() * 101 + 2 <= 1000));
        // A statement larger than the bound goes alone rather than never.
        assert_eq!(batches(&items(3, 5000), 500, 1000), vec![0..1, 1..2, 2..3]);
        assert!(batches(&[], 500, 1000).is_empty());
        // The count bound is clamped to the protocol's 500.
        assert_eq!(batches(&items(600, 1), 10_000, MAX_BATCH_BYTES)[0], 0..500);
    }

    #[test]
    fn body_is_a_json_array() {
        let it = vec![
            Item { id: "a".into(), json: r#"{"id":"a"}"#.into() },
            Item { id: "b".into(), json: r#"{"id":"b"}"#.into() },
        ];
        let v: serde_json::Value = serde_json::from_slice(&body(&it)).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 2);
    }

    #[test]
    fn statuses_are_classified() {
        assert_eq!(classify(200, ""), Reply::Stored);
        assert_eq!(classify(204, ""), Reply::Stored);
        assert!(matches!(classify(409, "dup"), Reply::Conflict(w) if w.contains("dup")));
        assert!(matches!(classify(400, ""), Reply::Rejected(_)));
        assert!(matches!(classify(422, ""), Reply::Rejected(_)));
        assert!(matches!(classify(503, ""), Reply::Retry(_)));
        assert!(matches!(classify(429, ""), Reply::Retry(_)));
        assert!(matches!(classify(401, ""), Reply::Fatal(w) if w.contains("credentials")));
        assert!(matches!(classify(404, ""), Reply::Fatal(_)));
    }

    /// Plays a window against a rule saying which ids the LRS refuses; returns what was
    /// sent, what was quarantined, and the number of requests.
    fn play(n: usize, bad: &[usize], conflict: bool) -> (Vec<String>, Vec<String>, usize) {
        let mut w = Window::new(items(n, 10), 8, MAX_BATCH_BYTES);
        let bad: Vec<String> = bad.iter().map(|i| format!("id{i}")).collect();
        let (mut sent, mut quarantined, mut requests) = (Vec::new(), Vec::new(), 0);
        while let Some(batch) = w.next_batch() {
            requests += 1;
            let refused = batch.iter().any(|i| bad.contains(&i.id));
            let reply = match (refused, conflict) {
                (false, _) => Reply::Stored,
                (true, true) => Reply::Conflict("409".into()),
                (true, false) => Reply::Rejected("400".into()),
            };
            match w.reply(reply) {
                Step::Sent(ids) => sent.extend(ids),
                Step::Quarantine { id, .. } => quarantined.push(id),
                Step::Split => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        (sent, quarantined, requests)
    }

    #[test]
    fn a_refused_batch_is_halved_down_to_the_bad_statement() {
        let (sent, q, requests) = play(20, &[5], false);
        assert_eq!(q, ["id5"]);
        assert_eq!(sent.len(), 19);
        // In order, every good one exactly once.
        let expect: Vec<String> = (0..20).filter(|i| *i != 5).map(|i| format!("id{i}")).collect();
        assert_eq!(sent, expect);
        // 3 batches of ≤8, plus 2·log2(8) splits for the one bad batch.
        assert!(requests <= 3 + 6, "{requests} requests");
        let (sent, q, _) = play(16, &[0, 7, 15], true);
        assert_eq!(q, ["id0", "id7", "id15"]);
        assert_eq!(sent.len(), 13);
    }

    #[test]
    fn retry_keeps_the_batch_and_fatal_stops() {
        let mut w = Window::new(items(3, 1), 500, MAX_BATCH_BYTES);
        assert!(matches!(w.reply(Reply::Retry("cut".into())), Step::Retry(_)));
        assert_eq!(w.remaining(), 3);
        assert!(matches!(w.reply(Reply::Fatal("401".into())), Step::Stop(_)));
        assert_eq!(w.next_batch().unwrap().len(), 3);
        assert_eq!(w.reply(Reply::Stored), Step::Sent(vec!["id0".into(), "id1".into(), "id2".into()]));
        assert!(w.next_batch().is_none());
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_an_hour() {
        let s = Duration::from_secs;
        assert_eq!(backoff(1, s(1), 1.0), s(1));
        assert_eq!(backoff(3, s(1), 1.0), s(4));
        assert_eq!(backoff(3, s(1), 0.0), s(2));
        assert_eq!(backoff(40, s(60), 1.0), MAX_BACKOFF);
        assert!(backoff(40, s(60), 0.0) >= MAX_BACKOFF / 2);
        let j = jitter();
        assert!((0.0..1.0).contains(&j));
    }
}
