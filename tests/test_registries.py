"""The extension points are registries: the cells (rnn_sweep.config.cells) and the launchers
(rnn_sweep.sweep.launchers). What each entry says reaches validation, the speed plan and the thread budget."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from helpers.config import compose_config, typed_config
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from rnn_sweep.config.cells import CELLS, Cell, cell_entry, register_cell, unregister_cell
from rnn_sweep.config.paths import conf_dir
from rnn_sweep.config.schema import ModelConfig, register, ruled
from rnn_sweep.config.validate import validate
from rnn_sweep.errors import ConfigError
from rnn_sweep.sweep.launchers import BASIC, LAUNCHERS, launcher_traits, threads_per_job
from rnn_sweep.train.speed import plan_speed


def test_every_model_yaml_is_a_registered_cell_and_back():
    assert sorted(CELLS) == sorted(path.stem for path in (conf_dir() / "model").glob("*.yaml"))
    for name in CELLS:
        assert typed_config(f"model={name}").model.cell == name


def test_an_unregistered_cell_is_a_named_error_in_the_speed_plan_not_a_key_error():
    cfg = typed_config("model=gru")
    model = OmegaConf.merge(OmegaConf.to_container(cfg.model), {"cell": "tiny_cell"})
    with pytest.raises(ConfigError, match="Unknown model.cell 'tiny_cell'. Registered cells: simple_rnn, lstm, gru"):
        plan_speed(model, cfg.train, time_steps=28, training_steps=5000, steps_per_epoch=422, on_gpu=False)


@pytest.mark.parametrize(("cell", "on_gpu_unroll", "projects"), [("simple_rnn", True, False), ("lstm", False, False),
                                                                   ("gru", False, True)])
def test_the_speed_plan_follows_the_registry_entry(cell, on_gpu_unroll, projects):
    """cuDNN cells stay rolled on a GPU; only a cell with a projected layer projects its inputs."""
    cfg = typed_config(f"model={cell}")
    plan = plan_speed(cfg.model, cfg.train, time_steps=28, training_steps=5000, steps_per_epoch=422, on_gpu=True)
    assert (plan.unroll, plan.project_inputs) == (on_gpu_unroll, projects)
    assert cell_entry(cell).cudnn == (not on_gpu_unroll)


@dataclass
class PlainConfig(ModelConfig):
    cell: str = ruled("plain", choices=CELLS)


def test_a_cell_without_a_sharded_layer_refuses_batch_shards_before_training():
    """The entry names its layer by a dotted path that is never imported here: validation needs no Keras."""
    register_cell(Cell("plain", PlainConfig, layer="no_such_package.PlainRNN", gates=1))
    try:
        composed = compose_config("model=simple_rnn", "model.batch_shards=2")
        composed.model.cell = "plain"
        with pytest.raises(ConfigError, match="model.batch_shards=2, but the plain cell has no sharded layer"):
            validate(composed)
        composed.model.batch_shards = "auto"
        assert validate(composed).model.cell == "plain"
        assert validate(compose_config("model=simple_rnn", "model.batch_shards=2")).model.batch_shards == 2
    finally:
        unregister_cell("plain")


def _launcher_options() -> list[str]:
    register()
    with initialize_config_dir(str(conf_dir()), version_base="1.3"):
        return GlobalHydra.instance().config_loader().get_group_options("hydra/launcher")


def test_every_installed_launcher_has_an_entry():
    """A launcher Hydra offers but the registry does not know would silently get the basic launcher's traits."""
    options = _launcher_options()
    assert {"basic", "joblib", "slurm"} <= set(options)
    for option in options:
        launcher = compose_config(f"hydra/launcher={option}", hydra=True).hydra.launcher
        assert launcher._target_ in LAUNCHERS, f"hydra/launcher={option} ({launcher._target_}) has no entry"


@pytest.mark.parametrize(("overrides", "jobs", "threads"), [
    (("hydra/launcher=basic",), 4, None),  # one job at a time: TensorFlow's default, every core
    (("hydra/launcher=joblib", "hydra.launcher.n_jobs=2"), 4, 4),  # two jobs side by side on 8 cores
    (("hydra/launcher=joblib", "hydra.launcher.n_jobs=-1"), 4, 2),  # a job per core, but only 4 jobs
    (("hydra/launcher=joblib", "hydra.launcher.n_jobs=2"), 1, 8),  # a sweep of one job
    (("hydra/launcher=slurm", "hydra.launcher.cpus_per_task=3"), 4, 3),  # the CPUs each SLURM job asked for
])
def test_threads_per_job_come_from_the_launcher_entry(overrides, jobs, threads):
    launcher = compose_config(*overrides, hydra=True).hydra.launcher
    assert threads_per_job(launcher, jobs, cores=8) == threads


def test_a_launcher_without_an_entry_runs_like_the_basic_one():
    launcher = OmegaConf.create({"_target_": "my_plugins.RayLauncher", "n_jobs": 8, "cpus_per_task": 4})
    assert launcher_traits(launcher) is BASIC and threads_per_job(launcher, 8, cores=8) is None
    slurm = compose_config("hydra/launcher=slurm", hydra=True).hydra.launcher
    assert launcher_traits(slurm).on_slurm and not launcher_traits(compose_config(hydra=True).hydra.launcher).on_slurm
