//! Issue 14 (L4): a `.mbz` decompression bomb is refused by `preau pack build` with a
//! clear error while the process's peak memory stays under 64 MiB (the bomb held
//! 4.27 GB before).

use std::io::Write;
use std::path::Path;
use std::process::Command;

use flate2::{Compress, Compression, FlushCompress};

/// Raw deflate output for `input`, with a sync flush so that pieces can be chained.
fn deflate(c: &mut Compress, input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() / 100 + 1024);
    let mut pos = 0;
    loop {
        out.reserve(64 * 1024);
        let before_in = c.total_in();
        c.compress_vec(&input[pos..], &mut out, FlushCompress::Sync).unwrap();
        pos += (c.total_in() - before_in) as usize;
        if pos == input.len() && out.len() < out.capacity() {
            return out;
        }
    }
}

/// A gzip tar whose `members` each hold `member_mib` MiB of zeros. The deflate output for
/// a MiB of zeros becomes the same once the window is all zeros, so it is computed twice
/// and then repeated: the file is written without decompressing gigabytes.
fn write_bomb(path: &Path, members: usize, member_mib: u64, moodle: bool) {
    let mut c = Compress::new(Compression::best(), false);
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    // gzip header: deflate, no flags, no time, unknown OS. The trailer is never reached.
    f.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 0xff]).unwrap();
    // A Moodle backup: its description first, so the source is detected as one.
    let xml =
        b"<?xml version=\"1.0\"?><moodle_backup><information><name>bombe.mbz</name></information></moodle_backup>\n";
    let mut header = tar::Header::new_gnu();
    header.set_path("moodle_backup.xml").unwrap();
    header.set_size(xml.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    let mut first = header.as_bytes().to_vec();
    first.extend_from_slice(xml);
    first.resize(512 + 512, 0);
    if moodle {
        f.write_all(&deflate(&mut c, &first)).unwrap();
    }
    let zeros = vec![0u8; 1 << 20];
    for m in 0..members {
        let mut header = tar::Header::new_gnu();
        header.set_path(format!("files/{m:02}/zeros.bin")).unwrap();
        header.set_size(member_mib << 20);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        f.write_all(&deflate(&mut c, header.as_bytes())).unwrap();
        let mut last: Option<Vec<u8>> = None;
        let mut steady = false;
        for _ in 0..member_mib {
            if steady {
                f.write_all(last.as_ref().unwrap()).unwrap();
                continue;
            }
            let out = deflate(&mut c, &zeros);
            steady = last.as_ref() == Some(&out);
            f.write_all(&out).unwrap();
            last = Some(out);
        }
        // The compressor's state no longer matches what was written once the steady
        // block was repeated by hand; the next header starts from a fresh dictionary of
        // zeros anyway, which is what the real compressor state also holds.
    }
    f.flush().unwrap();
}

/// Runs `preau pack build` on `src` under GNU time: (exit ok, stderr, peak RSS in KiB).
fn build_measured(dir: &Path, src: &Path) -> (bool, String, u64) {
    let key = dir.join("key");
    if !key.exists() {
        let st = Command::new(env!("CARGO_BIN_EXE_preau")).args(["keygen", "--out"]).arg(&key).output().unwrap();
        assert!(st.status.success());
    }
    let out = Command::new("/usr/bin/time")
        .args(["-f", "maxrss_kib=%M"])
        .arg(env!("CARGO_BIN_EXE_preau"))
        .args(["pack", "build"])
        .arg(src)
        .arg("--repo")
        .arg(dir.join("repo"))
        .arg("--key")
        .arg(&key)
        .output()
        .expect("/usr/bin/time runs (Debian package `time`)");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let rss: u64 = stderr
        .lines()
        .find_map(|l| l.strip_prefix("maxrss_kib="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no max RSS in {stderr}"));
    (out.status.success(), stderr, rss)
}

#[test]
fn an_mbz_bomb_is_refused_with_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    for (moodle, name) in [(true, "bombe.mbz"), (false, "bombe.tar.gz")] {
        let bomb = dir.path().join(name);
        write_bomb(&bomb, 5, 900, moodle);
        let size = std::fs::metadata(&bomb).unwrap().len();
        assert!((1_000_000..6_000_000).contains(&size), "a few MB on disk: {size}");
        let (ok, stderr, rss) = build_measured(dir.path(), &bomb);
        assert!(!ok, "the bomb must be refused: {stderr}");
        assert!(stderr.contains("more than 200 to 1") && stderr.contains("bomb"), "a clear error: {stderr}");
        eprintln!("{name}: {size} bytes refused, peak RSS {rss} KiB");
        assert!(rss < 64 * 1024, "{name}: peak memory {} MiB", rss / 1024);
    }
}
