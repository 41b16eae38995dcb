//! The modules' layers, read from the source: a module names only modules of its own
//! layer or below (through `crate::` paths), two modules of one layer never name each
//! other, and the files that were once tangled stay apart.
//!
//! From the bottom up: syntax, value, events; variables, diagnostics, error, hints,
//! budget; functions; eval; template; request; replay (delivery); serve and cli.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const LAYERS: &[&[&str]] = &[
    &["syntax", "value", "events"],
    &["variables", "diagnostics", "error", "hints", "budget"],
    &["functions"],
    &["eval"],
    &["template"],
    &["request"],
    &["replay"],
    &["serve", "cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn source_files(folder: &Path, found: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            source_files(&path, found);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            found.push(path);
        }
    }
}

/// The code of a file without its comment lines (doc links are not dependencies).
fn code(path: &Path) -> String {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules a text names through `crate::name` or `crate::{a, b::c}`.
fn named_modules(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        names.insert(first_segment(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            names.insert(first_segment(&item));
        } else {
            names.insert(first_segment(rest));
        }
    }
    names.retain(|name| !name.is_empty());
    names
}

fn first_segment(path: &str) -> String {
    path.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

/// Which top-level module of `src/` a file belongs to (`None` for lib.rs and main.rs).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative.components().next()?.as_os_str().to_str()?.to_owned();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_owned();
    (name != "lib" && name != "main").then_some(name)
}

#[test]
fn no_module_names_one_above_it_or_beside_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut wrong = Vec::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else { continue };
        let Some(layer) = layer_of(&module) else {
            wrong.push(format!("{module} has no layer: add it to LAYERS and to the README's layout"));
            continue;
        };
        for named in named_modules(&code(file)) {
            let Some(named_layer) = layer_of(&named) else { continue };
            if named != module {
                edges.entry(module.clone()).or_default().insert(named.clone());
            }
            if named_layer > layer {
                wrong.push(format!("{} names {named}, a module above {module}", file.display()));
            }
        }
    }
    for (module, named) in &edges {
        for other in named {
            if layer_of(module) == layer_of(other) && edges.get(other).is_some_and(|back| back.contains(module)) {
                wrong.push(format!("{module} and {other} name each other"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn files_once_tangled_stay_apart() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let names = |file: &str, what: &str| code(&src.join(file)).contains(what);
    // Auth and the spec sit below the executor; the two command files and the two
    // route families share what they need through files below both.
    assert!(!names("request/auth.rs", "execute"), "request/auth.rs names the executor");
    for file in ["analyze.rs", "compile.rs", "mod.rs", "problem.rs", "written.rs"] {
        assert!(!names(&format!("request/spec/{file}"), "execute"), "request/spec/{file} names the executor");
    }
    assert!(!names("cli/replay.rs", "send::"), "cli/replay.rs names cli/send.rs");
    assert!(!names("cli/send.rs", "replay::store"), "cli/send.rs names cli/replay.rs");
    assert!(!names("serve/templates.rs", "requests"), "serve/templates.rs names serve/requests.rs");
}

#[test]
fn the_reader_of_paths_sees_groups_and_nested_groups() {
    let text = "use crate::{eval::{Engine, Limits}, value::Value};\nlet x = crate::template::Template::compile;";
    let names: Vec<String> = named_modules(text).into_iter().collect();
    assert_eq!(names, ["eval", "template", "value"]);
}
