//! Handing freed heap back to the operating system.
//!
//! glibc keeps freed memory in its per-thread arenas, and an argon2id check or a large upload
//! allocates tens of megabytes at once: without a trim, each password check thread keeps the
//! 19 MiB of every check it ran (the buffers are not reused), and one large publish pins its
//! parse buffers for the life of the process.

/// Returns the free pages of every malloc arena to the system (a few milliseconds).
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages of the allocator's own arenas; it has no
    // preconditions and touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}
