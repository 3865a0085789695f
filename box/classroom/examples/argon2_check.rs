//! Times one argon2id password check with the box's parameters (`M_COST_KIB`,
//! `T_COST`, one lane): the figure behind them in BENCHMARKS.md. Prints the median,
//! fastest and slowest of N checks (default 9, at most 100).
//!
//! ```sh
//! cargo run -p preau-classroom --example argon2_check -- 9
//! ```

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::time::{Duration, Instant};

fn main() {
    let n: usize = match std::env::args().nth(1).map(|a| a.parse()) {
        None => 9,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => {
            eprintln!("usage: argon2_check [N]   (N checks, 1 to 100)");
            std::process::exit(2);
        }
    };
    let params = Params::new(preau_classroom::ARGON2_M_COST_KIB, preau_classroom::ARGON2_T_COST, 1, None)
        .expect("valid argon2 parameters");
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = SaltString::encode_b64(b"benchmark salt 16").expect("salt");
    let password = b"correct horse battery staple";
    let hash = argon.hash_password(password, &salt).expect("hash").to_string();
    let parsed = PasswordHash::new(&hash).expect("parse");
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            argon.verify_password(password, &parsed).expect("the password verifies");
            t.elapsed()
        })
        .collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "argon2id m={} KiB t={} p=1 on {}: median {:.1} ms, fastest {:.1} ms, slowest {:.1} ms ({n} checks)",
        preau_classroom::ARGON2_M_COST_KIB,
        preau_classroom::ARGON2_T_COST,
        std::env::consts::ARCH,
        ms(times[n / 2]),
        ms(times[0]),
        ms(times[n - 1])
    );
}
