//! The module map stays acyclic: no module of the server (or of the bridge) uses, directly or
//! through others, a module that uses it back. Run alone with
//! `cargo test -p tracker-server --test architecture -- --nocapture`, which also prints the
//! dependency graph between the server's module folders.
//!
//! The graph is read from the source: every `crate::a::b`, `super::x` and `self::y` path in a
//! file (outside `#[cfg(test)]` code) is an edge from that file's module to the deepest module
//! the path names. `mod x;` declarations are not edges. The crate root (`lib.rs`, which starts
//! the services and re-exports `Error`/`Result` from `error`) is left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path such as `ledger::movements`.
type Module = String;

struct Graph {
    modules: BTreeSet<Module>,
    edges: BTreeMap<Module, BTreeSet<Module>>,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src dir") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `src/a/b.rs` -> `a::b`, `src/a/mod.rs` -> `a`, `src/lib.rs` -> `` (root).
fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("file name");
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" && stem != "main" {
        parts.push(stem.to_string());
    }
    parts.join("::")
}

/// The code of a file without comments, string literals and `#[cfg(test)]` items.
fn code_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut skip_depth: Option<i32> = None;
    let mut depth = 0i32;
    let mut pending_cfg_test = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") {
            continue;
        }
        if skip_depth.is_none() && trimmed.starts_with("#[cfg(test)]") {
            pending_cfg_test = true;
            continue;
        }
        let mut clean = String::new();
        let mut in_str = false;
        let mut prev = ' ';
        for ch in line.chars() {
            if in_str {
                if ch == '"' && prev != '\\' {
                    in_str = false;
                }
                prev = if prev == '\\' && ch == '\\' { ' ' } else { ch };
                continue;
            }
            if ch == '"' {
                in_str = true;
                prev = ch;
                continue;
            }
            if ch == '/' && prev == '/' {
                clean.pop();
                break;
            }
            clean.push(ch);
            prev = ch;
        }
        let opens = clean.matches('{').count() as i32;
        let closes = clean.matches('}').count() as i32;
        if pending_cfg_test {
            pending_cfg_test = false;
            if opens > closes {
                skip_depth = Some(depth);
            } else {
                // a one-line item (`mod tests;` or `use ...;`)
                depth += opens - closes;
                continue;
            }
        }
        depth += opens - closes;
        if let Some(d) = skip_depth {
            if depth <= d {
                skip_depth = None;
            }
            continue;
        }
        out.push_str(&clean);
        out.push('\n');
    }
    out
}

/// Every path that starts with `crate::`, `super::` or `self::`, with `{...}` groups expanded.
fn paths_in(code: &str) -> Vec<Vec<String>> {
    let chars: Vec<char> = code.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts_word = i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        if starts_word {
            for head in ["crate::", "super::", "self::"] {
                let h: Vec<char> = head.chars().collect();
                if chars[i..].starts_with(&h) {
                    let (mut paths, end) = parse_tree(&chars, i);
                    found.append(&mut paths);
                    i = end;
                    break;
                }
            }
        }
        i += 1;
    }
    found
}

/// Parse `a::b::{c, d::e}` starting at `i`; returns the expanded paths and where it ended.
fn parse_tree(chars: &[char], mut i: usize) -> (Vec<Vec<String>>, usize) {
    let mut prefix = Vec::new();
    loop {
        let start = i;
        while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
            i += 1;
        }
        if i > start {
            prefix.push(chars[start..i].iter().collect::<String>());
        }
        if i + 1 < chars.len() && chars[i] == ':' && chars[i + 1] == ':' {
            i += 2;
            while i < chars.len() && chars[i].is_whitespace() {
                i += 1;
            }
            if i < chars.len() && chars[i] == '{' {
                i += 1;
                let mut all = Vec::new();
                loop {
                    while i < chars.len() && (chars[i].is_whitespace() || chars[i] == ',') {
                        i += 1;
                    }
                    if i >= chars.len() || chars[i] == '}' {
                        break;
                    }
                    let (sub, end) = parse_tree(chars, i);
                    for s in sub {
                        let mut p = prefix.clone();
                        p.extend(s);
                        all.push(p);
                    }
                    i = end;
                    // skip `as alias`, `::*`
                    while i < chars.len() && chars[i] != ',' && chars[i] != '}' {
                        i += 1;
                    }
                }
                // past the closing brace
                return (all, (i + 1).min(chars.len()));
            }
            continue;
        }
        return (vec![prefix], i);
    }
}

/// The deepest known module named by `path`, written in module `from`.
fn resolve(modules: &BTreeSet<Module>, from: &str, path: &[String]) -> Option<Module> {
    let mut base: Vec<String> = match path.first().map(String::as_str) {
        Some("crate") => Vec::new(),
        Some("self") => split(from),
        Some("super") => {
            let mut b = split(from);
            b.pop();
            b
        }
        _ => return None,
    };
    let mut rest = &path[1..];
    while rest.first().map(String::as_str) == Some("super") {
        base.pop();
        rest = &rest[1..];
    }
    let mut best = if base.is_empty() {
        None
    } else {
        Some(base.join("::"))
    };
    let mut cur = base;
    for seg in rest {
        cur.push(seg.clone());
        let m = cur.join("::");
        if modules.contains(&m) {
            best = Some(m);
        } else {
            break;
        }
    }
    best
}

fn split(m: &str) -> Vec<String> {
    if m.is_empty() {
        Vec::new()
    } else {
        m.split("::").map(String::from).collect()
    }
}

fn graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut modules: BTreeSet<Module> = files.iter().map(|f| module_of(src, f)).collect();
    // The re-exports in the crate root resolve to their modules.
    let aliases: BTreeMap<&str, &str> = [("Error", "error"), ("Result", "error")].into();
    modules.remove("");
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for f in &files {
        let from = module_of(src, f);
        if from.is_empty() {
            continue;
        }
        let text = std::fs::read_to_string(f).expect("read source");
        for p in paths_in(&code_of(&text)) {
            let to = if p.first().map(String::as_str) == Some("crate") && p.len() >= 2 {
                match aliases.get(p[1].as_str()) {
                    Some(m) if !modules.contains(&p[1]) => Some(m.to_string()),
                    _ => resolve(&modules, &from, &p),
                }
            } else {
                resolve(&modules, &from, &p)
            };
            if let Some(to) = to {
                if to != from && !to.is_empty() {
                    edges.entry(from.clone()).or_default().insert(to);
                }
            }
        }
    }
    Graph { modules, edges }
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(
    nodes: &BTreeSet<Module>,
    edges: &BTreeMap<Module, BTreeSet<Module>>,
) -> Vec<Vec<Module>> {
    struct T<'a> {
        edges: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<Module>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        t.index.insert(v, t.next);
        t.low.insert(v, t.next);
        t.next += 1;
        t.stack.push(v);
        t.on.insert(v);
        if let Some(ws) = t.edges.get(v) {
            for w in ws {
                let w = w.as_str();
                if !t.index.contains_key(w) {
                    visit(t, w);
                    let lw = t.low[w];
                    let lv = t.low[v];
                    t.low.insert(v, lv.min(lw));
                } else if t.on.contains(w) {
                    let iw = t.index[w];
                    let lv = t.low[v];
                    t.low.insert(v, lv.min(iw));
                }
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for n in nodes {
        if !t.index.contains_key(n.as_str()) {
            visit(&mut t, n);
        }
    }
    t.out
}

/// The graph between top-level modules (folders), ignoring edges inside one.
fn top_level(g: &Graph) -> (BTreeSet<Module>, BTreeMap<Module, BTreeSet<Module>>) {
    let top = |m: &str| m.split("::").next().unwrap_or_default().to_string();
    let nodes: BTreeSet<Module> = g.modules.iter().map(|m| top(m)).collect();
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (from, tos) in &g.edges {
        for to in tos {
            let (a, b) = (top(from), top(to));
            if a != b {
                edges.entry(a).or_default().insert(b);
            }
        }
    }
    (nodes, edges)
}

fn crate_src(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn check(name: &str, src: &Path) {
    let g = graph(src);
    let module_cycles = cycles(&g.modules, &g.edges);
    let (nodes, edges) = top_level(&g);
    let folder_cycles = cycles(&nodes, &edges);
    println!("{name}: {} modules", g.modules.len());
    println!("{name}: top-level dependencies:");
    for (from, tos) in &edges {
        println!(
            "  {from} -> {}",
            tos.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    for c in &folder_cycles {
        println!(
            "{name}: cycle between top-level modules: {}",
            c.join(" <-> ")
        );
    }
    for c in &module_cycles {
        println!("{name}: cycle between modules: {}", c.join(" <-> "));
    }
    assert!(
        module_cycles.is_empty() && folder_cycles.is_empty(),
        "{name} has module cycles: {module_cycles:?}; between folders: {folder_cycles:?}"
    );
}

#[test]
fn server_modules_have_no_cycles() {
    check("tracker-server", &crate_src("src"));
}

#[test]
fn bridge_modules_have_no_cycles() {
    check("firmware-bridge", &crate_src("../firmware-bridge/src"));
}

#[test]
fn the_checker_finds_a_cycle() {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path();
    std::fs::create_dir_all(src.join("a")).expect("mkdir");
    std::fs::write(src.join("lib.rs"), "pub mod a; pub mod b; pub mod c;").expect("write");
    std::fs::write(src.join("a/mod.rs"), "pub mod x;\nuse crate::b::thing;").expect("write");
    std::fs::write(src.join("a/x.rs"), "use super::super::c::{C, D};").expect("write");
    std::fs::write(
        src.join("b.rs"),
        "use crate::{c, a::x::Y};\n#[cfg(test)]\nmod tests {\n use crate::c::Z;\n}",
    )
    .expect("write");
    std::fs::write(
        src.join("c.rs"),
        "// use crate::a;\nfn f() { crate::a::x::go(); }",
    )
    .expect("write");
    let g = graph(src);
    let found = cycles(&g.modules, &g.edges);
    assert_eq!(found, vec![vec!["a::x".to_string(), "c".into()]]);
    assert!(g.edges["a"].contains("b"));
}
