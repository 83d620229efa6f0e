use super::*;
use crate::store::MasterKey;

fn delivery<'a>(id: &'a str, delivery_id: &'a str) -> NewDelivery<'a> {
    NewDelivery {
        id,
        connection: "shop",
        webhook: "orders",
        delivery_id,
        headers: "[]",
        body: b"{}",
    }
}

#[test]
fn a_replay_is_known_and_the_queue_hands_each_delivery_out_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open_with_key(dir.path(), &MasterKey::generate()).unwrap();
    let limits = QueueLimits::default();
    assert!(matches!(
        s.queue_delivery(&delivery("d1", "evt_1"), &limits).unwrap(),
        Queued::Stored
    ));
    let replay = s.queue_delivery(&delivery("d2", "evt_1"), &limits).unwrap();
    let Queued::Replay(earlier) = replay else {
        panic!("a replay: {replay:?}");
    };
    assert_eq!(earlier.id, "d1");
    assert!(matches!(
        s.queue_delivery(&delivery("d3", "evt_2"), &limits).unwrap(),
        Queued::Stored
    ));
    let now = now_unix_ms() + 1;
    let claimed = s.claim_deliveries(now, 10, now + 60_000).unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(
        s.claim_deliveries(now, 10, now + 60_000)
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.queued_deliveries().unwrap(), 2);

    s.finish_delivery_attempt("d1", DeliveryStatus::Delivered, None, None, Some("inv-1"))
        .unwrap();
    s.finish_delivery_attempt(
        "d3",
        DeliveryStatus::Queued,
        Some(now + 1000),
        Some("503"),
        None,
    )
    .unwrap();
    assert!(
        s.claim_deliveries(now, 10, now + 60_000)
            .unwrap()
            .is_empty()
    );
    let retried = s.claim_deliveries(now + 1000, 10, now + 61_000).unwrap();
    assert_eq!(retried[0].id, "d3");
    assert_eq!(retried[0].attempts, 1);
    s.finish_delivery_attempt("d3", DeliveryStatus::Dead, None, Some("500"), None)
        .unwrap();
    let dead = s
        .deliveries(&DeliveryQuery {
            status: Some(DeliveryStatus::Dead),
            limit: 10,
            ..Default::default()
        })
        .unwrap()
        .items;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 2);
    assert!(s.retry_delivery("d1").is_err());
    assert_eq!(
        s.retry_delivery("d3").unwrap().status,
        DeliveryStatus::Queued
    );

    // A process that stopped mid-attempt leaves rows running; once their lease runs out
    // they are queued again, and not before.
    let at = now_unix_ms() + 1;
    assert_eq!(s.claim_deliveries(at, 10, at + 60_000).unwrap().len(), 1);
    assert_eq!(s.requeue_expired_deliveries(at + 59_999).unwrap(), 0);
    assert_eq!(s.requeue_expired_deliveries(at + 60_001).unwrap(), 1);

    // Old delivered bodies are dropped; the id still tells a replay.
    assert_eq!(s.clear_delivered_bodies(now_unix_ms() + 1).unwrap(), 1);
    assert!(s.delivery("d1").unwrap().body.is_empty());
    assert!(matches!(
        s.queue_delivery(&delivery("d9", "evt_1"), &QueueLimits::default())
            .unwrap(),
        Queued::Replay(_)
    ));
}

#[test]
fn a_full_queue_takes_nothing_more_until_a_delivery_is_done() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open_with_key(dir.path(), &MasterKey::generate()).unwrap();
    let limits = QueueLimits {
        max_waiting: 2,
        max_waiting_bytes: 1 << 20,
    };
    for (id, evt) in [("d1", "evt_1"), ("d2", "evt_2")] {
        assert!(matches!(
            s.queue_delivery(&delivery(id, evt), &limits).unwrap(),
            Queued::Stored
        ));
    }
    let full = s.queue_delivery(&delivery("d3", "evt_3"), &limits).unwrap();
    assert!(matches!(full, Queued::Full { waiting: 2, .. }), "{full:?}");
    // A replay is still known as one, full or not.
    assert!(matches!(
        s.queue_delivery(&delivery("d4", "evt_1"), &limits).unwrap(),
        Queued::Replay(_)
    ));
    // Another webhook has a queue of its own.
    let other = NewDelivery {
        webhook: "refunds",
        ..delivery("d5", "evt_9")
    };
    assert!(matches!(
        s.queue_delivery(&other, &limits).unwrap(),
        Queued::Stored
    ));
    // Bytes count too.
    let bytes = QueueLimits {
        max_waiting: 100,
        max_waiting_bytes: 5,
    };
    let big = NewDelivery {
        webhook: "big",
        body: b"123456",
        ..delivery("d6", "evt_10")
    };
    assert!(matches!(
        s.queue_delivery(&big, &bytes).unwrap(),
        Queued::Full { .. }
    ));
    // Once a waiting delivery is done, the queue takes one again.
    s.conn()
        .execute(
            "UPDATE webhook_deliveries SET status = 'delivered' WHERE id = 'd1'",
            (),
        )
        .unwrap();
    assert!(matches!(
        s.queue_delivery(&delivery("d7", "evt_3"), &limits).unwrap(),
        Queued::Stored
    ));
}

#[test]
fn two_replicas_claiming_at_once_get_each_delivery_once() {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate();
    let a = std::sync::Arc::new(Store::open_with_key(dir.path(), &key).unwrap());
    let b = std::sync::Arc::new(Store::open_with_key(dir.path(), &key).unwrap());
    let ids: Vec<String> = (0..60).map(|i| format!("d{i}")).collect();
    for id in &ids {
        let d = NewDelivery {
            id,
            connection: "shop",
            webhook: "orders",
            delivery_id: id,
            headers: "[]",
            body: b"{}",
        };
        assert!(matches!(
            a.queue_delivery(&d, &QueueLimits::default()).unwrap(),
            Queued::Stored
        ));
    }
    let now = now_unix_ms() + 1;
    let claim = |s: std::sync::Arc<Store>| {
        std::thread::spawn(move || {
            let mut got = Vec::new();
            loop {
                let batch = s.claim_deliveries(now, 7, now + 60_000).unwrap();
                if batch.is_empty() {
                    break got;
                }
                got.extend(batch.into_iter().map(|r| r.id));
            }
        })
    };
    let (ta, tb) = (claim(a), claim(b));
    let (mut got_a, got_b) = (ta.join().unwrap(), tb.join().unwrap());
    got_a.extend(got_b);
    got_a.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(got_a, want, "every delivery claimed exactly once");
}
