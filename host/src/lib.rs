pub mod cli;
pub mod oauth;
pub mod store;
