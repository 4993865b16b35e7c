"""The one typed configuration of a run, loaded from TOML/YAML plus ``--set`` overrides.

Parameters go in, are validated once in :meth:`RunConfig.validate`, and are stored next to the
run's results, so a resumed or reproduced run reads exactly the same settings (scikit-learn style:
settings are not learned results).
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asyndbt.errors import ConfigError

METHODS = ("asyndbt", "sync-dbt", "cendbt", "bdpl", "demos-only", "fragment-only")


@dataclass
class TaskConfig:
    """Which task and how it is split (paper protocol sizes)."""

    name: str = "auto"  # "auto": sst2 when a data dir is configured, else the built-in synthetic task
    data_dir: str | None = None  # falls back to $ASYNDBT_DATA_DIR
    train_per_class: int = 10
    val_per_class: int = 10
    test_size: int = 200
    pool_per_class: int = 50


@dataclass
class PartitionConfig:
    """How the task's data is spread over workers."""

    workers: int = 3
    scheme: str = "iid"  # iid | dirichlet | quantity
    alpha: float = 0.5  # Dirichlet concentration for the skewed schemes
    test_mode: str = "shared"  # shared (paper) | own


@dataclass
class LLMConfig:
    """Which LLM scores the prompts."""

    backend: str = "llama.cpp"
    model: str | None = None  # embedded model name or a .gguf path; None = the default embedded model
    n_ctx: int = 2048
    threads: int | None = None
    cache: bool = True
    cache_path: str | None = None  # default: <run_dir>/../.cache/scores.sqlite


@dataclass
class VocabConfig:
    """Prompt-fragment vocabulary (BDPL-style PMI n-grams mined on each worker's own data)."""

    size: int = 50  # N (paper: 100)
    max_ngram: int = 3
    file: str | None = None  # one candidate per line; overrides mining


@dataclass
class SimulationConfig:
    """Virtual-clock simulator settings: stragglers, network, stopping, checkpoints."""

    max_worker_steps: int = 48  # total local steps over all workers: the LLM budget, equal across methods
    max_server_steps: int | None = None
    max_virtual_time: float | None = None  # seconds of virtual time
    eval_every: int = 6  # server steps between validation evaluations
    select_by_validation: bool = True  # export each worker's best prompt on validation (early stopping)
    checkpoint_every: int = 6
    network_median_s: float = 0.05  # lognormal network delay per message
    network_sigma: float = 1.0
    compute_sigma: float = 0.0  # lognormal jitter on each worker step's compute time
    compute: str = "tokens"  # tokens (deterministic cost model) | measured (wall-clock of the LLM call)
    seconds_per_token: float = 1.0e-3  # calibrates the token cost model (measured ~1e-3 s on 2 cores)
    speed_factors: list[float] | None = None  # per-worker compute slow-down multipliers
    straggler_factor: float = 1.0  # the last worker is this many times slower
    dropouts: list[dict[str, Any]] = field(default_factory=list)  # [{worker, at, until}] in virtual s


@dataclass
class RunConfig:
    """Everything that determines a run."""

    method: str = "asyndbt"
    seed: int = 0
    task: TaskConfig = field(default_factory=TaskConfig)
    partition: PartitionConfig = field(default_factory=PartitionConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)
    vocab: VocabConfig = field(default_factory=VocabConfig)
    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    algorithm: dict[str, Any] = field(default_factory=dict)  # AlgorithmConfig overrides
    output_dir: str = "runs"

    def validate(self) -> RunConfig:
        """Check every field once; raise ConfigError naming the field and the fix."""
        if self.method not in METHODS:
            raise ConfigError(f"method={self.method!r} is unknown; choose one of {', '.join(METHODS)}")
        _positive("partition.workers", self.partition.workers)
        if self.partition.scheme not in ("iid", "dirichlet", "quantity"):
            raise ConfigError(
                f"partition.scheme={self.partition.scheme!r} is unknown; use iid, dirichlet or quantity"
            )
        if self.partition.test_mode not in ("shared", "own"):
            raise ConfigError(f"partition.test_mode={self.partition.test_mode!r}; use shared or own")
        if self.partition.alpha <= 0:
            raise ConfigError(f"partition.alpha={self.partition.alpha} must be > 0 (e.g. 0.5)")
        for name in ("train_per_class", "val_per_class", "test_size", "pool_per_class"):
            _positive(f"task.{name}", getattr(self.task, name))
        if self.llm.backend not in ("llama.cpp", "openai"):
            raise ConfigError(f"llm.backend={self.llm.backend!r} is unknown; use llama.cpp or openai")
        _positive("llm.n_ctx", self.llm.n_ctx)
        _positive("vocab.size", self.vocab.size)
        _positive("vocab.max_ngram", self.vocab.max_ngram)
        sim = self.simulation
        _positive("simulation.max_worker_steps", sim.max_worker_steps)
        if sim.max_server_steps is not None:
            _positive("simulation.max_server_steps", sim.max_server_steps)
        _positive("simulation.eval_every", sim.eval_every)
        _positive("simulation.checkpoint_every", sim.checkpoint_every)
        if sim.compute not in ("tokens", "measured"):
            raise ConfigError(f"simulation.compute={sim.compute!r}; use tokens or measured")
        if min(sim.network_median_s, sim.network_sigma, sim.compute_sigma) < 0:
            raise ConfigError("simulation.network_median_s, network_sigma and compute_sigma must be >= 0")
        if sim.seconds_per_token <= 0:
            raise ConfigError(f"simulation.seconds_per_token={sim.seconds_per_token} must be > 0")
        if sim.straggler_factor < 1:
            raise ConfigError(f"simulation.straggler_factor={sim.straggler_factor} must be >= 1")
        if sim.speed_factors is not None:
            if len(sim.speed_factors) != self.partition.workers:
                raise ConfigError(
                    f"simulation.speed_factors has {len(sim.speed_factors)} entries for "
                    f"{self.partition.workers} workers; give one factor per worker"
                )
            if any(f <= 0 for f in sim.speed_factors):
                raise ConfigError("simulation.speed_factors must all be > 0")
        for d in sim.dropouts:
            if not {"worker", "at"} <= set(d):
                raise ConfigError(f"simulation.dropouts entry {d} needs keys worker and at (and optional until)")
            if not 0 <= int(d["worker"]) < self.partition.workers:
                raise ConfigError(f"simulation.dropouts worker {d['worker']} is out of range")
        if not isinstance(self.algorithm, dict):
            raise ConfigError("algorithm must be a table of AlgorithmConfig fields")
        return self

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every setting."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """Build from nested dicts, rejecting unknown keys with the list of valid ones."""
        data = dict(data)
        sections = {
            "task": TaskConfig,
            "partition": PartitionConfig,
            "llm": LLMConfig,
            "vocab": VocabConfig,
            "simulation": SimulationConfig,
        }
        kwargs: dict[str, Any] = {}
        valid_top = {f.name for f in dataclasses.fields(cls)}
        for key, value in data.items():
            if key not in valid_top:
                raise ConfigError(f"unknown config key {key!r}; valid keys: {', '.join(sorted(valid_top))}")
            if key in sections:
                if not isinstance(value, dict):
                    raise ConfigError(f"config section {key!r} must be a table, got {type(value).__name__}")
                kwargs[key] = _build_section(key, sections[key], value)
            else:
                kwargs[key] = value
        return cls(**kwargs)


def _build_section(name: str, section_cls: type, values: dict[str, Any]) -> Any:
    fields = {f.name: f for f in dataclasses.fields(section_cls)}
    for key in values:
        if key not in fields:
            raise ConfigError(f"unknown key {name}.{key}; valid keys: {', '.join(sorted(fields))}")
    return section_cls(**values)


def _positive(name: str, value: Any) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{name}={value!r} must be a positive number")


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML or YAML config file into a dict, with errors that name the file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist; check the path")
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        elif p.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        elif p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            raise ConfigError(f"config file {p} must end in .toml, .yaml, .yml or .json")
    except ConfigError:
        raise
    except Exception as exc:  # parser errors from three libraries; re-raised with the file name
        raise ConfigError(f"config file {p} could not be parsed: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p} must hold a table/mapping at the top level")
    return data


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides; values are parsed as JSON when possible."""
    out = json.loads(json.dumps(data))
    for item in overrides:
        if "=" not in item:
            raise ConfigError(
                f"override {item!r} must look like section.key=value (e.g. simulation.max_server_steps=10)"
            )
        dotted, raw = item.split("=", 1)
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = out
        parts = dotted.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a section")
        node[parts[-1]] = value
    return out


def build_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Load, override and validate a run configuration."""
    data = load_config_file(path) if path else {}
    data = apply_overrides(data, overrides or [])
    try:
        cfg = RunConfig.from_dict(data)
    except TypeError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from exc
    return cfg.validate()
