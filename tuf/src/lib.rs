//! The Notary dialect of TUF.
