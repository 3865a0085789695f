//! Content-defined chunking with FastCDC (2020): boundaries depend on the content, so an
//! insertion early in a file moves only the chunks around it, and unchanged chunks keep
//! their hash across versions and across packs.

use std::io::Read;

use crate::limits::{AVG_CHUNK_BYTES, MAX_CHUNK_BYTES, MIN_CHUNK_BYTES};
use crate::{Error, Result};

/// Calls `each` with every chunk of `reader`, in order. Files shorter than the minimum
/// chunk size come out as a single chunk ("small files stay whole").
pub fn for_each_chunk(reader: impl Read, mut each: impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
    let cdc = fastcdc::v2020::StreamCDC::new(reader, MIN_CHUNK_BYTES, AVG_CHUNK_BYTES, MAX_CHUNK_BYTES as u32);
    for chunk in cdc {
        let chunk = chunk.map_err(|e| match e {
            fastcdc::v2020::Error::IoError(source) => Error::Io { context: "reading a source file".into(), source },
            other => Error::Other(format!("chunking: {other}")),
        })?;
        each(&chunk.data)?;
    }
    Ok(())
}

/// Chunk lengths of an in-memory buffer (for tests and tools).
pub fn chunk_lengths(data: &[u8]) -> Vec<usize> {
    fastcdc::v2020::FastCDC::new(data, MIN_CHUNK_BYTES, AVG_CHUNK_BYTES, MAX_CHUNK_BYTES as u32)
        .map(|c| c.length)
        .collect()
}
