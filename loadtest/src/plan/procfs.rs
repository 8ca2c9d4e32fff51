//! What the planner reads about the gateway process from `/proc/PID`: CPU time
//! (`stat`), resident memory and allowed CPUs (`status`), open sockets (`fd/`).
//! Parsing is split from reading so it can be tested on fixed text.

use std::io;

/// User plus system CPU time of the whole process (all threads, live and exited), in
/// clock ticks ([`ticks_per_second`]): fields 14 and 15 of `/proc/PID/stat`.
pub fn cpu_ticks(pid: u32) -> io::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_stat_cpu(&text).ok_or_else(|| malformed(pid, "stat"))
}

/// `utime + stime` from the text of a `/proc/PID/stat`. The command name (field 2) is
/// in parentheses and may itself hold spaces and parentheses, so fields are counted
/// from the *last* `)`: after it come field 3 (state), ..., 14 (utime), 15 (stime).
pub fn parse_stat_cpu(text: &str) -> Option<u64> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace().skip(14 - 3);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, 100 on Linux): the resolution of
/// [`cpu_ticks`].
pub fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if n > 0 {
        n as u64
    } else {
        100
    }
}

/// Resident set size, bytes (`VmRSS` of `/proc/PID/status`).
pub fn rss_bytes(pid: u32) -> io::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status_field(&text, "VmRSS")
        .and_then(parse_kib)
        .ok_or_else(|| malformed(pid, "status (VmRSS)"))
}

/// The CPUs the process may run on (`Cpus_allowed_list` of `/proc/PID/status`): the
/// list as written (`0-3,6`) and how many CPUs it names.
pub fn cpus_allowed(pid: u32) -> io::Result<(String, usize)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let list = status_field(&text, "Cpus_allowed_list")
        .ok_or_else(|| malformed(pid, "status (Cpus_allowed_list)"))?;
    let n = parse_cpu_list(list).ok_or_else(|| malformed(pid, "status (Cpus_allowed_list)"))?;
    Ok((list.to_owned(), n))
}

/// Open sockets: distinct `socket:[inode]` targets among the links of `/proc/PID/fd`
/// (a socket held by two descriptors, after a `dup`, counts once).
pub fn sockets(pid: u32) -> io::Result<usize> {
    let mut targets = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
        // A descriptor closed between the listing and the readlink is simply skipped.
        let Ok(entry) = entry else { continue };
        if let Ok(target) = std::fs::read_link(entry.path()) {
            targets.push(target.into_os_string().into_encoded_bytes());
        }
    }
    Ok(count_sockets(targets))
}

/// Distinct `socket:[...]` among descriptor link targets.
fn count_sockets(mut targets: Vec<Vec<u8>>) -> usize {
    targets.retain(|t| t.starts_with(b"socket:"));
    targets.sort_unstable();
    targets.dedup();
    targets.len()
}

/// Whether `/proc/PID` exists (the process is alive and visible to us).
pub fn exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}/stat")).exists()
}

/// The value of `Name:\tvalue` in a `/proc/PID/status` text, trimmed.
pub fn status_field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k == name).then(|| v.trim())
    })
}

/// `1234 kB` as bytes.
fn parse_kib(v: &str) -> Option<u64> {
    let n: u64 = v.strip_suffix("kB")?.trim().parse().ok()?;
    n.checked_mul(1024)
}

/// How many CPUs a kernel CPU list (`0-3,6,8-9`) names; None when malformed.
pub fn parse_cpu_list(list: &str) -> Option<usize> {
    let mut n = 0usize;
    for part in list.trim().split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((lo, hi)) => (lo.parse::<usize>().ok()?, hi.parse::<usize>().ok()?),
            None => {
                let c = part.parse::<usize>().ok()?;
                (c, c)
            }
        };
        if hi < lo {
            return None;
        }
        n += hi - lo + 1;
    }
    (n > 0).then_some(n)
}

fn malformed(pid: u32, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("/proc/{pid}/{what}: unexpected format"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_last_paren() {
        // Fields 14 and 15 are 7 and 5; the command name holds ") (" and spaces.
        let line = "4242 (a) b (c) R 1 4242 4242 0 -1 4194560 120 0 0 0 7 5 0 0 20 0 3 0 \
                    1000 12345678 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0";
        assert_eq!(parse_stat_cpu(line), Some(12));
        assert_eq!(parse_stat_cpu("1 (x) R 1 2"), None, "too few fields");
        assert_eq!(parse_stat_cpu("no parenthesis"), None);
    }

    #[test]
    fn own_cpu_time_grows_with_work() {
        let pid = std::process::id();
        let before = cpu_ticks(pid).expect("/proc/self/stat parses");
        // Spin for ~60 ms of CPU: several 10 ms ticks.
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < std::time::Duration::from_millis(60) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let after = cpu_ticks(pid).unwrap();
        assert!(after > before, "{before} -> {after}");
        // Never more than every core for the whole wall time since `before` (a wrong
        // field, such as the start time, would be far off), with a tick of slack.
        let ticks = ticks_per_second();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let wall = start.elapsed().as_secs_f64() * ticks as f64;
        assert!(
            ((after - before) as f64) <= cores * wall + 2.0,
            "{before} -> {after} in {wall} ticks of wall time"
        );
        assert!((10..=10_000).contains(&ticks), "{ticks}");
    }

    #[test]
    fn own_status_has_rss_and_cpus() {
        let pid = std::process::id();
        let rss = rss_bytes(pid).unwrap();
        assert!(rss > 100 * 1024 && rss & 1023 == 0, "{rss} is whole KiB");
        let (list, n) = cpus_allowed(pid).unwrap();
        assert!(n >= 1 && !list.is_empty(), "{list} {n}");
        // Other tests open and close sockets at the same time, so only a lower bound
        // holds: the three listeners held here, each twice (a dup counts once).
        let held: Vec<_> = (0..3)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let dups: Vec<_> = held.iter().map(|l| l.try_clone().unwrap()).collect();
        assert!(sockets(pid).unwrap() >= held.len());
        drop(dups);
        let links = |l: &[&str]| l.iter().map(|s| s.as_bytes().to_vec()).collect();
        assert_eq!(
            count_sockets(links(&[
                "socket:[11]",
                "/dev/null",
                "socket:[12]",
                "socket:[11]",
                "anon_inode:[eventfd]",
                "pipe:[11]"
            ])),
            2
        );
        assert!(exists(pid));
        assert!(!exists(u32::MAX));
    }

    #[test]
    fn status_and_cpu_lists_parse() {
        let text = "Name:\tsluice\nVmRSS:\t    5324 kB\nCpus_allowed_list:\t0-1\n";
        assert_eq!(status_field(text, "VmRSS"), Some("5324 kB"));
        assert_eq!(status_field(text, "VmRS"), None);
        assert_eq!(
            status_field(text, "VmRSS").and_then(parse_kib),
            Some(5324 * 1024)
        );
        assert_eq!(parse_kib("12 MB"), None);
        assert_eq!(parse_cpu_list("0-1"), Some(2));
        assert_eq!(parse_cpu_list("0-3,6,8-9\n"), Some(7));
        assert_eq!(parse_cpu_list("3"), Some(1));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list(""), None);
        assert_eq!(parse_cpu_list("a-b"), None);
    }
}
