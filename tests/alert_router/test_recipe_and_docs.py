from __future__ import annotations

from pathlib import Path

import yaml
from alert_router.config import DEFAULTS, parse_config

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "com.edgewatch.AlertRouter.yaml"


def test_recipe_defaults_match_code_and_access_is_least_privilege() -> None:
    recipe = yaml.safe_load(RECIPE.read_text())
    defaults = dict(recipe["ComponentConfiguration"]["DefaultConfiguration"])
    access = defaults.pop("accessControl")
    assert defaults == DEFAULTS
    parse_config(defaults)
    grants = {(svc, op, res) for svc, policies in access.items() for p in policies.values()
              for op in p["operations"] for res in p["resources"]}  # fmt: skip
    assert grants == {
        ("aws.greengrass.ipc.pubsub", "aws.greengrass#SubscribeToTopic", "edgewatch/metrics"),
        ("aws.greengrass.ipc.pubsub", "aws.greengrass#SubscribeToTopic", "edgewatch/silences"),
        ("aws.greengrass.ipc.pubsub", "aws.greengrass#SubscribeToTopic", "edgewatch/health"),
        ("aws.greengrass.ipc.pubsub", "aws.greengrass#PublishToTopic", "edgewatch/alerts"),
        ("aws.greengrass.ipc.pubsub", "aws.greengrass#PublishToTopic", "edgewatch/health"),
        ("aws.greengrass.ipc.mqttproxy", "aws.greengrass#PublishToIoTCore", "dt/edgewatch/{iot:thingName}/alerts"),
        ("aws.greengrass.ipc.mqttproxy", "aws.greengrass#PublishToIoTCore",
         "$aws/things/{iot:thingName}/shadow/name/edgewatch/update"),
        ("aws.greengrass.SecretManager", "aws.greengrass#GetSecretValue",
         "arn:aws:secretsmanager:*:*:secret:edgewatch/slack-*"),
    }  # fmt: skip
    assert [m["Platform"]["architecture"] for m in recipe["Manifests"]] == ["amd64", "aarch64", "arm"]
    assert (ROOT / "components" / "alert-router" / "recipe.yaml").is_symlink()


def test_readme_documents_every_key() -> None:
    readme = (ROOT / "components" / "alert-router" / "README.md").read_text()
    for key in DEFAULTS:
        assert f"`{key}`" in readme, key


def test_silences_persist_across_restart_and_expired_ones_are_pruned(tmp_path: Path) -> None:
    from alert_router.silence_store import SilenceStore
    from alert_router.silences import parse_silence_message
    from alert_router.wiring import silence_book

    box = SilenceStore(tmp_path / "s.sqlite")
    book = silence_book(box, now=0.0)
    for sid, ends in (("long", 1000_000), ("short", 10_000)):
        doc = {"schema": "edgewatch.silence/1", "id": sid, "matchers": ["alertname=X"], "endsAt": ends,
               "author": "ana", "comment": "c"}  # fmt: skip
        book.apply(parse_silence_message(doc, 0.0), 0.0)
    box.close()
    box = SilenceStore(tmp_path / "s.sqlite")
    restored = silence_book(box, now=20.0)  # "short" ended at t=10 while we were down
    assert [s.id for s in restored.all()] == ["long"]
    assert restored.silenced_by({"alertname": "X"}, 20.0) == ["long"]
    assert len(box.load()) == 1
    box.close()
