//! Issue 14 (M4): one client address cannot take every connection. 600 idle sockets
//! from 127.0.0.1 do not stop a client on 127.0.0.2 (both loopback).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Server, parse_response};

/// One GET from the source address `from`, on a fresh connection.
fn get_from(s: &Server, from: &str, path: &str) -> common::Resp {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let stream = rt.block_on(async {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind(format!("{from}:0").parse().unwrap()).expect("bind a loopback source address");
        sock.connect(s.addr).await.unwrap().into_std().unwrap()
    });
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut stream = stream;
    // A refused connection is answered and closed without reading: the write or the end
    // of the read may fail, the 503 has been received by then.
    let _ = write!(stream, "GET {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\r\n", s.addr);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    parse_response(&raw, false)
}

#[test]
fn six_hundred_idle_sockets_from_one_address_do_not_starve_another() {
    // The defaults: 512 connections, 64 per client; a long header timeout so the idle
    // sockets stay open during the test.
    let s = Server::start("[server]\nheader_read_timeout_secs = 60");
    let mut idle = Vec::new();
    for _ in 0..600 {
        let mut c = TcpStream::connect(s.addr).unwrap();
        c.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n").unwrap();
        idle.push(c);
    }
    // Let the server accept (and refuse) them all.
    std::thread::sleep(Duration::from_millis(500));
    let r = get_from(&s, "127.0.0.2", "/healthz");
    assert_eq!(r.status, 200, "{}", r.text());
    // The flooding address itself is over its share: it gets the quick 503.
    let r = get_from(&s, "127.0.0.1", "/healthz");
    assert_eq!(r.status, 503, "{}", r.text());
    drop(idle);
}
