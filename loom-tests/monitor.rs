//! Models of `Monitor`.

use std::collections::VecDeque;

use loom::thread;
use std::sync::Arc;
use turnstile::backend::{Backend, ForgetfulWake, Loom};
use turnstile::monitor::Condition;
use turnstile::Monitor;

use crate::{check_bounded, check_fails_bounded, DEADLOCK};

/// Preemptions: the buffer's two conditions and two items make a large search (9 million
/// interleavings at 5); 3 finds the dropped-signal deadlock and keeps the model to seconds.
const BOUND: usize = 3;

const ITEMS: u32 = 2;

/// The classic bounded buffer, capacity 1: a producer puts `ITEMS` items, a consumer takes them,
/// each waiting on its own condition. Every item arrives, in order, and neither side sleeps
/// through the other's signal.
fn bounded_buffer_of_one<B: Backend>() {
    let monitor = Arc::new(Monitor::<VecDeque<u32>, B>::with_backend(VecDeque::new()));
    let conditions: Arc<(Condition<B>, Condition<B>)> = Arc::new((monitor.condition(), monitor.condition()));
    let producer = {
        let (monitor, conditions) = (Arc::clone(&monitor), Arc::clone(&conditions));
        thread::spawn(move || {
            let (not_full, not_empty) = &*conditions;
            for item in 0..ITEMS {
                let mut buffer = monitor.lock();
                buffer.wait_while_on(not_full, |b| !b.is_empty());
                buffer.push_back(item);
                buffer.notify_one_on(not_empty);
            }
        })
    };
    let (not_full, not_empty) = &*conditions;
    for expected in 0..ITEMS {
        let mut buffer = monitor.lock();
        buffer.wait_while_on(not_empty, |b| b.is_empty());
        assert_eq!(buffer.pop_front(), Some(expected));
        buffer.notify_one_on(not_full);
    }
    producer.join().unwrap();
}

#[test]
fn monitor_bounded_buffer_passes_every_item() {
    check_bounded(BOUND, bounded_buffer_of_one::<Loom>);
}

#[test]
fn monitor_with_dropped_signals_deadlocks() {
    check_fails_bounded(BOUND, DEADLOCK, bounded_buffer_of_one::<Loom<ForgetfulWake>>);
}
