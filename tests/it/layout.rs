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

/// The code lines of a Rust file: comments (`//`, `///`, `//!`) left out.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
}

/// ARCHITECTURE.md: the engines and the machinery every command shares
/// (`src/cmd/broker`, `src/cmd/io`, `src/cmd/transfer`, each `engine.rs`)
/// take plain specs, never a clap type: no `clap` and no `…Args` struct.
#[test]
fn no_engine_takes_a_clap_type() {
    let mut files = Vec::new();
    for dir in ["src/cmd/broker", "src/cmd/io", "src/cmd/transfer"] {
        rust_files(&root().join(dir), &mut files);
    }
    let mut all = Vec::new();
    rust_files(&root().join("src/cmd"), &mut all);
    files.extend(all.into_iter().filter(|p| p.ends_with("engine.rs")));
    assert!(files.len() > 20, "{files:?}");
    let mut found = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("read a source file");
        for (n, line) in code_lines(&text) {
            let words = line.split(|c: char| !(c.is_alphanumeric() || c == '_'));
            if line.contains("clap")
                || words.into_iter().any(|w| {
                    w.len() > 4 && w.ends_with("Args") && w.starts_with(char::is_uppercase)
                })
            {
                found.push(format!("{}:{n}: {}", path.display(), line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "a clap type below the commands:\n{}",
        found.join("\n")
    );
}

/// amqpctl's long flags, as the help pages (the snapshots) list them.
fn our_flags() -> Vec<String> {
    let mut flags = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(root().join("tests/snapshots")).expect("read snapshots") {
        let text =
            std::fs::read_to_string(entry.expect("snapshot").path()).expect("read a snapshot");
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
            if let Some(name) = word.strip_prefix("--")
                && name.starts_with(|c: char| c.is_ascii_lowercase())
            {
                flags.insert(format!("--{name}"));
            }
        }
    }
    flags.into_iter().collect()
}

/// ARCHITECTURE.md: the library (`src/amqp`, `src/tls`, `src/mgmt`,
/// `src/sandbox`, `src/child.rs`) never names one of amqpctl's flags in
/// what it prints or returns: the command line words those (`src/cmd`,
/// `src/error`). The arguments it passes to rabbitmqctl are rabbitmqctl's.
#[test]
fn the_library_names_no_flag_of_amqpctl() {
    let flags = our_flags();
    assert!(flags.len() > 50, "{flags:?}");
    // rabbitmqctl's own options, which share a name with one of ours.
    let theirs = ["\"--timeout\""];
    let mut files = vec![root().join("src/child.rs")];
    for dir in ["src/amqp", "src/tls", "src/mgmt", "src/sandbox"] {
        rust_files(&root().join(dir), &mut files);
    }
    let mut found = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("read a source file");
        for (n, line) in code_lines(&text) {
            let literals = line.split('"').skip(1).step_by(2);
            for literal in literals {
                if theirs.contains(&format!("\"{literal}\"").as_str()) {
                    continue;
                }
                let words = literal.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'));
                if let Some(flag) = words.into_iter().find(|w| flags.iter().any(|f| f == w)) {
                    found.push(format!("{}:{n}: {flag} in {literal:?}", path.display()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "the library names a flag:\n{}",
        found.join("\n")
    );
}

/// The README's first paragraph names every subcommand `amqpctl --help` lists.
#[test]
fn the_readme_opening_names_every_subcommand() {
    let readme = read("README.md");
    let opening = readme.split("\n## ").next().unwrap_or_default();
    let help = crate::support::amqpctl(&["--help"]).code(0).stdout_text();
    let commands = help
        .split_once("Commands:\n")
        .expect("a Commands: section")
        .1
        .split("\n\n")
        .next()
        .unwrap_or_default();
    let names: Vec<&str> = commands
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .collect();
    assert!(names.len() > 15, "{names:?}");
    let missing: Vec<&&str> = names
        .iter()
        .filter(|name| !opening.contains(&format!("`{name}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "README's opening leaves out {missing:?}"
    );
}

/// The house rules (issue 23): no file in `src/` over 450 lines and no
/// function over 80, so that each stays readable at one sitting. Functions
/// are found as rustfmt lays them out: a `fn` line and the first later line
/// that is only `}` at the same indentation; a signature ending in `;` (a
/// trait's declaration) has no body to count.
#[test]
fn no_source_file_or_function_is_too_long() {
    const MAX_FILE: usize = 450;
    const MAX_FN: usize = 80;
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut found = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("read a source file");
        let shown = path.strip_prefix(root()).unwrap_or(path).display();
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() > MAX_FILE {
            found.push(format!("{shown}: {} lines", lines.len()));
        }
        for (start, name, length) in function_lengths(&lines) {
            if length > MAX_FN {
                let at = format!("{shown}:{}", start + 1);
                found.push(format!("{at}: fn {name} is {length} lines"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "over {MAX_FILE} lines a file or {MAX_FN} a function:\n{}",
        found.join("\n")
    );
}

/// Each function with a body in rustfmt'd `lines`: its first line's index,
/// its name and its length in lines, signature and closing brace included.
fn function_lengths<'a>(lines: &[&'a str]) -> Vec<(usize, &'a str, usize)> {
    let mut out = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let code = line.trim_start();
        let indent = line.len() - code.len();
        let Some(after) = code
            .split_once("fn ")
            .filter(|(before, _)| before.split_whitespace().all(is_fn_qualifier))
            .map(|(_, after)| after)
        else {
            continue;
        };
        let name = after
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .next()
            .unwrap_or("");
        let signature_end = lines[start..]
            .iter()
            .position(|l| l.trim_end().ends_with('{') || l.trim_end().ends_with(';'));
        let Some(signature_end) = signature_end else {
            continue;
        };
        if lines[start + signature_end].trim_end().ends_with(';') {
            continue;
        }
        let close = " ".repeat(indent) + "}";
        if let Some(end) = lines[start..].iter().position(|l| *l == close) {
            out.push((start, name, end + 1));
        }
    }
    out
}

/// What may stand before `fn` on a function's first line.
fn is_fn_qualifier(word: &str) -> bool {
    word.starts_with("pub") || ["const", "async", "unsafe", "extern", "\"C\""].contains(&word)
}
