//! The `signet` signing client as a library: the TUF client workflow ([`trusted_repo`] reads
//! and verifies, [`editor`] changes and publishes) over a [`transport::Transport`], and one
//! module per command in [`commands`], each returning what it did as data so that other front
//! ends (the `signet` binary, a docker CLI plugin, tests) share them.

/// `println!` for a command's output, through [`stdout::report`].
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::stdout::report(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` for a command's output, through [`stdout::report`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::stdout::report(format_args!($($arg)*))
    };
}

pub mod auth;
pub mod commands;
pub mod context;
pub mod cosign;
pub mod docker_config;
pub mod docker_daemon;
pub mod docker_format;
pub mod docker_plugin;
pub mod editor;
pub mod error;
pub mod image_ref;
pub mod progress;
pub mod registry;
pub mod registry_client;
pub mod stdout;
pub mod tls_roots;
pub mod transport;
pub mod trusted_repo;

pub use context::Context;
pub use error::CliError;
