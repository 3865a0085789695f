//! The `git` program, run for the mirror: `ls-remote` to learn a branch's head (the whole
//! cost of an unchanged git source), and a shallow `fetch` of that branch into a bare
//! clone in the state folder. Every command: no user or system configuration, no
//! terminal prompt (a private URL fails instead of waiting), only ordinary transports
//! (no `ext::` command runner), stopped with its children after the timeout, output read
//! up to a bound. The URL never goes on the command line, where every user of the
//! machine can read it (a private project's URL may hold a token): it is given to git in
//! its environment as the remote [`REMOTE`], and scrubbed from the messages reported.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Bytes of stdout kept (ls-remote of one ref is one line) and of stderr quoted.
const MAX_STDOUT: u64 = 64 * 1024;
const MAX_STDERR: u64 = 2048;
/// The name under which git is given the source's URL.
const REMOTE: &str = "preau-source";

/// Runs `git ARGS` and returns its stdout, or an error quoting its stderr. `url`, when
/// given, is the remote [`REMOTE`] for this command only.
fn run(args: &[&str], dir: Option<&Path>, url: Option<&str>, timeout: Duration) -> Result<String> {
    let mut cmd = Command::new("git");
    if let Some(d) = dir {
        cmd.arg("-C").arg(d);
    }
    if let Some(url) = url {
        cmd.env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", format!("remote.{REMOTE}.url"))
            .env("GIT_CONFIG_VALUE_0", url);
    }
    cmd.args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "/bin/false")
        .env("SSH_ASKPASS", "/bin/false")
        .env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
        .env("GIT_ALLOW_PROTOCOL", "https:http:git:ssh:file")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: the timeout stops git's helpers (ssh, git-remote-https) too.
        .process_group(0);
    let mut child = cmd.spawn().context("cannot run the git program (is git installed?)")?;
    // Readers in threads: a child blocked on a full pipe would never exit.
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let out_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.by_ref().take(MAX_STDOUT).read_to_end(&mut s);
        let _ = std::io::copy(&mut out, &mut std::io::sink());
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.by_ref().take(MAX_STDERR).read_to_end(&mut s);
        let _ = std::io::copy(&mut err, &mut std::io::sink());
        s
    });
    let started = Instant::now();
    // Polled from 1 ms up to 50 ms: most commands (ls-remote) end within a few ms, and a
    // fixed 20 ms sleep was most of an unchanged source's cost.
    let mut pause = Duration::from_millis(1);
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if started.elapsed() > timeout {
            // SAFETY: kill(2) on the child's own process group, which it leads.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            bail!("git {} took more than {} s: stopped", args[0], timeout.as_secs());
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    };
    let out = out_t.join().unwrap_or_default();
    let err = err_t.join().unwrap_or_default();
    if !status.success() {
        let err = String::from_utf8_lossy(&err);
        // One line in the report, without the URL's credentials.
        let mut err = err.split_whitespace().collect::<Vec<_>>().join(" ");
        if let Some(userinfo) = url.and_then(userinfo) {
            err = err.replace(userinfo, "***");
        }
        bail!("git {} failed ({status}){}{}", args[0], if err.is_empty() { "" } else { ": " }, err);
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The commit at the head of `branch` of `url`, without fetching anything.
pub fn remote_head(url: &str, branch: &str, timeout: Duration) -> Result<String> {
    let refname = format!("refs/heads/{branch}");
    let out = run(&["ls-remote", REMOTE, &refname], None, Some(url), timeout)?;
    for line in out.lines() {
        if let Some((id, name)) = line.split_once('\t')
            && name == refname
            && is_commit_id(id)
        {
            return Ok(id.to_string());
        }
    }
    bail!("no branch {branch:?} at {}", preau_import::git::strip_credentials(url))
}

/// Fetches the head of `branch` (depth 1: only the tree the pack needs) into the bare
/// clone `dir`, created if missing, and returns the commit it now holds for the branch.
pub fn fetch(url: &str, branch: &str, dir: &Path, timeout: Duration, max_bytes: u64) -> Result<String> {
    if !dir.join("HEAD").is_file() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        // No template: no sample hooks in the clone.
        run(&["init", "--quiet", "--bare", "--template="], Some(dir), None, timeout)?;
    }
    let refname = format!("refs/heads/{branch}");
    // `origin` is what the importer records as the pack's source: without credentials,
    // which are never written to disk.
    let public = preau_import::git::strip_credentials(url);
    run(&["config", "remote.origin.url", &public], Some(dir), None, timeout)?;
    run(&["symbolic-ref", "HEAD", &refname], Some(dir), None, timeout)?;
    let refspec = format!("+{refname}:{refname}");
    run(&["fetch", "--quiet", "--depth", "1", "--no-tags", REMOTE, &refspec], Some(dir), Some(url), timeout)?;
    let size = dir_size(dir)?;
    if size > max_bytes {
        bail!("the clone takes {size} bytes, more than build.max_git_bytes = {max_bytes}");
    }
    let head = run(&["rev-parse", "--verify", "--quiet", &format!("{refname}^{{commit}}")], Some(dir), None, timeout)?;
    let head = head.trim();
    if !is_commit_id(head) {
        bail!("git rev-parse {refname}: {head:?} is not a commit id");
    }
    Ok(head.to_string())
}

/// The `user:password` of `scheme://user:password@host/…`, if any.
fn userinfo(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let host_end = rest.find('/').unwrap_or(rest.len());
    let at = rest[..host_end].rfind('@')?;
    Some(&rest[..at]).filter(|u| !u.is_empty())
}

fn is_commit_id(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Bytes of the files under `dir` (a git clone: no symbolic links followed).
fn dir_size(dir: &Path) -> Result<u64> {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let e = e?;
            let m = e.metadata()?;
            if m.is_dir() {
                stack.push(e.path());
            } else {
                total += m.len();
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    #[test]
    fn userinfo() {
        assert_eq!(super::userinfo("https://oauth2:glpat-x@forge.example/a/b.git"), Some("oauth2:glpat-x"));
        assert_eq!(super::userinfo("https://forge.example/a/b@c.git"), None);
        assert_eq!(super::userinfo("git@forge.example:a/b.git"), None);
    }
}
