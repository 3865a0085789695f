//! The table of well-known libraries and the CDN URL shapes they are loaded from (pure).
//!
//! A URL that matches gives the npm package, the version the page asked for (if any) and
//! the path inside the npm package; the library then comes from the `preau-libs` pack.
//! polyfill.io-style shims are recognised so that they can be dropped: every browser a
//! box serves already has what they add, and they are not libraries a page can use.

use url::Url;

/// One well-known library: its npm package and where the CDN files sit in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Library {
    /// The npm package the files come from.
    pub npm: &'static str,
    /// Its name on cdnjs (`ajax/libs/<name>/<version>/<path>`), if it is there.
    pub cdnjs: Option<&'static str>,
    /// What a cdnjs path is prefixed with inside the npm package (cdnjs flattens `dist/`).
    pub cdnjs_prefix: &'static str,
    /// Folders of the package that the library loads at run time without the page naming
    /// them (fonts, extensions, chunks): `(suffix, folder)` adds every file under `folder`
    /// when the requested path ends with `suffix` (`""`: always).
    pub companions: &'static [(&'static str, &'static str)],
}

/// Every library the rewriter maps to the libraries pack.
pub const LIBRARIES: &[Library] = &[
    // MathJax 3 loads its fonts, input extensions and menu by path (not the speech rule
    // engine `sre/`: tens of MB, only for the accessibility explorer).
    Library {
        npm: "mathjax",
        cdnjs: Some("mathjax"),
        cdnjs_prefix: "",
        companions: &[("", "es5/output/"), ("", "es5/input/"), ("", "es5/ui/"), ("", "es5/adaptors/")],
    },
    Library { npm: "katex", cdnjs: Some("KaTeX"), cdnjs_prefix: "dist/", companions: &[(".css", "dist/fonts/")] },
    // The ESM build of mermaid imports its diagram chunks by relative path.
    Library { npm: "mermaid", cdnjs: Some("mermaid"), cdnjs_prefix: "dist/", companions: &[(".mjs", "dist/chunks/")] },
    Library { npm: "@highlightjs/cdn-assets", cdnjs: Some("highlight.js"), cdnjs_prefix: "", companions: &[] },
    Library { npm: "highlight.js", cdnjs: None, cdnjs_prefix: "", companions: &[] },
    Library { npm: "@twemoji/svg", cdnjs: None, cdnjs_prefix: "", companions: &[] },
    Library { npm: "twemoji", cdnjs: Some("twemoji"), cdnjs_prefix: "dist/", companions: &[] },
    Library { npm: "jquery", cdnjs: Some("jquery"), cdnjs_prefix: "dist/", companions: &[] },
    // ACE loads its modes, themes and workers next to `ace.js`.
    Library {
        npm: "ace-builds",
        cdnjs: Some("ace"),
        cdnjs_prefix: "src-min-noconflict/",
        companions: &[("", "src-min-noconflict/")],
    },
    // What Forge course sites with Python terminals and SQL consoles load beside ACE and
    // Pyodide (pyodide-mkdocs, mkdocs-sqlite-console), and Material's table sorting recipe.
    Library { npm: "jquery.terminal", cdnjs: Some("jquery.terminal"), cdnjs_prefix: "", companions: &[] },
    Library { npm: "js-md5", cdnjs: Some("js-md5"), cdnjs_prefix: "build/", companions: &[] },
    Library { npm: "tablesort", cdnjs: Some("tablesort"), cdnjs_prefix: "dist/", companions: &[] },
    // CodeMirror 5: cdnjs puts `lib/` files at the top (see `cdnjs`).
    Library { npm: "codemirror", cdnjs: Some("codemirror"), cdnjs_prefix: "", companions: &[] },
    // Pyodide's core: the loader fetches the WebAssembly interpreter, the standard library
    // and the lock file from its own folder.
    Library { npm: "pyodide", cdnjs: None, cdnjs_prefix: "", companions: &[("", "")] },
];

/// The library of an npm package name, if it is in the table.
pub fn library(npm: &str) -> Option<&'static Library> {
    LIBRARIES.iter().find(|l| l.npm == npm)
}

/// A file of a well-known library, as a page asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibRef {
    pub package: &'static str,
    /// The version or version prefix in the URL (`3`, `0.16.9`); `None` for "latest".
    pub version: Option<String>,
    /// The path inside the npm package, without a leading `/`; empty when the URL names
    /// only the package (the CDN then serves the package's main file).
    pub path: String,
}

/// What an outside URL is, for the rewriter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Known {
    Library(LibRef),
    /// A polyfill service script: dropped.
    Shim,
}

/// Hosts that serve polyfill bundles computed from the browser's User-Agent.
const SHIM_HOSTS: &[&str] =
    &["polyfill.io", "cdn.polyfill.io", "polyfill-fastly.io", "polyfill-fastly.net", "polyfill.alicdn.com"];

/// Recognises a well-known library or shim URL (`http`, `https` or protocol-relative,
/// already made absolute by the caller).
pub fn classify(url: &Url) -> Option<Known> {
    let host = url.host_str()?.to_ascii_lowercase();
    if SHIM_HOSTS.contains(&host.as_str()) {
        return Some(Known::Shim);
    }
    let segments: Vec<&str> = url.path_segments()?.collect();
    let lib = match host.as_str() {
        "cdn.jsdelivr.net" | "fastly.jsdelivr.net" | "gcore.jsdelivr.net" => jsdelivr(&segments),
        "unpkg.com" => npm_path(&segments),
        "cdnjs.cloudflare.com" => {
            if segments.first() == Some(&"polyfill") {
                return Some(Known::Shim);
            }
            cdnjs(&segments)
        }
        "code.jquery.com" => jquery_cdn(&segments),
        // The former twemoji CDN (Material for MkDocs before 8.x): `/v/<version>/svg/<file>`,
        // the same files as the npm package `@twemoji/svg`.
        "twemoji.maxcdn.com" if segments.len() == 4 && segments[0] == "v" && segments[2] == "svg" => {
            let version = Some(segments[1]).filter(|v| *v != "latest").map(String::from);
            Some(LibRef { package: "@twemoji/svg", version, path: segments[3].to_string() })
        }
        _ => None,
    }?;
    Some(Known::Library(lib))
}

fn jsdelivr(seg: &[&str]) -> Option<LibRef> {
    match *seg.first()? {
        "npm" => npm_path(&seg[1..]),
        // Pyodide has its own folder: `/pyodide/v0.25.0/full/pyodide.js`.
        "pyodide" => {
            let version = seg.get(1)?.strip_prefix('v')?.to_string();
            let rest = seg.get(3..)?.join("/");
            Some(LibRef { package: "pyodide", version: Some(version), path: rest })
        }
        // twemoji's SVGs straight from its GitHub repository (as Material for MkDocs and
        // many sites use them): the same files are the npm package `@twemoji/svg`.
        "gh" => {
            let (repo, version) = split_version(seg.get(2)?);
            let owner = seg.get(1)?;
            let is_twemoji = repo == "twemoji" && ["twitter", "jdecked"].contains(owner);
            if is_twemoji && seg.get(3) == Some(&"assets") && seg.get(4) == Some(&"svg") {
                let file = seg.get(5..)?.join("/");
                return Some(LibRef { package: "@twemoji/svg", version, path: file });
            }
            None
        }
        _ => None,
    }
}

/// `<pkg>[@<ver>]/<path>` or `@scope/<pkg>[@<ver>]/<path>` (jsdelivr's `npm/` and unpkg).
fn npm_path(seg: &[&str]) -> Option<LibRef> {
    let (name, version, rest) = if seg.first()?.starts_with('@') {
        let (pkg, version) = split_version(seg.get(1)?);
        (format!("{}/{pkg}", seg[0]), version, seg.get(2..).unwrap_or_default())
    } else {
        let (pkg, version) = split_version(seg[0]);
        (pkg.to_string(), version, seg.get(1..).unwrap_or_default())
    };
    let lib = library(&name)?;
    let path = rest.join("/");
    // jsdelivr's `+esm` and `/+esm` are bundles it makes on the fly, not package files.
    if path.contains('+') {
        return None;
    }
    Some(LibRef { package: lib.npm, version, path })
}

fn cdnjs(seg: &[&str]) -> Option<LibRef> {
    if seg.first() != Some(&"ajax") || seg.get(1) != Some(&"libs") {
        return None;
    }
    let name = seg.get(2)?;
    let lib = LIBRARIES.iter().find(|l| l.cdnjs == Some(name))?;
    let version = seg.get(3)?.to_string();
    let rest = seg.get(4..)?.join("/");
    // CodeMirror 5 on cdnjs: `codemirror.min.js` at the top is `lib/codemirror.js` in
    // the npm package; `mode/`, `addon/` and `theme/` keep their place.
    let prefix = if lib.npm == "codemirror" && !rest.contains('/') { "lib/" } else { lib.cdnjs_prefix };
    let path = format!("{prefix}{rest}");
    Some(LibRef { package: lib.npm, version: Some(version), path })
}

/// `code.jquery.com/jquery-3.7.1.min.js`.
fn jquery_cdn(seg: &[&str]) -> Option<LibRef> {
    let file = seg.first()?.strip_prefix("jquery-")?;
    let (version, min) = match file.strip_suffix(".min.js") {
        Some(v) => (v, true),
        None => (file.strip_suffix(".js")?, false),
    };
    if !version.chars().next()?.is_ascii_digit() || version.contains(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let path = if min { "dist/jquery.min.js" } else { "dist/jquery.js" };
    Some(LibRef { package: "jquery", version: Some(version.to_string()), path: path.into() })
}

fn split_version(seg: &str) -> (&str, Option<String>) {
    match seg.split_once('@') {
        Some((name, v)) if !v.is_empty() && v != "latest" => (name, Some(v.to_string())),
        Some((name, _)) => (name, None),
        None => (seg, None),
    }
}

/// A release version `major.minor.patch`; pre-releases are never picked by [`pick_version`].
fn parse_version(v: &str) -> Option<(u64, u64, u64)> {
    let mut it = v.split('.');
    let a = it.next()?.parse().ok()?;
    let b = it.next()?.parse().ok()?;
    let c = it.next()?.parse().ok()?;
    it.next().is_none().then_some((a, b, c))
}

/// The version to use for `wanted` among `available`, and whether it honours the request.
///
/// An exact version is used when it exists. A prefix (`3`, `3.2`, `^3.2.0`, `~3.2.0`) takes
/// the highest release it matches, as the CDN would: that honours it. Otherwise the
/// nearest release: the lowest one above the request with the same major, else the
/// highest one below it, else the highest one; the caller reports the substitution.
pub fn pick_version(wanted: Option<&str>, available: &[String]) -> Option<(String, bool)> {
    let mut releases: Vec<((u64, u64, u64), &String)> =
        available.iter().filter_map(|v| parse_version(v).map(|p| (p, v))).collect();
    releases.sort();
    let Some(wanted) = wanted else {
        return releases.last().map(|(_, v)| ((*v).clone(), true));
    };
    if available.iter().any(|v| v == wanted) {
        return Some((wanted.to_string(), true));
    }
    let spec = wanted.trim_start_matches(['^', '~', 'v', '=']);
    let parts: Vec<u64> = spec.split('.').map_while(|p| p.parse().ok()).collect();
    if parts.is_empty() {
        return releases.last().map(|(_, v)| ((*v).clone(), false));
    }
    let matching = |p: &(u64, u64, u64)| {
        let t = [p.0, p.1, p.2];
        match wanted.chars().next() {
            // ^1.2.3: same major (for 0.x, same minor), at least the given version.
            Some('^') => t[0] == parts[0] && (t[0] != 0 || parts.len() < 2 || t[1] == parts[1]) && t >= pad(&parts),
            Some('~') => t[0] == parts[0] && (parts.len() < 2 || t[1] == parts[1]) && t >= pad(&parts),
            _ if parts.len() < 3 => t[..parts.len()] == parts[..],
            _ => false,
        }
    };
    if let Some((_, v)) = releases.iter().rev().find(|(p, _)| matching(p)) {
        return Some(((*v).clone(), true));
    }
    let want = pad(&parts);
    let above = releases.iter().find(|(p, _)| p.0 == want[0] && [p.0, p.1, p.2] >= want);
    let below = releases.iter().rev().find(|(p, _)| [p.0, p.1, p.2] < want);
    above.or(below).or(releases.last()).map(|(_, v)| ((*v).clone(), false))
}

fn pad(parts: &[u64]) -> [u64; 3] {
    [parts.first().copied().unwrap_or(0), parts.get(1).copied().unwrap_or(0), parts.get(2).copied().unwrap_or(0)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lib(url: &str) -> Option<Known> {
        classify(&Url::parse(url).unwrap())
    }

    fn libref(package: &'static str, version: Option<&str>, path: &str) -> Option<Known> {
        Some(Known::Library(LibRef { package, version: version.map(String::from), path: path.into() }))
    }

    #[test]
    fn jsdelivr_npm_shapes() {
        assert_eq!(
            lib("https://cdn.jsdelivr.net/npm/katex@0.16.9/dist/katex.min.css"),
            libref("katex", Some("0.16.9"), "dist/katex.min.css")
        );
        assert_eq!(
            lib("https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"),
            libref("mathjax", Some("3"), "es5/tex-mml-chtml.js")
        );
        assert_eq!(
            lib("https://cdn.jsdelivr.net/npm/mermaid/dist/mermaid.min.js"),
            libref("mermaid", None, "dist/mermaid.min.js")
        );
        assert_eq!(
            lib("https://cdn.jsdelivr.net/npm/@highlightjs/cdn-assets@11.9.0/highlight.min.js"),
            libref("@highlightjs/cdn-assets", Some("11.9.0"), "highlight.min.js")
        );
        assert_eq!(lib("https://cdn.jsdelivr.net/npm/mermaid@10"), libref("mermaid", Some("10"), ""));
        // Not in the table, or a bundle made by jsdelivr itself: not a library file.
        assert_eq!(lib("https://cdn.jsdelivr.net/npm/left-pad@1.3.0/index.js"), None);
        assert_eq!(lib("https://cdn.jsdelivr.net/npm/mermaid@10/+esm"), None);
    }

    #[test]
    fn unpkg_cdnjs_and_others() {
        assert_eq!(
            lib("https://unpkg.com/mermaid@10.9.1/dist/mermaid.min.js"),
            libref("mermaid", Some("10.9.1"), "dist/mermaid.min.js")
        );
        assert_eq!(
            lib("https://cdnjs.cloudflare.com/ajax/libs/highlight.js/11.9.0/styles/default.min.css"),
            libref("@highlightjs/cdn-assets", Some("11.9.0"), "styles/default.min.css")
        );
        assert_eq!(
            lib("https://cdnjs.cloudflare.com/ajax/libs/jquery/3.7.1/jquery.min.js"),
            libref("jquery", Some("3.7.1"), "dist/jquery.min.js")
        );
        assert_eq!(
            lib("https://cdnjs.cloudflare.com/ajax/libs/ace/1.32.2/ace.js"),
            libref("ace-builds", Some("1.32.2"), "src-min-noconflict/ace.js")
        );
        assert_eq!(
            lib("https://cdnjs.cloudflare.com/ajax/libs/KaTeX/0.16.9/katex.min.js"),
            libref("katex", Some("0.16.9"), "dist/katex.min.js")
        );
        assert_eq!(
            lib("https://code.jquery.com/jquery-3.6.0.min.js"),
            libref("jquery", Some("3.6.0"), "dist/jquery.min.js")
        );
        assert_eq!(
            lib("https://cdn.jsdelivr.net/pyodide/v0.25.0/full/pyodide.js"),
            libref("pyodide", Some("0.25.0"), "pyodide.js")
        );
        assert_eq!(
            lib("https://cdn.jsdelivr.net/gh/jdecked/twemoji@15.0.3/assets/svg/1f600.svg"),
            libref("@twemoji/svg", Some("15.0.3"), "1f600.svg")
        );
        assert_eq!(
            lib("https://cdnjs.cloudflare.com/ajax/libs/codemirror/5.58.1/codemirror.js"),
            libref("codemirror", Some("5.58.1"), "lib/codemirror.js")
        );
        assert_eq!(
            lib("https://cdnjs.cloudflare.com/ajax/libs/codemirror/5.58.1/mode/sql/sql.min.js"),
            libref("codemirror", Some("5.58.1"), "mode/sql/sql.min.js")
        );
        assert_eq!(
            lib("https://cdn.jsdelivr.net/npm/jquery.terminal@2.34.0/js/jquery.terminal.min.js"),
            libref("jquery.terminal", Some("2.34.0"), "js/jquery.terminal.min.js")
        );
        assert_eq!(lib("https://cdn.jsdelivr.net/npm/js-md5"), libref("js-md5", None, ""));
        assert_eq!(lib("https://twemoji.maxcdn.com/v/latest/svg/25aa.svg"), libref("@twemoji/svg", None, "25aa.svg"));
        assert_eq!(lib("https://cdnjs.cloudflare.com/ajax/libs/unknownlib/1.0/x.js"), None);
        assert_eq!(lib("https://example.org/npm/katex@1/x.js"), None);
    }

    #[test]
    fn shims() {
        assert_eq!(lib("https://polyfill.io/v3/polyfill.min.js?features=es6"), Some(Known::Shim));
        assert_eq!(lib("https://cdn.polyfill.io/v2/polyfill.min.js"), Some(Known::Shim));
        assert_eq!(lib("https://cdnjs.cloudflare.com/polyfill/v3/polyfill.min.js"), Some(Known::Shim));
    }

    #[test]
    fn versions() {
        let av: Vec<String> =
            ["2.7.9", "3.0.0", "3.2.0", "3.2.2", "4.0.0-beta.1", "4.0.0"].iter().map(|s| s.to_string()).collect();
        assert_eq!(pick_version(Some("3.2.0"), &av), Some(("3.2.0".into(), true)));
        assert_eq!(pick_version(Some("3"), &av), Some(("3.2.2".into(), true)));
        assert_eq!(pick_version(Some("3.2"), &av), Some(("3.2.2".into(), true)));
        assert_eq!(pick_version(Some("^3.0.1"), &av), Some(("3.2.2".into(), true)));
        assert_eq!(pick_version(None, &av), Some(("4.0.0".into(), true)));
        // Missing: the nearest above with the same major, else the nearest below.
        assert_eq!(pick_version(Some("3.1.0"), &av), Some(("3.2.0".into(), false)));
        assert_eq!(pick_version(Some("5.1.0"), &av), Some(("4.0.0".into(), false)));
        assert_eq!(pick_version(Some("2.8"), &av), Some(("2.7.9".into(), false)));
        assert_eq!(pick_version(Some("3"), &[]), None);
    }
}
