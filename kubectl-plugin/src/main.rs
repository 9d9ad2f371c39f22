//! The `kubectl-skupper` binary: everything is in the library ([`kubectl_skupper::main`]).

fn main() -> std::process::ExitCode {
    kubectl_skupper::main()
}
