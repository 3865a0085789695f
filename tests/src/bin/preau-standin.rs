//! A stand-in for `preau serve`, for checking the image's boot path (unit, network,
//! data partition, preload folder) while the real box is not built. Never used by a
//! committed test as the box: `image_pc_boot` runs the real `preau`.
//!
//! `preau-standin serve --config FILE`: answers `GET /healthz` and serves
//! `GET /packs/{id}/{path}` from the plain folder `{preload}/{id}/{path}`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Component, Path, PathBuf};

fn value(config: &str, key: &str) -> Option<String> {
    config.lines().find_map(|l| {
        let rest = l.trim().strip_prefix(key)?.trim_start().strip_prefix('=')?;
        Some(rest.trim().trim_matches('"').to_string())
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let config_path = args
        .iter()
        .position(|a| a == "--config")
        .map(|i| args[i + 1].clone());
    let config = config_path
        .map(|p| std::fs::read_to_string(p).expect("config"))
        .unwrap_or_default();
    let listen = value(&config, "listen").unwrap_or_else(|| "127.0.0.1:8080".into());
    let preload = PathBuf::from(value(&config, "preload").unwrap_or_else(|| "preload".into()));
    let listener = TcpListener::bind(&listen).expect("bind");
    eprintln!(
        "preau-standin listening on {listen}, packs from {}",
        preload.display()
    );
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let mut line = String::new();
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        if reader.read_line(&mut line).is_err() {
            continue;
        }
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).map(|n| n == 0).unwrap_or(true) || h == "\r\n" {
                break;
            }
        }
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
        let body = if path == "/healthz" {
            Some(b"ok\n".to_vec())
        } else if let Some(rest) = path.strip_prefix("/packs/") {
            let rel = Path::new(rest);
            let safe = rel.components().all(|c| matches!(c, Component::Normal(_)));
            if safe {
                std::fs::read(preload.join(rel)).ok()
            } else {
                None
            }
        } else {
            None
        };
        let (status, body) = match body {
            Some(b) => ("200 OK", b),
            None => ("404 Not Found", b"not found\n".to_vec()),
        };
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(&body);
    }
}
