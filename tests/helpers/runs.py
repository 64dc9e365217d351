"""The settings of the tiny runs tests train, in one place: each test file picks the one its checks need.

They stay small enough for a 2-core CI machine (hundreds of images, one or two epochs, 4-32 units); where they
differ, the comment says what the difference is for. Tests that use them train, so they are marked `slow`.
"""

from __future__ import annotations

# Every tiny run trains on the CPU and saves no model.
_CPU_UNSAVED = ("train.save_model=false", "train.device=cpu")

# The default: 2 epochs of 300 images, 8 units, the same numbers every time.
TINY = ("model.units=8", "data.limit_train=300", "data.limit_test=100", "train.epochs=2", "train.batch_size=64",
        *_CPU_UNSAVED, "train.deterministic=true")

# The grid of conftest's two_sweeps (seed=1, and seed=2 with TensorBoard): a test that resumes one adds its seed.
TWO_SWEEPS_GRID = ("-m", "model=simple_rnn,gru", *TINY)

# The grid conftest's grid_sweep trains once: 3 cells x 2 sizes, six graphs, one epoch of 600 images each.
SHARED_GRID = ("-m", "model=simple_rnn,lstm,gru", "model.units=4,8", "data.limit_train=600", "data.limit_test=200",
               "train.epochs=1", "train.save_model=false")

# The grid conftest's seeded_grid trains once: 2 cells x 2 sizes on 2 seeds, one epoch of 300 images each.
SEEDED_GRID = ("-m", "model=simple_rnn,gru", "model.units=4,8", "seeds=2", "data.limit_train=300",
               "data.limit_test=200", "train.epochs=1", *_CPU_UNSAVED)

# Big enough to learn something in seconds (about 0.55 test accuracy for a GRU of 32 units), small enough for CI.
LEARNS = ("model=gru", "data.limit_train=600", "data.limit_test=500", "train.batch_size=16",
          "optimizer.learning_rate=0.01", *_CPU_UNSAVED, "train.deterministic=true")

# Races: one short epoch, so a race's rounds train in seconds; the test picks the learning rates (1e-6 learns nothing
# in one epoch, 0.01 a little).
RACE_TINY = ("model=gru", "model.units=16", "data.limit_train=300", "data.limit_test=200", "train.epochs=1",
             "train.batch_size=16", *_CPU_UNSAVED, "train.deterministic=true")

# SLURM jobs: one epoch, and test sets of one size for every job of the grid.
CLUSTER_TINY = ("data.limit_train=256", "data.limit_test=256", "train.epochs=1", "model.units=8",
                *_CPU_UNSAVED, "train.deterministic=true")

# Commands run side by side: one short epoch each, in large batches.
SIDE_BY_SIDE_TINY = ("model=simple_rnn", "model.units=8", "data.limit_train=256", "data.limit_test=128",
                     "train.epochs=1", "train.batch_size=128", *_CPU_UNSAVED)

# A sweep of many tiny epochs would train its jobs side by side (train.parallel_jobs=auto): tests that stop or crash
# the job a sweep is training, one after another, ask for one at a time (side by side: tests/test_side_by_side.py, and
# hydra/launcher=joblib in the tests that name it).
_ONE_AT_A_TIME = ("train.parallel_jobs=1",)

# Faults: the test sets the units and epochs (a run stopped in its first epoch, or one that finishes).
FAULTS_TINY = ("model=simple_rnn", "data.limit_train=300", "data.limit_test=100", "train.batch_size=64",
               *_CPU_UNSAVED, *_ONE_AT_A_TIME)

# Searches: the data only; the search space picks the units, the test the epochs.
SEARCH_DATA = ("data.limit_train=512", "data.limit_test=128", *_CPU_UNSAVED, "train.deterministic=true")

# Signals: large batches, so a run is between steps often; the test sets the epochs (500: still running when stopped).
SIGNAL_TINY = ("model=simple_rnn", "model.units=8", "data.limit_train=512", "data.limit_test=128",
               "train.batch_size=256", *_CPU_UNSAVED, *_ONE_AT_A_TIME)

# Live progress: small batches, so an epoch has steps enough to draw; the test sets the training images.
PROGRESS_SMALL = ("model=gru", "model.units=8", "data.limit_test=200", "train.epochs=2", "train.batch_size=32",
                  *_CPU_UNSAVED)

# A preset's own settings, cut to one epoch of 100 images.
PRESET_QUICK = ["train.epochs=1", "data.limit_train=100", "data.limit_test=50", "train.save_model=false"]
