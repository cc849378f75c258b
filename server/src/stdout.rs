//! Standard output of the command line.
//!
//! A reader that stops early (`signet-server audit | head`) closes the pipe. `println!` panics
//! on that; a command's report instead ends the command quietly, as other Unix tools do. The
//! server's start-up banner is informational: `serve` keeps serving when nobody reads it.

use std::io::{ErrorKind, Write};

/// Writes a command's output. A closed pipe ends the process with status 0 (the reader has
/// what it wanted); any other write error ends it with status 1 and one line on stderr.
pub fn report(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        if e.kind() == ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("signet-server: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

/// Writes a line of the start-up banner; a closed or failing stdout does not stop the server.
pub fn banner(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_fmt(args).and_then(|()| out.flush());
}
