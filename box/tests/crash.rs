//! Crash test: `preau serve` is SIGKILLed at random moments while a pupil submits quiz
//! answers, then restarted; every answer that was acknowledged with success must be in
//! the records, whole, with its xAPI statements.

mod app_support;
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use preau_classroom::{store::Store, store::Who, testkit};

const KILLS: usize = 200;
const TOKEN: &str = "0123456789abcdef0123456789abcdef";

/// One HTTP/1.1 request; `None` when the connection fails (the server was killed).
/// `csrf`: the token the server issued (CSRF tokens carry its MAC), empty before the first page.
fn http(addr: SocketAddr, method: &str, path: &str, body: &str, csrf: &str) -> Option<(u16, String, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: preau_session={TOKEN}; preau_csrf={csrf}\r\n\
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
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    app_support::install_test_pack(&data, &[]);
    let pupil = {
        let store = Store::open(&data.join("preau.sqlite"), "test-box").unwrap();
        let class = store.create_class("CM2").unwrap();
        let pupil = store.create_pupil(class, "Léa").unwrap();
        // Sessions expire on the server (a school day): start this one now.
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        store.create_session(Who::Pupil(pupil), TOKEN, now).unwrap();
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
        let server = common::Server::start_in(&data, "");
        let addr = server.addr;
        let stop = Arc::new(AtomicBool::new(false));
        let client = {
            let stop = stop.clone();
            let quiz = quiz.clone();
            let base = counter;
            std::thread::spawn(move || {
                let mut acks = Vec::new();
                let mut i = base;
                let mut csrf = String::new();
                while !stop.load(Ordering::Relaxed) {
                    // Which attempt number the quiz expects now.
                    let Some((200, _, page)) = http(addr, "GET", &quiz, "", &csrf) else { break };
                    // The page repeats the token in its form (a new one after each restart).
                    if let Some(t) = page.split("name=\"csrf\" value=\"").nth(1).and_then(|r| r.split('"').next()) {
                        csrf = t.to_string();
                    }
                    let Some(n) = page.split("name=\"n\" value=\"").nth(1).and_then(|r| r.split('"').next()) else {
                        panic!("no attempt number in the quiz page");
                    };
                    i += 1;
                    let answer = format!("answer-{round}-{i}");
                    let body = format!("csrf={csrf}&n={n}&q0=1&q1=true&q2={answer}&q3=12");
                    match http(addr, "POST", &quiz, &body, &csrf) {
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
        drop(server); // SIGKILL (Child::kill), then reap
        stop.store(true, Ordering::Relaxed);
        let (acks, last) = client.join().expect("client thread");
        counter = last;
        acked.extend(acks);
    }
    assert!(acked.len() >= KILLS / 4, "too few acknowledged submissions to prove anything: {}", acked.len());
    // Every acknowledged attempt is in the records, with the answer it carried.
    let store = Store::open(&data.join("preau.sqlite"), "test-box").unwrap();
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
