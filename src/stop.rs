//! Telling the tasks of one worker thread that the server is stopping.
//!
//! Each task that must react at once (accept loops, idle connections)
//! holds a [`Stopped`] future for its whole life. Polling it is a
//! thread-local read and a pointer compare, no lock and no atomic, so a
//! connection can check it on every wait for a request. [`stop_worker`]
//! wakes every registered task of the thread it runs on.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

#[derive(Default)]
struct Registry {
    stopping: bool,
    wakers: Vec<Option<Waker>>,
    free: Vec<usize>,
}

thread_local! {
    static REGISTRY: RefCell<Registry> = RefCell::new(Registry::default());
}

/// True once [`stop_worker`] has run on this thread.
pub fn stopping() -> bool {
    REGISTRY.with(|r| r.borrow().stopping)
}

/// Marks this worker as stopping and wakes every registered task.
pub fn stop_worker() {
    let wakers: Vec<Waker> = REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        r.stopping = true;
        r.wakers.iter_mut().filter_map(Option::take).collect()
    });
    for waker in wakers {
        waker.wake();
    }
}

/// Completes when this worker stops. Poll it from one task only.
#[derive(Debug, Default)]
pub struct Stopped {
    slot: Option<usize>,
}

impl Future for Stopped {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        REGISTRY.with(|r| {
            let mut r = r.borrow_mut();
            if r.stopping {
                return Poll::Ready(());
            }
            match self.slot {
                Some(i) => match &mut r.wakers[i] {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    other => *other = Some(cx.waker().clone()),
                },
                None => {
                    let waker = Some(cx.waker().clone());
                    let i = match r.free.pop() {
                        Some(i) => {
                            r.wakers[i] = waker;
                            i
                        }
                        None => {
                            r.wakers.push(waker);
                            r.wakers.len() - 1
                        }
                    };
                    self.slot = Some(i);
                }
            }
            Poll::Pending
        })
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            let _ = REGISTRY.try_with(|r| {
                let mut r = r.borrow_mut();
                r.wakers[i] = None;
                r.free.push(i);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn wakes_registered_tasks_once_stopped() {
        std::thread::spawn(|| {
            let count = Arc::new(Count(AtomicUsize::new(0)));
            let waker = Waker::from(count.clone());
            let mut cx = Context::from_waker(&waker);
            let mut a = Box::pin(Stopped::default());
            let mut b = Box::pin(Stopped::default());
            assert!(a.as_mut().poll(&mut cx).is_pending());
            assert!(b.as_mut().poll(&mut cx).is_pending());
            assert!(a.as_mut().poll(&mut cx).is_pending());
            drop(b);
            assert!(!stopping());
            stop_worker();
            assert!(stopping());
            assert_eq!(count.0.load(Ordering::SeqCst), 1);
            assert!(a.as_mut().poll(&mut cx).is_ready());
        })
        .join()
        .unwrap();
    }
}
