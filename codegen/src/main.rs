//! `cargo run -p cairn-codegen` writes every generated file; `-- --check` writes
//! nothing and exits 1 listing the stale ones. `--root DIR` works on another
//! checkout (default: this repository).

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: cairn-codegen [--check] [--root DIR]";

fn main() -> ExitCode {
    let mut check = false;
    let mut root = cairn_codegen::repo_root();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.len()) {
            ("--check", _) => check = true,
            ("--root", n) if n > 0 => root = PathBuf::from(args.next().unwrap_or_default()),
            _ => {
                eprintln!("cairn-codegen: unexpected argument {a:?} ({USAGE})");
                return ExitCode::from(2);
            }
        }
    }
    let result = if check {
        cairn_codegen::stale(&root)
    } else {
        cairn_codegen::write(&root)
    };
    match result {
        Ok(files) if check && !files.is_empty() => {
            eprintln!("cairn-codegen: stale generated files (run `cargo run -p cairn-codegen`):");
            for f in files {
                eprintln!("  {f}");
            }
            ExitCode::FAILURE
        }
        Ok(files) => {
            for f in &files {
                println!("wrote {f}");
            }
            if files.is_empty() {
                println!("cairn-codegen: every generated file is current");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cairn-codegen: {e}");
            ExitCode::FAILURE
        }
    }
}
