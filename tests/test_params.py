import pytest

from pipeline.params import boolean, integer, load_params, number, params_hash, reject_unknown, section
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
    marker = tmp_path / "executed"
    p = tmp_path / "params.yaml"
    p.write_text(f"a: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ConfigError, match="python/object/apply"):   # refused, not executed
        load_params(p)
    assert not marker.exists()


def test_params_hash_is_canonical():
    assert params_hash({"a": 1, "b": [1, 2]}) == params_hash({"b": [1, 2], "a": 1})
    assert params_hash({"a": 1}) != params_hash({"a": 2})


def test_params_hash_is_the_provenance_hash():
    from weakhoi.artifacts import params_hash as provenance_hash
    from weakhoi.artifacts import build_provenance

    cfg = {"b": [1, 2], "a": {"x": 0.5}}
    assert params_hash is provenance_hash
    assert build_provenance("proposals", 1, cfg)["params_hash"] == params_hash(cfg)


def test_validators_name_section_and_key():
    cfg = {"t": 0.5, "n": 3, "flag": True, "yes": 1, "eps": 0.0}
    assert number(cfg, "t", 0.0, 1.0, "s") == 0.5 and integer(cfg, "n", 0, "s") == 3
    assert boolean(cfg, "flag", "s") is True
    with pytest.raises(ConfigError, match=r"params: s\.t must be a number in \[0, 0\.25\], got 0\.5"):
        number(cfg, "t", 0.0, 0.25, "s")
    with pytest.raises(ConfigError, match=r"params: s\.eps must be a number in \(0, 0\.01\)"):
        number(cfg, "eps", 0.0, 0.01, "s", open_lo=True, open_hi=True)
    with pytest.raises(ConfigError, match=r"params: s\.flag must be a number"):
        number(cfg, "flag", 0.0, 1.0, "s")                    # bools are not numbers
    with pytest.raises(ConfigError, match=r"params: s\.n must be an integer >= 4, got 3"):
        integer(cfg, "n", 4, "s")
    with pytest.raises(ConfigError, match=r"params: s\.yes must be true or false, got 1"):
        boolean(cfg, "yes", "s")
    with pytest.raises(ConfigError, match=r"params: missing key s\.zz"):
        integer(cfg, "zz", 0, "s")
    reject_unknown(cfg, cfg, "s")
    with pytest.raises(ConfigError, match=r"params: unknown key\(s\) s\.n, s\.t$"):
        reject_unknown(cfg, ["flag", "yes", "eps"], "s")
