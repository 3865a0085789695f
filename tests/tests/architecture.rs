//! ARCHITECTURE.md kept true, and no import cycle between modules.
//!
//! Both read the repository's files as text (no extra tool: `cargo-modules` takes too long
//! to build in CI). The rules are path-agnostic so that moving a folder (such as the
//! classroom app into its own crate) needs no change here: a path the map names exists
//! when some file or folder of the repository ends with it, and crates are found by
//! their `Cargo.toml`, wherever they are.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Import cycles that exist today and are being removed (issue 10). Each is
/// `crate folder: {module, module}` as the failure message prints it. Empty this list as
/// they go: the test fails on any cycle not listed, and on a listed one that is gone.
/// The box's top level has one: `packs::serve` ↔ `server` (`Metrics`/`plain` one way,
/// `Serving::direct` the other), `packs` → `app::html::esc`, `server` → the app router,
/// `context` ↔ `app`.
const KNOWN_CYCLES: &[&str] = &[];

/// Names in the map that are not repository paths: the layout of a box's data folder,
/// and the folders of a site project being imported.
const RUNTIME_NAMES: &[&str] = &[
    "partial/",
    // Folders of a site project being imported (MkDocs, Hugo), not of this repository.
    "site/",
    "public/",
    "content/",
    "page/",
    "page/index.html",
];

/// `.rs` files longer than this must be named in ARCHITECTURE.md.
const NAMED_OVER_LINES: usize = 300;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap()
}

/// Every file and folder of the repository (relative, `/`-separated), without build
/// output and version control.
fn repo_paths(root: &Path) -> Vec<String> {
    fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap()).collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            if rel.is_empty() && (name == "target" || name.starts_with('.')) {
                continue;
            }
            let path = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                out.push(format!("{path}/"));
                walk(&e.path(), &path, out);
            } else if ft.is_file() {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, "", &mut out);
    out
}

/// The inline code spans of a Markdown text that name a repository path: `a/b.rs`,
/// `folder/`, `x.md`. URLs, pack paths (`_preau/…`), data-folder paths (`DATA/…`) and
/// placeholders (`…`, `{id}`, `<x>`), JSON files (a repository's or a box's state) are not
/// repository paths.
fn named_paths(doc: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_block = false;
    for line in doc.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if in_block {
            continue;
        }
        let mut parts = line.split('`');
        parts.next();
        while let (Some(code), _) = (parts.next(), parts.next()) {
            let t = code.trim();
            let path_like = !t.is_empty()
                && t.chars().all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c))
                && (t.contains('/') || t.ends_with(".rs") || t.ends_with(".md") || t.ends_with(".sh"))
                && !t.starts_with('/')
                && !t.starts_with('_')
                && !t.starts_with("DATA/")
                && !t.starts_with("DIR/")
                && !t.starts_with("updates/")
                && !t.ends_with(".json")
                && !RUNTIME_NAMES.contains(&t)
                && !t.contains("//");
            if path_like {
                out.push(t.to_string());
            }
        }
    }
    out
}

fn exists_somewhere(named: &str, paths: &[String]) -> bool {
    let want = named.trim_start_matches("./");
    paths.iter().any(|p| {
        let p = if want.ends_with('/') { p.as_str() } else { p.trim_end_matches('/') };
        p == want || p.ends_with(&format!("/{want}"))
    })
}

#[test]
fn every_path_the_architecture_map_names_exists() {
    let root = root();
    let doc = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let paths = repo_paths(&root);
    let named = named_paths(&doc);
    assert!(named.len() > 20, "the parser found only {named:?}");
    let missing: BTreeSet<&String> =
        named.iter().filter(|n| !exists_somewhere(n, &paths) && !root.join(n.as_str()).exists()).collect();
    assert!(missing.is_empty(), "ARCHITECTURE.md names paths that do not exist: {missing:?}");
}

#[test]
fn the_path_rule_is_path_agnostic_and_can_fail() {
    let paths: Vec<String> = ["box/", "box/src/", "box/src/server/", "box/src/server/mod.rs"].map(String::from).into();
    assert!(exists_somewhere("server/mod.rs", &paths));
    assert!(exists_somewhere("box/src/server/", &paths));
    assert!(!exists_somewhere("server/metrics.rs", &paths));
    assert!(!exists_somewhere("erver/mod.rs", &paths));
    let n = named_paths("a `cli/pack.rs` b `_preau/quiz/` c `https://x/` d `config` e\n```\n`in/block.rs`\n```\n");
    assert_eq!(n, ["cli/pack.rs"]);
}

/// Whether ARCHITECTURE.md names a source file: by its path inside `src/` (`packs/serve.rs`),
/// its file name (`pull.rs`), or its module name in code (`teacher`, `store/`).
fn is_named(doc: &str, rel_in_src: &str) -> bool {
    let file = rel_in_src.rsplit('/').next().unwrap();
    let module = if file == "mod.rs" {
        rel_in_src.trim_end_matches("/mod.rs").rsplit('/').next().unwrap()
    } else {
        file.trim_end_matches(".rs")
    };
    let word_before = |i: usize| doc[..i].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_');
    let has_word = |w: &str| doc.match_indices(w).any(|(i, _)| !word_before(i));
    doc.contains(rel_in_src)
        || (file != "mod.rs" && has_word(file))
        || doc.contains(&format!("`{module}`"))
        || doc.contains(&format!("`{module}/`"))
}

/// The workspace's crates: every folder with a `Cargo.toml` and a `src/`.
fn crates(root: &Path, paths: &[String]) -> Vec<PathBuf> {
    paths
        .iter()
        .filter(|p| p.ends_with("Cargo.toml"))
        .map(|p| root.join(p).parent().unwrap().to_path_buf())
        .filter(|c| c.join("src").is_dir())
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_long_module_is_named_in_the_architecture_map() {
    let root = root();
    let doc = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let paths = repo_paths(&root);
    let mut unnamed = Vec::new();
    let mut long = 0;
    for krate in crates(&root, &paths) {
        let src = krate.join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        for f in files {
            let rel = f.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
            // Unit-test modules are not part of the architecture.
            if rel == "tests.rs" || rel.ends_with("/tests.rs") || rel.starts_with("bin/") {
                continue;
            }
            let lines = std::fs::read_to_string(&f).unwrap().lines().count();
            if lines > NAMED_OVER_LINES {
                long += 1;
                if !is_named(&doc, &rel) {
                    unnamed.push(format!("{} ({lines} lines)", f.strip_prefix(&root).unwrap().display()));
                }
            }
        }
    }
    assert!(long > 5, "found only {long} long modules: is the crate walk broken?");
    assert!(unnamed.is_empty(), "modules over {NAMED_OVER_LINES} lines missing from ARCHITECTURE.md: {unnamed:#?}");
}

// ---- import cycles ----------------------------------------------------------------

/// A module path inside a crate (`["app", "teacher"]`; empty for the crate root).
type ModPath = Vec<String>;

/// The module of a file under `src/`: `lib.rs`/`main.rs` → root, `a/mod.rs` → `a`,
/// `a/b.rs` → `a::b`.
fn module_of(rel: &str) -> ModPath {
    let mut parts: Vec<String> = rel.trim_end_matches(".rs").split('/').map(String::from).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

/// The code of a file without comments and without its `#[cfg(test)]` tail (where
/// `super::` means the file's own module, not its parent).
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            // A `//` inside a string (a URL) cuts a line that holds no path anyway.
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Parses a path after `crate::`/`super::`/`self::` (with `{…}` groups), pushing every
/// full path (relative segments) into `out`.
fn parse_tree(s: &[char], mut i: usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let mut segs = prefix;
    loop {
        while i < s.len() && s[i].is_whitespace() {
            i += 1;
        }
        if i < s.len() && s[i] == '{' {
            i += 1;
            loop {
                i = parse_tree(s, i, segs.clone(), out);
                while i < s.len() && s[i].is_whitespace() {
                    i += 1;
                }
                match s.get(i) {
                    Some(',') => i += 1,
                    Some('}') => return i + 1,
                    _ => return i,
                }
                while i < s.len() && s[i].is_whitespace() {
                    i += 1;
                }
                if s.get(i) == Some(&'}') {
                    return i + 1;
                }
            }
        }
        let start = i;
        while i < s.len() && is_ident(s[i]) {
            i += 1;
        }
        if i > start {
            let seg: String = s[start..i].iter().collect();
            if seg != "self" {
                segs.push(seg);
            }
        }
        if i + 1 < s.len() && s[i] == ':' && s[i + 1] == ':' {
            i += 2;
            continue;
        }
        out.push(segs);
        return i;
    }
}

/// The module paths a file refers to (absolute, inside its crate).
fn references(code: &str, me: &ModPath) -> Vec<ModPath> {
    let s: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let at_word = i == 0 || !(is_ident(s[i - 1]) || s[i - 1] == ':');
        let rest: String = s[i..(i + 7).min(s.len())].iter().collect();
        let base: Option<(ModPath, usize)> = if at_word && rest.starts_with("crate::") {
            Some((Vec::new(), 7))
        } else if at_word && rest.starts_with("super::") {
            // `super` of `a/b.rs` is `a`; of `a/mod.rs` (module `a`) it is the root.
            let mut parent = me.clone();
            parent.pop();
            let mut j = i + 7;
            while s[j..].iter().collect::<String>().starts_with("super::") {
                parent.pop();
                j += 7;
            }
            Some((parent, j - i))
        } else if at_word && rest.starts_with("self::") {
            Some((me.clone(), 6))
        } else {
            None
        };
        match base {
            Some((prefix, skip)) => {
                let mut paths = Vec::new();
                i = parse_tree(&s, i + skip, prefix, &mut paths);
                out.extend(paths);
            }
            None => i += 1,
        }
    }
    out
}

/// Sibling-level dependencies of one crate: for a reference from module M to module T,
/// the edge between their ancestors just below their common ancestor (so `app::accounts`
/// → `app::teacher`, and `packs::serve` → `server` gives `packs` → `server`).
fn sibling_edges(src: &Path) -> BTreeSet<(ModPath, ModPath)> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<ModPath> =
        files.iter().map(|f| module_of(&f.strip_prefix(src).unwrap().to_string_lossy().replace('\\', "/"))).collect();
    let mut edges = BTreeSet::new();
    for f in &files {
        let rel = f.strip_prefix(src).unwrap().to_string_lossy().replace('\\', "/");
        if rel.starts_with("bin/") {
            continue;
        }
        let me = module_of(&rel);
        let code = code_of(&std::fs::read_to_string(f).unwrap());
        for path in references(&code, &me) {
            // The longest prefix that is a module: the rest names an item.
            let target = (0..=path.len()).rev().map(|n| path[..n].to_vec()).find(|p| modules.contains(p));
            let Some(target) = target else { continue };
            let k = me.iter().zip(&target).take_while(|(a, b)| a == b).count();
            if k == me.len() || k == target.len() {
                continue; // an ancestor or a descendant, not a sibling
            }
            edges.insert((me[..=k].to_vec(), target[..=k].to_vec()));
        }
    }
    edges
}

/// The cycles of a graph: its strongly connected components of more than one node.
fn cycles(edges: &BTreeSet<(ModPath, ModPath)>) -> Vec<BTreeSet<ModPath>> {
    let mut next: BTreeMap<&ModPath, Vec<&ModPath>> = BTreeMap::new();
    for (a, b) in edges {
        next.entry(a).or_default().push(b);
    }
    let reach = |from: &ModPath| -> BTreeSet<ModPath> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(n) = todo.pop() {
            for m in next.get(&n).into_iter().flatten() {
                if seen.insert((*m).clone()) {
                    todo.push((*m).clone());
                }
            }
        }
        seen
    };
    let nodes: BTreeSet<&ModPath> = edges.iter().flat_map(|(a, b)| [a, b]).collect();
    let reaches: BTreeMap<&ModPath, BTreeSet<ModPath>> = nodes.iter().map(|n| (*n, reach(n))).collect();
    let mut out: Vec<BTreeSet<ModPath>> = Vec::new();
    for n in &nodes {
        let scc: BTreeSet<ModPath> = nodes
            .iter()
            .filter(|m| reaches[*n].contains(**m) && reaches[*m].contains(*n))
            .map(|m| (*m).clone())
            .collect();
        if scc.len() > 1 && !out.contains(&scc) {
            out.push(scc);
        }
    }
    out
}

fn describe(krate: &str, scc: &BTreeSet<ModPath>) -> String {
    let names: Vec<String> = scc.iter().map(|m| m.join("::")).collect();
    format!("{krate}: {{{}}}", names.join(", "))
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let root = root();
    let paths = repo_paths(&root);
    let mut found = BTreeSet::new();
    let mut crates_seen = 0;
    for krate in crates(&root, &paths) {
        crates_seen += 1;
        let name = krate.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        for scc in cycles(&sibling_edges(&krate.join("src"))) {
            found.insert(describe(&name, &scc));
        }
    }
    assert!(crates_seen >= 6, "found only {crates_seen} crates");
    let known: BTreeSet<String> = KNOWN_CYCLES.iter().map(|s| s.to_string()).collect();
    let new: Vec<&String> = found.difference(&known).collect();
    let gone: Vec<&String> = known.difference(&found).collect();
    assert!(new.is_empty(), "import cycles between modules (each imports the other, directly or not): {new:?}");
    assert!(gone.is_empty(), "these known cycles are gone: remove them from KNOWN_CYCLES: {gone:?}");
}

#[test]
fn the_cycle_finder_sees_use_groups_super_and_inline_paths() {
    let me: ModPath = vec!["app".into(), "accounts".into()];
    let code = code_of(
        "use super::{teacher::{hash, Limiter}, html};\nuse crate::server::x; // crate::nope::y\n\
         fn f() { crate::packs::serve::go(); self::inner::z(); }\n#[cfg(test)]\nmod tests { use super::*; use crate::later; }",
    );
    let refs: Vec<String> = references(&code, &me).iter().map(|p| p.join("::")).collect();
    assert_eq!(
        refs,
        [
            "app::teacher::hash",
            "app::teacher::Limiter",
            "app::html",
            "server::x",
            "packs::serve::go",
            "app::accounts::inner::z"
        ]
    );
    let m = |s: &str| -> ModPath { s.split("::").map(String::from).collect() };
    let edges: BTreeSet<(ModPath, ModPath)> =
        [(m("a"), m("b")), (m("b"), m("c")), (m("c"), m("a")), (m("c"), m("d"))].into();
    assert_eq!(describe("x", &cycles(&edges)[0]), "x: {a, b, c}");
    assert_eq!(cycles(&edges).len(), 1);
}

/// Classroom modules that build HTML, all with maud (issue 10): in them no HTML is
/// assembled by string formatting, so an unescaped value is a compile error (and
/// `html::Page` takes a `Markup` body). ARCHITECTURE.md, "The classroom application".
const MAUD_MODULES: &[&str] = &[
    "box/classroom/src/html.rs",
    "box/classroom/src/pupil.rs",
    "box/classroom/src/todo.rs",
    "box/classroom/src/search.rs",
    "box/classroom/src/assign.rs",
    "box/classroom/src/player.rs",
    "box/classroom/src/work.rs",
    "box/classroom/src/bank.rs",
    "box/classroom/src/teacher.rs",
    "box/classroom/src/admin.rs",
    "box/classroom/src/sticky.rs",
];

/// The string literals of every `format!`/`write!`/`writeln!`/`push_str`/`push`
/// call of `code` that hold markup (`<` then a letter, `/` or `!`).
fn markup_built_by_strings(code: &str) -> Vec<String> {
    let s: Vec<char> = code.chars().collect();
    let text: String = s.iter().collect();
    let mut found = Vec::new();
    for call in ["format!(", "write!(", "writeln!(", "push_str(", "format_args!(", "concat!("] {
        let mut from = 0;
        while let Some(at) = text[from..].find(call) {
            let start = text[..from + at].chars().count() + call.chars().count();
            from += at + call.len();
            // Walk the call's arguments to its closing parenthesis, collecting literals.
            let (mut i, mut depth) = (start, 1);
            while i < s.len() && depth > 0 {
                match s[i] {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    'r' if s.get(i + 1).is_some_and(|c| *c == '#' || *c == '"') && (i == 0 || !is_ident(s[i - 1])) => {
                        let hashes = s[i + 1..].iter().take_while(|c| **c == '#').count();
                        let open = i + 1 + hashes;
                        if s.get(open) == Some(&'"') {
                            let close: String = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
                            let rest: String = s[open + 1..].iter().collect();
                            let len = rest.find(&close).unwrap_or(rest.len());
                            let lit: String = rest.chars().take(len).collect();
                            check_literal(&lit, &mut found);
                            i = open + 1 + lit.chars().count() + close.chars().count();
                            continue;
                        }
                    }
                    '"' => {
                        let mut j = i + 1;
                        let mut lit = String::new();
                        while j < s.len() && s[j] != '"' {
                            if s[j] == '\\' {
                                j += 1;
                            }
                            if let Some(c) = s.get(j) {
                                lit.push(*c);
                            }
                            j += 1;
                        }
                        check_literal(&lit, &mut found);
                        i = j + 1;
                        continue;
                    }
                    _ => {}
                }
                i += 1;
            }
        }
    }
    // A `format!` inside a `push_str` is seen twice.
    found.sort();
    found.dedup();
    found
}

fn check_literal(lit: &str, found: &mut Vec<String>) {
    let c: Vec<char> = lit.chars().collect();
    if c.windows(2).any(|w| w[0] == '<' && (w[1].is_ascii_alphabetic() || w[1] == '/' || w[1] == '!')) {
        found.push(lit.to_string());
    }
}

#[test]
fn maud_modules_build_no_html_from_strings() {
    let root = root();
    let doc = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let mut offenders = Vec::new();
    for rel in MAUD_MODULES {
        let text = std::fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert!(text.contains("html!"), "{rel} is listed as built with maud but never uses `html!`");
        for lit in markup_built_by_strings(&code_of(&text)) {
            offenders.push(format!("{rel}: {lit:?}"));
        }
        let file = rel.rsplit('/').next().unwrap_or(rel);
        assert!(doc.contains(&format!("`{file}`")), "ARCHITECTURE.md does not name {file} among the maud modules");
    }
    assert!(offenders.is_empty(), "HTML built by string formatting in a maud module: {offenders:#?}");
    // And in no other file of the classroom crate either (its in-process tests aside): a
    // new module that builds HTML does it with maud.
    let mut files = Vec::new();
    rust_files(&root.join("box/classroom/src"), &mut files);
    assert!(files.len() > MAUD_MODULES.len(), "found only {} files: is the walk broken?", files.len());
    for f in files {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("tests") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for lit in markup_built_by_strings(&code_of(&text)) {
            offenders.push(format!("{}: {lit:?}", f.display()));
        }
    }
    assert!(offenders.is_empty(), "HTML built by string formatting in the classroom crate: {offenders:#?}");
}

#[test]
fn the_string_markup_finder_can_fail() {
    let code = r####"fn f() { let a = format!("<p>{}</p>", x); s.push_str(r#"<a href="{h}">"#); let b = format!("{}<{}", 1, 2); w.push_str(&format!("x{}", "</ul>")); }"####;
    assert_eq!(markup_built_by_strings(code), vec!["</ul>", "<a href=\"{h}\">", "<p>{}</p>"]);
    assert!(
        markup_built_by_strings(r#"let u = format!("/packs/{}/{}", a, b); let c = format!("{} < {}", 1, 2);"#)
            .is_empty()
    );
}
