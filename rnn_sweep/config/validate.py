"""Check a composed config against the schema and turn every problem into one readable paragraph.

Runs before TensorFlow is imported, on configs composed from conf/ and on configs saved in a run folder
(which carry no schema of their own), so a bad value never costs a training run.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections.abc import Sequence
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import (
    ConfigAttributeError,
    ConfigKeyError,
    InterpolationKeyError,
    OmegaConfBaseException,
    ValidationError,
)

from rnn_sweep.config.cells import CELLS, Cell, cell_entry, resolve
from rnn_sweep.config.schema import (
    AUTO,
    DATA_SCHEMAS,
    DATASETS,
    OPTIMIZER_SCHEMAS,
    OPTIMIZERS,
    Config,
    PresetConfig,
    Rule,
    TrainConfig,
)
from rnn_sweep.errors import ConfigError

# What a user types to pick each group option, and the options in the order the docs list them.
GROUP_CHOICES = {
    "model": ("model.cell", CELLS), "optimizer": ("optimizer.name", OPTIMIZERS), "data": ("data.name", DATASETS),
}


def validate(cfg: DictConfig) -> DictConfig:
    """Return `cfg` merged into its schema with interpolations resolved; raise ConfigError if it is invalid."""
    schema = _schema_for(cfg)
    try:
        given = OmegaConf.to_container(cfg, resolve=False)
        _refuse_unknown_keys(schema, given, prefix="")
        # As plain data: a composed config is typed already and would bring an added key (`+model.foo=1`) along.
        typed = OmegaConf.merge(schema, OmegaConf.create(given))
        OmegaConf.resolve(typed)
    except InterpolationKeyError as error:  # OmegaConf.resolve does not say which key held it
        raise _unresolved(error, given) from None
    except OmegaConfBaseException as error:
        raise explain_omegaconf_error(error, typed_node=schema) from None
    _check_rules(typed, prefix="")
    _check_steps_per_execution(typed.train)
    _check_batch_shards(typed.model)
    return typed


def _schema_for(cfg: DictConfig) -> DictConfig:
    """The typed skeleton matching the chosen cell and optimizer, so their own keys are allowed."""
    return _schema(cell_entry(_group_choice(cfg, "model")), _group_choice(cfg, "optimizer"), _group_choice(cfg, "data"))


@functools.lru_cache(maxsize=64)
def _schema(cell: Cell, optimizer: str, data: str) -> DictConfig:
    """Built once per combination (OmegaConf.structured takes about 13 ms) and never changed: merging a config into
    it works on a copy."""
    return OmegaConf.structured(
        Config(
            model=resolve(cell.schema)(),
            optimizer=OPTIMIZER_SCHEMAS[optimizer](),
            data=DATA_SCHEMAS[data](),
            train=TrainConfig(),
            preset=PresetConfig(),
        )
    )


def _refuse_unknown_keys(schema: DictConfig, given: dict, prefix: str) -> None:
    """A key the schema does not know (`+model.foo=1`) is an error, not silently carried along; the schema's own
    open maps (a preset's reported_trajectory) take any key."""
    for key, value in given.items():
        if key not in schema:
            raise unknown_key(f"{prefix}{key}", schema, prefix)
        node = schema._get_node(key)
        if isinstance(value, dict) and isinstance(node, DictConfig) and dataclasses.is_dataclass(
                OmegaConf.get_type(node)):
            _refuse_unknown_keys(node, value, prefix=f"{prefix}{key}.")


def unknown_key(key: str, node: DictConfig | None, parent: str = "") -> ConfigError:
    """Name the unknown key and the keys allowed beside it."""
    known = sorted(node.keys()) if isinstance(node, DictConfig) else []
    parent = parent.rstrip(".")
    where = f"under '{parent}'" if parent else "at the top level"
    allowed = f" Keys allowed {where}: {', '.join(known)}." if known else ""
    return ConfigError(
        f"Unknown config key '{key}'.{allowed} Check the spelling (and that the option belongs to the "
        f"chosen cell or optimizer); `rnn-sweep --cfg job` prints every key with its value."
    )


def _group_choice(cfg: DictConfig, group: str) -> str:
    key, allowed = GROUP_CHOICES[group]
    value = OmegaConf.select(cfg, key, default=None)
    if value not in allowed:
        raise unknown_option(group, value, allowed)
    return value


def unknown_option(group: str, value: Any, allowed: Sequence[str]) -> ConfigError:
    return ConfigError(
        f"Unknown {group} {value!r}. Allowed {group} options: {', '.join(allowed)}. "
        f"Choose one on the command line, for example `{group}={allowed[0]}`."
    )


def _check_rules(node: DictConfig, prefix: str) -> None:
    schema_type = OmegaConf.get_type(node)
    if not dataclasses.is_dataclass(schema_type):
        return
    for schema_field in dataclasses.fields(schema_type):
        key = f"{prefix}{schema_field.name}"
        value = node[schema_field.name]
        if isinstance(value, DictConfig):
            _check_rules(value, prefix=f"{key}.")
            continue
        rule: Rule | None = schema_field.metadata.get("rule")
        if rule is not None and not rule.allows(value):
            finite = "a finite number " if isinstance(value, float) and not math.isfinite(value) else ""
            example = override_text(_example(rule, schema_field.default))
            raise ConfigError(
                f"Invalid value {key}={override_text(value)}: it must be {finite}{rule.describe()}. "
                f"Fix it on the command line, for example `{key}={example}`."
            )


def _check_steps_per_execution(train: DictConfig) -> None:
    """Callbacks only see every N-th step, so step counts they act on must be multiples of N."""
    every = train.steps_per_execution
    if every == AUTO:
        return
    for key in ("steps", "eval_every", "first_eval_step"):
        value = train[key]
        if value is not None and value % every:
            raise ConfigError(
                f"train.{key}={value} is not a multiple of train.steps_per_execution={every}: training stops and "
                f"evaluates only between executions of {every} steps. Use train.steps_per_execution=auto (it picks "
                f"a divisor) or a value that divides {value}."
            )


def _check_batch_shards(model: DictConfig) -> None:
    """Only a cell whose registry entry has a sharded layer (rnn_sweep.config.cells) can split its batches."""
    shards = model.batch_shards
    if shards not in (AUTO, 1) and cell_entry(model.cell).sharded is None:
        raise ConfigError(
            f"model.batch_shards={shards}, but the {model.cell} cell has no sharded layer, so it cannot split its "
            "batches. Use model.batch_shards=auto or 1."
        )


def override_text(value: Any) -> str:
    """`value` as it is typed in an override (null, true, 0.001), so a suggested fix is accepted as written."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _example(rule: Rule, default: Any) -> Any:
    if rule.kind is not None:
        return AUTO
    if rule.choices is not None:
        return rule.choices[0]
    return default


def explain_omegaconf_error(error: OmegaConfBaseException, typed_node: DictConfig | None = None) -> ConfigError:
    """Say which key was wrong and what is allowed there, instead of OmegaConf's internal wording."""
    key = getattr(error, "full_key", None) or getattr(error, "key", None) or "?"
    if isinstance(error, (ConfigKeyError, ConfigAttributeError)):
        parent_key, _, _ = str(key).rpartition(".")
        node = OmegaConf.select(typed_node, parent_key) if typed_node is not None and parent_key else typed_node
        return unknown_key(str(key), node, parent_key)
    if isinstance(error, ValidationError):
        return ConfigError(
            f"Invalid value for '{key}': {_first_line(error)}. `rnn-sweep --cfg job` shows the key's current value."
        )
    return ConfigError(f"Invalid config at '{key}': {_first_line(error)}")


def _unresolved(error: InterpolationKeyError, given: dict[str, Any]) -> ConfigError:
    """Name the key whose interpolation points nowhere, and what one may point to (Hydra's `hydra.*` keys, which a
    Hydra user reaches for first, are not part of a job's config)."""
    missing = re.search(r"'([^']+)'", str(error))
    target = missing.group(1) if missing else ""
    holders = [f"{key}={value}" for key, value in _leaves(given) if isinstance(value, str) and "${" in value
               and (not target or target in value)]
    return ConfigError(
        f"{', '.join(holders) or 'An interpolation'}: {_first_line(error)}. An interpolation in a job's config may "
        "name another of its keys (`${model.units}`) or an environment variable (`${oc.env:NAME}`), not Hydra's own "
        "keys (`hydra.*`), which are no part of it; for one seed per job, sweep `seeds=N`."
    )


def _leaves(tree: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    leaves = []
    for key, value in tree.items():
        if isinstance(value, dict):
            leaves += _leaves(value, f"{prefix}{key}.")
        else:
            leaves.append((f"{prefix}{key}", value))
    return leaves


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
