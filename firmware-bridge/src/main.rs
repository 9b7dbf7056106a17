fn main() { eprintln!("firmware-bridge: not yet built"); std::process::exit(2); }
