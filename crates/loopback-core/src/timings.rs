//! Per-phase timings: how long capturing each part, the live actions and the judgment took, so
//! benchmarks and users (`--timings`) can see where the time goes. The clock is read only by
//! the code that runs a phase; judgments never read it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Collected phase durations, in the order the phases ran. Shared by reference; `Sync`.
#[derive(Debug, Default)]
pub struct Timings {
    phases: Mutex<Vec<(String, Duration)>>,
}

impl Timings {
    /// An empty collection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Run `f` as the phase `name` and record how long it took.
    pub fn time<T>(&self, name: &str, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f();
        self.record(name, start.elapsed());
        out
    }

    /// Record a phase measured elsewhere.
    pub fn record(&self, name: &str, took: Duration) {
        if let Ok(mut p) = self.phases.lock() {
            p.push((name.to_owned(), took));
        }
    }

    /// The phases so far.
    pub fn phases(&self) -> Vec<(String, Duration)> {
        self.phases.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_keep_their_order() {
        let t = Timings::new();
        let v = t.time("a", || 1 + 1);
        t.record("b", Duration::from_millis(3));
        assert_eq!(v, 2);
        let names: Vec<String> = t.phases().into_iter().map(|p| p.0).collect();
        assert_eq!(names, ["a", "b"]);
    }
}
