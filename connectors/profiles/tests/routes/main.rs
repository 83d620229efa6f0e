//! Route tests of the profiles connector: each runs the compiled component through the
//! real host (`keyway-testing`) against mock Google and Microsoft Graph answers, with the
//! two app connections seeded as an operator would have defined and authorized them.

mod common;
mod failures;
mod grants;
mod redaction;
mod whoami;
