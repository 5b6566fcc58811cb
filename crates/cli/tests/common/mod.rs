//! What the CLI tests share: the binary, and running it to success.
#![allow(dead_code)]

use std::process::{Command, Output};

pub fn trilemma() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trilemma"))
}

/// Runs `cmd` to its end; a failure fails the test with the command's stderr.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("the trilemma binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
