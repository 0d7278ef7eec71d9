//! Kernel-side peer for the dpdk-env namespace tests; see `dpdk_env::testkit::peer_main`.
#![deny(unsafe_code)]

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match dpdk_env::testkit::peer_main(&args) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("dpdk-env-peer: {e}");
            std::process::exit(2);
        }
    }
}
