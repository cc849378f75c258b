//! Standard output of the command line and the docker plugin.
//!
//! A reader that stops early (`signet inspect IMAGE | head -1`) closes the pipe. `println!`
//! panics on that; here the rest of the output goes nowhere and the command finishes with its
//! own exit status (a failed verification still exits 3).

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
        eprintln!("signet: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}
