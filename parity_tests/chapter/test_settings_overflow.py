"""Settings that overflow the chosen dtype are refused by the config, before any training."""

from __future__ import annotations

import warnings

import pytest

from ch9_shared.config import Config, ConfigError


@pytest.mark.parametrize("name", ["alpha", "init_0_1", "init_1_2"])
def test_a_setting_past_float32_is_refused_in_float32_only(name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ConfigError, match=f"{name} 1e\\+39 overflows float32"):
            Config(dtype="float32", **{name: 1e39})
        assert getattr(Config(dtype="float64", **{name: 1e39}), name) == 1e39
        assert getattr(Config(dtype="float32", **{name: 3e38}), name) == 3e38
