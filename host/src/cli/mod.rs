pub mod call;
pub mod validate;
