import pytest

from pipeline.params import load_params, params_hash, section
from weakhoi.errors import ConfigError


def test_section_and_errors(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text("a:\n  b:\n    c: 1\nx: 3\n")
    params = load_params(p)
    assert section(params, "a.b") == {"c": 1}
    with pytest.raises(ConfigError, match="'a.zz'"):
        section(params, "a.zz")
    with pytest.raises(ConfigError, match="'x' must be a mapping"):
        section(params, "x")
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "missing.yaml")


def test_yaml_is_loaded_safely(tmp_path):
    import yaml

    marker = tmp_path / "executed"
    p = tmp_path / "params.yaml"
    p.write_text(f"a: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(yaml.constructor.ConstructorError):
        load_params(p)
    assert not marker.exists()


def test_params_hash_is_canonical():
    assert params_hash({"a": 1, "b": [1, 2]}) == params_hash({"b": [1, 2], "a": 1})
    assert params_hash({"a": 1}) != params_hash({"a": 2})
