//! The `wasmtime serve` baseline of the HTTP benchmark: the same work as `hello`'s
//! `GET /ping` (answer 200 with `pong`), written against plain `wasi:http`.

use std::io::Write as _;
use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

struct Pong;

impl Guest for Pong {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let response = OutgoingResponse::new(Fields::new());
        let Ok(body) = response.body() else {
            return;
        };
        ResponseOutparam::set(out, Ok(response));
        if let Ok(mut stream) = body.write() {
            // A failed write means the client went away; there is no one to tell.
            let _ = stream.write_all(b"pong");
            let _ = stream.flush();
        }
        let _ = OutgoingBody::finish(body, None);
    }
}

wasip2::http::proxy::export!(Pong);
