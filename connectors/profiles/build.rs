//! Generates `connections::GOOGLE_OAUTH` and `connections::MS365_OAUTH` from the app
//! connections `connector.json` grants; nothing else happens at build time.

fn main() {
    keyway_sdk_build::generate();
}
