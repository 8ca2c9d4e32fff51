//! Per-core spend aggregation: each request adds its usage and cost to a slot of this
//! worker's map — (hour, key, model, provider), the key's user, team and org captured
//! with it — and every `FLUSH_EVERY` the worker hands the map to the ledger writer
//! thread as one batch. A request never waits on the disk or on another core; the
//! writer commits within its own interval, so `kill -9` loses under a second.

use std::collections::HashMap;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;

use crate::store::ledger::LedgerMsg;
use crate::store::{SpendDelta, SpendKey};

/// How often a worker hands its spend to the ledger writer (which commits every 500 ms):
/// together under the one second of spend `kill -9` may lose.
pub const FLUSH_EVERY: Duration = Duration::from_millis(200);

/// Slots a worker aggregates before it flushes early (a bound on memory between ticks).
const SLOTS_MAX: usize = 4096;

/// A slot: the hour, the key (by the address of its id in the current directory, which
/// the value keeps alive), the model group and the provider.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Slot {
    hour: u64,
    key: usize,
    model: u32,
    provider: u32,
}

struct Names {
    key: Arc<str>,
    user: Option<Arc<str>>,
    team: Option<Arc<str>>,
    org: Option<Arc<str>>,
}

/// The key's identity for the ledger.
pub struct Who<'a> {
    pub key: &'a Arc<str>,
    pub user: Option<&'a Arc<str>>,
    pub team: Option<&'a Arc<str>>,
    pub org: Option<&'a Arc<str>>,
}

#[derive(Default)]
pub struct Local {
    slots: HashMap<Slot, (SpendDelta, Names)>,
}

impl Local {
    /// Add one request. Returns true when the map is full and should be flushed now.
    pub fn add(
        &mut self,
        unix: u64,
        who: &Who<'_>,
        model: u32,
        provider: u32,
        delta: SpendDelta,
    ) -> bool {
        let slot = Slot {
            hour: unix - unix % 3600,
            key: Arc::as_ptr(who.key) as *const u8 as usize,
            model,
            provider,
        };
        let entry = self.slots.entry(slot).or_insert_with(|| {
            (
                SpendDelta::default(),
                Names {
                    key: who.key.clone(),
                    user: who.user.cloned(),
                    team: who.team.cloned(),
                    org: who.org.cloned(),
                },
            )
        });
        entry.0 += delta;
        self.slots.len() >= SLOTS_MAX
    }

    /// Hand everything to the writer; `names` turns (model, provider) indices into names.
    pub fn flush(&mut self, to: &Sender<LedgerMsg>, names: impl Fn(u32, u32) -> (String, String)) {
        if self.slots.is_empty() {
            return;
        }
        let batch: Vec<(SpendKey, SpendDelta)> = self
            .slots
            .drain()
            .map(|(slot, (delta, n))| {
                let (model, provider) = names(slot.model, slot.provider);
                let s = |a: &Option<Arc<str>>| a.as_deref().unwrap_or("").to_string();
                (
                    SpendKey {
                        hour: slot.hour,
                        key: n.key.to_string(),
                        user: s(&n.user),
                        team: s(&n.team),
                        org: s(&n.org),
                        model,
                        provider,
                    },
                    delta,
                )
            })
            .collect();
        // The writer is gone only after shutdown began; nothing else can take the batch.
        let _ = to.send(LedgerMsg::Spend(batch));
    }
}
