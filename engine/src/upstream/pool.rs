//! The per-core keep-alive pool: idle upstream connections by provider, most recently
//! used first. Owned by one worker; no locks, no sharing.

use std::time::{Duration, Instant};

use crate::io::UpstreamIo;

/// An idle connection and when it went idle.
pub struct Pooled {
    pub io: UpstreamIo,
    pub idle_since: Instant,
}

pub struct Pool {
    /// Index: the snapshot's provider index. Each list is oldest first.
    idle: Vec<Vec<Pooled>>,
}

impl Pool {
    pub fn new(providers: usize) -> Pool {
        Pool {
            idle: (0..providers).map(|_| Vec::new()).collect(),
        }
    }

    /// The most recently returned connection idle for less than `idle_max`. Older ones
    /// are dropped (closed) on the way.
    pub fn take(
        &mut self,
        provider: usize,
        now: Instant,
        idle_max: Duration,
    ) -> Option<UpstreamIo> {
        let list = &mut self.idle[provider];
        while let Some(p) = list.pop() {
            if now.saturating_duration_since(p.idle_since) < idle_max {
                return Some(p.io);
            }
        }
        None
    }

    /// Return a connection whose last response was read completely. Beyond `max_idle`
    /// the oldest idle connection is closed.
    pub fn put(&mut self, provider: usize, io: UpstreamIo, now: Instant, max_idle: usize) {
        if max_idle == 0 {
            return;
        }
        let list = &mut self.idle[provider];
        if list.len() >= max_idle {
            list.remove(0);
        }
        list.push(Pooled {
            io,
            idle_since: now,
        });
    }

    /// Close connections idle for `idle_max` or longer; `idle_max` per provider.
    pub fn sweep(&mut self, now: Instant, idle_max: impl Fn(usize) -> Duration) {
        for (i, list) in self.idle.iter_mut().enumerate() {
            let max = idle_max(i);
            list.retain(|p| now.saturating_duration_since(p.idle_since) < max);
        }
    }

    /// Close every idle connection (shutdown).
    pub fn clear(&mut self) {
        self.idle.iter_mut().for_each(Vec::clear);
    }
}
