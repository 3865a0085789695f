//! Passwords and the limiters that guard every secret a visitor can guess (teacher
//! passwords, pupils' codes, the setup code).
//!
//! An argon2 check costs [`M_COST_KIB`] of memory and tens of milliseconds of a core, and
//! anyone on the LAN can ask for one. So:
//! - at most [`Passwords::slots`] checks run at a time, each in a memory buffer allocated
//!   once and reused (no allocator churn: freed 19 MiB blocks in per-thread arenas are what
//!   kept 2 GB resident under a flood); a bounded queue waits for a slot, beyond it the
//!   visitor gets 429 with `Retry-After`;
//! - an unknown name costs exactly what a known one costs (a dummy hash, same parameters,
//!   same buffer), so neither time nor memory tells names apart;
//! - the [`Attempts`] limiter reserves a try *before* the slow check (count and check are
//!   one step under one lock), so a burst cannot slip past it, and it counts per
//!   (account, client) and per client across accounts: a pupil guessing cannot lock the
//!   teacher out from the teacher's own computer.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

pub(super) const MIN_PASSWORD_CHARS: usize = 8;
pub(super) const MAX_PASSWORD_CHARS: usize = 200;

/// Argon2id memory per check, in KiB: OWASP's minimum (19 MiB, 2 passes, 1 lane). On a
/// Raspberry Pi 3/4 one check takes roughly 0.1–0.3 s (see ARCHITECTURE.md), well within
/// a sign-in, and two concurrent checks hold 38 MiB, which a 512 MiB Pi can spare. These
/// are also the argon2 crate's defaults, so hashes made before this module still verify.
pub const M_COST_KIB: u32 = 19 * 1024;
pub const T_COST: u32 = 2;
/// Checks waiting for a slot, per slot, before visitors get 429.
const QUEUE_PER_SLOT: usize = 8;
/// Seconds a refused visitor is told to wait.
pub const RETRY_AFTER_SECS: u64 = 5;

/// An argon2id hash of a random password nobody knows, with the same parameters as real
/// ones: unknown names are checked against it.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3V0dr0WtHfqhS4D4q3rzkVBy9DuPJHdDD3p9AlLN6nQ";

fn params() -> Params {
    Params::new(M_COST_KIB, T_COST, 1, None).expect("valid argon2 parameters")
}

/// The pool of argon2 slots.
pub struct Passwords {
    slots: usize,
    permits: Semaphore,
    waiting: AtomicUsize,
    /// One memory buffer per slot, allocated on first use and kept.
    buffers: Mutex<Vec<Vec<Block>>>,
    /// Argon2 computations done (hashes and checks): what the tests count.
    evaluations: AtomicU64,
}

/// The box is busy: answer 429 and let the visitor retry.
#[derive(Debug)]
pub struct Busy;

impl IntoResponse for Busy {
    fn into_response(self) -> Response {
        let mut r = (
            StatusCode::TOO_MANY_REQUESTS,
            "Trop de connexions en même temps : réessayez dans quelques secondes. Too many sign-ins at once: retry in a few seconds.\n",
        )
            .into_response();
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        r
    }
}

impl Default for Passwords {
    fn default() -> Self {
        Passwords::new(Passwords::slots_for_machine())
    }
}

impl Passwords {
    pub fn new(slots: usize) -> Passwords {
        let slots = slots.max(1);
        Passwords {
            slots,
            permits: Semaphore::new(slots),
            waiting: AtomicUsize::new(0),
            buffers: Mutex::new(Vec::new()),
            evaluations: AtomicU64::new(0),
        }
    }

    /// Half the cores (argon2 must not starve the file server), at most what an eighth of
    /// the available memory holds, between 1 and 2: sign-ins are rare and a queue of a
    /// few is fine, while a third buffer would push a 512 MiB Pi closer to the edge.
    pub fn slots_for_machine() -> usize {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let by_memory = available_memory_bytes().map_or(usize::MAX, |b| (b / 8 / (M_COST_KIB as u64 * 1024)) as usize);
        (cores / 2).min(by_memory).clamp(1, 2)
    }

    pub fn slots(&self) -> usize {
        self.slots
    }

    pub fn evaluations(&self) -> u64 {
        self.evaluations.load(Ordering::Relaxed)
    }

    /// Runs `f` with a slot's buffer on a blocking thread, after waiting for a slot;
    /// `Err(Busy)` when the queue is full.
    async fn with_slot<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut [Block]) -> T + Send + 'static,
    ) -> Result<T, Busy> {
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.slots * (QUEUE_PER_SLOT + 1) {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(Busy);
        }
        let permit = self.permits.acquire().await;
        let result = match permit {
            Ok(_permit) => {
                let me = self.clone();
                let mut buf = me
                    .buffers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .pop()
                    .unwrap_or_else(|| vec![Block::default(); params().block_count()]);
                let done = tokio::task::spawn_blocking(move || {
                    me.evaluations.fetch_add(1, Ordering::Relaxed);
                    let out = f(&mut buf);
                    me.buffers.lock().unwrap_or_else(|e| e.into_inner()).push(buf);
                    out
                })
                .await;
                done.map_err(|_| Busy)
            }
            Err(_) => Err(Busy),
        };
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        result
    }

    /// A PHC string (`$argon2id$v=19$m=…`) for a new password.
    pub async fn hash(self: &Arc<Self>, password: String) -> Result<Result<String, String>, Busy> {
        self.with_slot(move |buf| hash_with(&password, buf)).await
    }

    /// Whether `password` matches `hash`; `None` for the hash checks it against a dummy
    /// hash at the same cost.
    pub async fn verify(self: &Arc<Self>, password: String, hash: Option<String>) -> Result<bool, Busy> {
        self.with_slot(move |buf| {
            let known = hash.is_some();
            let ok = verify_with(&password, hash.as_deref().unwrap_or(DUMMY_HASH), buf);
            known && ok
        })
        .await
    }
}

fn hash_with(password: &str, buf: &mut [Block]) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| e.to_string())?;
    let salt_s = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    let p = params();
    let mut out = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, p.clone())
        .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, &mut buf[..p.block_count()])
        .map_err(|e| e.to_string())?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: (&p).try_into().map_err(|e: argon2::password_hash::Error| e.to_string())?,
        salt: Some(salt_s.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
    };
    Ok(phc.to_string())
}

/// Checks in the given buffer. A hash needing more memory than a slot holds (none made
/// by this box) is refused rather than allocated.
fn verify_with(password: &str, hash: &str, buf: &mut [Block]) -> bool {
    let Ok(h) = PasswordHash::new(hash) else { return false };
    let (Ok(alg), Ok(p)) = (Algorithm::try_from(h.algorithm), Params::try_from(&h)) else { return false };
    let version = h.version.and_then(|v| Version::try_from(v).ok()).unwrap_or(Version::V0x13);
    let (Some(salt), Some(expected)) = (h.salt, h.hash) else { return false };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else { return false };
    if p.block_count() > buf.len() || expected.len() > 64 {
        return false;
    }
    let mut out = [0u8; 64];
    let out = &mut out[..expected.len()];
    if Argon2::new(alg, version, p.clone())
        .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut buf[..p.block_count()])
        .is_err()
    {
        return false;
    }
    // Constant time: no early exit on the first differing byte.
    out.iter().zip(expected.as_bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// `MemAvailable` from `/proc/meminfo`, in bytes.
fn available_memory_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The client's address (the TCP peer the box's server records); unspecified when the
/// application runs without one (in-process tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Client(
            parts.extensions.get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip()),
        ))
    }
}

#[derive(Default, Clone, Copy)]
struct Entry {
    failures: u32,
    /// Tries reserved and not yet decided: counted as failures until they end.
    in_flight: u32,
    locked_until: Option<Instant>,
    last: Option<Instant>,
}

/// Failed tries, per key. A try is reserved before the secret is checked
/// ([`Attempts::begin`]) and decided after ([`Attempts::end`]); reserved tries count as
/// failures, so a burst of simultaneous guesses gets at most `free` checks. After `free`
/// failures the key is locked, twice as long each time (1, 2, 4, 8, 16 minutes).
#[derive(Default)]
pub struct Attempts {
    keys: HashMap<String, Entry>,
}

/// Failures forgotten after this long without a new one.
const FORGET_AFTER: Duration = Duration::from_secs(30 * 60);

impl Attempts {
    /// Free failures per (account, client).
    pub const FREE_FAILURES: u32 = 5;
    /// Free failures per client, across accounts (random names, many pupils).
    pub const FREE_PER_CLIENT: u32 = 20;
    const MAX_KEYS: usize = 10_000;
    /// Tries checked at the same time per key (below the queue of one argon2 slot).
    pub const MAX_IN_FLIGHT: u32 = 2;

    /// Reserves one try on every key, or none: `Err(seconds to wait)` if any is locked
    /// or has its free tries reserved.
    pub fn begin(&mut self, keys: &[(&str, u32)]) -> Result<(), u64> {
        let now = Instant::now();
        for (key, free) in keys {
            if let Some(e) = self.keys.get_mut(*key) {
                if let Some(until) = e.locked_until
                    && until > now
                {
                    return Err((until - now).as_secs() + 1);
                }
                if e.in_flight == 0 && e.last.is_some_and(|l| now - l > FORGET_AFTER) {
                    *e = Entry::default();
                }
                // Reserved tries count as failures; after a lock ends, one try at a time;
                // and never more than a few at once per key, so that one client cannot
                // fill the queue of password checks and starve the others.
                if e.in_flight >= Self::MAX_IN_FLIGHT || (e.in_flight > 0 && e.failures + e.in_flight >= *free) {
                    return Err(1);
                }
            }
        }
        if self.keys.len() + keys.len() > Self::MAX_KEYS {
            self.keys.retain(|_, e| e.in_flight > 0 || e.locked_until.is_some_and(|u| u > now));
            if self.keys.len() + keys.len() > Self::MAX_KEYS {
                // Every slot held by a live lock: refuse rather than grow without bound.
                return Err(60);
            }
        }
        for (key, _) in keys {
            self.keys.entry(key.to_string()).or_default().in_flight += 1;
        }
        Ok(())
    }

    /// Decides the tries reserved by [`Attempts::begin`]. A success clears the first key
    /// (the account); the others (the client) keep their count.
    pub fn end(&mut self, keys: &[(&str, u32)], ok: bool) {
        let now = Instant::now();
        for (i, (key, free)) in keys.iter().enumerate() {
            let Some(e) = self.keys.get_mut(*key) else { continue };
            e.in_flight = e.in_flight.saturating_sub(1);
            if ok {
                if i == 0 {
                    e.failures = 0;
                    e.locked_until = None;
                }
                continue;
            }
            e.failures += 1;
            e.last = Some(now);
            if e.failures >= *free {
                let exp = (e.failures - free).min(4);
                e.locked_until = Some(now + Duration::from_secs(60 << exp));
            }
        }
    }
}

impl Attempts {
    /// Gives back tries reserved by [`Attempts::begin`] that were never checked (the
    /// box was busy): neither a failure nor a success.
    pub fn release(&mut self, keys: &[(&str, u32)]) {
        for (key, _) in keys {
            if let Some(e) = self.keys.get_mut(*key) {
                e.in_flight = e.in_flight.saturating_sub(1);
            }
        }
    }

    /// Ends reserved tries with the outcome of a password check.
    pub fn settle(&mut self, keys: &[(&str, u32)], outcome: &Result<bool, Busy>) {
        match outcome {
            Ok(ok) => self.end(keys, *ok),
            Err(Busy) => self.release(keys),
        }
    }
}

/// The limiter keys of a sign-in: (account, client) first, then the client.
pub fn keys(kind: &str, account: &str, client: Client) -> [(String, u32); 2] {
    [
        (format!("{kind}:{account}|{}", client.0), Attempts::FREE_FAILURES),
        (format!("client:{}", client.0), Attempts::FREE_PER_CLIENT),
    ]
}

/// Borrowed view of [`keys`] for [`Attempts::begin`] and [`Attempts::end`].
pub fn borrow(keys: &[(String, u32)]) -> Vec<(&str, u32)> {
    keys.iter().map(|(k, n)| (k.as_str(), *n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_reserves_at_most_the_free_tries() {
        let mut a = Attempts::default();
        let k = [("t:prof|1.2.3.4", 5)];
        let granted = (0..200).filter(|_| a.begin(&k).is_ok()).count();
        assert_eq!(granted, Attempts::MAX_IN_FLIGHT as usize, "a few at a time");
        for _ in 0..granted {
            a.end(&k, false);
        }
        let mut checked = granted;
        while a.begin(&k).is_ok() {
            a.end(&k, false);
            checked += 1;
        }
        assert_eq!(checked, 5);
        assert!(a.begin(&k).is_err(), "locked after 5 failures");
        assert!(a.begin(&[("t:prof|5.6.7.8", 5)]).is_ok(), "another client is not locked");
    }

    #[test]
    fn success_clears_the_account_not_the_client() {
        let mut a = Attempts::default();
        let k = [("t:x|c", 5), ("client:c", 3)];
        for _ in 0..2 {
            a.begin(&k).unwrap();
            a.end(&k, false);
        }
        a.begin(&k).unwrap();
        a.end(&k, true);
        a.begin(&k).unwrap();
        a.end(&k, false);
        assert!(a.begin(&[("t:y|c", 5), ("client:c", 3)]).is_err(), "the client's third failure locks it");
        assert!(a.begin(&[("t:x|c", 5)]).is_ok());
    }

    #[test]
    fn hashes_verify_in_a_reused_buffer() {
        let mut buf = vec![Block::default(); params().block_count()];
        let h = hash_with("motdepasse1", &mut buf).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_with("motdepasse1", &h, &mut buf));
        assert!(!verify_with("motdepasse2", &h, &mut buf));
        // A hash made by the argon2 crate's own API (older boxes) still verifies.
        use argon2::password_hash::PasswordHasher;
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let old = Argon2::default().hash_password(b"ancien-mdp", &salt).unwrap().to_string();
        assert!(verify_with("ancien-mdp", &old, &mut buf));
        assert!(!verify_with("x", "not a hash", &mut buf));
        let dummy = PasswordHash::new(DUMMY_HASH).unwrap();
        assert_eq!(Params::try_from(&dummy).unwrap().block_count(), params().block_count(), "same cost as real hashes");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn checks_beyond_the_queue_get_busy_and_the_slots_bound_the_work() {
        let p = Arc::new(Passwords::new(1));
        let tasks: Vec<_> = (0..40)
            .map(|_| {
                let p = p.clone();
                tokio::spawn(async move { p.verify("devine".into(), None).await })
            })
            .collect();
        let mut busy = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(ok) => assert!(!ok, "an unknown name never matches"),
                Err(Busy) => busy += 1,
            }
        }
        assert!(busy >= 40 - (QUEUE_PER_SLOT + 1), "{busy} refused");
        assert_eq!(p.evaluations(), 40 - busy as u64);
        assert_eq!(p.buffers.lock().unwrap().len(), 1, "one buffer for one slot, reused");
        let r = Busy.into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "5");
    }
}
