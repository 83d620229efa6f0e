//! A running server serves API keys and connections from memory; these tests prove the
//! memory follows the store. A change made through the server itself is seen by the very
//! next call; a key or connection another process (the CLI) adds works at once; one it
//! revokes, deletes or changes stops working within the change check
//! (`keyway_host::store::CHANGE_CHECK`) and stays stopped. The tests wait for the change
//! (up to a generous bound) but never judge how long it took.

use keyway_tests::server::{ADMIN_KEY, Answer, Connectors, Server, client, send, until};

async fn ok(server: &Server, connection: &str, key: &str) -> Answer {
    send(
        client()
            .get(server.url(&format!("/v1/connections/{connection}/routes/ok")))
            .bearer_auth(key),
    )
    .await
}

fn cli_ok(server: &Server, args: &[&str]) {
    let out = server.cli(args);
    assert!(
        out.status.success(),
        "keyway {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn what_another_process_revokes_or_deletes_stops_working_and_stays_stopped() {
    let connectors = Connectors::new();
    connectors.add_misbehave();
    let server = Server::start(connectors.path(), &[]);
    server.create_connection("m", "misbehave").await;
    server.create_connection("other", "misbehave").await;

    // Keys created by another process work on their first call.
    let (gone_id, gone) = server.create_api_key("revoked-soon");
    let (_, kept) = server.create_api_key("kept");
    for key in [&gone, &kept] {
        let a = ok(&server, "m", key).await;
        assert_eq!(a.status, 200, "{}", a.text);
    }

    cli_ok(&server, &["api-keys", "revoke", &gone_id]);
    let refused = until(|| ok(&server, "m", &gone), |a| a.status == 401).await;
    assert_eq!(refused.status, 401, "{}", refused.text);
    assert_eq!(refused.json["error"]["code"], "invalid_api_key");
    for _ in 0..20 {
        assert_eq!(ok(&server, "m", &gone).await.status, 401);
    }
    assert_eq!(
        ok(&server, "m", &kept).await.status,
        200,
        "another key is untouched"
    );

    cli_ok(&server, &["connections", "delete", "m"]);
    let missing = until(|| ok(&server, "m", &kept), |a| a.status == 404).await;
    assert_eq!(missing.status, 404, "{}", missing.text);
    for _ in 0..20 {
        assert_eq!(ok(&server, "m", &kept).await.status, 404);
    }
    assert_eq!(
        ok(&server, "other", &kept).await.status,
        200,
        "another connection is untouched"
    );

    // The name created again by another process works at once.
    let dir = connectors.path().join("misbehave");
    let dir = dir.to_str().expect("a UTF-8 path");
    let create = server.cli(&["connections", "create", "m", "--connector", dir]);
    assert!(
        create.status.success(),
        "{}",
        String::from_utf8_lossy(&create.stderr)
    );
    assert_eq!(ok(&server, "m", &kept).await.status, 200);
}

#[tokio::test]
async fn what_the_server_itself_changes_is_seen_by_the_next_call() {
    let connectors = Connectors::new();
    connectors.add_misbehave();
    let server = Server::start(connectors.path(), &[]);
    server.create_connection("m", "misbehave").await;
    let (_, key) = server.create_api_key("k");
    assert_eq!(ok(&server, "m", &key).await.status, 200);

    let deleted = send(
        client()
            .delete(server.url("/v1/connections/m"))
            .bearer_auth(ADMIN_KEY),
    )
    .await;
    assert!(deleted.status < 300, "{}", deleted.text);
    let a = ok(&server, "m", &key).await;
    assert_eq!(a.status, 404, "{}", a.text);

    server.create_connection("m", "misbehave").await;
    assert_eq!(ok(&server, "m", &key).await.status, 200);
}
