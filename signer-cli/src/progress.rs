//! A one-line progress counter for long operations, shown only when stderr is a terminal (so
//! scripts and CI logs get no control characters).

use std::io::{IsTerminal, Write};

pub struct Progress {
    label: String,
    total: usize,
    done: usize,
    visible: bool,
}

impl Progress {
    pub fn new(label: &str, total: usize) -> Progress {
        Progress {
            label: label.to_string(),
            total,
            done: 0,
            visible: std::io::stderr().is_terminal() && total > 1,
        }
    }

    pub fn step(&mut self, item: &str) {
        self.done += 1;
        if self.visible {
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "\r\x1b[2K{} {}/{} {item}",
                self.label, self.done, self.total
            );
            let _ = err.flush();
        }
    }

    pub fn finish(self) {
        if self.visible {
            let _ = writeln!(
                std::io::stderr(),
                "\r\x1b[2K{} {}/{} done",
                self.label,
                self.done,
                self.total
            );
        }
    }
}
