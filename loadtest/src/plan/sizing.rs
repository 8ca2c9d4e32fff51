//! From measurements to a deployment: cores, hosts and memory for a target rate with a
//! stated headroom. Pure arithmetic; the formulas are the module docs of `plan`.

/// What the sizing starts from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Inputs {
    /// The rate to plan for, req/s.
    pub target_rate: f64,
    /// The share of each core kept free, `0 <= H < 1`.
    pub headroom: f64,
    pub cores_per_host: usize,
    /// The gateway's CPU time per request, µs (needs its pid).
    pub cpu_us_per_request: Option<f64>,
    /// The highest rate meeting the SLO on this host, and the cores the gateway had.
    pub max_rate: Option<f64>,
    pub gateway_cores: usize,
    /// Requests in flight at the target rate, when known.
    pub concurrent_streams: Option<f64>,
    /// Gateway memory: per concurrent stream, and idle RSS, bytes.
    pub memory_per_stream: Option<f64>,
    pub rss_idle: Option<u64>,
}

/// The deployment, every figure with the inputs it came from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sizing {
    pub inputs: Inputs,
    /// `R * cpu_per_request / (1 - H)`, in cores, before and after rounding up.
    pub cores_by_cpu: Option<(f64, u64)>,
    /// `max_rate / gateway_cores`, req/s.
    pub max_rate_per_core: Option<f64>,
    /// `R / (max_rate_per_core * (1 - H))`, in cores, before and after rounding up.
    pub cores_by_rate: Option<(f64, u64)>,
    /// The larger of the two estimates.
    pub cores: u64,
    /// `ceil(cores / cores_per_host)`.
    pub hosts: u64,
    /// `rss_idle + ceil(streams / hosts) * memory_per_stream`, bytes.
    pub memory_per_host: Option<u64>,
    /// `hosts * memory_per_host`, bytes.
    pub memory_total: Option<u64>,
}

/// `ceil(x)`, forgiving the float error of a product that should be whole
/// (`0.7 * 10 / 0.7` is not exactly 10), and at least 1.
pub fn ceil_whole(x: f64) -> u64 {
    let r = x.round();
    let c = if (x - r).abs() < 1e-9 { r } else { x.ceil() };
    (c as u64).max(1)
}

/// Cores by CPU time: `R * cpu_per_request / (1 - H)`.
pub fn cores_by_cpu(rate: f64, cpu_us_per_request: f64, headroom: f64) -> (f64, u64) {
    let x = rate * cpu_us_per_request / 1e6 / (1.0 - headroom);
    (x, ceil_whole(x))
}

/// Cores by measured throughput: `R / (max_rate_per_core * (1 - H))`.
pub fn cores_by_rate(rate: f64, max_rate_per_core: f64, headroom: f64) -> (f64, u64) {
    let x = rate / (max_rate_per_core * (1.0 - headroom));
    (x, ceil_whole(x))
}

/// `ceil(cores / cores_per_host)`.
pub fn hosts(cores: u64, cores_per_host: usize) -> u64 {
    cores.div_ceil(cores_per_host.max(1) as u64).max(1)
}

/// Size a deployment; None when there is nothing to size from (no CPU measurement and
/// no rate that met the SLO).
pub fn size(i: Inputs) -> Option<Sizing> {
    assert!((0.0..1.0).contains(&i.headroom), "headroom is validated");
    let cores_by_cpu = i
        .cpu_us_per_request
        .filter(|c| *c > 0.0)
        .map(|c| cores_by_cpu(i.target_rate, c, i.headroom));
    let max_rate_per_core = i
        .max_rate
        .filter(|r| *r > 0.0)
        .map(|r| r / i.gateway_cores.max(1) as f64);
    let cores_by_rate = max_rate_per_core.map(|m| cores_by_rate(i.target_rate, m, i.headroom));
    let cores = match (cores_by_cpu, cores_by_rate) {
        (None, None) => return None,
        (a, b) => a.map_or(0, |a| a.1).max(b.map_or(0, |b| b.1)),
    };
    let hosts = hosts(cores, i.cores_per_host);
    let memory_per_host = match (i.concurrent_streams, i.memory_per_stream, i.rss_idle) {
        (Some(n), Some(per), Some(idle)) => {
            let per_host_streams = (n / hosts as f64).ceil();
            Some(idle + (per_host_streams * per.max(0.0)).ceil() as u64)
        }
        _ => None,
    };
    Some(Sizing {
        inputs: i,
        cores_by_cpu,
        max_rate_per_core,
        cores_by_rate,
        cores,
        hosts,
        memory_per_host,
        memory_total: memory_per_host.map(|m| m * hosts),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Inputs {
        Inputs {
            target_rate: 50_000.0,
            headroom: 0.3,
            cores_per_host: 8,
            cpu_us_per_request: Some(40.0),
            max_rate: Some(12_000.0),
            gateway_cores: 1,
            concurrent_streams: Some(1_000.0),
            memory_per_stream: Some(16_384.0),
            rss_idle: Some(8 << 20),
        }
    }

    #[test]
    fn cores_and_hosts() {
        // 50,000 req/s * 40 µs = 2 cores busy; / 0.7 = 2.857 -> 3.
        let (x, n) = cores_by_cpu(50_000.0, 40.0, 0.3);
        assert!((x - 2.857_142_857).abs() < 1e-6, "{x}");
        assert_eq!(n, 3);
        // 50,000 / (12,000 * 0.7) = 5.952 -> 6.
        assert_eq!(cores_by_rate(50_000.0, 12_000.0, 0.3).1, 6);
        // Exactly whole products do not round up to the next core.
        assert_eq!(cores_by_cpu(7_000.0, 100.0, 0.3).1, 1);
        assert_eq!(cores_by_rate(8_400.0, 1_000.0, 0.3).1, 12);
        assert_eq!(cores_by_cpu(1.0, 1.0, 0.0).1, 1, "at least one core");
        assert_eq!(hosts(6, 8), 1);
        assert_eq!(hosts(16, 8), 2);
        assert_eq!(hosts(17, 8), 3);
        assert_eq!(hosts(0, 8), 1);
    }

    #[test]
    fn the_larger_estimate_wins_and_memory_follows_the_hosts() {
        let s = size(inputs()).unwrap();
        assert_eq!(s.cores_by_cpu.unwrap().1, 3);
        assert_eq!(s.max_rate_per_core, Some(12_000.0));
        assert_eq!(s.cores_by_rate.unwrap().1, 6);
        assert_eq!((s.cores, s.hosts), (6, 1));
        assert_eq!(s.memory_per_host, Some((8 << 20) + 1_000 * 16_384));
        assert_eq!(s.memory_total, s.memory_per_host);

        // Two gateway cores made the knee: half the rate per core, twice the cores.
        let s = size(Inputs {
            gateway_cores: 2,
            cores_per_host: 4,
            ..inputs()
        })
        .unwrap();
        assert_eq!((s.cores, s.hosts), (12, 3));
        // 1,000 streams over 3 hosts: 334 per host.
        let per_host = (8u64 << 20) + 334 * 16_384;
        assert_eq!(s.memory_per_host, Some(per_host));
        assert_eq!(s.memory_total, Some(3 * per_host));

        // CPU-bound: a costly request makes the CPU estimate the larger.
        let s = size(Inputs {
            cpu_us_per_request: Some(200.0),
            ..inputs()
        })
        .unwrap();
        assert_eq!(s.cores_by_cpu.unwrap().1, 15);
        assert_eq!((s.cores, s.hosts), (15, 2));
    }

    #[test]
    fn partial_inputs() {
        let only_rate = size(Inputs {
            cpu_us_per_request: None,
            memory_per_stream: None,
            ..inputs()
        })
        .unwrap();
        assert_eq!(only_rate.cores_by_cpu, None);
        assert_eq!(only_rate.cores, 6);
        assert_eq!(only_rate.memory_total, None);
        let only_cpu = size(Inputs {
            max_rate: None,
            ..inputs()
        })
        .unwrap();
        assert_eq!((only_cpu.cores_by_rate, only_cpu.cores), (None, 3));
        assert_eq!(
            size(Inputs {
                max_rate: None,
                cpu_us_per_request: None,
                ..inputs()
            }),
            None
        );
    }
}
