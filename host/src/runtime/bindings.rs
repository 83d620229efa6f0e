//! The Rust side of the `keyway:connector` world, generated from `wit/`. Private to the
//! crate: the rest of the host speaks in its own types.

wasmtime::component::bindgen!({
    world: "connector",
    path: "../wit",
    imports: {
        "keyway:connector/oauth": async | trappable,
        "keyway:connector/http": async | trappable,
        "keyway:connector/ingest": async | trappable,
        "keyway:connector/state": async | trappable,
        default: trappable,
    },
    exports: { default: async },
});

pub(crate) use exports::keyway::connector::routes as guest_routes;
pub(crate) use keyway::connector::types as wit_types;
