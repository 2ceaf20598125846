// mimalloc: rendering makes millions of short-lived allocations on two threads; glibc's malloc
// spent a fifth of `plan` in the allocator and kept freed arenas resident (figures in
// BENCHMARKS.md, round 3).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    pushform::run()
}
