//! References in CSS (pure): `url(…)` and `@import "…"`, found by a small tokenizer that
//! knows comments, strings and escapes, so that a `url(` inside a comment or a string is
//! not taken for a reference, and replaced in place without touching anything else.

/// What a reference becomes, from the caller's decision.
pub type Decide<'a> = dyn FnMut(&str) -> Option<String> + 'a;

/// Calls `decide` with every reference of `css` (the URL as written, escapes and quotes
/// removed) and writes its answer in place of the URL (quoted); `None` keeps it as is.
pub fn rewrite(css: &str, decide: &mut Decide<'_>) -> String {
    let b = css.as_bytes();
    let mut out = String::with_capacity(css.len());
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = css[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
            }
            b'"' | b'\'' => i = string_end(b, i),
            b'\\' => i += 2,
            b'u' | b'U' if starts_ci(b, i, b"url(") && (i == 0 || !is_ident(b[i - 1])) => {
                let mut j = i + 4;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                let (start, end, value) = if j < b.len() && (b[j] == b'"' || b[j] == b'\'') {
                    let e = string_end(b, j);
                    (j, e, unescape(string_content(css, j, e)))
                } else {
                    let e = css[j..].find(')').map_or(b.len(), |e| j + e);
                    (j, e, unescape(css[j..e].trim_end()))
                };
                if let Some(new) = decide(&value) {
                    out.push_str(&css[copied..start]);
                    out.push_str(&quote(&new));
                    let after_unquoted = if end > start && (b[start] == b'"' || b[start] == b'\'') {
                        end
                    } else {
                        start + css[start..end].trim_end().len()
                    };
                    copied = after_unquoted;
                }
                i = end.max(i + 4);
            }
            b'@' if starts_ci(b, i, b"@import") => {
                let mut j = i + 7;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                if j < b.len() && (b[j] == b'"' || b[j] == b'\'') {
                    let e = string_end(b, j);
                    let value = unescape(string_content(css, j, e));
                    if let Some(new) = decide(&value) {
                        out.push_str(&css[copied..j]);
                        out.push_str(&quote(&new));
                        copied = e;
                    }
                    i = e;
                } else {
                    // `@import url(…)`: the url( branch sees it.
                    i = j;
                }
            }
            _ => i += 1,
        }
    }
    out.push_str(&css[copied.min(css.len())..]);
    out
}

/// Every reference of `css`, in order.
pub fn references(css: &str) -> Vec<String> {
    let mut found = Vec::new();
    rewrite(css, &mut |u| {
        found.push(u.to_string());
        None
    });
    found
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c >= 0x80
}

fn starts_ci(b: &[u8], i: usize, what: &[u8]) -> bool {
    b.len() >= i + what.len() && b[i..i + what.len()].eq_ignore_ascii_case(what)
}

/// The index just after the string that starts at `i` (its closing quote, or the end of
/// the line or input for an unterminated one, as CSS does).
fn string_end(b: &[u8], i: usize) -> usize {
    let q = b[i];
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            c if c == q => return j + 1,
            b'\n' => return j,
            _ => j += 1,
        }
    }
    b.len()
}

/// The text of the string that starts at `start` and ends before `end` (without quotes).
fn string_content(css: &str, start: usize, end: usize) -> &str {
    let b = css.as_bytes();
    let closed = end > start + 1 && b[end - 1] == b[start];
    &css[start + 1..if closed { end - 1 } else { end }]
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let mut hex = String::new();
        while hex.len() < 6 && chars.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
            hex.push(chars.next().unwrap_or('0'));
        }
        if hex.is_empty() {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            if chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            out.push(u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32).unwrap_or('\u{fffd}'));
        }
    }
    out
}

fn quote(url: &str) -> String {
    let mut out = String::with_capacity(url.len() + 2);
    out.push('"');
    for c in url.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\a "),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_urls_and_imports_but_not_in_comments_or_strings() {
        let css = r#"@import "https://a.example/x.css";
@import url('https://b.example/y.css') screen;
/* url(https://no.example/comment.png) */
.a { background: URL( https://c.example/i.png ) no-repeat; content: "url(https://no.example/s)"; }
@font-face { src: url("fonts/k.woff2") format("woff2"), url(data:font/woff;base64,AAAA); }
.b { background-image: image-set(url("https://d.example/\31 x.png") 1x); }"#;
        assert_eq!(
            references(css),
            vec![
                "https://a.example/x.css",
                "https://b.example/y.css",
                "https://c.example/i.png",
                "fonts/k.woff2",
                "data:font/woff;base64,AAAA",
                "https://d.example/1x.png",
            ]
        );
    }

    #[test]
    fn rewrites_only_what_is_decided() {
        let css =
            "a{background:url(https://c.example/i.png) no-repeat}@import 'https://x.example/a.css';b{c:url(keep.png)}";
        let out = rewrite(css, &mut |u| u.starts_with("https://").then(|| format!("local/{}", u.len())));
        assert_eq!(out, "a{background:url(\"local/23\") no-repeat}@import \"local/23\";b{c:url(keep.png)}");
    }

    #[test]
    fn survives_broken_input() {
        for css in ["url(", "url(\"", "@import", "@import '", "/*", "\\", "a{b:url( x"] {
            let _ = rewrite(css, &mut |_| Some("z".into()));
        }
        assert_eq!(rewrite("a{b:url( x", &mut |_| Some("z".into())), "a{b:url( \"z\"");
    }
}
