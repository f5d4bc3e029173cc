//! A job's cancellation flag.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Set when the job a command (or a state run, or a render) belongs to is
/// killed or times out: running commands' process groups are killed, a
/// state run stops before its next state, a render at its next step.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

thread_local! {
    /// The cancellation of the job this thread works for, so that helpers
    /// deep in a state module (a `useradd`, an `apt-get`) are killed with
    /// the job without threading the flag through every signature.
    static CURRENT: RefCell<Option<Cancel>> = const { RefCell::new(None) };
}

impl Cancel {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// The flag itself, for code that polls it without this crate
    /// (the template engine's step counter).
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.0.clone()
    }

    /// Runs `f` with `self` as this thread's current cancellation.
    pub fn scope<T>(&self, f: impl FnOnce() -> T) -> T {
        let previous = CURRENT.with(|c| c.replace(Some(self.clone())));
        struct Restore(Option<Cancel>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let previous = self.0.take();
                CURRENT.with(|c| *c.borrow_mut() = previous);
            }
        }
        let _restore = Restore(previous);
        f()
    }

    /// This thread's current cancellation (see [`Cancel::scope`]), if any.
    pub fn current() -> Option<Cancel> {
        CURRENT.with(|c| c.borrow().clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_sets_and_restores_the_current_flag() {
        assert!(Cancel::current().is_none());
        let outer = Cancel::default();
        outer.scope(|| {
            let inner = Cancel::default();
            inner.cancel();
            inner.scope(|| assert!(Cancel::current().unwrap().is_cancelled()));
            assert!(!Cancel::current().unwrap().is_cancelled());
        });
        assert!(Cancel::current().is_none());
    }
}
