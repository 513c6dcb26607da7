//! Every command the READMEs give runs as written (issue 11), checked where a check
//! without running it is practical: each `cargo` command names a package of the
//! workspace, and its `--bin`, `--bench`, `--test` and `--features` exist there; each
//! `bash`, `node` or script path exists in the checkout. The commands that start the
//! demo or the suites are run for real elsewhere (`run_command.rs`, CI itself).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A workspace package: its directory and its Cargo.toml text.
struct Package {
    dir: PathBuf,
    manifest: String,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn packages(root: &Path) -> BTreeMap<String, Package> {
    let workspace = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let members = workspace
        .split("members = [")
        .nth(1)
        .and_then(|s| s.split(']').next())
        .expect("workspace members");
    members
        .split(',')
        .map(|m| m.trim().trim_matches('"'))
        .filter(|m| !m.is_empty())
        .map(|m| {
            let dir = root.join(m);
            let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
            let name = manifest
                .lines()
                .find_map(|l| l.strip_prefix("name = "))
                .expect("package name")
                .trim_matches('"')
                .to_string();
            (name, Package { dir, manifest })
        })
        .collect()
}

/// The shell lines of the READMEs' ```sh blocks, with where they stand.
fn commands(root: &Path) -> Vec<(String, String)> {
    let readmes = [
        "README.md",
        "sdk/README.md",
        "wasm/README.md",
        "mobile/README.md",
        "collector/README.md",
        "examples/recommender/README.md",
    ];
    let mut out = Vec::new();
    for readme in readmes {
        let text = std::fs::read_to_string(root.join(readme)).unwrap();
        let mut in_sh = false;
        let mut joined = String::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("```") {
                in_sh = !in_sh && matches!(line.trim(), "```sh" | "```bash");
                continue;
            }
            if !in_sh {
                continue;
            }
            joined.push_str(line.trim_end().trim_end_matches('\\'));
            joined.push(' ');
            if !line.trim_end().ends_with('\\') {
                out.push((format!("{readme}:{}", n + 1), std::mem::take(&mut joined)));
            }
        }
    }
    out
}

/// The value after `flag` in `words`.
fn after<'a>(words: &'a [&str], flag: &str) -> Option<&'a str> {
    words
        .iter()
        .position(|w| *w == flag)
        .and_then(|i| words.get(i + 1).copied())
}

#[test]
fn every_readme_command_names_what_exists() {
    let root = root();
    let packages = packages(&root);
    let mut problems = Vec::new();
    let mut checked = 0;
    let parts = commands(&root).into_iter().flat_map(|(at, line)| {
        let line = line.split('#').next().unwrap_or_default().to_string();
        line.split("&&")
            .flat_map(|c| c.split(';'))
            .map(|c| (at.clone(), c.to_string()))
            .collect::<Vec<_>>()
    });
    for (at, line) in parts {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(first) = words.iter().position(|w| !w.contains('=')) else {
            continue;
        };
        let words = &words[first..];
        match words.first().copied() {
            Some("cargo")
                if matches!(words.get(1), Some(&("run" | "test" | "bench" | "build"))) =>
            {
                checked += 1;
                let Some(name) = after(words, "-p") else {
                    continue; // the whole workspace
                };
                let Some(pkg) = packages.get(name) else {
                    problems.push(format!("{at}: no package {name}: {line}"));
                    continue;
                };
                for (flag, dir) in [("--bench", "benches"), ("--test", "tests")] {
                    if let Some(target) = after(words, flag) {
                        let named = pkg.manifest.contains(&format!("name = \"{target}\""));
                        let file = pkg.dir.join(dir).join(format!("{target}.rs")).exists();
                        if !named && !file {
                            problems.push(format!("{at}: {name} has no {flag} {target}"));
                        }
                    }
                }
                if let Some(bin) = after(words, "--bin") {
                    if !pkg.manifest.contains(&format!("name = \"{bin}\"")) && bin != name {
                        problems.push(format!("{at}: {name} has no --bin {bin}"));
                    }
                }
                if let Some(features) = after(words, "--features") {
                    for f in features.split(',') {
                        if !pkg.manifest.contains(&format!("\n{f} = ")) {
                            problems.push(format!("{at}: {name} has no feature {f}"));
                        }
                    }
                }
            }
            Some("bash" | "node" | "sh") => {
                checked += 1;
                let Some(script) = words.get(1) else { continue };
                if !script.starts_with('-') && !root.join(script).exists() {
                    problems.push(format!("{at}: {script} does not exist: {line}"));
                }
            }
            Some(script) if script.contains('/') && script.ends_with(".sh") => {
                checked += 1;
                if !root.join(script).exists() {
                    problems.push(format!("{at}: {script} does not exist"));
                }
            }
            _ => {}
        }
    }
    assert!(
        checked >= 10,
        "only {checked} commands found: the extraction broke"
    );
    assert_eq!(
        problems,
        Vec::<String>::new(),
        "README commands that cannot run"
    );
    println!("README commands checked: {checked}");
}
