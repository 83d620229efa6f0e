pub mod egress;
pub mod redact;
