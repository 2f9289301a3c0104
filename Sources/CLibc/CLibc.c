// Intentionally empty: CLibc only re-exports libc headers to Swift.
