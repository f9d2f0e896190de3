"""meta_envs.env_setting: one canonical setting per way of spelling it."""

import pytest

import meta_envs


def test_defaults_are_filled_in_from_the_signature_and_the_registration():
    assert meta_envs.env_setting("MetaBandit-v0") == {"num_arms": 5, "num_episodes": 10}
    assert meta_envs.env_setting("MetaBandit-v0", {"num_arms": 5}) == meta_envs.env_setting("MetaBandit-v0")
    large = meta_envs.env_setting("MetaMazeLarge-v0", {"num_episodes": 5})
    assert (large["size"], large["horizon"], large["num_episodes"]) == (9, 1000, 5)
    assert meta_envs.env_setting("MetaMaze-v0")["size"] == 5


def test_unknown_kwargs_and_non_meta_envs_ids_are_errors():
    with pytest.raises(ValueError, match=r"no kwarg\(s\) \['arms'\]; its kwargs are \['num_arms', 'num_episodes'\]"):
        meta_envs.env_setting("MetaBandit-v0", {"arms": 3})
    with pytest.raises(ValueError, match="not a meta_envs ID"):
        meta_envs.env_setting("CartPole-v1")
    with pytest.raises(ValueError, match="'MetaBandit-v9' is not a registered env ID"):
        meta_envs.env_setting("MetaBandit-v9")
