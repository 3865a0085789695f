//! The box's health, sent with each sync as one xAPI statement with a Préau verb: what a
//! technician needs to see a box from afar (version, uptime, free space, packs, clock,
//! last content sync, a Pi's power and temperature), and nothing about pupils.

use std::path::Path;

use serde::Serialize;
use serde_json::{Value, json};

use super::publish::PublishOptions;

/// Verb of the health statement.
pub const VERB_HEALTH: &str = "urn:preau:xapi:verb:reported-health";
/// Context extension holding [`Health`].
pub const EXT_HEALTH: &str = "urn:preau:xapi:ext:health";

/// The Raspberry Pi firmware's throttling flags (bit 0: undervoltage now, 1: frequency
/// capped, 2: throttled, 3: soft temperature limit; bits 16-19: the same, since boot).
const THROTTLED: &str = "/sys/devices/platform/soc/soc:firmware/get_throttled";
const SOC_TEMP: &str = "/sys/class/thermal/thermal_zone0/temp";

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Health {
    pub box_id: String,
    pub version: String,
    pub uptime_secs: Option<u64>,
    /// Free bytes on the data folder's file system.
    pub free_bytes: Option<u64>,
    /// Installed packs and their versions.
    pub packs: Vec<(String, u64)>,
    /// Seconds the box adds to its system clock (set by a teacher's browser).
    pub clock_offset_secs: i64,
    /// The last content sync: "ok", or its error.
    pub last_sync: Option<String>,
    /// `get_throttled`, when the firmware exposes it (a Pi).
    pub throttled: Option<u32>,
    pub undervoltage_now: Option<bool>,
    pub undervoltage_since_boot: Option<bool>,
    /// SoC temperature in degrees Celsius, when the kernel exposes it.
    pub soc_temp_c: Option<f64>,
}

impl Health {
    /// What the machine says about itself; the caller fills in the box's own facts.
    pub fn probe(data_dir: &Path) -> Health {
        let throttled = read_small(THROTTLED).and_then(|s| parse_throttled(&s));
        Health {
            version: env!("CARGO_PKG_VERSION").into(),
            uptime_secs: read_small("/proc/uptime")
                .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
                .map(|s| s as u64),
            free_bytes: rustix::fs::statvfs(data_dir).ok().map(|s| s.f_bavail.saturating_mul(s.f_frsize)),
            throttled,
            undervoltage_now: throttled.map(|t| t & 1 != 0),
            undervoltage_since_boot: throttled.map(|t| t & (1 << 16) != 0),
            soc_temp_c: read_small(SOC_TEMP).and_then(|s| s.trim().parse::<f64>().ok()).map(|m| m / 1000.0),
            ..Default::default()
        }
    }
}

fn read_small(path: &str) -> Option<String> {
    use std::io::Read;
    let mut s = String::new();
    std::fs::File::open(path).ok()?.take(256).read_to_string(&mut s).ok()?;
    Some(s)
}

/// `0x50005` or `50005` (the firmware driver prints hex).
pub fn parse_throttled(s: &str) -> Option<u32> {
    let t = s.trim();
    u32::from_str_radix(t.strip_prefix("0x").unwrap_or(t), 16).ok()
}

/// The statement: the box itself is the actor (an account under the box's home page,
/// named by the box id), its health a context extension.
pub fn health_statement(h: &Health, opts: &PublishOptions, timestamp_unix: i64) -> Value {
    let ts = time::OffsetDateTime::from_unix_timestamp(timestamp_unix)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into());
    json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "actor": {"objectType": "Agent", "account": {"homePage": opts.home_page_url(), "name": format!("box-{}", opts.box_id)}},
        "verb": {"id": VERB_HEALTH, "display": {"fr-FR": "a signalé son état", "en-US": "reported health"}},
        "object": {"objectType": "Activity", "id": format!("{}#health", opts.home_page_url()),
                   "definition": {"name": {"fr-FR": "État de la boîte Préau", "en-US": "Préau box health"}}},
        "timestamp": ts,
        "context": {"extensions": {EXT_HEALTH: h}},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttled_flags_parse() {
        assert_eq!(parse_throttled("throttled=0x50005\n"), None);
        assert_eq!(parse_throttled("0x50005\n"), Some(0x50005));
        assert_eq!(parse_throttled("50005"), Some(0x50005));
    }

    #[test]
    fn the_statement_names_the_box_only() {
        let mut h = Health::probe(Path::new("/"));
        h.box_id = "b0x".into();
        h.packs = vec![("maths".into(), 3)];
        assert!(h.uptime_secs.is_some() && h.free_bytes.is_some(), "{h:?}");
        let opts =
            PublishOptions { box_id: "b0x".into(), home_page: "https://lrs.example/".into(), send_responses: false };
        let s = health_statement(&h, &opts, 1_767_225_600);
        assert_eq!(s["actor"]["account"]["name"], "box-b0x");
        assert_eq!(s["context"]["extensions"][EXT_HEALTH]["packs"][0], json!(["maths", 3]));
        assert_eq!(s["timestamp"], "2026-01-01T00:00:00Z");
        assert!(crate::upstream::publish::is_uuid(s["id"].as_str().unwrap()));
    }
}
