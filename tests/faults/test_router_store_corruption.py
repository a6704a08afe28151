"""A corrupt `alert-router.sqlite` is quarantined and the real AlertRouter keeps working.

The component is built (`edgewatch build`) and deployed to the local runtime (lifecycle, IPC,
states), with a store damaged beforehand in one of four ways: random header, truncation, random
inner pages, zero bytes. Each time the component reaches RUNNING and stays there, a notification
reaches the fake Slack, the bad file is kept as `alert-router.sqlite.corrupt-<ts>`, and the log says so.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "components" / "alert-router" / "src"))

from alert_router import notification
from alert_router.outbox import Outbox

from edgewatch.build.suite import build_components
from edgewatch.local.deployment_plan import ConfigUpdate
from edgewatch.local.layout import RuntimeLayout
from edgewatch.local.runtime import DeploymentRequest, LocalRuntime
from edgewatch.local.testing import RuntimeThread, wait_until
from edgewatch_testkit.fake_slack import WEBHOOK_PATH, FakeSlack

REPO = Path(__file__).resolve().parents[2]
NAME = "com.edgewatch.AlertRouter"
PAGE = 4096


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("build")
    (component,) = build_components(REPO, [NAME], out)
    return out, component.version


def sound_store(path: Path) -> None:
    """A real router store with some pending notifications, many pages long."""
    box = Outbox(path, max_rows=1000)
    for i in range(120):
        alert = {"fingerprint": f"f{i}", "status": "firing", "value": 1.0, "startsAt": 0, "endsAt": None,
                 "annotations": {"summary": "x" * 200}, "labels": {"alertname": "Old"}}  # fmt: skip
        box.add(["default/log"], notification.build("default", f"g{i}", {}, "t", [alert], 0.0), 0.0)
    box.close()
    assert path.stat().st_size > 10 * PAGE


def random_header(path: Path) -> None:
    with path.open("r+b") as f:
        f.write(random.Random(1).randbytes(100))


def truncation(path: Path) -> None:
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size * 3 // 5 + 123)


def random_inner_pages(path: Path) -> None:
    rnd = random.Random(2)
    pages = path.stat().st_size // PAGE
    with path.open("r+b") as f:
        for page in rnd.sample(range(1, pages), k=max(3, pages // 3)):
            f.seek(page * PAGE)
            f.write(rnd.randbytes(PAGE))


def zero_bytes(path: Path) -> None:
    path.write_bytes(b"")


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


def router_config(fake: FakeSlack) -> dict[str, object]:
    return {
        # An absence rule fires on its own within a second: no metric producer needed.
        "rules": [{"name": "NothingHeard", "metric": "nothing.here", "absentFor": "1s", "severity": "critical"}],
        "route": {"receiver": "default", "groupWait": 0, "groupInterval": "1s", "repeatInterval": "1h"},
        "receivers": [{"name": "default", "slack": {"webhookUrl": fake.webhook_url, "minIntervalSeconds": 0}}],
        "inhibitRules": [],
        "evaluationIntervalSeconds": 0.1, "retryInitialSeconds": 0.1, "retryMaxSeconds": 0.5,
    }  # fmt: skip


@pytest.mark.timeout(120)
@pytest.mark.parametrize("damage", [random_header, truncation, random_inner_pages, zero_bytes],
                         ids=["random-header", "truncation", "random-inner-pages", "zero-byte"])  # fmt: skip
def test_corrupt_store_is_quarantined_and_the_component_keeps_working(
    damage: Callable[[Path], None], built: tuple[Path, str], fake: FakeSlack, tmp_path: Path
) -> None:
    out, version = built
    root = tmp_path / "root"
    runtime = RuntimeThread(lambda: LocalRuntime(root, "gw-corrupt", restart_delay_s=0.05, kill_grace_s=2.0,
                                                 extra_env={"EDGEWATCH_PYTHON": sys.executable},
                                                 strict_recipes=True))  # fmt: skip
    layout = RuntimeLayout(root.resolve())
    work = layout.work(NAME)
    work.mkdir(parents=True)
    store = work / "alert-router.sqlite"
    if damage is not zero_bytes:
        sound_store(store)
    damage(store)
    with runtime:
        record = runtime.deploy(DeploymentRequest(out / "recipes", out / "artifacts", {NAME: version},
                                                  config_updates={NAME: ConfigUpdate(merge=router_config(fake))}))
        assert record.status == "SUCCEEDED", record.reason
        wait_until(lambda: fake.delivered(), timeout=30, what="a notification from the router at Slack")
        assert "NothingHeard" in fake.delivered()[0].body["text"]
        assert runtime.state(NAME) == "RUNNING"
        log = layout.component_log(NAME)
        text = wait_until(lambda: (t := log.read_text()) and "delivered to default/slack" in t and t,
                          what="the delivery in the component log")  # fmt: skip
        assert runtime.state(NAME) == "RUNNING"  # never errored on the way
    kept = sorted(p.name for p in work.glob("alert-router.sqlite.corrupt-*") if not p.name.endswith(("-wal", "-shm")))
    assert len(kept) == 1, sorted(p.name for p in work.iterdir())
    assert "was corrupt" in text and "fresh outbox" in text and kept[0] in text
    assert "Traceback" not in text
    # The inline webhook URL is a secret: in no file the router writes, nor in its log, except the copy
    # of the configuration it keeps to start from (which must then be readable by its owner only).
    for file in [log, *work.rglob("*")]:
        if file.is_file() and WEBHOOK_PATH.rsplit("/", 1)[-1].encode() in file.read_bytes():
            assert file.name == "alert-router-last-good-config.json", file
            assert file.stat().st_mode & 0o077 == 0, f"{file} holds a secret and is readable by others"
