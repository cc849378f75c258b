//! Standard output of the command line.
//!
//! A reader that stops early (`signet-server audit | head`) closes the pipe. `println!` panics
//! on that; here the rest of the output goes nowhere and the command finishes its work with its
//! own exit status (an import cut short by its reader would leave work undone and unsynced).
//! The server's start-up banner never stops `serve`.

use std::io::{ErrorKind, Write};

/// Writes a command's output. Nothing happens once the reader has closed the pipe; any other
/// write error (a full disk under `> file`) ends the process with status 1 and one line on
/// stderr, since the output asked for cannot be written.
pub fn report(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        if e.kind() == ErrorKind::BrokenPipe {
            return;
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
