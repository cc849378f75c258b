//! Names the commit being built for `--version` (see packaging/build_version.rs).

include!("../packaging/build_version.rs");

fn main() {
    emit_git_commit();
}
