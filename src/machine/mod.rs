//! The floor the primitives stand on: what they touch of the machine, and nothing else.
//!
//! * [`backend`](crate::backend): the seam every primitive is generic over: an atomic word, a
//!   futex-style wait and wake on it, the wait queues below, a spin hint, an access tracker.
//!   `Real` is the default, `ProcessShared` the same machine between processes, `Loom` the
//!   model.
//! * `wait`: sleeping on a word: `futex(2)` on Linux, `parking_lot_core` elsewhere; deadlines.
//! * `queue`: the wait queues (the crate's namesake, a turnstile: the line of threads blocked on
//!   one lock), hashed by lock address, each waiter sleeping on a word of its own.
//! * `thread_word`: the word each thread sleeps on in the queues, one per thread, never freed.
//! * `loom_backend` (feature `loom`): loom's atomics, a modelled futex, and the faults that
//!   break the machine for a model's failing twin.
//!
//! A primitive's file reads top to bottom as its algorithm; everything it calls that is not the
//! algorithm lives here.

pub mod backend;
#[cfg(feature = "loom")]
pub(crate) mod loom_backend;
pub(crate) mod queue;
mod thread_word;
pub(crate) mod wait;
