//! Standard output of the command line and the docker plugin.
//!
//! A reader that stops early (`signet inspect IMAGE | head -1`) closes the pipe. `println!`
//! panics on that; here the command ends quietly, as docker and other Unix tools do.

use std::io::{ErrorKind, Write};

/// Writes a command's output. A closed pipe ends the process with status 0 (the reader has
/// what it wanted); any other write error ends it with status 1 and one line on stderr.
pub fn report(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        if e.kind() == ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("signet: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}
