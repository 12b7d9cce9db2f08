//! The henaserver command; everything it does is in [`henaserver::command`].

fn main() -> std::process::ExitCode {
    henaserver::command::main()
}
