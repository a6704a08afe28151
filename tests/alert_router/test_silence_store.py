"""The silences' own SQLite file: persistence, the move out of an older version's outbox file, faults."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alert_router import notification
from alert_router.outbox import Outbox
from alert_router.silence_store import SilenceStore


def legacy_outbox_with_silences(path: Path) -> None:
    """An outbox file as versions before the silence store wrote it: silences in its `silences` table."""
    box = Outbox(path, max_rows=10)
    alert = {"fingerprint": "f", "status": "firing", "value": 1.0, "startsAt": 0, "endsAt": None,
             "annotations": {}, "labels": {"alertname": "Old"}}  # fmt: skip
    box.add(["default/log"], notification.build("default", "g", {}, "t", [alert], 0.0), 0.0)
    box.close()
    db = sqlite3.connect(path)
    db.executemany("INSERT INTO silences VALUES (?, ?, ?)", [("s1", '{"id": "s1"}', 9e9), ("s2", '{"id": "s2"}', 9e9)])
    db.commit()
    db.close()


def test_silences_are_saved_replaced_and_deleted_across_reopen(tmp_path: Path) -> None:
    store = SilenceStore(tmp_path / "s.sqlite")
    store.save("a", '{"id": "a"}', 100.0)
    store.save("b", '{"id": "b"}', 100.0)
    store.save("a", '{"id": "a", "v": 2}', 200.0)
    store.delete("b")
    store.close()
    again = SilenceStore(tmp_path / "s.sqlite")
    assert again.load() == ['{"id": "a", "v": 2}']
    assert (tmp_path / "s.sqlite").stat().st_mode & 0o077 == 0
    again.close()


def test_silences_of_an_older_version_move_out_of_the_outbox_file_once(tmp_path: Path) -> None:
    outbox_path = tmp_path / "alert-router.sqlite"
    legacy_outbox_with_silences(outbox_path)
    store = SilenceStore(tmp_path / "s.sqlite", legacy=outbox_path)
    assert sorted(store.load()) == ['{"id": "s1"}', '{"id": "s2"}'] and store.stats.migrated == 2
    store.close()
    with sqlite3.connect(outbox_path) as db:
        assert db.execute("SELECT COUNT(*) FROM silences").fetchone() == (0,)
    box = Outbox(outbox_path, max_rows=10)  # the notifications stayed where they were
    assert box.depth() == {"default/log": 1}
    box.close()
    store = SilenceStore(tmp_path / "s.sqlite", legacy=outbox_path)  # nothing moved twice
    assert len(store.load()) == 2 and store.stats.migrated == 0
    store.close()


def test_a_corrupt_store_is_moved_aside_and_a_full_disk_is_counted_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    path.write_bytes(b"not a database at all" * 100)
    store = SilenceStore(path)
    assert store.quarantined_to is not None and store.quarantined_to.exists()
    assert store.quarantined_to.name.startswith("s.sqlite.corrupt-") and store.load() == []
    store.save("a", '{"id": "a"}', 100.0)
    assert store.load() == ['{"id": "a"}']
    store.close()
    (tmp_path / "file").write_text("a file where the folder should be")
    blocked = SilenceStore(tmp_path / "file" / "s.sqlite")  # cannot be created at all
    blocked.save("a", "{}", 1.0)
    assert blocked.stats.write_errors == 1 and blocked.load() == []
    blocked.close()


def test_a_quarantined_store_makes_the_router_degraded(tmp_path: Path) -> None:
    from alert_router.config import parse_config
    from alert_router.core import RouterCore
    from alert_router.delivery import Deliverer
    from alert_router.service import RouterService

    from edgewatch_shared.backoff import Backoff

    (tmp_path / "s.sqlite").write_bytes(b"\x00garbage" * 500)
    store = SilenceStore(tmp_path / "s.sqlite")
    outbox = Outbox(tmp_path / "o.sqlite", max_rows=10)
    service = RouterService(core=RouterCore(parse_config(None), "gw", 0.0), outbox=outbox,
                            deliverer=Deliverer(outbox, Backoff(), str), integrations_for=lambda c: {},
                            silence_store=store)  # fmt: skip
    try:
        doc = service.health_document(0.0)
        assert doc["status"] == "degraded"
        prefix = "silence store was corrupt and moved aside to s.sqlite.corrupt-"
        assert any(r.startswith(prefix) for r in doc["reasons"])
        assert service.health()["silenceStore"]["corruption_recoveries"] == 1
    finally:
        service.deliverer.stop()
        outbox.close()
        store.close()
