//! The documented layout matches the tree: every source file is on the map
//! in ARCHITECTURE.md, and every path the README's Layout names exists.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(name: &str) -> String {
    std::fs::read_to_string(root().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The first fenced block after "## The map".
fn map() -> String {
    let text = read("ARCHITECTURE.md");
    let after = text
        .split_once("## The map")
        .expect("ARCHITECTURE.md has a map")
        .1;
    after
        .split("```")
        .nth(1)
        .expect("the map is a fenced block")
        .to_string()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_source_file_is_on_the_architecture_map() {
    let map = map();
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    assert!(files.len() > 40, "{files:?}");
    let missing: Vec<String> = files
        .iter()
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?;
            // Property tests are named once, as */proptests.rs.
            let listed = name == "proptests.rs" && map.contains("*/proptests.rs")
                || map.split_whitespace().any(|word| {
                    let word = word.trim_end_matches([',', ':', ';', ')']);
                    word == name || word.ends_with(&format!("/{name}"))
                });
            (!listed).then(|| path.display().to_string())
        })
        .collect();
    assert!(
        missing.is_empty(),
        "not on ARCHITECTURE.md's map: {missing:?}"
    );
}

#[test]
fn every_path_in_the_readme_layout_exists() {
    let readme = read("README.md");
    let layout = readme
        .split_once("## Layout")
        .expect("README has a Layout section")
        .1;
    let layout = layout.split("\n## ").next().unwrap_or(layout);
    let paths: Vec<&str> = layout
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|p| {
            ["src/", "tests/", "examples/", "scripts/"]
                .iter()
                .any(|top| p.starts_with(top))
                && !p.contains('<')
        })
        .collect();
    assert!(paths.len() >= 10, "{paths:?}");
    for path in paths {
        assert!(
            root().join(path).exists(),
            "README Layout names {path}, which is missing"
        );
    }
}
