//! Counters for `GET /metrics` (Prometheus text format, version 0.0.4).
//!
//! Plain atomics: no registry, no labels beyond a fixed status class, so that counting
//! costs nothing on the hot path of a Pi.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Default)]
pub struct Metrics {
    pub connections_accepted: AtomicU64,
    pub connections_refused: AtomicU64,
    pub connections_open: AtomicU64,
    pub requests: [AtomicU64; 5],
    pub requests_timed_out: AtomicU64,
    pub bodies_too_large: AtomicU64,
    pub pack_bytes_sent: AtomicU64,
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
    pub gzip_responses: AtomicU64,
}

impl Metrics {
    pub fn count_status(&self, status: u16) {
        let class = (status / 100).clamp(1, 5) as usize - 1;
        self.requests[class].fetch_add(1, Relaxed);
    }

    /// Renders every counter; `extra` lines (gauges known elsewhere) are appended.
    pub fn render(&self, packs_installed: usize, cache_bytes: u64) -> String {
        let mut out = String::with_capacity(2048);
        let mut one = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        };
        one(
            "preau_connections_accepted_total",
            "counter",
            "TCP connections accepted.",
            self.connections_accepted.load(Relaxed),
        );
        one(
            "preau_connections_refused_total",
            "counter",
            "Connections refused because the connection cap was reached.",
            self.connections_refused.load(Relaxed),
        );
        one("preau_connections_open", "gauge", "Connections open now.", self.connections_open.load(Relaxed));
        one(
            "preau_requests_timed_out_total",
            "counter",
            "Requests whose handler ran past the request timeout.",
            self.requests_timed_out.load(Relaxed),
        );
        one(
            "preau_request_bodies_too_large_total",
            "counter",
            "Requests refused for a body over the limit.",
            self.bodies_too_large.load(Relaxed),
        );
        one(
            "preau_pack_bytes_sent_total",
            "counter",
            "Bytes of pack and repository files sent (before HTTP framing).",
            self.pack_bytes_sent.load(Relaxed),
        );
        one(
            "preau_file_cache_hits_total",
            "counter",
            "Pack file reads answered from memory.",
            self.cache_hits.load(Relaxed),
        );
        one(
            "preau_file_cache_misses_total",
            "counter",
            "Pack file reads that went to disk.",
            self.cache_misses.load(Relaxed),
        );
        one("preau_file_cache_bytes", "gauge", "Bytes held by the file cache.", cache_bytes);
        one(
            "preau_gzip_responses_total",
            "counter",
            "Responses sent gzip-compressed.",
            self.gzip_responses.load(Relaxed),
        );
        one("preau_packs_installed", "gauge", "Packs installed on this box.", packs_installed as u64);
        let _ = writeln!(out, "# HELP preau_http_requests_total HTTP requests answered, by status class.");
        let _ = writeln!(out, "# TYPE preau_http_requests_total counter");
        for (i, c) in self.requests.iter().enumerate() {
            let _ = writeln!(out, "preau_http_requests_total{{class=\"{}xx\"}} {}", i + 1, c.load(Relaxed));
        }
        out
    }
}
