//! Checks that a binary is an ELF executable for the board's CPU before it goes into an
//! image: a PC binary on a Pi card only shows up as a box that never answers.

use crate::profile::Board;
use anyhow::{Context, Result, bail};
use std::io::Read;
use std::path::Path;

const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;

fn expected(board: Board) -> u16 {
    match board {
        Board::PcAmd64 => EM_X86_64,
        Board::RpiArm64 => EM_AARCH64,
    }
}

fn machine_name(m: u16) -> String {
    match m {
        EM_X86_64 => "x86_64".into(),
        EM_AARCH64 => "aarch64".into(),
        3 => "i386".into(),
        40 => "32-bit ARM".into(),
        243 => "RISC-V".into(),
        other => format!("ELF machine {other}"),
    }
}

/// Reads e_machine from an ELF header (first 20 bytes).
pub fn machine(header: &[u8]) -> Result<u16> {
    if header.len() < 20 || &header[..4] != b"\x7fELF" {
        bail!("not an ELF executable");
    }
    let m = [header[18], header[19]];
    Ok(match header[5] {
        1 => u16::from_le_bytes(m),
        2 => u16::from_be_bytes(m),
        _ => bail!("not an ELF executable (bad data encoding byte)"),
    })
}

/// Fails unless `path` is an ELF file for `board`, with the command that builds one.
pub fn check_binary(path: &Path, board: Board, what: &str) -> Result<()> {
    let fix = match board {
        Board::PcAmd64 => "build it with `cargo build --release -p preau-box`".to_string(),
        Board::RpiArm64 => "build it with `preau-image cross-build` (aarch64)".to_string(),
    };
    let mut f =
        std::fs::File::open(path).with_context(|| format!("the {what} binary {} is missing: {fix}", path.display()))?;
    let mut header = [0u8; 20];
    let n = f.read(&mut header)?;
    let m = machine(&header[..n]).with_context(|| format!("the {what} binary {}: {fix}", path.display()))?;
    if m != expected(board) {
        bail!(
            "the {what} binary {} is built for {}, but board {} needs {}: {fix}",
            path.display(),
            machine_name(m),
            board.name(),
            machine_name(expected(board))
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(class_le: bool, m: u16) -> Vec<u8> {
        let mut h = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0".to_vec();
        if !class_le {
            h[5] = 2;
            h.extend(m.to_be_bytes());
        } else {
            h.extend(m.to_le_bytes());
        }
        h
    }

    #[test]
    fn reads_the_machine() {
        assert_eq!(machine(&header(true, 183)).unwrap(), EM_AARCH64);
        assert_eq!(machine(&header(false, 62)).unwrap(), EM_X86_64);
        assert!(machine(b"#!/bin/sh\necho hello world").is_err());
        assert!(machine(b"\x7fELF").is_err());
    }

    #[test]
    fn wrong_architecture_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("preau");
        std::fs::write(&p, header(true, EM_X86_64)).unwrap();
        check_binary(&p, Board::PcAmd64, "preau").unwrap();
        let err = check_binary(&p, Board::RpiArm64, "preau").unwrap_err().to_string();
        assert!(err.contains("x86_64") && err.contains("aarch64") && err.contains("cross-build"), "{err}");
        let err = format!("{:#}", check_binary(&dir.path().join("nope"), Board::PcAmd64, "preau").unwrap_err());
        assert!(err.contains("missing") && err.contains("cargo build"), "{err}");
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        let err = format!("{:#}", check_binary(&p, Board::PcAmd64, "preau").unwrap_err());
        assert!(err.contains("not an ELF"), "{err}");
    }

    #[test]
    fn this_test_binary_is_native() {
        let me = std::env::current_exe().unwrap();
        let board = if cfg!(target_arch = "aarch64") { Board::RpiArm64 } else { Board::PcAmd64 };
        check_binary(&me, board, "test").unwrap();
    }
}
