//! The pull of every pack as a state machine without I/O (sans-IO, like `plan.rs` and
//! quinn-proto): it takes [`Event`]s (a bundle part, an object, bytes read from the
//! box, a write done, a failed fetch) and returns [`Action`]s (fetch these Range parts,
//! fetch that object, read this, write that verified object, keep the bundle, switch).
//! The driver (`pull.rs` with `fetch::Pool`) performs the actions on the network and the
//! disk and feeds the results back; property tests drive it with reordered, duplicated,
//! cut and corrupted inputs, without sockets (`tests/machine.rs`).
//!
//! What it guarantees whatever the inputs:
//! - every [`Action::Write`] holds bytes that decode to the object they are named by
//!   (verified here, before the action is returned);
//! - [`Action::Switch`] comes once, after every request has been answered, and names only
//!   packs whose every object is known written ([`Event::Written`]) or was on disk;
//! - an update bundle that is missing or wrong is dropped with a warning, and the pack
//!   continues the three-round way (manifest, then objects one by one);
//! - an object needed twice (two packs, a delta's fallback) is fetched once; an event
//!   that answers nothing pending (a duplicate, a late answer) is ignored.
//!
//! Queries of what is on disk go through `present` (a stat), as in `plan.rs`: reading
//! state is not an action.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use preau_pack::meta::{BundleRef, CatalogEntry};
use preau_pack::object::{self, Encoding};
use preau_pack::repo::update_rel_path;
use preau_pack::{FileEntry, Hash, Manifest, bundle, delta, limits};

use crate::error::{Error, Result};
use crate::fetch::Lane;
use crate::plan::{self, DeltaStep, ManifestFetch};

/// Why a source has no bundle (a 404 on its first part): from a peer, no warning.
pub const NO_BUNDLE: &str = "the source does not have it";

/// A pack to bring to the catalog's version.
#[derive(Debug, Clone)]
pub struct Target {
    pub id: String,
    pub entry: CatalogEntry,
    /// The installed version's manifest (hash, size), if any.
    pub current: Option<(Hash, u64)>,
}

/// What the machine needs to know about the source and the box.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// For messages: the source's URL or folder.
    pub source: String,
    /// Whether to try update bundles (servers: yes; a USB stick serves objects at no
    /// round-trip cost).
    pub bundles: bool,
    /// A peer box: most have no bundle for a step, which is not worth a warning.
    pub peer: bool,
    /// Parallel connections (bundle parts are split for them).
    pub workers: usize,
    /// Parts ([`plan::speculative_part`]) already asked for with the catalog, by the
    /// manifest the bundle updates (`plan::speculation`).
    pub prefix: HashMap<Hash, u64>,
    /// The installed versions' manifests: the delta bases.
    pub installed: Vec<Manifest>,
}

/// Who asked for bytes read from the box or fetched: the answer is routed back to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum For {
    /// The new manifest of pack `.0` (present on disk, or fetched whole).
    Manifest(usize),
    /// The manifest patch from the installed manifest, for pack `.0`.
    ManifestPatch(usize),
    /// The installed manifest a patch applies to (pack `.0`).
    ManifestBase(usize),
    /// The patch of delta step `.1` of pack `.0`.
    Patch(usize, usize),
    /// An object that only has to be on disk, for pack `.0`.
    Chunk(usize),
}

/// What the driver is asked to do. Each one that is not marked otherwise is answered by
/// one [`Event`].
#[derive(Debug, Clone)]
pub enum Action {
    /// Bytes `start..end` of the update bundle `updates/…/<from>` (answered by
    /// [`Event::Part`]).
    FetchPart { pack: usize, from: Hash, part: usize, start: u64, end: u64 },
    /// The stored bytes of an object of `len` decoded bytes. `attempt` 1 follows a bad
    /// copy: drop any partial copy first. Answered by [`Event::Object`] with the same
    /// `attempt`.
    FetchObject { hash: Hash, len: u64, lane: Lane, attempt: u32 },
    /// Read a verified object from the box's disk (answered by [`Event::Read`]).
    Read { hash: Hash, len: u64, to: For },
    /// Read a whole file of the box: the base of delta step `step` (answered by
    /// [`Event::FileRead`]).
    ReadFile { pack: usize, step: usize, file: FileEntry },
    /// Decode a whole bundle (a referenced one is rebuilt from files of the version
    /// `from`, read from the box). Answered by [`Event::Decoded`].
    Decode { pack: usize, from: Hash, from_size: u64, bundle: BundleRef, stored: Arc<Vec<u8>> },
    /// Write an object durably. `stored` decodes to `hash` (checked here). Answered by
    /// [`Event::Written`].
    Write { hash: Hash, stored: Arc<Vec<u8>> },
    /// Keep a bundle used, for peers one version behind (best effort, no answer).
    KeepBundle { from: Hash, stored: Arc<Vec<u8>> },
    /// The parts of a bundle are read: remove their partial files (no answer).
    ClearParts { from: Hash, starts: Vec<u64> },
    /// Something the person should know (no answer).
    Warn(String),
    /// The end: write the metadata, then switch these packs (indexes into the targets)
    /// in one atomic rename. Comes once, after everything else was answered.
    Switch(Vec<usize>),
}

/// What the driver reports back.
#[derive(Debug, Clone)]
pub enum Event {
    /// A bundle part: its bytes, `None` when the source has no such bundle, or why the
    /// fetch failed (a server ignoring Range, a cut, a timeout).
    Part { pack: usize, part: usize, got: std::result::Result<Option<Vec<u8>>, String> },
    /// An object's stored bytes as the source sent them (unverified), `None` when the
    /// source does not have it.
    Object { hash: Hash, attempt: u32, stored: Option<Vec<u8>> },
    /// The decoded bytes of an object read from the box.
    Read { hash: Hash, to: For, bytes: Vec<u8> },
    /// The bytes of a base file.
    FileRead { pack: usize, step: usize, bytes: Vec<u8> },
    /// A decoded bundle, or why it could not be decoded.
    Decoded { pack: usize, got: std::result::Result<Vec<u8>, String> },
    /// An object is durably on disk.
    Written { hash: Hash },
}

/// A manifest update through a bundle: from the installed manifest `from` (`from_size`
/// bytes) with the patch `patch` (`patch_size` bytes), which the bundle starts with.
#[derive(Debug, Clone, Copy)]
struct Via {
    from: Hash,
    from_size: u64,
    patch: Hash,
    patch_size: u64,
    bundle: BundleRef,
}

/// Where one pack stands.
#[derive(Debug)]
enum Phase {
    /// Update bundle parts in flight.
    Parts { via: Via, parts: Vec<Option<Vec<u8>>>, waiting: BTreeSet<usize>, failed: Option<String> },
    /// The whole bundle is being decoded.
    Decoding { via: Via, stored: Arc<Vec<u8>> },
    /// The bundle checked out: the installed manifest is being read to apply its patch.
    BundleBase { from: Hash, stored: Arc<Vec<u8>>, bytes: Arc<Vec<u8>>, patch: Vec<u8> },
    /// Getting the new manifest without a bundle.
    Manifest,
    /// The manifest patch (object `object`) is in: the installed manifest is being read.
    ManifestBase { object: Hash, patch: Vec<u8> },
    /// Planned: objects in flight.
    Objects,
    /// This source cannot bring the pack.
    Unavailable(String),
}

struct Pack {
    t: Target,
    phase: Phase,
    manifest: Option<Manifest>,
    /// Delta steps and their patches once in.
    steps: Vec<(DeltaStep, Option<Vec<u8>>)>,
    /// Objects the source does not have.
    missing: Vec<Hash>,
    deltas_used: u64,
    deltas_failed: u64,
}

/// What became of a pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Complete: (deltas used, deltas that failed and were replaced by chunks).
    Complete { deltas_used: u64, deltas_failed: u64 },
    /// This source could not complete it (why); the installed version is unchanged.
    Unavailable(String),
}

/// The pull of a set of packs. See the module documentation.
pub struct Pull {
    cfg: Config,
    packs: Vec<Pack>,
    /// Objects in flight: (decoded length, attempt, who waits for them).
    fetching: HashMap<Hash, (u64, u32, Vec<For>)>,
    /// Objects being written that someone needs the bytes of: read once written.
    after_write: HashMap<Hash, Vec<(u64, For)>>,
    /// Reads in flight.
    reading: HashSet<(Hash, For)>,
    /// Base files being read: (pack, step).
    reading_files: HashSet<(usize, usize)>,
    /// Writes asked for and not yet confirmed; objects confirmed written.
    writing: HashSet<Hash>,
    written: HashSet<Hash>,
    /// Objects fetched and verified, and objects taken from bundles (for the summary).
    objects: u64,
    planned: usize,
    switched: bool,
}

type Present<'a> = &'a dyn Fn(&Hash) -> bool;

impl Pull {
    pub fn new(targets: Vec<Target>, cfg: Config) -> Result<Pull> {
        for t in &targets {
            if t.entry.manifest_size > limits::MAX_MANIFEST_BYTES {
                return Err(Error::TooLarge {
                    what: format!("manifest of pack {}", t.id),
                    limit: limits::MAX_MANIFEST_BYTES,
                });
            }
        }
        let packs = targets
            .into_iter()
            .map(|t| Pack {
                t,
                phase: Phase::Manifest,
                manifest: None,
                steps: Vec::new(),
                missing: Vec::new(),
                deltas_used: 0,
                deltas_failed: 0,
            })
            .collect();
        Ok(Pull {
            cfg,
            packs,
            fetching: HashMap::new(),
            after_write: HashMap::new(),
            reading: HashSet::new(),
            reading_files: HashSet::new(),
            writing: HashSet::new(),
            written: HashSet::new(),
            objects: 0,
            planned: 0,
            switched: false,
        })
    }

    /// The first actions: every pack's manifest (or update bundle) at once.
    pub fn start(&mut self, present: Present) -> Result<Vec<Action>> {
        let mut out = Vec::new();
        for pack in 0..self.packs.len() {
            self.begin(pack, true, present, &mut out)?;
        }
        self.finish(present, &mut out)?;
        Ok(out)
    }

    /// Takes one event and returns what to do next. An error is fatal to the whole pull
    /// (a mix-and-match manifest, a source that serves a bad copy twice).
    pub fn handle(&mut self, ev: Event, present: Present) -> Result<Vec<Action>> {
        let mut out = Vec::new();
        if !self.switched {
            match ev {
                Event::Part { pack, part, got } => self.on_part(pack, part, got, present, &mut out)?,
                Event::Object { hash, attempt, stored } => self.on_object(hash, attempt, stored, present, &mut out)?,
                Event::Read { hash, to, bytes } => {
                    if self.reading.remove(&(hash, to)) {
                        self.deliver(to, hash, bytes, present, &mut out)?;
                    }
                }
                Event::FileRead { pack, step, bytes } => {
                    if self.reading_files.remove(&(pack, step)) {
                        self.rebuild(pack, step, &bytes, present, &mut out)?;
                    }
                }
                Event::Decoded { pack, got } => self.on_decoded(pack, got, present, &mut out)?,
                Event::Written { hash } => {
                    if self.writing.remove(&hash) {
                        self.written.insert(hash);
                        for (len, to) in self.after_write.remove(&hash).unwrap_or_default() {
                            self.read(hash, len, to, &mut out);
                        }
                    }
                }
            }
            self.finish(present, &mut out)?;
        }
        Ok(out)
    }

    /// Whether the switch was asked for (nothing more will be).
    pub fn is_done(&self) -> bool {
        self.switched
    }

    /// Packs whose manifest is in and planned.
    pub fn planned(&self) -> usize {
        self.planned
    }

    /// Objects fetched and verified, and objects taken from bundles.
    pub fn objects(&self) -> u64 {
        self.objects
    }

    /// What became of each target, in order (meaningful once [`Pull::is_done`]).
    pub fn outcomes(&self) -> Vec<Outcome> {
        self.packs.iter().map(|p| self.outcome(p)).collect()
    }

    fn outcome(&self, p: &Pack) -> Outcome {
        if let Phase::Unavailable(why) = &p.phase {
            return Outcome::Unavailable(why.clone());
        }
        let Some(m) = &p.manifest else {
            return Outcome::Unavailable(format!("no manifest for version {}", p.t.entry.version));
        };
        if let Some(h) = p.missing.first() {
            return Outcome::Unavailable(format!(
                "{} lacks {} object(s) of version {}, for example {h}",
                self.cfg.source,
                p.missing.len(),
                m.version
            ));
        }
        Outcome::Complete { deltas_used: p.deltas_used, deltas_failed: p.deltas_failed }
    }

    fn has(&self, h: &Hash, present: Present) -> bool {
        self.written.contains(h) || present(h)
    }

    fn warn(out: &mut Vec<Action>, w: String) {
        out.push(Action::Warn(w));
    }

    /// Nothing in flight: the switch, once, for the complete packs.
    fn finish(&mut self, present: Present, out: &mut Vec<Action>) -> Result<()> {
        let busy = !self.fetching.is_empty()
            || !self.reading.is_empty()
            || !self.reading_files.is_empty()
            || !self.writing.is_empty()
            || !self.after_write.is_empty()
            || self.packs.iter().any(|p| !matches!(p.phase, Phase::Objects | Phase::Unavailable(_)));
        if busy || self.switched {
            return Ok(());
        }
        let mut switch = Vec::new();
        for (i, p) in self.packs.iter().enumerate() {
            if let (Outcome::Complete { .. }, Some(m)) = (self.outcome(p), &p.manifest) {
                if let Some(h) =
                    m.files.iter().flat_map(|f| f.chunk_list()).map(|c| c.0).find(|h| !self.has(h, present))
                {
                    return Err(Error::Other(format!("pack {}: object {h} is still missing after the pull", p.t.id)));
                }
                switch.push(i);
            }
        }
        self.switched = true;
        out.push(Action::Switch(switch));
        Ok(())
    }

    /// Starts getting a pack's manifest: from its update bundle when `try_bundle` and
    /// the source serves bundles, otherwise on its own.
    fn begin(&mut self, pack: usize, try_bundle: bool, present: Present, out: &mut Vec<Action>) -> Result<()> {
        let p = &self.packs[pack];
        let fetch = plan::manifest_fetch(&p.t.entry, p.t.current, &|h: &Hash| self.has(h, present));
        let (hash, len) = (p.t.entry.manifest, p.t.entry.manifest_size);
        if try_bundle
            && self.cfg.bundles
            && let ManifestFetch::Delta { from, from_size, object, size, bundle: Some(bundle) } = fetch
        {
            let via = Via { from, from_size, patch: object, patch_size: size, bundle };
            let prefix = self.cfg.prefix.get(&from).copied().unwrap_or(0);
            let parts = plan::bundle_parts(bundle.stored_len(), self.cfg.workers, prefix);
            for (part, (start, end)) in parts.iter().enumerate() {
                out.push(Action::FetchPart { pack, from, part, start: *start, end: *end });
            }
            let waiting = (0..parts.len()).collect();
            self.packs[pack].phase = Phase::Parts { via, parts: vec![None; parts.len()], waiting, failed: None };
            if parts.is_empty() {
                return self.open_bundle(pack, present, out);
            }
            return Ok(());
        }
        self.packs[pack].phase = Phase::Manifest;
        match fetch {
            ManifestFetch::Present => self.read(hash, len, For::Manifest(pack), out),
            ManifestFetch::Delta { object, size, .. } => {
                self.need(object, size, For::ManifestPatch(pack), present, out)
            }
            ManifestFetch::Whole => self.need(hash, len, For::Manifest(pack), present, out),
        }
        Ok(())
    }

    fn read(&mut self, hash: Hash, len: u64, to: For, out: &mut Vec<Action>) {
        if self.reading.insert((hash, to)) {
            out.push(Action::Read { hash, len, to });
        }
    }

    /// `to` needs object `hash`: from disk when it is there (or being written), else
    /// fetched, once for all who need it.
    fn need(&mut self, hash: Hash, len: u64, to: For, present: Present, out: &mut Vec<Action>) {
        let bytes = !matches!(to, For::Chunk(_));
        if self.writing.contains(&hash) {
            if bytes {
                self.after_write.entry(hash).or_default().push((len, to));
            }
        } else if self.has(&hash, present) {
            if bytes {
                self.read(hash, len, to, out);
            }
        } else if let Some((_, _, waiting)) = self.fetching.get_mut(&hash) {
            waiting.push(to);
        } else {
            // A manifest unblocks a whole pack: before any queued object.
            let lane = if matches!(to, For::Manifest(_) | For::ManifestPatch(_)) { Lane::First } else { lane(len) };
            self.fetching.insert(hash, (len, 0, vec![to]));
            out.push(Action::FetchObject { hash, len, lane, attempt: 0 });
        }
    }

    fn on_part(
        &mut self,
        pack: usize,
        part: usize,
        got: std::result::Result<Option<Vec<u8>>, String>,
        present: Present,
        out: &mut Vec<Action>,
    ) -> Result<()> {
        let Some(p) = self.packs.get_mut(pack) else { return Ok(()) };
        let Phase::Parts { parts, waiting, failed, .. } = &mut p.phase else { return Ok(()) };
        if !waiting.remove(&part) {
            return Ok(());
        }
        match got {
            Ok(Some(bytes)) => parts[part] = Some(bytes),
            Ok(None) => {
                failed.get_or_insert_with(|| NO_BUNDLE.into());
            }
            Err(why) => {
                failed.get_or_insert(why);
            }
        }
        if waiting.is_empty() {
            self.open_bundle(pack, present, out)?;
        }
        Ok(())
    }

    /// Drops the bundle with a warning (silently from a peer that has none) and gets the
    /// manifest on its own.
    fn without(
        &mut self,
        pack: usize,
        from: &Hash,
        why: String,
        present: Present,
        out: &mut Vec<Action>,
    ) -> Result<()> {
        if !(self.cfg.peer && why == NO_BUNDLE) {
            Self::warn(
                out,
                format!(
                    "the update bundle of pack {} ({}) was not used ({why}); fetching the manifest and objects one by one",
                    self.packs[pack].t.id,
                    update_rel_path(from)
                ),
            );
        }
        self.begin(pack, false, present, out)
    }

    /// Every part is in: decode the whole bundle.
    fn open_bundle(&mut self, pack: usize, present: Present, out: &mut Vec<Action>) -> Result<()> {
        let Phase::Parts { via, parts, failed, .. } = std::mem::replace(&mut self.packs[pack].phase, Phase::Manifest)
        else {
            return Ok(());
        };
        let prefix = self.cfg.prefix.get(&via.from).copied().unwrap_or(0);
        let starts =
            plan::bundle_parts(via.bundle.stored_len(), self.cfg.workers, prefix).into_iter().map(|(s, _)| s).collect();
        out.push(Action::ClearParts { from: via.from, starts });
        if let Some(why) = failed {
            return self.without(pack, &via.from, why, present, out);
        }
        let stored = Arc::new(parts.into_iter().flatten().flatten().collect::<Vec<u8>>());
        self.packs[pack].phase = Phase::Decoding { via, stored: stored.clone() };
        out.push(Action::Decode { pack, from: via.from, from_size: via.from_size, bundle: via.bundle, stored });
        Ok(())
    }

    fn on_decoded(
        &mut self,
        pack: usize,
        got: std::result::Result<Vec<u8>, String>,
        present: Present,
        out: &mut Vec<Action>,
    ) -> Result<()> {
        let Some(p) = self.packs.get_mut(pack) else { return Ok(()) };
        if !matches!(p.phase, Phase::Decoding { .. }) {
            return Ok(());
        }
        let Phase::Decoding { via, stored } = std::mem::replace(&mut p.phase, Phase::Manifest) else {
            return Ok(());
        };
        let Via { from, from_size, patch: patch_hash, patch_size, .. } = via;
        let bytes = match got {
            Ok(b) => b,
            Err(why) => return self.without(pack, &from, why, present, out),
        };
        let patch = match bundle::first_record(&bytes) {
            Err(e) => Err(e.to_string()),
            Ok((h, first)) if h == patch_hash => {
                object::decode_verified(first, &h, patch_size).map_err(|e| e.to_string())
            }
            Ok(_) => Err("it does not start with the manifest patch".into()),
        };
        let patch = match patch {
            Ok(p) => p,
            Err(why) => return self.without(pack, &from, why, present, out),
        };
        self.packs[pack].phase = Phase::BundleBase { from, stored, bytes: Arc::new(bytes), patch };
        self.read(from, from_size, For::ManifestBase(pack), out);
        Ok(())
    }

    fn on_object(
        &mut self,
        hash: Hash,
        attempt: u32,
        stored: Option<Vec<u8>>,
        present: Present,
        out: &mut Vec<Action>,
    ) -> Result<()> {
        let Some((len, expected, _)) = self.fetching.get(&hash) else { return Ok(()) };
        if *expected != attempt {
            // A late or duplicated answer to an earlier request.
            return Ok(());
        }
        let len = *len;
        let Some(stored) = stored else {
            let (_, _, waiting) = self.fetching.remove(&hash).expect("checked above");
            for to in waiting {
                self.absent(to, hash, present, out)?;
            }
            return Ok(());
        };
        let data = match object::decode_verified(&stored, &hash, len) {
            Ok(d) => d,
            Err(_) if attempt == 0 => {
                // Once more from byte 0: a resumed partial copy may have been the problem.
                if let Some(f) = self.fetching.get_mut(&hash) {
                    f.1 = 1;
                }
                out.push(Action::FetchObject { hash, len, lane: lane(len), attempt: 1 });
                return Ok(());
            }
            Err(e) => {
                return Err(Error::CorruptObject {
                    hash,
                    detail: format!("{} served a bad copy of it: {e}", self.cfg.source),
                });
            }
        };
        let (_, _, waiting) = self.fetching.remove(&hash).expect("checked above");
        self.objects += 1;
        self.write(hash, stored, out);
        for to in waiting {
            self.deliver(to, hash, data.clone(), present, out)?;
        }
        Ok(())
    }

    /// Asks for a write of `stored`, which the caller has verified against `hash`.
    fn write(&mut self, hash: Hash, stored: Vec<u8>, out: &mut Vec<Action>) {
        if !self.written.contains(&hash) && self.writing.insert(hash) {
            out.push(Action::Write { hash, stored: Arc::new(stored) });
        }
    }

    /// The source does not have what `to` needed.
    fn absent(&mut self, to: For, hash: Hash, present: Present, out: &mut Vec<Action>) -> Result<()> {
        match to {
            For::Chunk(pack) => self.packs[pack].missing.push(hash),
            For::Manifest(pack) => {
                let p = &mut self.packs[pack];
                p.phase = Phase::Unavailable(format!(
                    "{} does not have the manifest of version {}",
                    self.cfg.source, p.t.entry.version
                ));
            }
            For::ManifestPatch(pack) => {
                let (hash, len) = (self.packs[pack].t.entry.manifest, self.packs[pack].t.entry.manifest_size);
                self.need(hash, len, For::Manifest(pack), present, out);
            }
            For::Patch(pack, step) => self.delta_failed(pack, step, None, present, out),
            For::ManifestBase(_) => {}
        }
        Ok(())
    }

    /// Decoded, verified bytes for `to`.
    fn deliver(&mut self, to: For, hash: Hash, bytes: Vec<u8>, present: Present, out: &mut Vec<Action>) -> Result<()> {
        match to {
            For::Chunk(_) => Ok(()),
            For::Manifest(pack) => self.plan(pack, &bytes, &HashMap::new(), present, out),
            For::ManifestPatch(pack) => {
                let Some((from, from_size)) = self.packs[pack].t.current else { return Ok(()) };
                self.packs[pack].phase = Phase::ManifestBase { object: hash, patch: bytes };
                self.read(from, from_size, For::ManifestBase(pack), out);
                Ok(())
            }
            For::ManifestBase(pack) => self.on_base(pack, &bytes, present, out),
            For::Patch(pack, step) => {
                let Some((s, patch)) = self.packs[pack].steps.get_mut(step) else { return Ok(()) };
                if patch.is_none() && s.delta.object == hash {
                    *patch = Some(bytes);
                    let file = s.base.clone();
                    if self.reading_files.insert((pack, step)) {
                        out.push(Action::ReadFile { pack, step, file });
                    }
                }
                Ok(())
            }
        }
    }

    /// The installed manifest is read: apply the manifest patch (from the bundle or
    /// fetched alone).
    fn on_base(&mut self, pack: usize, old: &[u8], present: Present, out: &mut Vec<Action>) -> Result<()> {
        let (entry_hash, entry_size) = (self.packs[pack].t.entry.manifest, self.packs[pack].t.entry.manifest_size);
        match std::mem::replace(&mut self.packs[pack].phase, Phase::Manifest) {
            Phase::BundleBase { from, stored, bytes, patch } => {
                let manifest = match delta::apply_verified(old, &patch, &entry_hash, entry_size) {
                    Ok(m) => m,
                    Err(e) => return self.without(pack, &from, e.to_string(), present, out),
                };
                self.write(entry_hash, object::encode(&manifest, Encoding { level: 3, try_compress: true }), out);
                self.objects += 1;
                out.push(Action::KeepBundle { from, stored });
                // The other records, by object: each is checked when it is used.
                let records = Manifest::from_bytes(old)
                    .and_then(|prev| Ok((prev, Manifest::from_bytes(&manifest)?)))
                    .and_then(|(prev, new)| bundle::later_records(&bytes, &prev, &new));
                let bundled: HashMap<Hash, &[u8]> = records.map(|r| r.into_iter().collect()).unwrap_or_default();
                self.plan(pack, &manifest, &bundled, present, out)
            }
            Phase::ManifestBase { object, patch } => {
                match delta::apply_verified(old, &patch, &entry_hash, entry_size) {
                    Ok(manifest) => {
                        self.write(
                            entry_hash,
                            object::encode(&manifest, Encoding { level: 3, try_compress: true }),
                            out,
                        );
                        self.plan(pack, &manifest, &HashMap::new(), present, out)
                    }
                    Err(e) => {
                        Self::warn(
                            out,
                            format!("the manifest delta {object} did not apply ({e}); fetching the whole manifest"),
                        );
                        self.need(entry_hash, entry_size, For::Manifest(pack), present, out);
                        Ok(())
                    }
                }
            }
            other => {
                self.packs[pack].phase = other;
                Ok(())
            }
        }
    }

    /// A copy from a bundle, verified; `None` (with a warning) when it is bad. A raw frame
    /// (a referenced bundle's chunks) is compressed, so that the disk holds what a
    /// chunk-by-chunk pull would have written.
    fn from_bundle(hash: &Hash, len: u64, stored: &[u8], out: &mut Vec<Action>) -> Option<(Vec<u8>, Vec<u8>)> {
        match object::decode_verified(stored, hash, len) {
            Ok(data) => {
                let kept = if object::is_raw_frame(stored) {
                    object::encode(&data, Encoding { level: 3, try_compress: true })
                } else {
                    stored.to_vec()
                };
                Some((data, kept))
            }
            Err(e) => {
                Self::warn(out, format!("the update bundle's copy of object {hash} is bad ({e}); fetching it alone"));
                None
            }
        }
    }

    /// Plans a pack from its verified manifest bytes and asks for its objects: those the
    /// bundle brought are written first and planned as present.
    fn plan(
        &mut self,
        pack: usize,
        bytes: &[u8],
        bundled: &HashMap<Hash, &[u8]>,
        present: Present,
        out: &mut Vec<Action>,
    ) -> Result<()> {
        let m = Manifest::from_bytes(bytes)?;
        let t = &self.packs[pack].t;
        if m.meta.id != t.id || m.version != t.entry.version {
            return Err(Error::Other(format!(
                "pack {}: the catalog names version {} but the manifest is {:?} version {} (mix-and-match refused)",
                t.id, t.entry.version, m.meta.id, m.version
            )));
        }
        if !matches!(self.packs[pack].phase, Phase::Manifest) {
            // Planned already (a duplicate answer).
            return Ok(());
        }
        let mut from_bundle = HashSet::new();
        for f in &m.files {
            for c in f.chunk_list() {
                if let Some(stored) = bundled.get(&c.0)
                    && !self.has(&c.0, present)
                    && !from_bundle.contains(&c.0)
                    && let Some((_, kept)) = Self::from_bundle(&c.0, c.1, stored, out)
                {
                    from_bundle.insert(c.0);
                    self.objects += 1;
                    self.write(c.0, kept, out);
                }
            }
        }
        let present_now = |h: &Hash| from_bundle.contains(h) || self.has(h, present);
        let bases = plan::bases(&self.cfg.installed, &|h: &Hash| self.has(h, present));
        let p = plan::plan_pack(&m, &bases, &present_now);
        self.planned += 1;
        let pk = &mut self.packs[pack];
        pk.phase = Phase::Objects;
        pk.manifest = Some(m);
        pk.steps = p.deltas.iter().map(|s| (s.clone(), None)).collect();
        for (i, step) in p.deltas.into_iter().enumerate() {
            let d = &step.delta;
            if let Some(stored) = bundled.get(&d.object)
                && let Some((data, kept)) = Self::from_bundle(&d.object, d.size, stored, out)
            {
                self.objects += 1;
                self.write(d.object, kept, out);
                self.deliver(For::Patch(pack, i), d.object, data, present, out)?;
            } else {
                self.need(d.object, d.size, For::Patch(pack, i), present, out);
            }
        }
        for (hash, len) in p.fetch {
            self.need(hash, len, For::Chunk(pack), present, out);
        }
        Ok(())
    }

    /// The base file of a delta step is read: rebuild the new file and write its chunks,
    /// or fall back to fetching them.
    fn rebuild(
        &mut self,
        pack: usize,
        step: usize,
        base: &[u8],
        present: Present,
        out: &mut Vec<Action>,
    ) -> Result<()> {
        let (s, rebuilt) = {
            let Some((s, Some(patch))) = self.packs[pack].steps.get(step) else { return Ok(()) };
            (s.clone(), delta::apply_verified(base, patch, &s.target.hash, s.target.size))
        };
        let new = match rebuilt {
            Ok(n) => n,
            Err(e) => {
                let why = format!(
                    "delta {} for {:?} did not apply ({e}); fetching its chunks",
                    s.delta.object, s.target.path
                );
                self.delta_failed(pack, step, Some(why), present, out);
                return Ok(());
            }
        };
        let enc = Encoding { level: 3, try_compress: object::is_compressible(&s.target.media_type) };
        let mut at = 0usize;
        let mut writes = Vec::new();
        for c in s.target.chunk_list() {
            let end = at + c.1 as usize;
            let Some(slice) = new.get(at..end).filter(|sl| Hash::of(sl) == c.0) else {
                let why =
                    format!("the chunk list of {:?} does not match its content; fetching its chunks", s.target.path);
                self.delta_failed(pack, step, Some(why), present, out);
                return Ok(());
            };
            if !self.has(&c.0, present) {
                writes.push((c.0, object::encode(slice, enc)));
            }
            at = end;
        }
        for (h, stored) in writes {
            self.write(h, stored, out);
        }
        self.packs[pack].deltas_used += 1;
        Ok(())
    }

    /// A delta step cannot be used: fetch the chunks of its file instead.
    fn delta_failed(&mut self, pack: usize, step: usize, why: Option<String>, present: Present, out: &mut Vec<Action>) {
        if let Some(w) = why {
            Self::warn(out, w);
        }
        self.packs[pack].deltas_failed += 1;
        let Some((s, _)) = self.packs[pack].steps.get(step) else { return };
        let chunks = plan::fallback_chunks(s, &|h: &Hash| self.has(h, present));
        for (hash, len) in chunks {
            self.need(hash, len, For::Chunk(pack), present, out);
        }
    }
}

/// The pool lane of an object of `len` decoded bytes.
pub fn lane(len: u64) -> Lane {
    if plan::is_large(len) { Lane::Large } else { Lane::Small }
}
