"""TensorBoard's HParams view of a grid sweep, read back from the event files the way TensorBoard reads them."""

from __future__ import annotations

import pandas as pd
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import metadata

from rnn_sweep.report.tensorboard_hparams import HPARAMS_EVENTS


def _hparams_content(folder) -> dict[str, bytes]:
    events = EventAccumulator(str(folder))
    events.Reload()
    return events.PluginTagToContent(metadata.PLUGIN_NAME)


@pytest.mark.slow
def test_a_grid_sweep_with_tensorboard_is_one_hparams_session_per_job(two_sweeps):
    without, with_tensorboard = two_sweeps
    assert not list(without.rglob(HPARAMS_EVENTS))  # train.tensorboard off: nothing written
    experiment = metadata.parse_experiment_plugin_data(
        _hparams_content(with_tensorboard)[metadata.EXPERIMENT_TAG])
    cells = next(info for info in experiment.hparam_infos if info.name == "cell")
    assert sorted(value.string_value for value in cells.domain_discrete.values) == ["gru", "simple_rnn"]
    assert "seed" not in {info.name for info in experiment.hparam_infos}
    results = pd.read_csv(with_tensorboard / "results.csv")
    for row in results.itertuples():
        session = with_tensorboard / str(row.run_dir).rsplit("/", 1)[-1] / "tensorboard"
        start = metadata.parse_session_start_info_plugin_data(
            _hparams_content(session)[metadata.SESSION_START_INFO_TAG])
        assert start.hparams["cell"].string_value == row.cell and "seed" not in start.hparams
        events = EventAccumulator(str(session))
        events.Reload()
        (accuracy,) = events.Tensors("test_accuracy")
        assert accuracy.tensor_proto.float_val[0] == pytest.approx(row.test_accuracy, abs=1e-6)
