//! Route registration: the [`routes!`](crate::routes) macro builds the route table the
//! host reads at load time and the dispatcher behind the exported handler.

use crate::wit::exports::keyway::connector::routes as wit;
use crate::{Error, Method, Response, api};

/// What a route function may return: a response, or a result whose error becomes the
/// matching error response (see [`api::from_error`]).
pub trait IntoRouteResult {
    fn into_response(self) -> Response;
}

impl IntoRouteResult for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl<E: Into<Error>> IntoRouteResult for Result<Response, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(r) => r,
            Err(e) => api::from_error(&e.into()),
        }
    }
}

#[doc(hidden)]
pub fn to_wit_method(m: Method) -> crate::wit::keyway::connector::types::Method {
    m.to_wit()
}

#[doc(hidden)]
pub fn to_wit_route(method: Method, path: &str, api_key: bool) -> wit::Route {
    wit::Route {
        method: method.to_wit(),
        path: path.to_string(),
        auth: if api_key {
            wit::RouteAuth::ApiKey
        } else {
            wit::RouteAuth::Internal
        },
    }
}

/// Declares a connector's routes and exports them to the host. Each line is
/// `METHOD "path" (auth) => handler`, where `auth` is `api_key` (callable over the HTTP
/// API with an API key, and by the host) or `internal` (callable only by the host), and
/// `handler` is `fn(Request) -> Response` or `fn(Request) -> Result<Response, E>` with
/// `E: Into<Error>`. Use it once per connector crate.
///
/// ```ignore
/// keyway_sdk::routes! {
///     POST "/setup/test_connection" (api_key) => test_connection,
///     POST "/sync/orders" (api_key) => sync_orders,
/// }
/// ```
#[macro_export]
macro_rules! routes {
    ($($method:ident $path:literal ($auth:ident) => $handler:path),+ $(,)?) => {
        struct __KeywayRoutes;

        impl $crate::wit::exports::keyway::connector::routes::Guest for __KeywayRoutes {
            fn list_routes() -> ::std::vec::Vec<$crate::wit::exports::keyway::connector::routes::Route> {
                ::std::vec![$(
                    $crate::__private::to_wit_route(
                        $crate::__route_method!($method),
                        $path,
                        $crate::__route_auth!($auth),
                    )
                ),+]
            }

            fn handle(
                req: $crate::wit::exports::keyway::connector::routes::Request,
            ) -> $crate::wit::exports::keyway::connector::routes::Response {
                let req = $crate::Request::from_wit(req);
                $(
                    if req.method == $crate::__route_method!($method) && req.path == $path {
                        return $crate::__private::IntoRouteResult::into_response($handler(req)).into_wit();
                    }
                )+
                $crate::api::not_found(&::std::format!("no route {} {}", req.method.as_str(), req.path)).into_wit()
            }
        }

        // Only a wasm build exports the route table under its WIT names, which are not
        // valid native symbols. A native build (clippy, an author's `cargo test`) gets the
        // same dispatcher as plain public functions instead.
        #[cfg(target_arch = "wasm32")]
        $crate::wit::__export_connector!(__KeywayRoutes with_types_in $crate::wit);

        #[cfg(not(target_arch = "wasm32"))]
        #[doc(hidden)]
        pub fn __keyway_list_routes() -> ::std::vec::Vec<$crate::wit::exports::keyway::connector::routes::Route> {
            <__KeywayRoutes as $crate::wit::exports::keyway::connector::routes::Guest>::list_routes()
        }

        #[cfg(not(target_arch = "wasm32"))]
        #[doc(hidden)]
        pub fn __keyway_handle(
            req: $crate::wit::exports::keyway::connector::routes::Request,
        ) -> $crate::wit::exports::keyway::connector::routes::Response {
            <__KeywayRoutes as $crate::wit::exports::keyway::connector::routes::Guest>::handle(req)
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __route_method {
    (GET) => {
        $crate::Method::Get
    };
    (POST) => {
        $crate::Method::Post
    };
    (PUT) => {
        $crate::Method::Put
    };
    (PATCH) => {
        $crate::Method::Patch
    };
    (DELETE) => {
        $crate::Method::Delete
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __route_auth {
    (api_key) => {
        true
    };
    (internal) => {
        false
    };
}
