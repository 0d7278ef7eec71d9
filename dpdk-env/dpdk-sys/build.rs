//! Generates bindings to the system DPDK (Debian `libdpdk-dev`, 22.11) with bindgen and
//! compiles `csrc/shim.c`, which gives DPDK's static inline functions a linkable symbol.
//!
//! Linking is dynamic against the libraries pkg-config names; the PMD drivers are not
//! linked: the EAL loads them from Debian's driver directory (`RTE_EAL_PMD_PATH`,
//! `/usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0`). Static linking is not supported because
//! pkg-config's `--static` output loses the `--whole-archive` ordering the PMDs need.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const INSTALL_HINT: &str = "install the Debian packages `libdpdk-dev` and `pkg-config` \
     (apt-get install -y libdpdk-dev pkg-config), or run scripts/install-deps.sh";

fn pkg_config(args: &[&str]) -> Result<String, String> {
    let out = Command::new("pkg-config")
        .args(args)
        .arg("libdpdk")
        .output()
        .map_err(|e| format!("cannot run pkg-config ({e}); {INSTALL_HINT}"))?;
    if !out.status.success() {
        return Err(format!(
            "pkg-config cannot find libdpdk: {}; {INSTALL_HINT}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn fail(msg: &str) -> ! {
    // cargo shows build-script stderr on failure; `cargo:warning` makes it visible even
    // when the panic message is cut.
    println!("cargo:warning=dpdk-sys: {msg}");
    panic!("dpdk-sys: {msg}");
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=csrc/wrapper.h");
    println!("cargo:rerun-if-changed=csrc/shim.h");
    println!("cargo:rerun-if-changed=csrc/consts.h");
    println!("cargo:rerun-if-changed=csrc/shim.c");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_LIBDIR");
    println!("cargo:rerun-if-env-changed=LIBCLANG_PATH");

    let version = pkg_config(&["--modversion"]).unwrap_or_else(|e| fail(&e));
    if !version.starts_with("22.11") {
        println!(
            "cargo:warning=dpdk-sys: found DPDK {version}; these bindings are written for 22.11"
        );
    }
    let cflags = pkg_config(&["--cflags"]).unwrap_or_else(|e| fail(&e));
    let libs = pkg_config(&["--libs"]).unwrap_or_else(|e| fail(&e));

    // Compiler arguments, shared by clang (bindgen) and the shim's C compiler.
    let cargs: Vec<String> = split_args(&cflags);

    // Link: dynamic, only the libraries pkg-config lists plus the two driver libraries
    // whose exported API we call directly (rte_eth_from_rings, rte_vdev_init).
    for a in split_args(&libs) {
        if let Some(dir) = a.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
        } else if let Some(lib) = a.strip_prefix("-l") {
            println!("cargo:rustc-link-lib=dylib={lib}");
        }
    }
    for lib in ["rte_net_ring", "rte_bus_vdev"] {
        println!("cargo:rustc-link-lib=dylib={lib}");
    }

    // The shim: static inline functions and macros.
    let mut build = cc::Build::new();
    build.file("csrc/shim.c").include("csrc").warnings(false);
    for a in &cargs {
        build.flag(a);
    }
    build.compile("pollmsgr_dpdk_shim");

    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("bindings.rs");
    let result = std::panic::catch_unwind(|| generate(&cargs));
    match result {
        Ok(Ok(b)) => b
            .write_to_file(&out)
            .unwrap_or_else(|e| fail(&format!("write: {e}"))),
        Ok(Err(e)) => fail(&format!(
            "bindgen failed on the DPDK headers: {e}; are `libdpdk-dev` 22.11 and \
             `libclang-dev` installed?"
        )),
        Err(_) => fail(
            "bindgen could not load libclang; install the Debian package `libclang-dev` \
             (apt-get install -y libclang-dev), or set LIBCLANG_PATH",
        ),
    }
}

/// Splits pkg-config output on whitespace, rejoining `-include FILE`.
fn split_args(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut it = s.split_whitespace();
    while let Some(a) = it.next() {
        if a == "-include" {
            if let Some(f) = it.next() {
                out.push("-include".into());
                out.push(f.into());
            }
        } else if a.starts_with("-Wl,") {
            // linker options are rustc's business
        } else {
            out.push(a.into());
        }
    }
    out
}

fn generate(cargs: &[String]) -> Result<bindgen::Bindings, bindgen::BindgenError> {
    let mut b = bindgen::Builder::default()
        .header("csrc/wrapper.h")
        .clang_arg("-Icsrc")
        .clang_args(cargs.iter().filter(|a| !a.starts_with("-march")))
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .derive_default(true)
        .derive_debug(false)
        .layout_tests(false)
        .generate_comments(false)
        .prepend_enum_name(false)
        .default_enum_style(bindgen::EnumVariation::Consts)
        // Opaque: we only hand these around by pointer; their layout is large and
        // full of alignment attributes bindgen cannot always express.
        .opaque_type("rte_mempool")
        .opaque_type("rte_ring")
        .opaque_type("rte_eth_dev_info_.*")
        .opaque_type("rte_eth_rxtx_callback");
    for f in ALLOW_FUNCTIONS {
        b = b.allowlist_function(f);
    }
    for t in ALLOW_TYPES {
        b = b.allowlist_type(t);
    }
    for v in ALLOW_VARS {
        b = b.allowlist_var(v);
    }
    b.generate()
}

const ALLOW_FUNCTIONS: &[&str] = &[
    "pm_.*",
    "rte_eal_init",
    "rte_eal_cleanup",
    "rte_eal_process_type",
    "rte_strerror",
    "rte_thread_register",
    "rte_thread_unregister",
    "rte_lcore_count",
    "rte_get_main_lcore",
    "rte_pktmbuf_pool_create",
    "rte_mempool_free",
    "rte_mempool_lookup",
    "rte_ring_create",
    "rte_ring_free",
    "rte_eth_from_rings",
    "rte_vdev_init",
    "rte_vdev_uninit",
    "rte_eth_dev_count_avail",
    "rte_eth_dev_get_port_by_name",
    "rte_eth_dev_get_name_by_port",
    "rte_eth_dev_is_valid_port",
    "rte_eth_dev_info_get",
    "rte_eth_dev_configure",
    "rte_eth_dev_adjust_nb_rx_tx_desc",
    "rte_eth_rx_queue_setup",
    "rte_eth_tx_queue_setup",
    "rte_eth_dev_start",
    "rte_eth_dev_stop",
    "rte_eth_dev_close",
    "rte_eth_dev_socket_id",
    "rte_eth_macaddr_get",
    "rte_eth_dev_get_mtu",
    "rte_eth_dev_set_mtu",
    "rte_eth_link_get",
    "rte_eth_link_get_nowait",
    "rte_eth_promiscuous_enable",
    "rte_eth_stats_get",
    "rte_eth_dev_rss_hash_conf_get",
    "rte_eth_dev_rss_hash_update",
    "rte_eth_dev_rss_reta_query",
    "rte_eth_dev_rss_reta_update",
    "rte_eth_dev_rx_offload_name",
    "rte_eth_dev_tx_offload_name",
];

const ALLOW_TYPES: &[&str] = &[
    "rte_mbuf",
    "rte_mempool",
    "rte_eth_conf",
    "rte_eth_dev_info",
    "rte_eth_rxconf",
    "rte_eth_txconf",
    "rte_eth_link",
    "rte_eth_stats",
    "rte_eth_rss_conf",
    "rte_eth_rss_reta_entry64",
    "rte_ether_addr",
    "rte_proc_type_t",
    "rte_eth_rx_mq_mode",
    "rte_eth_tx_mq_mode",
];

const ALLOW_VARS: &[&str] = &[
    "PM_.*",
    "RTE_ETH_RSS_.*",
    "RTE_ETH_RX_OFFLOAD_.*",
    "RTE_ETH_TX_OFFLOAD_.*",
    "RTE_MBUF_F_.*",
    "RTE_ETH_LINK_.*",
    "RTE_ETH_MQ_.*",
    "RTE_MBUF_DEFAULT_BUF_SIZE",
    "RTE_MBUF_DEFAULT_DATAROOM",
    "RTE_PKTMBUF_HEADROOM",
    "RTE_ETH_RETA_GROUP_SIZE",
    "RTE_MAX_LCORE",
    "RTE_MAX_ETHPORTS",
    "RTE_ETHER_ADDR_LEN",
    "RTE_ETHER_MTU",
    "SOCKET_ID_ANY",
    "LCORE_ID_ANY",
];
