"""Fuzz (hypothesis): the eventstream decoder and the recipe loader raise only their own error types.

Whatever bytes a local client sends, the decoder answers with messages or FrameError (the server
then closes that one connection); whatever document a recipe file holds, the loader answers with a
Recipe or RecipeError naming the problem. Anything else would be a crash of the runtime or a
deployment that fails with "internal error".
"""

from __future__ import annotations

import contextlib
import json
import string
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgewatch.local import eventstream as es
from edgewatch.recipe import RecipeError, current_platform, parse_recipe_text, recipe_from_document

FUZZ = settings(max_examples=400, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=30,
)


def _frame(headers: dict[str, es.Header], payload: bytes) -> bytes:
    return es.encode(headers, payload)


header_values = st.one_of(
    st.booleans().map(lambda b: es.Header(b, es.TRUE if b else es.FALSE)),
    st.integers(-128, 127).map(lambda v: es.Header(v, es.BYTE)),
    st.integers(-(2**15), 2**15 - 1).map(lambda v: es.Header(v, es.INT16)),
    st.integers(-(2**31), 2**31 - 1).map(es.int32),
    st.integers(-(2**63), 2**63 - 1).map(lambda v: es.Header(v, es.INT64)),
    st.binary(max_size=40).map(lambda v: es.Header(v, es.BYTES)),
    st.text(max_size=40).map(es.string),
)
headers_strategy = st.dictionaries(st.text(string.ascii_letters + ":-", min_size=1, max_size=20), header_values,
                                   max_size=6)


def _feed_all(chunks: list[bytes], max_frame_len: int = es.MAX_FRAME_LEN) -> list[es.Message]:
    decoder = es.Decoder(max_frame_len=max_frame_len)
    messages: list[es.Message] = []
    for chunk in chunks:
        messages.extend(decoder.feed(chunk))
    return messages


@FUZZ
@given(st.lists(st.binary(max_size=300), max_size=8), st.sampled_from([es.MAX_FRAME_LEN, 64 * 1024, 64]))
def test_decoder_raises_only_frame_error_on_arbitrary_bytes(chunks: list[bytes], limit: int) -> None:
    with contextlib.suppress(es.FrameError):
        _feed_all(chunks, limit)


@FUZZ
@given(headers_strategy, st.binary(max_size=500), st.data())
def test_valid_frames_round_trip_in_any_chunking_and_corruption_is_caught(
        headers: dict[str, es.Header], payload: bytes, data: st.DataObject) -> None:
    frame = _frame(headers, payload)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(frame)), max_size=5)))
    chunks = [frame[a:b] for a, b in zip([0, *cuts], [*cuts, len(frame)], strict=True)]
    (message,) = _feed_all(chunks)
    assert message.payload == payload
    assert {k: (h.value, h.kind) for k, h in message.headers.items()} == \
        {k: (h.value, h.kind) for k, h in headers.items()}
    # Flip one byte anywhere: a CRC catches it (or the frame is cut short) — never another exception.
    at = data.draw(st.integers(0, len(frame) - 1))
    damaged = frame[:at] + bytes([frame[at] ^ data.draw(st.integers(1, 255))]) + frame[at + 1:]
    with contextlib.suppress(es.FrameError):
        _feed_all([damaged])


@FUZZ
@given(st.binary(max_size=200))
def test_header_block_decoder_raises_only_frame_error(raw: bytes) -> None:
    with contextlib.suppress(es.FrameError):
        es.decode_headers(raw)


def _load(doc: Any) -> None:
    try:
        recipe = recipe_from_document(doc, "<fuzz>")
        recipe.select(current_platform())
    except RecipeError:
        pass


@FUZZ
@given(st.text(max_size=300), st.sampled_from(["yaml", "json"]))
def test_recipe_text_parser_raises_only_recipe_error(text: str, fmt: str) -> None:
    try:
        doc = parse_recipe_text(text, f"<fuzz>.{fmt}", fmt)
    except RecipeError:
        return
    _load(doc)


yaml_fragments = st.lists(st.sampled_from([
    "RecipeFormatVersion: '2020-01-25'\n", "RecipeFormatVersion: 2020-01-25\n", "ComponentName: a.B\n",
    "ComponentVersion: 1.0.0\n", "ComponentVersion: 2020-13-45\n", "Manifests:\n", "  - Platform: {os: linux}\n",
    "    Lifecycle: {Run: x}\n", "    Artifacts: [{URI: s3://b/k}]\n", "Lifecycle:\n", "  Run: echo\n",
    "  Install: {Script: x, Timeout: 1e999}\n", "  Install: {Script: x, Timeout: 99999999999999999999999}\n",
    "ComponentDependencies: {b: {VersionRequirement: '>=1.0.0'}}\n", "x: !!binary AAAA\n", "y: &a [*a]\n",
    "z: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n", "t: 2001-02-30\n", "k: {? [a, b] : c}\n", "e: !!python/object:os.system\n",
    "ComponentConfiguration: {DefaultConfiguration: {accessControl: [1]}}\n", "d: .nan\n", "v: 0x_1\n",
]), max_size=12)


@FUZZ
@given(yaml_fragments)
def test_recipe_like_yaml_raises_only_recipe_error(parts: list[str]) -> None:
    try:
        doc = parse_recipe_text("".join(parts), "<fuzz>.yaml", "yaml")
    except RecipeError:
        return
    _load(doc)


VALID: dict[str, Any] = {
    "RecipeFormatVersion": "2020-01-25", "ComponentName": "com.fuzz.A", "ComponentVersion": "1.0.0",
    "ComponentConfiguration": {"DefaultConfiguration": {"a": 1}},
    "ComponentDependencies": {"com.fuzz.B": {"VersionRequirement": ">=1.0.0", "DependencyType": "SOFT"}},
    "Manifests": [{"Platform": {"os": "linux"}, "Lifecycle": {"Run": "echo"},
                   "Artifacts": [{"URI": "s3://b/k.zip", "Unarchive": "ZIP", "Permission": {"Read": "ALL"}}]}],
    "Lifecycle": {"Install": {"Script": "x", "Timeout": 10, "Skipif": "onpath x"}},
}


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found += _paths(value, (*prefix, i))
    return found


@FUZZ
@given(st.data())
def test_mutated_valid_recipes_raise_only_recipe_error(data: st.DataObject) -> None:
    doc = json.loads(json.dumps(VALID))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(doc)[1:]))
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = data.draw(json_values)
    _load(doc)


@FUZZ
@given(st.dictionaries(st.text(max_size=25), json_values, max_size=8))
def test_arbitrary_documents_raise_only_recipe_error(doc: dict[str, Any]) -> None:
    _load(doc)
