//! Crash test: the classroom server is SIGKILLed at random moments while a pupil submits
//! quiz answers, then restarted; every answer that was acknowledged with success must be
//! in the records, whole.
//!
//! The server under test is this test binary itself, re-run as a child process on the
//! ignored test `crash_child_server` (so the child is the real router over the real SQLite
//! file, in its own process, and the kill is a real SIGKILL).
//! TODO(box-app): run `preau serve` instead once the HTTP core is merged.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use preau_box::app::{self, store::Store, store::Who, testkit};

const KILLS: usize = 200;
const TOKEN: &str = "0123456789abcdef0123456789abcdef";
const CSRF: &str = "fedcba9876543210fedcba9876543210";

/// The server process of the crash test; does nothing unless the parent asks.
#[test]
#[ignore = "run by crash_test as its server child"]
fn crash_child_server() {
    let Ok(data) = std::env::var("PREAU_CRASH_DATA") else { return };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async move {
        let ctx = testkit::demo_context(Path::new(&data));
        let router = app::try_router(ctx).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("READY {}", listener.local_addr().unwrap().port());
        std::io::stdout().flush().unwrap();
        axum::serve(listener, router).await.unwrap();
    });
}

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(data: &Path) -> (Server, u16) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child_server", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env("PREAU_CRASH_DATA", data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port = loop {
        let line = lines.next().expect("the server child printed READY").unwrap();
        // libtest may print "test crash_child_server ... " on the same line first.
        if let Some((_, p)) = line.split_once("READY ") {
            break p.trim().parse().unwrap();
        }
    };
    // Keep draining the child's stdout so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (Server(child), port)
}

/// One HTTP/1.1 request; `None` when the connection fails (the server was killed).
fn http(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, String, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: preau_session={TOKEN}; preau_csrf={CSRF}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).ok()?;
    let text = String::from_utf8_lossy(&resp).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n")?;
    let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
    let location = head
        .lines()
        .find_map(|l| l.strip_prefix("location: ").or_else(|| l.strip_prefix("Location: ")))
        .unwrap_or("")
        .to_string();
    Some((status, location, rest.to_string()))
}

/// xorshift64*: enough randomness for kill timings, reproducible from the printed seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn crash_test_acknowledged_answers_survive_sigkill() {
    let data = tempfile::tempdir().unwrap();
    let pupil = {
        let store = Store::open(&data.path().join("preau.sqlite"), "test-box").unwrap();
        let class = store.create_class("CM2").unwrap();
        let pupil = store.create_pupil(class, "Léa").unwrap();
        store.create_session(Who::Pupil(pupil), TOKEN, i64::MAX / 2).unwrap();
        pupil
    };
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    println!("crash test seed {seed}");
    let mut rng = Rng(seed);
    let quiz = format!("/packs/{}/_quiz/quiz-1", testkit::DEMO);
    // (attempt id, the unique answer it carried) for every acknowledged submission.
    let mut acked: Vec<(i64, String)> = Vec::new();
    let mut counter = 0u64;
    for round in 0..KILLS {
        let (server, port) = start(data.path());
        let stop = Arc::new(AtomicBool::new(false));
        let client = {
            let stop = stop.clone();
            let quiz = quiz.clone();
            let base = counter;
            std::thread::spawn(move || {
                let mut acks = Vec::new();
                let mut i = base;
                while !stop.load(Ordering::Relaxed) {
                    // Which attempt number the quiz expects now.
                    let Some((200, _, page)) = http(port, "GET", &quiz, "") else { break };
                    let Some(n) = page.split("name=\"n\" value=\"").nth(1).and_then(|r| r.split('"').next()) else {
                        panic!("no attempt number in the quiz page");
                    };
                    i += 1;
                    let answer = format!("answer-{round}-{i}");
                    let body = format!("csrf={CSRF}&n={n}&q0=1&q1=true&q2={answer}&q3=12");
                    match http(port, "POST", &quiz, &body) {
                        Some((303, location, _)) => {
                            let id: i64 = location.rsplit('/').next().unwrap().parse().unwrap();
                            acks.push((id, answer));
                        }
                        Some((409, _, _)) => {} // raced with a previous unacknowledged commit
                        Some((status, _, body)) => panic!("unexpected answer {status}: {body}"),
                        None => break,
                    }
                }
                (acks, i)
            })
        };
        // Let the client work for a random moment, then pull the plug.
        std::thread::sleep(Duration::from_micros(rng.next() % 40_000));
        drop(server); // SIGKILL, then reap
        stop.store(true, Ordering::Relaxed);
        let (acks, last) = client.join().expect("client thread");
        counter = last;
        acked.extend(acks);
    }
    assert!(acked.len() >= KILLS / 4, "too few acknowledged submissions to prove anything: {}", acked.len());
    // Every acknowledged attempt is in the records, with the answer it carried.
    let store = Store::open(&data.path().join("preau.sqlite"), "test-box").unwrap();
    for (id, answer) in &acked {
        let attempt = store.attempt(*id).unwrap().unwrap_or_else(|| panic!("acknowledged attempt {id} lost"));
        assert_eq!(attempt.pupil_id, pupil);
        let q3 = attempt.answers.iter().find(|(_, a)| a.question == "q3").expect("q3 answered");
        assert_eq!(&q3.1.response, answer, "attempt {id} holds another answer");
        assert_eq!(attempt.answers.len(), 5, "attempt {id} is whole");
    }
    // Each attempt came with its xAPI statements, in the same transaction.
    let attempts = store.attempt_count(pupil, testkit::DEMO, "quiz-1").unwrap();
    let completed = store
        .outbox_pending(1_000_000)
        .unwrap()
        .iter()
        .filter(|(_, s)| s["verb"]["display"]["en-US"] == "completed")
        .count();
    assert_eq!(completed, attempts, "one completed statement per attempt");
    println!("{KILLS} kills, {} acknowledged submissions, {attempts} attempts stored", acked.len());
}
