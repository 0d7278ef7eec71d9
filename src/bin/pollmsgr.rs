//! The `pollmsgr` command line.

fn main() {
    eprintln!("pollmsgr: no verbs yet");
    std::process::exit(2);
}
