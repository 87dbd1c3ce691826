//! CrashLoopBackOff: how long a failed container waits before its next
//! start. The first restart is immediate; then 10 s, doubling up to 5
//! minutes; a container that ran for 10 minutes starts over at zero.
//!
//! ImagePullBackOff: after a failed pull of an image the next try waits
//! 10 s, doubling up to 5 minutes; a pull that works forgets the image.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The first delay.
pub const INITIAL: Duration = Duration::from_secs(10);
/// The longest delay.
pub const MAX: Duration = Duration::from_secs(300);
/// Running this long resets the delay.
pub const RESET_AFTER: Duration = Duration::from_secs(600);

/// Delays per container name (one pod's worker owns one).
#[derive(Debug, Default)]
pub struct Backoff {
    delays: HashMap<String, Duration>,
}

impl Backoff {
    /// How much longer `container`, finished at `finished_ms` after running
    /// for `ran`, must wait; `None` to restart now.
    pub fn remaining(
        &mut self,
        container: &str,
        finished_ms: i64,
        ran: Duration,
        now_ms: i64,
    ) -> Option<Duration> {
        if ran >= RESET_AFTER {
            self.delays.remove(container);
        }
        let delay = *self.delays.get(container)?;
        let until = finished_ms + delay.as_millis() as i64;
        (now_ms < until).then(|| Duration::from_millis((until - now_ms) as u64))
    }

    /// The delay currently applying to `container` (for messages).
    pub fn current(&self, container: &str) -> Duration {
        self.delays.get(container).copied().unwrap_or(INITIAL)
    }

    /// Records a restart: the next failure waits longer.
    pub fn restarted(&mut self, container: &str) {
        let next = match self.delays.get(container) {
            None => INITIAL,
            Some(d) => (*d * 2).min(MAX),
        };
        self.delays.insert(container.to_string(), next);
    }
}

/// Pull delays per image (one pod's worker owns one).
#[derive(Debug, Default)]
pub struct PullBackoff {
    images: HashMap<String, (Instant, Duration)>,
}

impl PullBackoff {
    /// Whether a pull of `image` must wait until later.
    pub fn waiting(&self, image: &str, now: Instant) -> bool {
        self.images
            .get(image)
            .is_some_and(|(until, _)| now < *until)
    }

    /// Records a failed pull: the next one waits longer.
    pub fn failed(&mut self, image: &str, now: Instant) {
        let delay = match self.images.get(image) {
            None => INITIAL,
            Some((_, d)) => (*d * 2).min(MAX),
        };
        self.images.insert(image.to_string(), (now + delay, delay));
    }

    /// Records a pull that worked.
    pub fn succeeded(&mut self, image: &str) {
        self.images.remove(image);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_caps_and_resets() {
        let mut b = Backoff::default();
        let short = Duration::from_secs(1);
        assert_eq!(
            b.remaining("c", 0, short, 0),
            None,
            "first restart is immediate"
        );
        b.restarted("c");
        assert_eq!(
            b.remaining("c", 1000, short, 2000),
            Some(Duration::from_secs(9))
        );
        assert_eq!(b.remaining("c", 1000, short, 11_000), None);
        b.restarted("c");
        assert_eq!(b.current("c"), Duration::from_secs(20));
        for _ in 0..10 {
            b.restarted("c");
        }
        assert_eq!(b.current("c"), MAX);
        assert_eq!(
            b.remaining("c", 0, RESET_AFTER, 1),
            None,
            "a long run resets"
        );
        assert_eq!(b.current("c"), INITIAL);
    }

    #[test]
    fn pull_backoff_doubles_caps_and_forgets() {
        let mut b = PullBackoff::default();
        let t = Instant::now();
        assert!(!b.waiting("img", t), "the first pull is not delayed");
        b.failed("img", t);
        assert!(b.waiting("img", t + Duration::from_secs(9)));
        assert!(!b.waiting("img", t + INITIAL));
        b.failed("img", t);
        assert!(b.waiting("img", t + Duration::from_secs(19)));
        assert!(!b.waiting("img", t + Duration::from_secs(20)));
        for _ in 0..10 {
            b.failed("img", t);
        }
        assert!(b.waiting("img", t + MAX - Duration::from_secs(1)));
        assert!(!b.waiting("other", t));
        b.succeeded("img");
        assert!(!b.waiting("img", t));
    }
}
