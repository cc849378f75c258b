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

/// Trims the heap when dropped, once armed: created before a request body is read, it covers
/// every way out of the handler, rejections included, after the body's buffers are freed
/// (locals declared after it are dropped before it).
#[derive(Default)]
pub struct TrimWhenDone {
    armed: bool,
}

impl TrimWhenDone {
    /// Trim when done if `bytes` (a declared or received size) is large enough to leave
    /// megabytes of freed buffers behind.
    pub fn arm_if_large(&mut self, bytes: usize) {
        self.armed |= bytes >= LARGE_BODY;
    }
}

impl Drop for TrimWhenDone {
    fn drop(&mut self) {
        if self.armed {
            release_freed_memory();
        }
    }
}

/// Bodies from this size on are parsed into buffers worth returning.
pub const LARGE_BODY: usize = 1 << 20;
