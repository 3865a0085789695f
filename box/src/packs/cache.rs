//! A bounded in-memory cache of small files and their gzip forms.
//!
//! Reading a pack file means opening an object and decompressing zstd; compressing it
//! for gzip costs much more. Small, often-read files (pages, scripts, styles) are kept
//! here by content hash, so a class of 30 opening the same page costs one read and one
//! compression. Eviction is first-in first-out: simple, and good enough when the
//! working set (one lesson) is far smaller than the budget.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;
use preau_pack::Hash;

/// The form of a cached file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Form {
    Identity,
    Gzip,
    /// A Markdown file rendered to an HTML page.
    Markdown,
}

pub struct Cache {
    budget: u64,
    /// Largest single entry: one huge file must not flush everything else.
    max_entry: u64,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    map: HashMap<(Hash, Form), Bytes>,
    order: VecDeque<(Hash, Form)>,
    bytes: u64,
}

impl Cache {
    pub fn new(budget: u64) -> Cache {
        Cache { budget, max_entry: (budget / 8).min(2 * 1024 * 1024), inner: Mutex::default() }
    }

    /// Whether a body of `len` bytes would be kept.
    pub fn fits(&self, len: u64) -> bool {
        len <= self.max_entry
    }

    pub fn get(&self, hash: &Hash, form: Form) -> Option<Bytes> {
        self.lock().map.get(&(*hash, form)).cloned()
    }

    pub fn insert(&self, hash: Hash, form: Form, body: Bytes) {
        let len = body.len() as u64;
        if !self.fits(len) {
            return;
        }
        let mut inner = self.lock();
        if inner.map.contains_key(&(hash, form)) {
            return;
        }
        while inner.bytes + len > self.budget {
            let Some(old) = inner.order.pop_front() else { break };
            if let Some(b) = inner.map.remove(&old) {
                inner.bytes -= b.len() as u64;
            }
        }
        inner.bytes += len;
        inner.order.push_back((hash, form));
        inner.map.insert((hash, form), body);
        debug_assert!(inner.bytes <= self.budget);
    }

    /// Bytes held now.
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }

    pub fn clear(&self) {
        *self.lock() = Inner::default();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_within_budget_and_evicts_oldest() {
        let c = Cache::new(800);
        assert!(c.fits(100) && !c.fits(101));
        for i in 0..20u8 {
            c.insert(Hash::of(&[i]), Form::Identity, Bytes::from(vec![i; 100]));
            assert!(c.bytes() <= 800);
        }
        assert!(c.get(&Hash::of(&[0]), Form::Identity).is_none());
        assert_eq!(c.get(&Hash::of(&[19]), Form::Identity).unwrap()[0], 19);
        assert!(c.get(&Hash::of(&[19]), Form::Gzip).is_none());
        c.insert(Hash::of(b"big"), Form::Gzip, Bytes::from(vec![0; 101]));
        assert!(c.get(&Hash::of(b"big"), Form::Gzip).is_none());
    }
}
