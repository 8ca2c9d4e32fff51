//! `sluice`: the gateway binary.
//!
//! ```text
//! sluice serve [--config FILE] [--listen ADDR] [--admin-listen ADDR] [--workers N] [--driver auto|io_uring|epoll]
//! sluice check --config FILE
//! sluice keys|orgs|teams|users|budgets|spend ...   (admin CLI, see engine::cli)
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use engine::config::{self, Overrides};
use engine::log;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "\
usage:
  sluice serve [--config FILE] [--listen ADDR] [--admin-listen ADDR] [--workers N] [--driver auto|io_uring|epoll]
      Run the gateway. Without --config it runs the built-in demo on 127.0.0.1:8080.
  sluice check --config FILE [--listen ADDR] [--admin-listen ADDR] [--workers N] [--driver D]
      Validate a config file and print what it compiles to.
  sluice keys|orgs|teams|users|budgets|spend ...
      Manage virtual keys, orgs, teams, users, budgets and spend reports of a running
      gateway through its admin API (details below).
  sluice --version
";

struct Args {
    config: Option<PathBuf>,
    ov: Overrides,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args> {
    let mut a = Args {
        config: None,
        ov: Overrides::default(),
    };
    while let Some(flag) = it.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (flag.clone(), None),
        };
        let mut value = || -> Result<String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it.next().with_context(|| format!("{name} needs a value")),
            }
        };
        match name.as_str() {
            "--config" | "-c" => a.config = Some(value()?.into()),
            "--listen" => a.ov.listen = Some(value()?.parse().context("--listen takes IP:PORT")?),
            "--admin-listen" => {
                a.ov.admin_listen = Some(value()?.parse().context("--admin-listen takes IP:PORT")?)
            }
            "--workers" => {
                a.ov.workers = Some(value()?.parse().context("--workers takes a number")?)
            }
            "--driver" => {
                let v = value()?;
                a.ov.driver = Some(
                    config::parse_driver(&v).with_context(|| format!("unknown driver {v:?}"))?,
                );
            }
            other => bail!("unknown argument {other:?}\n\n{USAGE}"),
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let cmd = args.next();
    let r = match cmd.as_deref() {
        Some("serve") => parse_args(args).and_then(serve),
        Some("check") => parse_args(args).and_then(check),
        Some(c @ ("keys" | "orgs" | "teams" | "users" | "budgets" | "spend")) => {
            engine::cli::run(c, args.collect())
        }
        Some("--version" | "-V" | "version") => {
            println!("sluice {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Some("--help" | "-h" | "help") => {
            print!("{USAGE}\n{}", engine::cli::USAGE);
            Ok(())
        }
        _ => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluice: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn check(a: Args) -> Result<()> {
    let path = a.config.context("check needs --config FILE")?;
    let snap = config::load(&path, &a.ov)?;
    print!("{}", snap.describe());
    println!("ok: {} is valid", path.display());
    Ok(())
}

fn serve(a: Args) -> Result<()> {
    let snap = match &a.config {
        Some(path) => config::load(path, &a.ov)?,
        None => {
            let (snap, notes) = config::demo(&a.ov)?;
            for n in notes {
                log::info(&n, &[]);
            }
            snap
        }
    };
    if snap.auth.keys.is_empty() {
        log::warn("no gateway keys configured: authentication is off", &[]);
    }
    let demo = snap.demo;
    let workers = snap.server.workers;
    // Block the signals before any thread starts so that only the signal thread sees them.
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])
    .context("installing signal handlers")?;
    let handle = engine::start(snap).context("starting the gateway")?;
    if !handle.wait_ready(std::time::Duration::from_secs(10)) {
        handle.stop().ok();
        bail!("workers did not start");
    }
    let (addr, admin) = (handle.addr.to_string(), handle.admin_addr.to_string());
    log::info(
        "sluice listening",
        &[
            ("addr", &addr),
            ("admin", &admin),
            ("workers", &workers.to_string()),
        ],
    );
    if demo {
        eprintln!(
            "\nsluice demo mode: try\n  curl -s http://{addr}/v1/chat/completions -H 'authorization: Bearer {}' \
             -H 'content-type: application/json' -d '{{\"model\":\"{}\",\"messages\":[{{\"role\":\"user\",\"content\":\"Hello!\"}}]}}'\n",
            config::DEMO_KEY,
            config::DEMO_MODEL
        );
    }
    let sig = signals.forever().next();
    log::info("draining", &[("signal", &sig.unwrap_or(0).to_string())]);
    handle.shutdown();
    // A second signal skips the drain.
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            log::warn("second signal: exiting without draining", &[]);
            std::process::exit(1);
        }
    });
    handle.join().context("worker failed")?;
    log::info("stopped", &[]);
    Ok(())
}
