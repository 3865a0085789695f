//! `preau pack build --repo s3://…` against a real S3 API on loopback: moto's server
//! (moto[server] 5.2.6 from PyPI, the venv `.ci/install.d/80-s3.sh` makes). Two
//! publishers race on one prefix; a box pulls from moto and from nginx caching in front
//! of it (a CDN); the secret key never shows in argv, output or the mirror.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use preau_pack::installed::Installed;
use preau_pack::{Repo, SecretKey};

mod s3_support;
use s3_support::*;

fn preau() -> Command {
    Command::new(env!("CARGO_BIN_EXE_preau"))
}

/// The credentials of moto's test account, as a publisher's environment gives them.
const S3_ENV: [(&str, &str); 3] =
    [("AWS_ACCESS_KEY_ID", "preau-test"), ("AWS_SECRET_ACCESS_KEY", SECRET), ("AWS_REGION", "us-east-1")];

/// A publisher: its own mirror folder, the shared key, credentials in the environment.
struct Publisher<'a> {
    moto: &'a Moto,
    key: &'a Path,
    cache: PathBuf,
}

impl Publisher<'_> {
    fn build(&self, src: &Path, id: &str, prefix: &str) -> Output {
        let out = preau()
            .args(["pack", "build"])
            .arg(src)
            .args(["--repo", &format!("s3://{BUCKET}/{prefix}"), "--id", id, "--verbatim", "--bundle-window", "3"])
            .args(["--level", "3", "--s3-endpoint", &self.moto.endpoint()])
            .arg("--key")
            .arg(self.key)
            .arg("--s3-cache")
            .arg(&self.cache)
            .envs(S3_ENV)
            .output()
            .unwrap();
        assert_no_secret(&out);
        out
    }
}

fn assert_no_secret(out: &Output) {
    for (what, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let text = String::from_utf8_lossy(bytes);
        assert!(!text.contains(SECRET), "the secret appears on {what}: {text}");
    }
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A small site of a few files, different in each round (one page changes, one grows).
fn write_source(dir: &Path, id: &str, round: usize) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("img")).unwrap();
    std::fs::write(dir.join("index.html"), format!("<h1>{id}</h1><p>round {round}</p>")).unwrap();
    let mut text = String::new();
    for i in 0..2000 + 50 * round {
        text.push_str(&format!("ligne {i} du cours {id}\n"));
    }
    std::fs::write(dir.join("cours.txt"), text).unwrap();
    let bytes: Vec<u8> = (0..40_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> (id.len() % 7)) as u8).collect();
    std::fs::write(dir.join("img/figure.bin"), bytes).unwrap();
}

fn key_in(dir: &Path) -> PathBuf {
    let path = dir.join("national.key");
    SecretKey::generate().write_files(&path).unwrap();
    path
}

fn catalog_versions(url: &str) -> BTreeMap<String, u64> {
    let out = ok(preau().args(["pack", "list", "--json", "--repo", url]).output().unwrap(), "pack list");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["packs"].as_object().unwrap().iter().map(|(id, e)| (id.clone(), e["version"].as_u64().unwrap())).collect()
}

#[test]
fn two_publishers_racing_on_one_prefix_lose_no_pack() {
    let Some(venv) = venv() else { return };
    let moto = Moto::start(&venv);
    let tmp = tempfile::tempdir().unwrap();
    let key = key_in(tmp.path());
    const ROUNDS: usize = 20;
    let attempts: Vec<u32> = std::thread::scope(|s| {
        let handles: Vec<_> = ["a", "b"]
            .iter()
            .map(|who| {
                let (moto, key, tmp) = (&moto, &key, tmp.path());
                s.spawn(move || {
                    let p = Publisher { moto, key, cache: tmp.join(format!("cache-{who}")) };
                    let mut retried = 0;
                    for round in 0..ROUNDS {
                        // Three packs each, so that packs get new versions (deltas, bundles).
                        let id = format!("{who}-pack-{}", round % 3);
                        let src = tmp.join(format!("src-{who}"));
                        write_source(&src, &id, round);
                        let out = ok(p.build(&src, &id, "national"), &format!("{who} round {round}"));
                        let line = out.lines().find(|l| l.contains("tentative(s)")).expect("the publish line");
                        let n: u32 = line.rsplit(' ').nth(1).unwrap().parse().unwrap();
                        retried += n - 1;
                    }
                    retried
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    println!("attempts beyond the first: {attempts:?}");

    let url = moto.repo_url("national");
    let versions = catalog_versions(&url);
    let mut want = BTreeMap::new();
    for who in ["a", "b"] {
        for k in 0..3 {
            want.insert(format!("{who}-pack-{k}"), (0..ROUNDS).filter(|r| r % 3 == k).count() as u64);
        }
    }
    assert_eq!(versions, want, "every version of every pack of both publishers is in the catalog");
    let pubkey = PathBuf::from(format!("{}.pub", key.display()));
    let out = preau().args(["pack", "verify", "--repo", &url, "--trust"]).arg(&pubkey).output().unwrap();
    let text = ok(out, "pack verify");
    assert!(text.contains("OK") && text.contains("6 packs"), "{text}");
}

/// nginx in front of moto, caching as a CDN does: what the origin marks immutable is
/// kept, the no-cache catalog goes back to the origin. Logs `$upstream_cache_status`.
struct Cdn {
    port: u16,
    dir: tempfile::TempDir,
    _child: Group,
}

impl Cdn {
    fn start(origin: u16) -> Cdn {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let d = dir.path().display();
        let conf = format!(
            "daemon off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;
user root;
events {{ worker_connections 256; }}
http {{
  log_format cache '$request_method $uri $status $upstream_cache_status';
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  proxy_cache_path {d}/cache levels=1:2 keys_zone=cdn:10m max_size=1g inactive=1d use_temp_path=off;
  server {{
    listen 127.0.0.1:{port};
    access_log {d}/access.log cache;
    location / {{
      proxy_pass http://127.0.0.1:{origin};
      proxy_cache cdn;
      proxy_cache_revalidate on;
      # With a cache, nginx asks the origin for whole files; this serves the box's
      # Range requests from them (206) even when the answer is not stored (no-cache).
      proxy_force_ranges on;
    }}
  }}
}}
"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let child = Command::new("nginx")
            .args(["-c", &dir.path().join("nginx.conf").display().to_string(), "-e", &format!("{d}/error.log")])
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx is installed (.ci/install.d/20-sync.sh)");
        let c = Cdn { port, dir, _child: Group(child) };
        wait_for_port(port);
        c
    }

    /// (uri, status, cache status) of each request so far.
    fn log(&self) -> Vec<(String, String, String)> {
        std::fs::read_to_string(self.dir.path().join("access.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                (f.len() == 4).then(|| (f[1].to_string(), f[2].to_string(), f[3].to_string()))
            })
            .collect()
    }

    fn clear_log(&self) {
        std::fs::write(self.dir.path().join("access.log"), "").unwrap();
    }
}

fn pull(url: &str, data: &Path, pubkey: &Path) {
    let out =
        preau().args(["sync", "pull", "--from", url, "--data"]).arg(data).arg("--trust").arg(pubkey).output().unwrap();
    ok(out, &format!("sync pull from {url}"));
}

/// Every file of `src` is on the box, byte for byte, and nothing else.
fn assert_box_has(data: &Path, id: &str, src: &Path) {
    let repo = Repo::open(&data.join("repo")).unwrap();
    let inst = Installed::load(&data.join("repo")).unwrap();
    let p = &inst.packs[id];
    let m = repo.read_manifest(&p.manifest, p.manifest_size).unwrap();
    let mut n = 0;
    for e in walkdir(src) {
        let rel = e.strip_prefix(src).unwrap().to_string_lossy().replace('\\', "/");
        let entry = m.file(&rel).unwrap_or_else(|| panic!("{rel} missing on the box"));
        assert_eq!(repo.read_file(entry).unwrap(), std::fs::read(&e).unwrap(), "{rel} differs");
        n += 1;
    }
    assert_eq!(m.files.len(), n, "file count");
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(walkdir(&p)) } else { out.push(p) }
    }
    out
}

#[test]
fn a_box_pulls_byte_exact_from_s3_and_through_a_caching_cdn() {
    let Some(venv) = venv() else { return };
    let moto = Moto::start(&venv);
    let tmp = tempfile::tempdir().unwrap();
    let key = key_in(tmp.path());
    let pubkey = PathBuf::from(format!("{}.pub", key.display()));
    let p = Publisher { moto: &moto, key: &key, cache: tmp.path().join("cache") };
    let (src1, src) = (tmp.path().join("src-v1"), tmp.path().join("src-v2"));
    write_source(&src1, "cours", 0);
    write_source(&src, "cours", 1);
    ok(p.build(&src1, "cours", "fr"), "build v1");
    let cdn = Cdn::start(moto.port);
    let url = format!("http://127.0.0.1:{}/{BUCKET}/fr/", cdn.port);
    // A box at v1, through the CDN, then v2: it updates with the update bundle (Range
    // requests on a no-cache file the CDN passes to the origin).
    let behind = tmp.path().join("box-behind");
    pull(&url, &behind, &pubkey);
    assert_box_has(&behind, "cours", &src1);
    ok(p.build(&src, "cours", "fr"), "build v2");
    cdn.clear_log();
    pull(&url, &behind, &pubkey);
    assert_box_has(&behind, "cours", &src);
    let log = cdn.log();
    // Parts of the bundle (206; a part past its end is a 416), and nothing else: no
    // whole bundle, no chunk.
    let parts: Vec<_> = log.iter().filter(|(u, _, _)| u.contains("/updates/")).collect();
    assert!(parts.iter().any(|(_, s, _)| s == "206"), "{log:?}");
    assert!(parts.iter().all(|(_, s, _)| s == "206" || s == "416"), "{log:?}");
    assert!(!log.iter().any(|(u, _, _)| u.contains("/objects/")), "{log:?}");
    // The leaf of its pack came beside its branch, from the bin's leaf hint: mutable,
    // so the CDN goes back to the origin for it; written with its headers.
    let hint = preau_pack::catalog_tree::hint_rel_path(preau_pack::catalog_tree::bins("cours"));
    let hints: Vec<_> = log.iter().filter(|(u, _, _)| u.contains("/hints/")).collect();
    assert!(
        !hints.is_empty() && hints.iter().all(|(u, s, c)| u.ends_with(&hint) && s == "200" && c != "HIT"),
        "{log:?}"
    );
    let (status, h) = http_get_head(moto.port, &format!("/{BUCKET}/fr/{hint}"));
    assert_eq!(status, 200);
    assert_eq!(h.get("cache-control").map(String::as_str), Some(preau_publish::mirror::MUTABLE));
    assert!(h.get("content-type").is_some_and(|t| t.starts_with("application/json")), "{h:?}");

    // Straight from the store.
    let direct = tmp.path().join("box-direct");
    pull(&moto.repo_url("fr"), &direct, &pubkey);
    assert_box_has(&direct, "cours", &src);

    // Through the CDN, twice (two new boxes): the second finds every object in the cache.
    cdn.clear_log();
    pull(&url, &tmp.path().join("box-1"), &pubkey);
    assert_box_has(&tmp.path().join("box-1"), "cours", &src);
    let first = cdn.log();
    assert!(first.iter().any(|(u, _, c)| u.contains("/objects/") && c == "MISS"), "{first:?}");
    cdn.clear_log();
    pull(&url, &tmp.path().join("box-2"), &pubkey);
    assert_box_has(&tmp.path().join("box-2"), "cours", &src);
    let second = cdn.log();
    let objects: Vec<_> = second.iter().filter(|(u, _, _)| u.contains("/objects/")).collect();
    assert!(!objects.is_empty(), "{second:?}");
    assert!(objects.iter().all(|(_, s, c)| s == "200" && c == "HIT"), "objects come from the cache: {objects:?}");
    // The catalog is no-cache: every box asks the origin for it.
    let catalog: Vec<_> = second.iter().filter(|(u, _, _)| u.ends_with("/catalog.json")).collect();
    assert!(!catalog.is_empty() && catalog.iter().all(|(_, _, c)| c != "HIT"), "{catalog:?}");
}

#[test]
fn the_secret_key_never_shows_in_argv_output_or_the_mirror() {
    let Some(venv) = venv() else { return };
    let moto = Moto::start(&venv);
    let tmp = tempfile::tempdir().unwrap();
    let key = key_in(tmp.path());
    let src = tmp.path().join("src");
    write_source(&src, "secret-test", 0);
    // From a credentials file named on the command line (only its path is there).
    let creds = tmp.path().join("credentials");
    std::fs::write(&creds, format!("[default]\naws_access_key_id = preau-test\naws_secret_access_key = {SECRET}\n"))
        .unwrap();
    let cache = tmp.path().join("cache");
    let mut child = preau()
        .args(["pack", "build"])
        .arg(&src)
        .args(["--repo", &format!("s3://{BUCKET}/secret"), "--verbatim", "--s3-endpoint", &moto.endpoint()])
        .arg("--key")
        .arg(&key)
        .arg("--s3-credentials")
        .arg(&creds)
        .arg("--s3-cache")
        .arg(&cache)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", child.id())).unwrap_or_default();
    assert!(!String::from_utf8_lossy(&cmdline).contains(SECRET));
    let (mut stdout, mut stderr) = (String::new(), String::new());
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{stdout}\n{stderr}");
    assert!(!stdout.contains(SECRET) && !stderr.contains(SECRET));
    // In the environment, and a publish that fails (a wrong endpoint) says nothing of it.
    let p = Publisher { moto: &moto, key: &key, cache: tmp.path().join("cache-env") };
    ok(p.build(&src, "secret-test-2", "secret"), "build with env credentials");
    let bad = preau()
        .args(["pack", "build"])
        .arg(&src)
        .args(["--repo", "s3://no-such-bucket/x", "--verbatim", "--s3-endpoint", &moto.endpoint()])
        .arg("--key")
        .arg(&key)
        .arg("--s3-cache")
        .arg(tmp.path().join("cache-bad"))
        .env("AWS_ACCESS_KEY_ID", "preau-test")
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert_no_secret(&bad);
    assert!(!String::from_utf8_lossy(&bad.stderr).trim().is_empty(), "the failure is explained");
    // Nothing the publisher keeps holds it either.
    for f in walkdir(&cache).into_iter().chain(walkdir(&tmp.path().join("cache-env"))) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains(SECRET), "{} holds the secret", f.display());
    }
    let versions = catalog_versions(&moto.repo_url("secret"));
    assert_eq!(versions.len(), 2, "{versions:?}");
}

/// The response head of an anonymous GET (lower-cased header names).
fn http_get_head(port: u16, path: &str) -> (u16, BTreeMap<String, String>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string())))
        .collect();
    (status, headers)
}

/// The write protocol itself, step by step, on two mirrors of one prefix: a stale ETag
/// gets a 412 (a `Conflict`, nothing after it written), a create over an existing
/// metadata file too, and a content-addressed file someone else put there is fine.
#[test]
fn conditional_writes_refuse_a_stale_catalog_and_accept_a_known_object() {
    let Some(venv) = venv() else { return };
    let moto = Moto::start(&venv);
    let tmp = tempfile::tempdir().unwrap();
    let creds = tmp.path().join("credentials");
    std::fs::write(&creds, format!("[default]\naws_access_key_id = preau-test\naws_secret_access_key = {SECRET}\n"))
        .unwrap();
    let opts = preau_publish::S3Options {
        endpoint: Some(moto.endpoint()),
        region: Some("us-east-1".into()),
        credentials_file: Some(creds),
        ..Default::default()
    };
    let open = |name: &str| {
        let store = preau_publish::store::connect(BUCKET, &opts).unwrap();
        preau_publish::mirror::Mirror::open(store, "proto", &tmp.path().join(name)).unwrap()
    };
    let (mut m1, mut m2) = (open("m1"), open("m2"));
    m1.pull_metadata().unwrap();
    m2.pull_metadata().unwrap();
    let object = b"the same chunk".to_vec();
    let object_rel = preau_pack::repo::object_rel_path(&preau_pack::Hash::of(&object));
    let write = |m: &preau_publish::mirror::Mirror, rel: &str, bytes: &[u8]| {
        let p = m.dir().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    };
    for (m, who) in [(&m1, "one"), (&m2, "two")] {
        write(m, &object_rel, &object);
        write(m, "catalog.json", format!("{{\"by\":\"{who}\"}}").as_bytes());
    }
    let s1 = m1.push().unwrap();
    assert_eq!((s1.created, s1.already_there), (2, 0), "{s1:?}");
    // The second publisher saw no catalog: its create is refused, its object is fine.
    let err = m2.push().unwrap_err();
    assert!(err.is::<preau_publish::Conflict>(), "{err:#}");
    m2.pull_metadata().unwrap();
    assert_eq!(std::fs::read(m2.dir().join("catalog.json")).unwrap(), br#"{"by":"one"}"#, "the winner's catalog");
    write(&m2, "catalog.json", br#"{"by":"one","and":"two"}"#);
    let s2 = m2.push().unwrap();
    assert_eq!((s2.updated, s2.created, s2.already_there), (1, 0, 0), "{s2:?}");
    // The first publisher's ETag is stale now: If-Match fails with 412.
    write(&m1, "catalog.json", br#"{"by":"one","again":true}"#);
    let err = m1.push().unwrap_err();
    assert!(err.is::<preau_publish::Conflict>(), "{err:#}");
    let (_, h) = http_get_head(moto.port, &format!("/{BUCKET}/proto/catalog.json"));
    assert_eq!(h.get("cache-control").map(String::as_str), Some(preau_publish::mirror::MUTABLE));
    assert!(h.get("content-type").is_some_and(|t| t.starts_with("application/json")), "{h:?}");
    let (status, h) = http_get_head(moto.port, &format!("/{BUCKET}/proto/{object_rel}"));
    assert_eq!(status, 200);
    assert_eq!(h.get("cache-control").map(String::as_str), Some(preau_publish::mirror::IMMUTABLE));
    assert!(h.get("content-type").is_some_and(|t| t.starts_with("application/zstd")), "{h:?}");
}

/// A second publisher with its own key (a `preau mirror` source) is refused until a root
/// key authorises it, on the object store itself; both packs then reach a box, which
/// trusts the root key only.
#[test]
fn a_root_key_authorises_a_second_publisher_on_the_object_store() {
    let Some(venv) = venv() else { return };
    let moto = Moto::start(&venv);
    let tmp = tempfile::tempdir().unwrap();
    let national = key_in(tmp.path());
    let forge = tmp.path().join("forge.key");
    SecretKey::generate().write_files(&forge).unwrap();
    let src = tmp.path().join("src");
    let a = Publisher { moto: &moto, key: &national, cache: tmp.path().join("cache-a") };
    let b = Publisher { moto: &moto, key: &forge, cache: tmp.path().join("cache-b") };
    write_source(&src, "cours-a", 0);
    ok(a.build(&src, "cours-a", "keys"), "the national build");
    write_source(&src, "cours-b", 0);
    let refused = b.build(&src, "cours-b", "keys");
    assert!(!refused.status.success(), "an unlisted key published");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not authorised"), "{refused:?}");

    let authorise = |key: &Path, pubkey: &Path| {
        let out = preau()
            .args(["pack", "authorize-key", "--repo", &format!("s3://{BUCKET}/keys"), "--s3-endpoint"])
            .arg(moto.endpoint())
            .arg("--key")
            .arg(key)
            .arg("--add")
            .arg(pubkey)
            .arg("--s3-cache")
            .arg(tmp.path().join("cache-root"))
            .envs(S3_ENV)
            .output()
            .unwrap();
        assert_no_secret(&out);
        out
    };
    // Only a root key may do it.
    let denied = authorise(&forge, &preau_pack::sign::pub_path(&forge));
    assert!(!denied.status.success());
    assert!(String::from_utf8_lossy(&denied.stderr).contains("not a root key"), "{denied:?}");
    let out = ok(authorise(&national, &preau_pack::sign::pub_path(&forge)), "authorize-key on S3");
    assert!(out.contains("root version 2"), "{out}");

    ok(b.build(&src, "cours-b", "keys"), "the forge build once authorised");
    let url = moto.repo_url("keys");
    let versions = catalog_versions(&url);
    assert_eq!(versions.get("cours-a"), Some(&1), "{versions:?}");
    assert_eq!(versions.get("cours-b"), Some(&1), "{versions:?}");
    let national_pub = preau_pack::sign::pub_path(&national);
    ok(
        preau().args(["pack", "verify", "--repo", &url, "--trust"]).arg(&national_pub).output().unwrap(),
        "pack verify of the S3 repository",
    );
    let data = tmp.path().join("box");
    pull(&url, &data, &national_pub);
    assert_box_has(&data, "cours-b", &src);

    // The national side takes cours-a out (a Forge project deleted): the catalog on the
    // store no longer lists it and still verifies; its objects stay (cours-b's publisher
    // may share them); an id that is not there is said, not an error.
    let out = preau()
        .args(["pack", "unpublish", "--repo", &format!("s3://{BUCKET}/keys"), "--s3-endpoint"])
        .arg(moto.endpoint())
        .arg("--key")
        .arg(&national)
        .arg("--s3-cache")
        .arg(tmp.path().join("cache-root"))
        .args(["cours-a", "jamais-publie"])
        .envs(S3_ENV)
        .output()
        .unwrap();
    assert_no_secret(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("jamais-publie"), "{out:?}");
    let out = ok(out, "pack unpublish on S3");
    assert!(out.contains("cours-a"), "{out}");
    let versions = catalog_versions(&url);
    assert_eq!(versions.keys().collect::<Vec<_>>(), ["cours-b"], "{versions:?}");
    ok(
        preau().args(["pack", "verify", "--repo", &url, "--trust"]).arg(&national_pub).output().unwrap(),
        "pack verify after the unpublication",
    );
    // The forge publisher's next build finds the new catalog and keeps it.
    write_source(&src, "cours-b", 1);
    ok(b.build(&src, "cours-b", "keys"), "the forge build after the unpublication");
    let versions = catalog_versions(&url);
    assert_eq!(versions.get("cours-b"), Some(&2), "{versions:?}");
    assert!(!versions.contains_key("cours-a"), "{versions:?}");
    pull(&url, &data, &national_pub);
    assert_box_has(&data, "cours-b", &src);
}
