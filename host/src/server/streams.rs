//! The streams API behind the admin key: list streams, start a run (answered 202 at once,
//! run on the guests' runtime), pause, resume, reset, and the run history.
//!
//! Owns: request and answer shapes of `/v1/streams`, `/v1/connections/{name}/streams/...`
//! and `/v1/runs...`.
//! Must not: hold a use case (`services::streams` does).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::ApiError;
use crate::services::{ServiceError, Trigger};
use crate::store::RunQuery;

type ApiResult = Result<Response, ApiError>;

/// Most runs one listing returns.
const MAX_RUNS: u32 = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StreamsQuery {
    connection: Option<String>,
}

pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    Query(q): Query<StreamsQuery>,
) -> ApiResult {
    let streams = state.services.list_streams(q.connection.as_deref()).await?;
    Ok(Json(json!({ "streams": streams })).into_response())
}

/// Starts a run on the guests' runtime; it goes on whatever the caller does next.
pub(crate) async fn run(
    State(state): State<Arc<AppState>>,
    Path((name, key)): Path<(String, String)>,
) -> ApiResult {
    let services = state.services.clone();
    let started = state
        .guests
        .spawn(async move {
            services
                .start_stream_run(&name, &key, Trigger::Manual)
                .await
                .map(|run| run.run_id)
        })
        .await
        .map_err(|e| ServiceError::Task(format!("starting the run stopped: {e}")))??;
    Ok((StatusCode::ACCEPTED, Json(json!({ "runId": started }))).into_response())
}

pub(crate) async fn pause(
    State(state): State<Arc<AppState>>,
    Path((name, key)): Path<(String, String)>,
) -> ApiResult {
    state.services.pause_stream(&name, &key).await?;
    Ok(Json(json!({ "connection": name, "stream": key, "paused": true })).into_response())
}

pub(crate) async fn resume(
    State(state): State<Arc<AppState>>,
    Path((name, key)): Path<(String, String)>,
) -> ApiResult {
    state.services.resume_stream(&name, &key).await?;
    Ok(Json(json!({ "connection": name, "stream": key, "paused": false })).into_response())
}

pub(crate) async fn reset(
    State(state): State<Arc<AppState>>,
    Path((name, key)): Path<(String, String)>,
) -> ApiResult {
    state.services.reset_stream(&name, &key).await?;
    Ok(Json(json!({ "connection": name, "stream": key, "cursor": null })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunsQuery {
    connection: Option<String>,
    stream: Option<String>,
    limit: Option<u32>,
    /// The `next` of the page before.
    before: Option<String>,
}

pub(crate) async fn runs(
    State(state): State<Arc<AppState>>,
    Query(q): Query<RunsQuery>,
) -> ApiResult {
    let page = state.services.stream_runs(&RunQuery {
        connection: q.connection,
        stream: q.stream,
        limit: q.limit.unwrap_or(50).min(MAX_RUNS),
        before: super::admin::page_cursor(q.before.as_deref())?,
    })?;
    Ok(Json(json!({ "runs": page.items, "next": page.next.map(|c| c.encode()) })).into_response())
}

pub(crate) async fn show_run(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> ApiResult {
    Ok(Json(state.services.stream_run(&id)?).into_response())
}
