//! A connector that misbehaves on purpose, so tests can prove the host survives it:
//! an endless loop, a memory bomb, slow busy work, and responses the host must refuse.

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

/// Busy work for `?iterations=` rounds, then 200: a route that takes a while on purpose.
fn work(req: Request) -> Response {
    let rounds: u64 = req
        .query("iterations")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let mut n: u64 = 0;
    for i in 0..rounds {
        n = std::hint::black_box(n.wrapping_add(i));
    }
    Response::new(200, format!("worked {rounds}"))
}

routes! {
    POST "/loop" (api_key) => spin,
    POST "/alloc" (api_key) => alloc,
    GET "/bad-status" (internal) => bad_status,
    GET "/bad-header" (internal) => bad_header,
    GET "/ok" (api_key) => ok,
    POST "/work" (api_key) => work,
}
