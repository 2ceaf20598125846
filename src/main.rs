fn main() -> std::process::ExitCode {
    pushform::run()
}
