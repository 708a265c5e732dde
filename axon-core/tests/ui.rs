//! Compile-time checks: a mislinked type does not compile.

#[test]
fn mislinked_types_do_not_compile() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
