//! Shell completions and man pages generated from a binary's clap definition; shared by
//! `signet-server` and `signet` (each includes this file as a module).

use clap_complete::Shell;
use std::path::{Path, PathBuf};

/// Writes the completion script for `shell` to stdout.
pub fn completion(cmd: &mut clap::Command, shell: Shell) {
    let name = cmd.get_name().to_string();
    clap_complete::generate(shell, cmd, name, &mut std::io::stdout());
}

/// Writes `<bin>.1` and one `<bin>-<sub>[-<sub>...].1` per subcommand into `dir` (created if
/// needed); returns the files written, or the file that could not be written and why.
pub fn write_man_pages(
    cmd: clap::Command,
    dir: &Path,
) -> Result<Vec<PathBuf>, (PathBuf, std::io::Error)> {
    std::fs::create_dir_all(dir).map_err(|e| (dir.to_path_buf(), e))?;
    let mut written = Vec::new();
    let name = cmd.get_name().to_string();
    write_page(cmd, name.clone(), name, dir, &mut written)?;
    Ok(written)
}

/// `page`: the file name (`signet-server-registry`, like git's pages); `usage`: how the
/// command is typed (`signet-server registry`).
fn write_page(
    cmd: clap::Command,
    page: String,
    usage: String,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> Result<(), (PathBuf, std::io::Error)> {
    let name = page;
    let cmd = cmd.name(name.clone()).bin_name(usage.clone());
    let path = dir.join(format!("{name}.1"));
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut out)
        .map_err(|e| (path.clone(), e))?;
    std::fs::write(&path, out).map_err(|e| (path.clone(), e))?;
    written.push(path);
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" || sub.is_hide_set() {
            continue;
        }
        write_page(
            sub.clone(),
            format!("{name}-{}", sub.get_name()),
            format!("{usage} {}", sub.get_name()),
            dir,
            written,
        )?;
    }
    Ok(())
}
