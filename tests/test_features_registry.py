"""The feature-extractor registry (``genbench.features.registry``): extractors from the entry-point
group, family names (``clip:``), unknown names refused naming the known ones."""

from importlib.metadata import EntryPoint

import pytest

import genbench.features.registry as registry
from genbench.errors import GenbenchError


class DummyExtractor:
    def __init__(self, scale=1):
        self.scale = scale


def make_dummy(**kwargs):
    return DummyExtractor(**kwargs)


@pytest.fixture(autouse=True)
def isolated_registry(monkeypatch):
    registry.available_extractors()  # built-ins registered in the real table first
    monkeypatch.setattr(registry, "_EXTRACTORS", dict(registry._EXTRACTORS))


def test_entry_point_group_is_discovered(monkeypatch):
    ep = EntryPoint(name="dummy-ext", value=f"{__name__}:make_dummy", group=registry.EXTRACTOR_GROUP)
    seen_groups = []

    def fake_entry_points(group):
        seen_groups.append(group)
        return [ep]

    monkeypatch.setattr(registry, "entry_points", fake_entry_points)
    monkeypatch.setattr(registry, "_loaded", False)
    ext = registry.get_extractor("dummy-ext", scale=3)
    assert isinstance(ext, DummyExtractor) and ext.scale == 3
    assert seen_groups == ["genbench.feature_extractors"]
    assert "dummy-ext" in registry.available_extractors()


def test_family_names_and_unknown_names():
    registry.register_extractor("fam:", lambda arg, **kw: ("fam", arg, kw))
    assert registry.get_extractor("fam:big", x=1) == ("fam", "big", {"x": 1})
    with pytest.raises(GenbenchError, match="unknown feature extractor 'nope'.*inception-v3-fid"):
        registry.get_extractor("nope")
    with pytest.raises(ValueError, match="already registered"):
        registry.register_extractor("fam:", lambda arg: None)
