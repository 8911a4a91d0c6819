"""The Training page's ensemble form (geoapp.app_support.ensemble_form) under AppTest, on a dataset built from real files.

Two tiny S-HA seeds trained on the real stand-in: the form offers them as one group, writes their
ensemble under checkpoints/user/yield/<name>, says where and how it scores, and the Yield map then
lists it. Bad input (one member, a bad name, a name already used) shows an error box and writes nothing.
"""

from __future__ import annotations

import pytest

from geoapp.app_support.ensemble_form import ensemble_groups, members_key
from geoapp.data.dataset import load_dataset
from geoapp.training.checkpoint import ENSEMBLE_CARD_KIND, read_card
from tests.app.test_real_dataset import _run, no_clicks, tiny_real_config  # noqa: F401  (no_clicks: a fixture)


@pytest.fixture()
def two_seeds(trainable_real_env, tmp_path, monkeypatch):
    """Two tiny s-ha seeds (and a ridge) trained on the real dataset into a temporary checkpoint folder."""
    from geoapp.training.yield_trainer import train_yield

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    root = tmp_path / "checkpoints"
    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", str(root))
    monkeypatch.setenv("GEOAPP_JOBS_DIR", str(tmp_path / "jobs"))
    ds = load_dataset(trainable_real_env)
    for seed in (0, 1):
        train_yield(tiny_real_config(ds, seed), ds, root / "user" / "yield" / f"s-ha-seed{seed}", progress=False)
    return root


def _page(env, **state):
    return _run("pages/training.py", sel_dataset=str(env), **state)


def _write(at):
    [button] = [b for b in at.button if b.label == "Write ensemble"]
    return button.click().run()


def test_the_form_offers_a_group_and_writes_its_ensemble(two_seeds, trainable_real_env, no_clicks):  # noqa: F811
    ds = load_dataset(trainable_real_env)
    year, train = ds.years[-1], ds.years[:-2]
    at = _page(trainable_real_env)
    assert not at.exception and not at.error, [e.value for e in at.error]
    group = at.selectbox(key="te_group")
    offered = f"s-ha · test {year} · N_y {len(train)} ({train[0]}-{train[-1]}) (2 checkpoints)"
    assert group.options == [offered]
    [(key, items)] = ensemble_groups(ds, two_seeds).items()
    assert key == ("s-ha", year, tuple(train))
    members = at.multiselect(key=members_key(key, [f for f, _ in items]))
    assert members.value == [str(f) for f, _ in items]  # all chosen
    assert all("val RMSE" in label for label in members.options)
    assert [label.split(" · ")[1] for label in members.options] == ["seed 0", "seed 1"]
    assert at.selectbox(key="te_calibration").value == "county-trend"

    at.text_input(key="te_name").input("my-ensemble")
    at = _write(at)
    assert not at.exception and not at.error, [e.value for e in at.error]
    best = two_seeds / "user" / "yield" / "my-ensemble" / "best"
    card = read_card(best)
    assert card["kind"] == ENSEMBLE_CARD_KIND and [m["seed"] for m in card["members"]] == [0, 1]
    assert card["calibration"]["kind"] == "county-trend"
    [done] = [s.value for s in at.success]
    assert "Ensemble of 2 written to checkpoints/user/yield/my-ensemble/best" in done and "val RMSE" in done
    # the form still offers the two single checkpoints, not the ensemble; the name box is empty again
    assert at.selectbox(key="te_group").options == [offered]
    assert at.text_input(key="te_name").value == ""

    yield_map = _run("pages/yield_map.py", sel_dataset=str(trainable_real_env))
    assert f"s-ha ensemble of 2 · test {year} (user/yield/my-ensemble)" in yield_map.sidebar.selectbox(key="w_checkpoint").options

    again = _write(_page(trainable_real_env, te_name="my-ensemble"))  # the same name: refused, the first kept
    assert any("a run named 'my-ensemble' already exists" in e.value for e in again.error)
    assert read_card(best)["members"] == card["members"]


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"te_name": "../escape"}, "run name '../escape' is not allowed"),
        ({"one": True}, "at least two"),
        ({"te_name": "s-ha-seed0"}, "a run named 's-ha-seed0' already exists"),  # a training run's folder
    ],
)
def test_bad_input_is_refused_and_writes_nothing(two_seeds, trainable_real_env, no_clicks, state, message):  # noqa: F811
    at = _page(trainable_real_env, **{k: v for k, v in state.items() if k.startswith("te_")})
    if state.get("one"):
        [(group, items)] = ensemble_groups(load_dataset(trainable_real_env), two_seeds).items()
        members = at.multiselect(key=members_key(group, [f for f, _ in items]))
        at = members.set_value(members.value[:1]).run()
    at = _write(at)
    assert not at.exception
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
    assert not at.success
    assert sorted(p.name for p in (two_seeds / "user" / "yield").iterdir()) == ["s-ha-seed0", "s-ha-seed1"]


def test_no_group_says_what_an_ensemble_needs(trainable_real_env, tmp_path, monkeypatch, no_clicks):  # noqa: F811
    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("GEOAPP_JOBS_DIR", str(tmp_path / "jobs"))
    at = _page(trainable_real_env)
    assert not at.exception
    assert any("needs two or more checkpoints of one model and test year" in i.value for i in at.info)
    assert not [b for b in at.button if b.label == "Write ensemble"]


def test_an_empty_name_writes_under_a_stamped_default(two_seeds, trainable_real_env, no_clicks):  # noqa: F811
    year = load_dataset(trainable_real_env).years[-1]
    at = _write(_page(trainable_real_env))
    assert not at.exception and not at.error, [e.value for e in at.error]
    [folder] = [p for p in (two_seeds / "user" / "yield").iterdir() if p.name.startswith(f"s-ha-ensemble-{year}-")]
    assert read_card(folder / "best")["kind"] == ENSEMBLE_CARD_KIND
    assert any(f"user/yield/{folder.name}/best" in s.value for s in at.success)


def test_checkpoints_of_other_training_years_form_their_own_group(two_seeds, trainable_real_env):
    import dataclasses

    from geoapp.training.yield_trainer import train_yield

    ds = load_dataset(trainable_real_env)
    cfg = tiny_real_config(ds, 2)
    assert cfg.n_train_years >= 2  # the stand-in has years enough for one fewer
    train_yield(
        dataclasses.replace(cfg, n_train_years=cfg.n_train_years - 1), ds, two_seeds / "user" / "yield" / "short", progress=False
    )
    groups = ensemble_groups(ds, two_seeds)
    assert [(model, test, len(train)) for model, test, train in groups] == [("s-ha", ds.years[-1], len(ds.years) - 2)]
    assert sorted(f.parent.name for f, _ in next(iter(groups.values()))) == ["s-ha-seed0", "s-ha-seed1"]


def test_a_group_that_gains_a_checkpoint_offers_all_of_them_again(two_seeds, trainable_real_env, no_clicks):  # noqa: F811
    from geoapp.training.yield_trainer import train_yield

    ds = load_dataset(trainable_real_env)
    at = _page(trainable_real_env)
    [(group, items)] = ensemble_groups(ds, two_seeds).items()
    members = at.multiselect(key=members_key(group, [f for f, _ in items]))
    at = members.set_value(members.value[:1]).run()  # the user keeps one; then a third seed finishes
    train_yield(tiny_real_config(ds, 2), ds, two_seeds / "user" / "yield" / "s-ha-seed2", progress=False)
    at = at.run()
    [(group, items)] = ensemble_groups(ds, two_seeds).items()
    members = at.multiselect(key=members_key(group, [f for f, _ in items]))
    assert members.value == [str(f) for f, _ in items] and len(items) == 3
