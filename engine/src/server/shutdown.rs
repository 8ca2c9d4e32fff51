//! A worker-local, one-shot shutdown signal: connections await it while idle.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Set once; every waiter wakes. Not `Send`: one per worker.
#[derive(Default)]
pub struct Shutdown {
    set: Cell<bool>,
    /// Slots for waiting futures; `None` slots are free.
    waiters: RefCell<Vec<Option<Waker>>>,
}

impl Shutdown {
    pub fn trigger(&self) {
        self.set.set(true);
        for w in self
            .waiters
            .borrow_mut()
            .iter_mut()
            .filter_map(Option::take)
        {
            w.wake();
        }
    }

    pub fn is_set(&self) -> bool {
        self.set.get()
    }

    /// Resolves once [`trigger`](Self::trigger) has been called.
    pub fn wait(&self) -> Wait<'_> {
        Wait {
            s: self,
            slot: None,
        }
    }
}

pub struct Wait<'a> {
    s: &'a Shutdown,
    slot: Option<usize>,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.s.set.get() {
            return Poll::Ready(());
        }
        let mut waiters = self.s.waiters.borrow_mut();
        match self.slot {
            Some(i) => waiters[i] = Some(cx.waker().clone()),
            None => {
                let i = match waiters.iter().position(Option::is_none) {
                    Some(i) => {
                        waiters[i] = Some(cx.waker().clone());
                        i
                    }
                    None => {
                        waiters.push(Some(cx.waker().clone()));
                        waiters.len() - 1
                    }
                };
                drop(waiters);
                self.slot = Some(i);
            }
        }
        Poll::Pending
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            if let Some(w) = self.s.waiters.borrow_mut().get_mut(i) {
                *w = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiters_wake_and_slots_are_reused() {
        let s = Shutdown::default();
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap()
            .block_on(async {
                {
                    // A waiter dropped before the trigger frees its slot.
                    let w = s.wait();
                    let timed_out = monoio::time::timeout(std::time::Duration::from_millis(5), w)
                        .await
                        .is_err();
                    assert!(timed_out);
                }
                assert!(s.waiters.borrow().iter().all(Option::is_none));
                let s2 = &s;
                let waiter = async move {
                    s2.wait().await;
                    1
                };
                let trigger = async {
                    monoio::time::sleep(std::time::Duration::from_millis(5)).await;
                    s.trigger();
                    2
                };
                let (a, b) = monoio::join!(waiter, trigger);
                assert_eq!((a, b), (1, 2));
                assert_eq!(
                    s.waiters.borrow().len(),
                    1,
                    "the slot freed above was reused"
                );
                assert!(s.is_set());
            });
    }
}
