//! The `#[websock_handler]` compile-time contract: `tests/ui/pass/*.rs` must compile (with
//! warnings denied), and every `tests/ui/*.rs` must fail with exactly the reviewed `.stderr`
//! beside it. Regenerate with `TRYBUILD=overwrite cargo test --test ui` and review the diff.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/*.rs");
}
