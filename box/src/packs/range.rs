//! `Range: bytes=…` parsing (RFC 9110 §14), pure so it is tested without sockets.
//!
//! Only a single range is honoured (what video players and download resumers send);
//! several ranges get the whole file, which the RFC allows.

/// What to send for a request with (or without) a Range header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAnswer {
    /// 200 with the whole file.
    Whole,
    /// 206 with bytes `start..start+len`.
    Part { start: u64, len: u64 },
    /// 416: no byte of the range is in the file.
    Unsatisfiable,
}

/// Longest Range header looked at; longer ones are ignored (whole file).
const MAX_RANGE_HEADER: usize = 200;

pub fn parse(header: Option<&str>, size: u64) -> RangeAnswer {
    let Some(h) = header else { return RangeAnswer::Whole };
    if h.len() > MAX_RANGE_HEADER {
        return RangeAnswer::Whole;
    }
    let Some(spec) = h.trim().strip_prefix("bytes=") else { return RangeAnswer::Whole };
    if spec.contains(',') {
        return RangeAnswer::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else { return RangeAnswer::Whole };
    let (a, b) = (a.trim(), b.trim());
    let num = |s: &str| -> Option<u64> {
        if !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) { s.parse().ok() } else { None }
    };
    match (a.is_empty(), b.is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => match num(b) {
            Some(0) => RangeAnswer::Unsatisfiable,
            Some(_) if size == 0 => RangeAnswer::Unsatisfiable,
            Some(n) => {
                let len = n.min(size);
                RangeAnswer::Part { start: size - len, len }
            }
            None => RangeAnswer::Whole,
        },
        // bytes=A-: from A to the end.
        (false, true) => match num(a) {
            Some(start) if start < size => RangeAnswer::Part { start, len: size - start },
            Some(_) => RangeAnswer::Unsatisfiable,
            None => RangeAnswer::Whole,
        },
        // bytes=A-B, inclusive; B past the end is cut to the end.
        (false, false) => match (num(a), num(b)) {
            (Some(start), Some(end)) if start <= end => {
                if start >= size {
                    RangeAnswer::Unsatisfiable
                } else {
                    RangeAnswer::Part { start, len: end.min(size - 1) - start + 1 }
                }
            }
            _ => RangeAnswer::Whole,
        },
        (true, true) => RangeAnswer::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::RangeAnswer::*;
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse(None, 10), Whole);
        assert_eq!(parse(Some("bytes=0-0"), 10), Part { start: 0, len: 1 });
        assert_eq!(parse(Some("bytes=2-5"), 10), Part { start: 2, len: 4 });
        assert_eq!(parse(Some("bytes=2-"), 10), Part { start: 2, len: 8 });
        assert_eq!(parse(Some("bytes=-3"), 10), Part { start: 7, len: 3 });
        assert_eq!(parse(Some("bytes=-30"), 10), Part { start: 0, len: 10 });
        assert_eq!(parse(Some("bytes=5-100"), 10), Part { start: 5, len: 5 });
        assert_eq!(parse(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(parse(Some("bytes=10-12"), 10), Unsatisfiable);
        assert_eq!(parse(Some("bytes=-0"), 10), Unsatisfiable);
        assert_eq!(parse(Some("bytes=0-"), 0), Unsatisfiable);
        assert_eq!(parse(Some("bytes=5-2"), 10), Whole);
        assert_eq!(parse(Some("bytes=0-1,4-5"), 10), Whole);
        assert_eq!(parse(Some("items=0-1"), 10), Whole);
        assert_eq!(parse(Some("bytes=a-b"), 10), Whole);
        assert_eq!(parse(Some("bytes=+1-2"), 10), Whole);
        assert_eq!(parse(Some("bytes=99999999999999999999999-"), 10), Whole);
    }
}
