//! A bounded blocking queue built on `turnstile::Mutex` and `turnstile::Condvar`: the code a user
//! of turnstile writes, and checks with loom over turnstile's real algorithms.
//!
//! The queue names its locks through the [`sync`] module, which picks turnstile's backend by
//! `cfg`: the real machine normally, loom's under `RUSTFLAGS="--cfg loom"`. Nothing else in the
//! queue knows about loom. The models are in `tests/loom.rs`.
//!
//! ```
//! use std::sync::Arc;
//! use downstream_loom::BoundedQueue;
//!
//! let queue = Arc::new(BoundedQueue::new(2));
//! let producer = {
//!     let queue = Arc::clone(&queue);
//!     std::thread::spawn(move || (1..=5).for_each(|item| queue.push(item)))
//! };
//! let received: Vec<u32> = (0..5).map(|_| queue.pop()).collect();
//! producer.join().unwrap();
//! assert_eq!(received, [1, 2, 3, 4, 5]);
//! ```

use std::collections::VecDeque;

use sync::{Condvar, Mutex};

/// The locks this crate uses, over the backend its build asks for.
///
/// The only place that knows about loom: normal builds get turnstile's default backend
/// (`Real`: std atomics and the OS futex), `--cfg loom` builds get `Loom` (loom's atomics and a
/// modelled futex), under the very same algorithm code. A type built over `Loom` works only
/// inside `loom::model`, which is why a `--cfg loom` build runs the loom models and nothing else.
///
/// ```
/// use downstream_loom::sync::{Condvar, Mutex};
///
/// let lock = Mutex::with_backend(1); // `Mutex::new` exists only for the default backend
/// let _ready = Condvar::with_backend();
/// *lock.lock() += 1;
/// assert_eq!(lock.into_inner(), 2);
/// ```
pub mod sync {
    /// turnstile's backend for this build.
    #[cfg(not(loom))]
    pub type Backend = turnstile::backend::Real;
    /// turnstile's backend for this build.
    #[cfg(loom)]
    pub type Backend = turnstile::backend::Loom;

    /// `turnstile::Mutex` over this build's backend; build it with `Mutex::with_backend`.
    pub type Mutex<T> = turnstile::Mutex<T, Backend>;
    /// `turnstile::Condvar` over this build's backend; build it with `Condvar::with_backend`.
    pub type Condvar = turnstile::Condvar<Backend>;
    // An atomic of the crate's own would be switched here too (loom sees only loom's atomics):
    // #[cfg(loom)] pub use loom::sync::atomic::AtomicBool;
    // #[cfg(not(loom))] pub use std::sync::atomic::AtomicBool;
}

/// A first-in first-out queue of at most `capacity` items: [`push`](Self::push) waits while it is
/// full, [`pop`](Self::pop) while it is empty. Every item pushed is popped once, in order.
///
/// ```
/// let queue = downstream_loom::BoundedQueue::new(1);
/// queue.push('a');
/// assert_eq!(queue.pop(), 'a');
/// ```
pub struct BoundedQueue<T> {
    items: Mutex<VecDeque<T>>,
    capacity: usize,
    /// Notified after an item is added.
    not_empty: Condvar,
    /// Notified after an item is taken.
    not_full: Condvar,
}

impl<T> BoundedQueue<T> {
    /// An empty queue that holds at most `capacity` items.
    ///
    /// # Panics
    /// If `capacity` is 0: every `push` would wait forever.
    ///
    /// ```
    /// let queue = downstream_loom::BoundedQueue::<u8>::new(4);
    /// assert_eq!(queue.capacity(), 4);
    /// ```
    #[track_caller]
    pub fn new(capacity: usize) -> Self {
        assert!(
            capacity > 0,
            "BoundedQueue::new(0): a queue that holds no item blocks every push; ask for 1 or more"
        );
        BoundedQueue {
            items: Mutex::with_backend(VecDeque::with_capacity(capacity)),
            capacity,
            not_empty: Condvar::with_backend(),
            not_full: Condvar::with_backend(),
        }
    }

    /// How many items the queue holds at most.
    ///
    /// ```
    /// assert_eq!(downstream_loom::BoundedQueue::<()>::new(3).capacity(), 3);
    /// ```
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Adds `item` at the back, waiting while the queue is full.
    ///
    /// ```
    /// let queue = downstream_loom::BoundedQueue::new(2);
    /// queue.push(1);
    /// queue.push(2); // a third push would wait for a pop
    /// assert_eq!(queue.pop(), 1);
    /// ```
    pub fn push(&self, item: T) {
        let mut items = self.items.lock();
        // `while`, not `if`: another pusher may fill the slot between the notify and our return.
        while items.len() == self.capacity {
            self.not_full.wait(&mut items);
        }
        items.push_back(item);
        // The item is in before the notify: a popper that checked and is about to wait
        // registers under the mutex we still hold, so the notify cannot pass it by.
        self.not_empty.notify_one();
    }

    /// Takes the item at the front, waiting while the queue is empty.
    ///
    /// ```
    /// let queue = downstream_loom::BoundedQueue::new(2);
    /// queue.push("first");
    /// queue.push("second");
    /// assert_eq!(queue.pop(), "first");
    /// ```
    pub fn pop(&self) -> T {
        let mut items = self.items.lock();
        while items.is_empty() {
            self.not_empty.wait(&mut items);
        }
        let item = items.pop_front().expect("the loop left the queue non-empty");
        self.not_full.notify_one();
        item
    }
}
