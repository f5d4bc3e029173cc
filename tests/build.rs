//! Sets `cfg(brine_corpus)` when `BRINE_CORPUS` names a directory holding
//! the Salt golden corpus, so the tests that compare with Salt run there and
//! are reported as ignored, with the reason, everywhere else (a clone
//! anywhere passes `cargo test` with nothing outside the repository).
fn main() {
    println!("cargo::rustc-check-cfg=cfg(brine_corpus)");
    println!("cargo::rustc-check-cfg=cfg(brine_corpus_apply)");
    println!("cargo::rerun-if-env-changed=BRINE_CORPUS");
    println!("cargo::rerun-if-env-changed=BRINE_CORPUS_APPLY");
    // the state.apply corpus (shared/corpus-apply), likewise
    if let Some(dir) = std::env::var_os("BRINE_CORPUS_APPLY") {
        let dir = std::path::PathBuf::from(dir);
        println!("cargo::rerun-if-changed={}", dir.display());
        if dir.join("cases").is_dir() {
            println!("cargo::rustc-cfg=brine_corpus_apply");
        }
    }
    if let Some(dir) = std::env::var_os("BRINE_CORPUS") {
        let dir = std::path::PathBuf::from(dir);
        println!("cargo::rerun-if-changed={}", dir.display());
        if dir.join("cases").is_dir() {
            println!("cargo::rustc-cfg=brine_corpus");
        }
    }
}
