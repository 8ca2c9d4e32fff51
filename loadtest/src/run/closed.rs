//! Closed loop: each connection slot sends its next request as soon as the previous
//! response ends. A slot holds one connection per target and sends each the same
//! request in turn, alternating which goes first, so two targets see the same requests
//! at the same concurrency, interleaved.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::conn::Client;
use super::worker::Ctx;
use crate::report::ErrorKind;
use crate::workload::Picker;

/// After a failed connect, wait this long before the slot tries again, so a target that
/// is down is not hammered in a tight loop.
const CONNECT_BACKOFF: Duration = Duration::from_millis(10);

/// Run `slots` connection slots until the run ends.
pub(crate) async fn run(ctx: Rc<Ctx>, slots: usize) {
    let picker = Rc::new(RefCell::new(Picker::new(&ctx.cfg().workload, ctx.seed())));
    let handles: Vec<_> = (0..slots)
        .map(|_| monoio::spawn(slot(ctx.clone(), picker.clone())))
        .collect();
    for h in handles {
        h.await;
    }
}

async fn slot(ctx: Rc<Ctx>, picker: Rc<RefCell<Picker>>) {
    let cfg = ctx.cfg();
    let mut clients: Vec<Client> = cfg.targets.iter().map(|t| Client::new(t.addr)).collect();
    let n = clients.len();
    let mut round: u64 = 0;
    loop {
        let now = Instant::now();
        if ctx.ended(now) {
            break;
        }
        let measured = now >= ctx.t_measure;
        if measured && !ctx.claim() {
            break;
        }
        let spec = picker.borrow_mut().next_spec();
        let mut refused = false;
        for i in 0..n {
            let t = if round % 2 == 1 { n - 1 - i } else { i };
            let recorder = &ctx.recorders[t];
            let renderer = &ctx.renderers[t];
            let start = Instant::now();
            let outcome = clients[t]
                .request(
                    cfg.timeout,
                    spec.stream,
                    |out| renderer.render(&spec, out),
                    &mut |gap| {
                        if measured {
                            recorder.borrow_mut().itl(gap);
                        }
                    },
                )
                .await;
            recorder
                .borrow_mut()
                .record(start, None, &outcome, measured);
            refused |= matches!(outcome.result, Err(ErrorKind::Connect));
        }
        if refused {
            monoio::time::sleep(CONNECT_BACKOFF).await;
        }
        round += 1;
    }
}
