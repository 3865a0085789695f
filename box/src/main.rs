fn main() -> std::process::ExitCode {
    preau_box::cli::main()
}
