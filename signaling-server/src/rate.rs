//! Token buckets: per connection for message floods, per address for guessing invite codes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    per_sec: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(capacity: u32, per_sec: f64, now: Instant) -> Self {
        Self {
            capacity: f64::from(capacity),
            per_sec,
            tokens: f64::from(capacity),
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * self.per_sec).min(self.capacity);
        self.last = now;
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    pub fn has_token(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= 1.0
    }

    /// How long until one token is back.
    pub fn retry_after(&self) -> Duration {
        if self.tokens >= 1.0 || self.per_sec <= 0.0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64((1.0 - self.tokens) / self.per_sec)
    }

    fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.capacity
    }
}

/// A wait in whole seconds, rounded up and at least 1: what `Retry-After` and "try again in N
/// s" say (rounded down, a client would come back too early).
pub fn whole_secs(wait: Duration) -> u64 {
    // Waits are minutes at most: the cast cannot truncate.
    wait.as_secs_f64().ceil().max(1.0) as u64
}

/// The address a limit applies to: an IPv6 host usually has a whole /64 to pick from, so the
/// /64 counts as one; IPv4-mapped IPv6 counts as the IPv4 address.
pub fn limit_key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(
                u128::from(v6) & !((1u128 << 64) - 1),
            )),
        },
    }
}

/// Failures per source address: `check` before the attempt, `fail` when it failed.
#[derive(Debug)]
pub struct AddressLimiter {
    capacity: u32,
    per_sec: f64,
    buckets: HashMap<IpAddr, TokenBucket>,
}

impl AddressLimiter {
    pub fn new(capacity: u32, per_sec: f64) -> Self {
        Self {
            capacity,
            per_sec,
            buckets: HashMap::new(),
        }
    }

    /// `Err(retry_after)` when this address has used up its failures.
    pub fn check(&mut self, addr: IpAddr, now: Instant) -> Result<(), Duration> {
        match self.buckets.get_mut(&limit_key(addr)) {
            Some(b) => {
                if b.has_token(now) {
                    Ok(())
                } else {
                    Err(b.retry_after())
                }
            }
            None => Ok(()),
        }
    }

    pub fn fail(&mut self, addr: IpAddr, now: Instant) {
        let (capacity, per_sec) = (self.capacity, self.per_sec);
        self.buckets
            .entry(limit_key(addr))
            .or_insert_with(|| TokenBucket::new(capacity, per_sec, now))
            .try_take(now);
    }

    /// Forgets addresses whose buckets have refilled, so the map does not grow forever.
    pub fn prune(&mut self, now: Instant) {
        self.buckets.retain(|_, b| !b.is_full(now));
    }

    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_refills() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(3, 2.0, t0);
        assert!(b.try_take(t0) && b.try_take(t0) && b.try_take(t0));
        assert!(!b.try_take(t0));
        assert_eq!(b.retry_after(), Duration::from_millis(500));
        assert!(!b.try_take(t0 + Duration::from_millis(400)));
        assert!(b.try_take(t0 + Duration::from_millis(600)));
        // Never more than the capacity, however long it rested.
        let later = t0 + Duration::from_secs(3600);
        assert!(b.try_take(later) && b.try_take(later) && b.try_take(later));
        assert!(!b.try_take(later));
    }

    #[test]
    fn limiter_blocks_an_address_after_its_failures_only() {
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let mut l = AddressLimiter::new(2, 1.0 / 60.0);
        l.fail(a, t0);
        assert!(l.check(a, t0).is_ok());
        l.fail(a, t0);
        let wait = l.check(a, t0).unwrap_err();
        assert!(
            wait > Duration::from_secs(59) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        assert!(l.check(b, t0).is_ok());
        assert!(l.check(a, t0 + Duration::from_secs(61)).is_ok());
        l.prune(t0 + Duration::from_secs(10));
        assert_eq!(l.tracked(), 1);
        l.prune(t0 + Duration::from_secs(3600));
        assert_eq!(l.tracked(), 0);
    }

    #[test]
    fn waits_are_said_in_whole_seconds_rounded_up() {
        assert_eq!(whole_secs(Duration::from_millis(29_100)), 30);
        assert_eq!(whole_secs(Duration::from_secs(60)), 60);
        assert_eq!(whole_secs(Duration::ZERO), 1);
    }

    #[test]
    fn an_ipv6_64_is_one_address() {
        let t0 = Instant::now();
        let mut l = AddressLimiter::new(1, 0.0);
        l.fail("2001:db8:1:2::1".parse().unwrap(), t0);
        assert!(
            l.check("2001:db8:1:2:ffff::9".parse().unwrap(), t0)
                .is_err()
        );
        assert!(l.check("2001:db8:1:3::1".parse().unwrap(), t0).is_ok());
        l.fail("192.0.2.7".parse().unwrap(), t0);
        assert!(l.check("::ffff:192.0.2.7".parse().unwrap(), t0).is_err());
    }
}
