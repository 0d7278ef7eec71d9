//! The `pollmsgr` command line. Each verb is a thin layer over the library:
//! it parses flags, builds connections, and drives them with a transport.

mod bench;
mod common;
mod mon_command;
mod net_args;
mod ping;
mod rados;
mod rados_bench;
mod rados_cluster;
mod serve;
mod serve_join;
mod serve_osds;

use clap::{Parser, Subcommand};

/// A userspace, poll-mode messenger for Ceph's msgr2 protocol.
#[derive(Parser, Debug)]
#[command(name = "pollmsgr", version, about)]
struct Cli {
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Subcommand, Debug)]
enum Verb {
    /// Run one command on a real ceph-mon (MMonCommand) and print its output like `ceph`.
    MonCommand(mon_command::Args),
    /// Authenticate with a mon, open a session to an OSD and time N keepalive round trips.
    Ping(ping::Args),
    /// Accept msgr2 sessions as a Ceph entity (or N OSD endpoints with --osds); print a JSON summary on SIGINT/SIGTERM.
    Serve(serve::Args),
    /// Object I/O on a real cluster like Ceph's `rados`: put, get, stat, rm, ls, bench.
    Rados(rados::Args),
    /// Load endpoints with requests and report msgs/s, MB/s, CPU per message and latency percentiles.
    Bench(bench::Args),
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.verb {
        Verb::MonCommand(args) => mon_command::run(args),
        Verb::Ping(args) => ping::run(args),
        Verb::Serve(args) => serve::run(args),
        Verb::Bench(args) => bench::run(args),
        Verb::Rados(args) => rados::run(args),
    };
    std::process::exit(code);
}
