//! Process CPU time, for "CPU per message" in benchmark reports.

/// User + system CPU seconds this process has used, from `/proc/self/stat`
/// (fields 14 and 15, in USER_HZ = 100 ticks per second on Linux).
pub fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may contain spaces; fields resume after ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')', field 3 (state) is index 0, so utime (14) is 11 and stime (15) is 12.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Measures the process CPU time used since it was started.
#[derive(Debug, Clone, Copy)]
pub struct CpuTimer {
    start: Option<f64>,
}

impl CpuTimer {
    /// Starts measuring now.
    pub fn start() -> Self {
        CpuTimer {
            start: process_cpu_seconds(),
        }
    }

    /// CPU seconds used since [`CpuTimer::start`] (None if /proc is unreadable).
    pub fn elapsed(&self) -> Option<f64> {
        Some(process_cpu_seconds()? - self.start?)
    }
}

#[cfg(test)]
mod tests {
    /// Busy work shows up as at least 50 ms of process CPU time. The work
    /// runs until it does (or 10 s of wall time pass): on a machine shared
    /// with other jobs, 150 ms of wall time may get well under 50 ms of CPU.
    #[test]
    fn cpu_time_grows_with_work() {
        let before = super::process_cpu_seconds().expect("readable /proc/self/stat");
        let mut x = 0u64;
        let start = std::time::Instant::now();
        let mut after = before;
        while after < before + 0.05 && start.elapsed().as_secs() < 10 {
            for _ in 0..1_000_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
            after = super::process_cpu_seconds().expect("readable /proc/self/stat");
        }
        std::hint::black_box(x);
        assert!(after >= before + 0.05, "cpu {before} -> {after}");
    }
}
