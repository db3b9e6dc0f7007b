import numpy as np
import pytest

from sdg_program.core.errors import ManifestError
from sdg_program.ingest.bundling import check_manifest, group_semantic, group_sequential, load_manifest


def test_manifest_forms(tmp_path):
    lists = tmp_path / "m.json"
    lists.write_text('[["a.md", "./b.md"], ["c.md"]]')
    assert load_manifest(lists) == [["a.md", "b.md"], ["c.md"]]
    mapping = tmp_path / "m.yaml"
    mapping.write_text("bundles:\n  - docs: [a.md, b.md]\n  - docs: [c.md]\n")
    assert load_manifest(mapping) == [["a.md", "b.md"], ["c.md"]]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.json", "{", "not valid JSON"),
        ("bad.yaml", "a: [", "not valid YAML"),
        ("m.yaml", "bundles: 3", "'bundles' list"),
        ("m.yaml", "bundles:\n  - files: [a.md]", "needs a 'docs' list"),
        ("m.json", '[["a.md"], []]', "non-empty list"),
        ("m.json", '"a.md"', "expected a list"),
    ],
)
def test_bad_manifests_raise_clear_errors(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ManifestError, match=message):
        load_manifest(path)


def test_missing_manifest(tmp_path):
    with pytest.raises(ManifestError, match="cannot read manifest"):
        load_manifest(tmp_path / "none.yaml")


def test_check_manifest():
    known = {"a.md", "b.md", "c.md", "d.md"}
    check_manifest([["a.md", "b.md"]], known, 3)
    with pytest.raises(ManifestError, match="not among the matched files"):
        check_manifest([["a.md", "zzz.md"]], known, 3)
    with pytest.raises(ManifestError, match="already in another bundle"):
        check_manifest([["a.md"], ["a.md", "b.md"]], known, 3)
    with pytest.raises(ManifestError, match="more than --max-docs-per-bundle"):
        check_manifest([["a.md", "b.md", "c.md", "d.md"]], known, 3)


def test_group_sequential_and_semantic():
    assert group_sequential(["a", "b", "c"], 2) == [["a", "b"], ["c"]]
    vectors = np.array([[1, 0], [0, 1], [0.99, 0.1], [0.1, 0.99], [0.7, 0.7]], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    assert group_semantic(["a", "b", "c", "d", "e"], vectors, 2) == [["a", "c"], ["b", "d"], ["e"]]
    assert group_semantic([], np.zeros((0, 2)), 2) == []
