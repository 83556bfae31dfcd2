//! Helpers shared by the real-thread tests (`mod common;` in each test file).

/// Iterations: full size natively, small under Miri (which is about 1000× slower).
pub const fn iters(native: usize) -> usize {
    // Below 200 the Miri share would be zero iterations: a test that silently tests nothing.
    assert!(native >= 200, "iters() needs at least 200 native iterations");
    if cfg!(miri) {
        native / 200
    } else {
        native
    }
}

/// A read-modify-write split in two on purpose, so that two threads overlapping inside the
/// critical section lose an update and the final count comes out short.
pub fn bump(counter: &mut u64) {
    let seen = *counter;
    *counter = std::hint::black_box(seen) + 1;
}
