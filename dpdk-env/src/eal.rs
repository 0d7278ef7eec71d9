//! EAL initialization (once per process) from a typed config, and registration of
//! non-EAL threads.

use crate::error::{rte_errno, strerror, Error, Result};
use std::ffi::CString;
use std::marker::PhantomData;
use std::os::raw::{c_char, c_int};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

/// Where DPDK keeps per-prefix runtime files when running as root.
const RUNTIME_DIR: &str = "/var/run/dpdk";
/// Our file prefixes start with this, so stale directories can be recognised.
const PREFIX_STEM: &str = "pollmsgr";

/// What to do about hugepages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HugePages {
    /// Use hugepages when enough are free, else fall back to `--no-huge`.
    #[default]
    Auto,
    /// Fail with [`Error::NoHugepages`] when not enough are free.
    Require,
    /// Always `--no-huge` (anonymous memory; fine for virtual devices).
    Disable,
}

/// Which CPUs the EAL lcores run on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Cores {
    /// One lcore (the calling thread), allowed on every CPU the process may use (its
    /// affinity mask, as `taskset` left it): the EAL pins nothing. Right for tests and
    /// for programs that place their own threads.
    #[default]
    Floating,
    /// One lcore per listed CPU, each pinned (`-l a,b,...`); the first is the main lcore.
    Pinned(Vec<usize>),
}

/// Typed EAL configuration; [`EalConfig::args`] turns it into `rte_eal_init` arguments.
#[derive(Debug, Clone)]
pub struct EalConfig {
    /// Lcores and their CPUs.
    pub cores: Cores,
    /// Memory to reserve at start-up, in MiB (`-m`).
    pub memory_mb: u64,
    /// Hugepage policy.
    pub hugepages: HugePages,
    /// `--file-prefix`; `None` picks `pollmsgr-<pid>-<n>`, unique per process and call.
    pub file_prefix: Option<String>,
    /// Virtual devices, each a `--vdev` argument, e.g. `net_ring0` or
    /// `net_memif0,role=server,socket=/tmp/x.sock`.
    pub vdevs: Vec<String>,
    /// `--no-pci` (default true: we never probe physical NICs unless asked).
    pub no_pci: bool,
    /// `--log-level` value, e.g. `*:warning` (`None` keeps DPDK's default).
    pub log_level: Option<String>,
    /// Extra raw EAL arguments, appended last.
    pub extra_args: Vec<String>,
}

impl Default for EalConfig {
    fn default() -> Self {
        Self {
            cores: Cores::Floating,
            memory_mb: 256,
            hugepages: HugePages::Auto,
            file_prefix: None,
            vdevs: Vec::new(),
            no_pci: true,
            log_level: Some("*:warning".into()),
            extra_args: Vec::new(),
        }
    }
}

/// Free hugepage memory as the kernel reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HugepageInfo {
    /// Free bytes summed over every hugepage size.
    pub free_bytes: u64,
    /// Total bytes reserved over every hugepage size.
    pub total_bytes: u64,
}

impl HugepageInfo {
    /// Reads `/sys/kernel/mm/hugepages/*/{free,nr}_hugepages`.
    pub fn read() -> Self {
        let mut info = HugepageInfo::default();
        let Ok(dir) = std::fs::read_dir("/sys/kernel/mm/hugepages") else {
            return info;
        };
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            // hugepages-2048kB
            let Some(kb) = name
                .strip_prefix("hugepages-")
                .and_then(|s| s.strip_suffix("kB"))
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            let read = |f: &str| {
                std::fs::read_to_string(e.path().join(f))
                    .ok()
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .unwrap_or(0)
            };
            info.free_bytes += read("free_hugepages") * kb * 1024;
            info.total_bytes += read("nr_hugepages") * kb * 1024;
        }
        info
    }
}

impl EalConfig {
    /// A config with these virtual devices and defaults for the rest.
    pub fn with_vdevs<I: IntoIterator<Item = S>, S: Into<String>>(vdevs: I) -> Self {
        Self {
            vdevs: vdevs.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// The EAL arguments (including `argv[0]`), given the free hugepage memory.
    ///
    /// Pure: tested without DPDK. Returns whether `--no-huge` was chosen.
    pub fn args(&self, huge: HugepageInfo, prefix: &str) -> Result<(Vec<String>, bool)> {
        let mut a: Vec<String> = vec!["pollmsgr".into()];
        match &self.cores {
            Cores::Floating => a.push(floating_lcore(&allowed_cpus())),
            Cores::Pinned(cpus) if cpus.is_empty() => {
                return Err(Error::Config("Cores::Pinned needs at least one CPU".into()));
            }
            Cores::Pinned(cpus) => {
                let l: Vec<String> = cpus.iter().map(|c| c.to_string()).collect();
                a.push("-l".into());
                a.push(l.join(","));
            }
        }
        if prefix.is_empty() || prefix.contains('/') {
            return Err(Error::Config(format!("bad file prefix {prefix:?}")));
        }
        a.push(format!("--file-prefix={prefix}"));
        if self.memory_mb == 0 {
            return Err(Error::Config("memory_mb must be > 0".into()));
        }
        let wanted = self.memory_mb * 1024 * 1024;
        let no_huge = match self.hugepages {
            HugePages::Disable => true,
            HugePages::Auto => huge.free_bytes < wanted,
            HugePages::Require if huge.free_bytes < wanted => {
                return Err(Error::NoHugepages {
                    free_mb: huge.free_bytes >> 20,
                    wanted_mb: self.memory_mb,
                })
            }
            HugePages::Require => false,
        };
        a.push("-m".into());
        a.push(self.memory_mb.to_string());
        if no_huge {
            // --no-huge cannot be combined with --in-memory; --no-shconf keeps the
            // runtime directory empty instead.
            a.push("--no-huge".into());
        } else {
            a.push("--huge-unlink".into());
        }
        a.push("--no-shconf".into());
        a.push("--no-telemetry".into());
        if self.no_pci {
            a.push("--no-pci".into());
        }
        if let Some(l) = &self.log_level {
            a.push(format!("--log-level={l}"));
        }
        for v in &self.vdevs {
            a.push(format!("--vdev={v}"));
        }
        a.extend(self.extra_args.iter().cloned());
        Ok((a, no_huge))
    }
}

enum State {
    Uninit,
    Ready { prefix: String, no_huge: bool },
    Failed,
}

static STATE: Mutex<State> = Mutex::new(State::Uninit);
static PREFIX_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique `--file-prefix` for this process: `pollmsgr-<pid>-<n>`.
pub fn unique_file_prefix() -> String {
    format!(
        "{PREFIX_STEM}-{}-{}",
        std::process::id(),
        PREFIX_COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Proof that the EAL is initialized in this process. Cheap to copy; every DPDK object
/// constructor takes one.
#[derive(Debug, Clone, Copy)]
pub struct Eal {
    no_huge: bool,
}

impl Eal {
    /// Initializes the EAL. Only once per process: a second call returns
    /// [`Error::EalAlreadyInitialized`], a call after a failure [`Error::EalPoisoned`].
    pub fn init(cfg: &EalConfig) -> Result<Eal> {
        let mut st = STATE.lock().unwrap_or_else(|p| p.into_inner());
        match &*st {
            State::Ready { prefix, .. } => {
                return Err(Error::EalAlreadyInitialized {
                    prefix: prefix.clone(),
                })
            }
            State::Failed => return Err(Error::EalPoisoned),
            State::Uninit => {}
        }
        remove_stale_runtime_dirs();
        let prefix = cfg.file_prefix.clone().unwrap_or_else(unique_file_prefix);
        let (args, no_huge) = cfg.args(HugepageInfo::read(), &prefix)?;
        let joined = args.join(" ");
        let cargs: Vec<CString> = args
            .iter()
            .map(|s| CString::new(s.as_str()))
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| Error::Config("EAL argument contains a NUL byte".into()))?;
        // rte_eal_init may permute argv and keeps pointers into it (e.g. for logs):
        // the strings and the array are leaked on purpose, they live as long as DPDK.
        let cargs: &'static [CString] = Box::leak(cargs.into_boxed_slice());
        let argv: Vec<*mut c_char> = cargs.iter().map(|c| c.as_ptr() as *mut c_char).collect();
        let argv: &'static mut [*mut c_char] = Box::leak(argv.into_boxed_slice());
        // SAFETY: argv holds argc valid NUL-terminated strings that live forever; the
        // state mutex guarantees a single call per process.
        let rc = unsafe { dpdk_sys::rte_eal_init(argv.len() as c_int, argv.as_mut_ptr()) };
        if rc < 0 {
            let errno = rte_errno();
            *st = State::Failed;
            return Err(Error::EalInit {
                args: joined,
                errno,
                reason: strerror(errno),
            });
        }
        // With --no-shconf and --no-telemetry the runtime directory stays empty; remove
        // it now so nothing is left behind when the process ends.
        let _ = std::fs::remove_dir(format!("{RUNTIME_DIR}/{prefix}"));
        *st = State::Ready { prefix, no_huge };
        Ok(Eal { no_huge })
    }

    /// The EAL token if [`Eal::init`] succeeded earlier in this process.
    pub fn get() -> Option<Eal> {
        let st = STATE.lock().unwrap_or_else(|p| p.into_inner());
        match &*st {
            State::Ready { no_huge, .. } => Some(Eal { no_huge: *no_huge }),
            _ => None,
        }
    }

    /// Whether the EAL runs without hugepages.
    pub fn no_huge(&self) -> bool {
        self.no_huge
    }

    /// The `--file-prefix` in use.
    pub fn file_prefix(&self) -> String {
        match &*STATE.lock().unwrap_or_else(|p| p.into_inner()) {
            State::Ready { prefix, .. } => prefix.clone(),
            _ => String::new(),
        }
    }

    /// Number of EAL lcores.
    pub fn lcore_count(&self) -> u32 {
        // SAFETY: EAL initialized (proved by self); reads the global config.
        unsafe { dpdk_sys::rte_lcore_count() }
    }

    /// Registers the calling (non-EAL) thread so it gets an lcore id (and mempool
    /// caches). Unregistered when the guard drops, on the same thread.
    pub fn register_thread(&self) -> Result<ThreadRegistration> {
        // SAFETY: EAL initialized; registers the calling thread only.
        let rc = unsafe { dpdk_sys::rte_thread_register() };
        if rc < 0 {
            let errno = rte_errno();
            return Err(Error::ThreadRegister {
                errno,
                reason: strerror(errno),
            });
        }
        Ok(ThreadRegistration {
            _not_send: PhantomData,
        })
    }
}

/// `--lcores` for one lcore allowed on `cpus`. An empty list (affinity unknown) leaves
/// the lcore on CPU 0's set of one, as DPDK's own default would.
fn floating_lcore(cpus: &[usize]) -> String {
    let list: Vec<String> = cpus.iter().map(usize::to_string).collect();
    if list.is_empty() {
        "--lcores=0@(0)".into()
    } else {
        format!("--lcores=0@({})", list.join(","))
    }
}

/// The CPUs the calling thread may run on (its affinity mask). Counting CPUs instead
/// (0..n) would move a process that `taskset` put on CPU 1 onto CPU 0.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity writes at most its size.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: pid 0 is the calling thread; `set` is valid for `size` bytes.
    if unsafe { libc::sched_getaffinity(0, size, &mut set) } != 0 {
        return Vec::new();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: the index is below CPU_SETSIZE.
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect()
}

/// The calling thread's lcore id, `None` for an unregistered non-EAL thread.
pub fn lcore_id() -> Option<u32> {
    // SAFETY: reads a thread-local; valid in any thread, before or after EAL init.
    let id = unsafe { dpdk_sys::pm_rte_lcore_id() };
    (id != dpdk_sys::LCORE_ID_ANY).then_some(id)
}

/// Keeps a non-EAL thread registered; `!Send` so it unregisters on its own thread.
#[derive(Debug)]
pub struct ThreadRegistration {
    _not_send: PhantomData<*const ()>,
}

impl Drop for ThreadRegistration {
    fn drop(&mut self) {
        // SAFETY: this guard was created by rte_thread_register on this same thread
        // (it is !Send), so this unregisters exactly that registration.
        unsafe { dpdk_sys::rte_thread_unregister() }
    }
}

/// Removes `/var/run/dpdk/pollmsgr-<pid>-*` directories of processes that are gone.
fn remove_stale_runtime_dirs() {
    let Ok(dir) = std::fs::read_dir(RUNTIME_DIR) else {
        return;
    };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&format!("{PREFIX_STEM}-")) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn huge(mb: u64) -> HugepageInfo {
        HugepageInfo {
            free_bytes: mb << 20,
            total_bytes: mb << 20,
        }
    }

    #[test]
    fn auto_falls_back_to_no_huge() {
        let cfg = EalConfig::with_vdevs(["net_ring0"]);
        let (a, no_huge) = cfg.args(huge(0), "p1").unwrap();
        assert!(no_huge);
        assert!(a.contains(&"--no-huge".to_string()));
        assert!(!a.contains(&"--in-memory".to_string()));
        assert!(a.contains(&"--vdev=net_ring0".to_string()));
        assert!(a.contains(&"--file-prefix=p1".to_string()));
        let (a, no_huge) = cfg.args(huge(1024), "p1").unwrap();
        assert!(!no_huge);
        assert!(!a.contains(&"--no-huge".to_string()));
    }

    #[test]
    fn require_without_hugepages_says_what_to_do() {
        let cfg = EalConfig {
            hugepages: HugePages::Require,
            ..EalConfig::default()
        };
        let e = cfg.args(huge(2), "p").unwrap_err();
        assert!(e.to_string().contains("./hugepages.sh reserve"), "{e}");
    }

    #[test]
    fn floating_lcore_stays_on_the_cpus_the_thread_may_use() {
        assert_eq!(floating_lcore(&[1]), "--lcores=0@(1)");
        assert_eq!(floating_lcore(&[0, 2, 3]), "--lcores=0@(0,2,3)");
        let last = *allowed_cpus().last().expect("some CPU is allowed");
        // As under `taskset -c LAST`: the lcore goes there, not to CPU 0.
        std::thread::spawn(move || {
            // SAFETY: plain data; the set holds one valid CPU index.
            let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
            unsafe { libc::CPU_SET(last, &mut set) };
            let size = std::mem::size_of::<libc::cpu_set_t>();
            // SAFETY: pid 0 is this thread; `set` is valid for `size` bytes.
            assert_eq!(unsafe { libc::sched_setaffinity(0, size, &set) }, 0);
            let (a, _) = EalConfig::default().args(huge(0), "p").unwrap();
            assert!(a.contains(&format!("--lcores=0@({last})")), "{a:?}");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn pinned_cores_and_bad_config() {
        let cfg = EalConfig {
            cores: Cores::Pinned(vec![0, 1]),
            hugepages: HugePages::Disable,
            ..EalConfig::default()
        };
        let (a, _) = cfg.args(huge(0), "p").unwrap();
        assert_eq!(a[1..3], ["-l".to_string(), "0,1".to_string()]);
        let bad = EalConfig {
            cores: Cores::Pinned(vec![]),
            ..EalConfig::default()
        };
        assert!(matches!(bad.args(huge(0), "p"), Err(Error::Config(_))));
        assert!(matches!(
            EalConfig::default().args(huge(0), "a/b"),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn prefixes_are_unique() {
        let a = unique_file_prefix();
        let b = unique_file_prefix();
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("pollmsgr-{}-", std::process::id())));
    }
}
