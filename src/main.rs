// mimalloc: rendering makes millions of short-lived allocations on two threads; glibc's malloc
// spent a fifth of `plan` in the allocator and kept freed arenas resident. Its v2 line (the `v2`
// feature in Cargo.toml) gives freed pages back after 10 ms where v3 waits a second: 129 MB
// against 170 MB for `plan` at N=10,000, in the same time (figures in BENCHMARKS.md, round 4).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    pushform::run()
}
