//! A connector that misbehaves on purpose, so tests can prove the host survives it:
//! an endless loop, a memory bomb, and responses the host must refuse.

use keyway_sdk::{Request, Response, routes};

/// Never returns; only the host's deadline ends it.
fn spin(_req: Request) -> Response {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

/// Allocates until the memory limit stops it.
fn alloc(_req: Request) -> Response {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![1u8; 1 << 20]);
        std::hint::black_box(&hoard);
    }
}

fn bad_status(_req: Request) -> Response {
    Response::new(42, "not a status")
}

fn bad_header(_req: Request) -> Response {
    Response::new(200, "ok").with_header("bad header\n", "x")
}

fn ok(_req: Request) -> Response {
    Response::new(200, "ok")
}

routes! {
    POST "/loop" (internal) => spin,
    POST "/alloc" (internal) => alloc,
    GET "/bad-status" (internal) => bad_status,
    GET "/bad-header" (internal) => bad_header,
    GET "/ok" (internal) => ok,
}
