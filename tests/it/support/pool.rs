//! A few private brokers (or clusters) that tests which stop, freeze or
//! reconfigure them lease one at a time: each test has its node to itself,
//! and two such tests run side by side on two nodes instead of queueing
//! behind one lock for the whole run.

use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::Duration;

/// `N` slots, each booted on first lease.
pub struct Pool<T: 'static, const N: usize> {
    slots: [Mutex<Option<T>>; N],
}

/// One slot, held until dropped.
pub struct Lease<T: 'static>(MutexGuard<'static, Option<T>>);

impl<T: 'static, const N: usize> Pool<T, N> {
    /// An empty pool, for a `static`.
    pub const fn new() -> Pool<T, N> {
        Pool {
            slots: [const { Mutex::new(None) }; N],
        }
    }

    /// Leases a free slot, booting it with `start` the first time; waits
    /// while every slot is leased. A slot left poisoned by a failed test
    /// is leased again: the caller restores it to a known state.
    pub fn lease(&'static self, start: impl Fn() -> T) -> Lease<T> {
        loop {
            for slot in &self.slots {
                let guard = match slot.try_lock() {
                    Ok(guard) => guard,
                    Err(TryLockError::Poisoned(p)) => p.into_inner(),
                    Err(TryLockError::WouldBlock) => continue,
                };
                let mut lease = Lease(guard);
                if lease.0.is_none() {
                    *lease.0 = Some(start());
                }
                return lease;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl<T: 'static> Deref for Lease<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0.as_ref().expect("a leased slot is booted")
    }
}

impl<T: 'static> DerefMut for Lease<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0.as_mut().expect("a leased slot is booted")
    }
}
