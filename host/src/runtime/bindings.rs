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

/// The `token-hooks` export, which a component may or may not have: looked up by name
/// when the component is loaded (`GuestIndices::new` fails when it is absent), so a
/// component without it links and runs as before.
pub(crate) mod hooks {
    wasmtime::component::bindgen!({
        world: "token-hooks-provider",
        path: "../wit",
        with: { "keyway:connector/types": super::keyway::connector::types },
        exports: { default: async },
    });

    pub(crate) use exports::keyway::connector::token_hooks as guest;
}

pub(crate) use exports::keyway::connector::routes as guest_routes;
pub(crate) use keyway::connector::types as wit_types;
