//! Library URLs written as string literals in scripts (pure): Material for MkDocs loads
//! mermaid from `"https://unpkg.com/mermaid@…/dist/mermaid.min.js"` at run time, a page
//! imports `"https://cdn.jsdelivr.net/npm/mermaid@10/dist/mermaid.esm.min.mjs"`. Only
//! whole literals that the caller maps (well-known library files) are replaced; a script
//! is never tokenized further, so nothing else in it can change.

/// Calls `decide` with every quoted `http(s)://…` or `//…` literal of `js` (no escapes,
/// no template substitutions) and replaces its content with the answer, if any.
pub fn rewrite(js: &str, decide: &mut dyn FnMut(&str) -> Option<String>) -> String {
    let b = js.as_bytes();
    let mut out = String::with_capacity(js.len());
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        let q = b[i];
        if !(q == b'"' || q == b'\'' || q == b'`') {
            i += 1;
            continue;
        }
        let rest = &js[i + 1..];
        if !(rest.starts_with("https://") || rest.starts_with("http://") || rest.starts_with("//")) {
            i += 1;
            continue;
        }
        let Some(len) = rest.find(|c: char| c as u32 == q as u32 || c == '\\' || c == '\n' || c.is_whitespace()) else {
            break;
        };
        let literal = &rest[..len];
        let closed = rest.as_bytes()[len] == q && !(q == b'`' && literal.contains("${"));
        if closed && let Some(new) = decide(literal) {
            out.push_str(&js[copied..i + 1]);
            out.push_str(&new);
            copied = i + 1 + len;
        }
        i += 1 + len;
    }
    out.push_str(&js[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_whole_literals_it_is_told_to() {
        let js = r#"const u="https://unpkg.com/mermaid@10.9.1/dist/mermaid.min.js";import k from 'https://cdn.jsdelivr.net/npm/katex@0.16.9/dist/katex.mjs';
fetch(`https://api.example/${x}`); s = "https://unpkg.com/mermaid@10.9.1/dist/mermaid.min.js?x=\"y\""; a = "http://other.example/a.js";"#;
        let out = rewrite(js, &mut |u| {
            u.contains("unpkg.com/mermaid").then(|| "/packs/preau-libs/mermaid@10.9.1/dist/mermaid.min.js".into())
        });
        assert!(out.starts_with(r#"const u="/packs/preau-libs/mermaid@10.9.1/dist/mermaid.min.js";"#), "{out}");
        assert!(out.contains("'https://cdn.jsdelivr.net/npm/katex@0.16.9/dist/katex.mjs'"));
        assert!(out.contains("`https://api.example/${x}`"));
        // An escape inside the literal: not a plain URL literal, left alone.
        assert!(out.contains(r#""https://unpkg.com/mermaid@10.9.1/dist/mermaid.min.js?x=\"y\"""#));
        assert!(out.contains(r#""http://other.example/a.js""#));
        let mut seen = Vec::new();
        rewrite(js, &mut |u| {
            seen.push(u.to_string());
            None
        });
        assert_eq!(seen.len(), 3, "{seen:?}");
        for broken in ["\"https://", "'//x", "`https://a${"] {
            assert_eq!(rewrite(broken, &mut |_| Some("z".into())), broken);
        }
    }
}
