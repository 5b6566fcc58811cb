//! Parsing /proc: process CPU time and resident memory, machine-wide CPU jiffies and
//! memory in use.

/// Linux reports process CPU time in clock ticks of USER_HZ, 100 on every mainstream architecture.
const TICKS_PER_S: f64 = 100.0;

pub(crate) fn kib_field(line: &str, key: &str) -> Option<u64> {
    let kib: u64 = line
        .strip_prefix(key)?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// (busy, total) jiffies from the aggregate `cpu` line of /proc/stat; idle and
/// iowait count as idle, guest time is already inside user time.
pub(crate) fn parse_proc_stat_cpu(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    if v.len() < 5 {
        return None;
    }
    let total: u64 = v.iter().sum();
    let idle = v[3] + v[4];
    Some((total - idle, total))
}

/// MemTotal - MemAvailable from /proc/meminfo, in bytes.
pub(crate) fn parse_meminfo_used(text: &str) -> Option<u64> {
    let total = text.lines().find_map(|l| kib_field(l, "MemTotal:"))?;
    let avail = text.lines().find_map(|l| kib_field(l, "MemAvailable:"))?;
    Some(total.saturating_sub(avail))
}

pub(crate) fn read_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines().find_map(|l| kib_field(l, "VmRSS:"))
}

pub(crate) fn read_cpu_s() -> Option<f64> {
    stat_cpu_s(&std::fs::read_to_string("/proc/self/stat").ok()?).map(|(own, _)| own)
}

/// CPU seconds in a `/proc/.../stat` line (of a process or of one of its threads):
/// utime+stime, and cutime+cstime (its children already waited for).
pub fn stat_cpu_s(stat: &str) -> Option<(f64, f64)> {
    // Fields after the command name (which may hold spaces) start at ") ".
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime, stime, cutime, cstime are fields 14-17 of the whole line: 11-14 after ") ".
    let field = |i: usize| f.get(i)?.parse::<f64>().ok();
    Some((
        (field(11)? + field(12)?) / TICKS_PER_S,
        (field(13)? + field(14)?) / TICKS_PER_S,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_cpu_times_survive_a_command_name_with_spaces() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt
        // cmajflt utime stime cutime cstime ...
        let line = "42 (my (odd) prog) S 1 42 42 0 -1 4194560 10 0 0 0 250 50 700 100 20 0 1";
        assert_eq!(stat_cpu_s(line), Some((3.0, 8.0)));
        assert_eq!(stat_cpu_s("42 (x) S 1"), None);
    }

    #[test]
    fn proc_stat_and_meminfo_are_parsed() {
        let stat = "cpu  100 10 50 800 40 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n";
        // busy = 100 + 10 + 50 = 160 of 1000 jiffies.
        assert_eq!(parse_proc_stat_cpu(stat), Some((160, 1000)));
        assert_eq!(parse_proc_stat_cpu("cpu  1 x 3 4 5"), None);
        let mem = "MemTotal:       8000 kB\nMemFree: 1000 kB\nMemAvailable:   3000 kB\n";
        assert_eq!(parse_meminfo_used(mem), Some(5000 * 1024));
    }
}
