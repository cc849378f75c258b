//! Signing keys in the format notary and docker keep in `~/.docker/trust/private`.
