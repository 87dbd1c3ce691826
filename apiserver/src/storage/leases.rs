//! Objects that expire by themselves: Events (`--event-ttl`, one hour by
//! default, as upstream). Each write of such an object is attached to an
//! etcd lease, and etcd deletes the key when the lease runs out; watchers
//! see an ordinary `DELETED` event.
//!
//! A lease per write would be a lease grant (a raft round trip of its own)
//! per Event, so, as upstream's lease manager does, one lease serves the
//! writes of a short window: it is granted for the TTL plus the window
//! (5% of the TTL, at most a minute), and reused while it still outlives
//! the TTL of a new write by at least that, for at most 1,000 objects. An
//! object thus lives between the TTL and the TTL plus the window.
//!
//! Every write of the object carries the lease: a put without one would
//! detach the key from it, and the Event would never expire.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most objects one lease carries.
const MAX_OBJECTS_PER_LEASE: u32 = 1000;
/// The longest window a lease is reused for.
const MAX_REUSE: Duration = Duration::from_secs(60);

/// The lease in use for one kind of expiring key.
#[derive(Debug)]
struct Current {
    id: i64,
    expires: Instant,
    objects: u32,
}

/// Keys under a prefix that expire after a TTL.
#[derive(Debug)]
pub struct Expiring {
    /// The key prefix (`<prefix>/events/`).
    pub prefix: String,
    /// How long an object lives after its last write.
    pub ttl: Duration,
    current: Mutex<Option<Current>>,
}

impl Expiring {
    /// Keys under `prefix` live `ttl` after their last write.
    pub fn new(prefix: String, ttl: Duration) -> Expiring {
        Expiring {
            prefix,
            ttl,
            current: Mutex::new(None),
        }
    }

    /// How long a lease is reused: 5% of the TTL, at most a minute.
    fn reuse(&self) -> Duration {
        (self.ttl / 20).min(MAX_REUSE)
    }

    /// The lease to attach a write at `now` to, if one can be reused.
    pub fn reusable(&self, now: Instant) -> Option<i64> {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let c = current.as_mut()?;
        let outlives = c.expires > now + self.ttl;
        let not_too_long = c.expires <= now + self.ttl + self.reuse();
        if outlives && not_too_long && c.objects < MAX_OBJECTS_PER_LEASE {
            c.objects += 1;
            return Some(c.id);
        }
        None
    }

    /// Seconds to ask etcd for when a new lease is needed (whole seconds,
    /// rounded up, at least one).
    pub fn grant_seconds(&self) -> i64 {
        let d = self.ttl + self.reuse();
        (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1) as i64
    }

    /// Remembers the lease granted at `granted` for reuse.
    pub fn granted(&self, id: i64, granted: Instant) {
        let expires = granted + Duration::from_secs(self.grant_seconds() as u64);
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(Current {
            id,
            expires,
            objects: 1,
        });
    }

    /// Forgets the lease (a write with it failed: etcd may have lost it).
    pub fn forget(&self) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_serves_a_window_of_writes_then_a_new_one_is_needed() {
        let e = Expiring::new("/registry/events/".into(), Duration::from_secs(3600));
        assert_eq!(e.grant_seconds(), 3660, "the TTL plus a minute");
        let t0 = Instant::now();
        assert_eq!(e.reusable(t0), None, "nothing granted yet");
        e.granted(7, t0);
        assert_eq!(e.reusable(t0 + Duration::from_secs(30)), Some(7));
        // Past the window the lease would not outlive a new object's TTL.
        assert_eq!(e.reusable(t0 + Duration::from_secs(61)), None);
        e.forget();
        assert_eq!(e.reusable(t0), None);
    }

    #[test]
    fn short_ttls_reuse_for_5_percent_and_a_lease_carries_at_most_1000_objects() {
        let e = Expiring::new("/registry/events/".into(), Duration::from_secs(2));
        assert_eq!(e.grant_seconds(), 3, "2 s + 0.1 s, rounded up");
        let e = Expiring::new("/registry/events/".into(), Duration::from_secs(600));
        let t0 = Instant::now();
        e.granted(1, t0);
        for _ in 1..MAX_OBJECTS_PER_LEASE {
            assert_eq!(e.reusable(t0), Some(1));
        }
        assert_eq!(e.reusable(t0), None, "full");
    }
}
