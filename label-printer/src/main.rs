fn main() {
    eprintln!("label-printer: not yet built");
    std::process::exit(2);
}
