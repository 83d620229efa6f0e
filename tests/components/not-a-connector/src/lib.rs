//! A component that exports nothing Keyway understands; loading it must fail clearly.

#[unsafe(no_mangle)]
pub extern "C" fn not_a_route(x: i32) -> i32 {
    x.wrapping_mul(2)
}
