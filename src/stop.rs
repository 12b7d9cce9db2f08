//! Telling the tasks of one worker thread that the server is stopping.
//!
//! Each task that must react at once (accept loops, idle connections)
//! holds a [`Stopped`] future for its whole life. Polling it is a
//! thread-local read and a pointer compare, no lock and no atomic, so a
//! connection can check it on every wait for a request. [`stop_worker`]
//! wakes every registered task of the thread it runs on.
//!
//! A server embedded in a caller's runtime ([`crate::Server::serve_on`])
//! has no threads of its own: its tasks run inside a [`Scope`], a signal
//! they carry as a task-local value ([`spawn`] hands it to the tasks they
//! start), which [`Stopped`] and [`stopping`] read instead.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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

tokio::task_local! {
    static SCOPE: Arc<Scope>;
}

/// The stop signal of a server embedded in a caller's runtime.
#[derive(Debug, Default)]
pub struct Scope {
    stopping: AtomicBool,
    notify: tokio::sync::Notify,
}

impl Scope {
    /// Tells every task of the scope that the server is stopping.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Completes once [`Scope::stop`] has run.
    async fn wait(self: Arc<Self>) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }

    /// Runs `task` on the current runtime inside `scope`.
    pub fn spawn<F>(scope: Arc<Scope>, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        tokio::spawn(SCOPE.scope(scope, task))
    }
}

/// Starts `task` on the current runtime, inside the scope of the task
/// that starts it, if it has one.
pub fn spawn<F>(task: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match SCOPE.try_with(Arc::clone) {
        Ok(scope) => tokio::spawn(SCOPE.scope(scope, task)),
        Err(_) => tokio::spawn(task),
    }
}

/// True once [`stop_worker`] has run on this thread, or the scope of this
/// task has stopped.
pub fn stopping() -> bool {
    if let Ok(stopping) = SCOPE.try_with(|s| s.stopping.load(Ordering::Relaxed)) {
        return stopping;
    }
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

/// Completes when this worker (or this task's scope) stops. Poll it from
/// one task only.
#[derive(Default)]
pub struct Stopped(Waiting);

/// What a [`Stopped`] waits with: nothing yet, a slot of this thread's
/// registry, or its scope's signal (boxed twice: every connection holds a
/// `Stopped`, and a thin pointer keeps it as small as a slot).
#[derive(Default)]
enum Waiting {
    #[default]
    Unregistered,
    Slot(usize),
    Scoped(Box<ScopeWait>),
}

/// A wait for a scope's stop.
type ScopeWait = Pin<Box<dyn Future<Output = ()> + Send + Sync>>;

impl std::fmt::Debug for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let waiting = match self.0 {
            Waiting::Unregistered => "unregistered",
            Waiting::Slot(_) => "slot",
            Waiting::Scoped(_) => "scoped",
        };
        f.debug_tuple("Stopped").field(&waiting).finish()
    }
}

impl Future for Stopped {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Waiting::Unregistered = self.0 {
            if let Ok(scope) = SCOPE.try_with(Arc::clone) {
                self.0 = Waiting::Scoped(Box::new(Box::pin(scope.wait())));
            }
        }
        if let Waiting::Scoped(scoped) = &mut self.0 {
            return scoped.as_mut().as_mut().poll(cx);
        }
        REGISTRY.with(|r| {
            let mut r = r.borrow_mut();
            if r.stopping {
                return Poll::Ready(());
            }
            match self.0 {
                Waiting::Slot(i) => match &mut r.wakers[i] {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    other => *other = Some(cx.waker().clone()),
                },
                _ => {
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
                    self.0 = Waiting::Slot(i);
                }
            }
            Poll::Pending
        })
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        if let Waiting::Slot(i) = self.0 {
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
