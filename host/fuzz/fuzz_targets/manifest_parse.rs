//! Fuzz target: arbitrary bytes as `connector.json`. The parser must never panic, every
//! problem must carry a JSON pointer, and a manifest that validates must accept empty or
//! arbitrary settings without panicking.
#![no_main]

use keyway_host::manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match manifest::parse_str(text, "fuzz.json") {
        Ok(connector) => {
            let _ = connector.check_routes(&[]);
            if let Some(serde_json::Value::Object(settings)) =
                serde_json::from_str::<serde_json::Value>(text)
                    .ok()
                    .and_then(|v| v.pointer("/connection/settingsSchema/examples/0").cloned())
            {
                let _ = connector.validate_settings(&settings);
            }
            let _ = connector.validate_settings(&serde_json::Map::new());
        }
        Err(problems) => {
            assert!(!problems.is_empty());
            for p in &problems {
                assert!(p.pointer.is_empty() || p.pointer.starts_with('/'), "{p}");
            }
        }
    }
});
