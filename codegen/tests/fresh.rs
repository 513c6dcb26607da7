//! The generated files in the repository are what the generator writes now, and the
//! check names exactly the file that was edited by hand.

use cairn_codegen::{generate, repo_root, stale, write};
use std::path::PathBuf;

#[test]
fn committed_generated_files_are_current() {
    let stale = stale(&repo_root()).expect("generate");
    assert!(
        stale.is_empty(),
        "stale generated files (run `cargo run -p cairn-codegen`): {stale:?}"
    );
}

fn temp_root() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("codegen-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn check_reports_exactly_the_hand_edited_file() {
    let root = temp_root();
    // The spliced files need their hand-written part; everything else is generated.
    for f in ["wasm/js/cairn.js", "wasm/js/cairn.d.ts"] {
        std::fs::create_dir_all(root.join(f).parent().unwrap()).unwrap();
        std::fs::copy(repo_root().join(f), root.join(f)).unwrap();
    }
    let written = write(&root).expect("write into the copy");
    let all = generate(&root).unwrap();
    assert!(all.len() > 40, "{} files", all.len());
    assert!(stale(&root).unwrap().is_empty(), "fresh copy is current");
    let again = write(&root).unwrap();
    assert!(again.is_empty(), "a second run changes nothing: {again:?}");
    assert!(written.iter().any(|p| p == "sdk/src/seed_events.rs"));

    // A hand edit in a generated region of the JS, and one in a whole generated file.
    for (path, from, to) in [
        ("wasm/js/cairn.js", "ev('add_to_cart'", "ev('add_to_basket'"),
        (
            "docs/schema/events/purchase.json",
            "\"minimum\": 0.0",
            "\"minimum\": 1.0",
        ),
        ("mobile/src/seed_event.rs", "quantity: i32", "quantity: i64"),
    ] {
        let file = root.join(path);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains(from), "{path} has {from}");
        std::fs::write(&file, text.replacen(from, to, 1)).unwrap();
        assert_eq!(stale(&root).unwrap(), [path], "after editing {path}");
        std::fs::write(&file, text).unwrap();
    }
    // Hand-written JS outside the markers is not the generator's business.
    let js = root.join("wasm/js/cairn.js");
    let text = std::fs::read_to_string(&js).unwrap();
    std::fs::write(
        &js,
        text.replacen("const DB = 'cairn'", "const DB = 'cairn2'", 1),
    )
    .unwrap();
    assert!(stale(&root).unwrap().is_empty());

    // A hand-written declaration of a generated helper's name is refused.
    std::fs::write(&js, text.clone() + "function addToCart() {}\n").unwrap();
    let e = stale(&root).unwrap_err().to_string();
    assert!(e.contains("`addToCart` is declared by hand"), "{e}");
    std::fs::write(&js, text).unwrap();

    // A schema of an event that is not in the table is stale too, and write removes it.
    let orphan = root.join("docs/schema/events/gone.json");
    std::fs::write(&orphan, "{}").unwrap();
    assert_eq!(stale(&root).unwrap(), ["docs/schema/events/gone.json"]);
    write(&root).unwrap();
    assert!(!orphan.exists());
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn check_command_lists_the_stale_file_and_fails() {
    let root = temp_root().with_extension("cli");
    for f in ["wasm/js/cairn.js", "wasm/js/cairn.d.ts"] {
        std::fs::create_dir_all(root.join(f).parent().unwrap()).unwrap();
        std::fs::copy(repo_root().join(f), root.join(f)).unwrap();
    }
    let bin = env!("CARGO_BIN_EXE_cairn-codegen");
    let run = |args: &[&str]| {
        std::process::Command::new(bin)
            .args(args)
            .arg("--root")
            .arg(&root)
            .output()
            .unwrap()
    };
    assert!(run(&[]).status.success());
    let ok = run(&["--check"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let md = root.join("docs/events.md");
    let text = std::fs::read_to_string(&md).unwrap();
    std::fs::write(&md, text + "hand edit\n").unwrap();
    let out = run(&["--check"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("  docs/events.md\n"), "{stderr}");
    assert_eq!(stderr.lines().count(), 2, "only that file: {stderr}");
    assert_eq!(run(&["--bogus"]).status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&root);
}
