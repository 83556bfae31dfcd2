//! Helpers the benchmark files share (`mod common;` in each).

use std::hint::spin_loop;

/// How many of `total` operations thread `i` of `threads` does (the shares add up to `total`).
#[allow(dead_code)] // `benches/semaphore.rs` shares this module but splits its work otherwise
pub fn share(total: u64, threads: usize, i: usize) -> u64 {
    let threads = threads as u64;
    total / threads + u64::from((i as u64) < total % threads)
}

/// `n` spin-loop hints: stand-in work that touches no memory.
#[inline]
pub fn pause(n: u32) {
    for _ in 0..n {
        spin_loop();
    }
}
