fn main() {
    eprintln!("preau-image: not implemented yet");
    std::process::exit(2);
}
