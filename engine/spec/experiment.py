"""Experiment specs (pydantic): a validated grid that expands into Runs with stable ids."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from langprune.cellid import cell_id, uses_calibration
from langprune.engine.spec.languages import check_code, parse_calibration_language
from langprune.engine.spec.tasks import TASK_FAMILIES, task_index
from langprune.vocab import DENSE, OWL_METHODS, canonical_sparsity

CORPUS_SOURCES = ("hf", "files", "handbook", "synthetic")
MODEL_SOURCES = ("auto", "hub", "local", "gguf", "random", "package")


class Strict(BaseModel):
    """Base for every spec: unknown keys are errors and types are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _unique(values: list[Any], what: str) -> list[Any]:
    seen = set()
    for v in values:
        if v in seen:
            raise ValueError(f"{what} {v!r} is listed twice")
        seen.add(v)
    return values


class ModelSpec(Strict):
    """A model to prune: hub id, local directory, GGUF file, 'random:<arch>-<size>' or
    'package:<python package>' (a model shipped inside a pip package)."""

    id: str = Field(min_length=1)
    label: str | None = None
    source: Literal["auto", "hub", "local", "gguf", "random", "package"] = "auto"
    gguf_file: str | None = None
    revision: str | None = None
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    device: Literal["auto", "cuda", "cpu"] = "auto"
    trust_remote_code: bool = False
    offload: bool = False

    @property
    def kind(self) -> str:
        """The source, resolved from the id's syntax when 'auto' (no file-system look-ups)."""
        if self.source != "auto":
            return self.source
        if self.id.startswith("random:"):
            return "random"
        if self.id.startswith("package:"):
            return "package"
        if self.id.endswith(".gguf") or self.gguf_file:
            return "gguf"
        if self.id.startswith(("/", "./", "../", "~")):
            return "local"
        return "hub"

    @property
    def name(self) -> str:
        return self.label or self.id.rsplit("/", 1)[-1].removeprefix("random:")


class CorpusSpec(Strict):
    """A text source: hf (a Hugging Face dataset), files, handbook or synthetic, with options."""

    source: str = "hf"
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("source")
    @classmethod
    def _known_source(cls, v: str) -> str:
        if v not in CORPUS_SOURCES:
            raise ValueError(f"unknown corpus source {v!r} (allowed: {', '.join(CORPUS_SOURCES)})")
        return v


class OwlSpec(Strict):
    """OWL's hyperparameters (luuyin/OWL README scripts: --Hyper_m 5 --Lamda 0.08): a score is an
    outlier above m x its layer's mean; layer sparsities span [s - lambda, s + lambda]."""

    m: float = Field(default=5.0, gt=0)
    lam: float = Field(default=0.08, ge=0, lt=0.5, alias="lambda")

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


class RiaSpec(Strict):
    """RIA's activation exponent (reference main.py --a, default 0.5)."""

    a: float = Field(default=0.5, ge=0)


class PruningSpec(Strict):
    methods: list[
        Literal[
            "magnitude", "wanda", "sparsegpt", "ria", "magnitude_owl", "wanda_owl", "sparsegpt_owl"
        ]
    ] = Field(min_length=1)
    sparsity: list[float | str] = Field(min_length=1)
    owl: OwlSpec = Field(default_factory=OwlSpec)  # read by the *_owl methods
    ria: RiaSpec = Field(default_factory=RiaSpec)  # read by ria

    @model_validator(mode="after")
    def _owl_unstructured(self) -> PruningSpec:
        owl = [m for m in self.methods if m in OWL_METHODS]
        nm = [str(s) for s in self.sparsity if ":" in str(s)]
        if owl and nm:
            raise ValueError(
                f"methods {owl} give each layer its own unstructured sparsity: sparsity {nm} is "
                "N:M (use a ratio such as 0.5, or a method without _owl for N:M)"
            )
        for s in self.sparsity:
            if owl and ":" not in str(s) and not float(s) + self.owl.lam < 1:
                raise ValueError(
                    f"sparsity {s} + owl.lambda {self.owl.lam} reaches 1: some layer would be "
                    "pruned whole (lower owl.lambda or the sparsity)"
                )
        return self

    def options(self, method: str) -> dict[str, float] | None:
        """The options a method's run carries (hashed into its id); None for the methods that
        have none, so their run ids stay what they were."""
        if method in OWL_METHODS:
            return {"owl_m": self.owl.m, "owl_lambda": self.owl.lam}
        if method == "ria":
            return {"a": self.ria.a}
        return None

    @field_validator("methods")
    @classmethod
    def _methods_unique(cls, v: list[str]) -> list[str]:
        return _unique(v, "method")

    @field_validator("sparsity", mode="before")
    @classmethod
    def _canonical(cls, v: object) -> object:
        if not isinstance(v, list):
            return v
        return _unique([canonical_sparsity(x) for x in v], "sparsity")


# The largest numbers a spec accepts. Seeds go into the store's 64-bit columns (store/schema.py,
# version 5); counts and sizes get a 32-bit bound, far beyond any real grid.
INT64_MAX = 2**63 - 1
SIZE_MAX = 2**31 - 1


class CalibrationSpec(Strict):
    languages: list[str] = Field(min_length=1)
    corpus: CorpusSpec = Field(default_factory=CorpusSpec)
    nsamples: int = Field(default=128, gt=0, le=SIZE_MAX)
    seqlen: int = Field(default=2048, gt=0, le=SIZE_MAX)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)

    @field_validator("languages")
    @classmethod
    def _languages(cls, v: list[str]) -> list[str]:
        canonical = [parse_calibration_language(x) for x in v]
        first: dict[str, str] = {}
        for given, mix in zip(v, canonical, strict=True):
            if mix in first and first[mix] != given:
                raise ValueError(
                    f"{first[mix]!r} and {given!r} are the same mix (the order of a mix does "
                    f"not matter, both are {mix!r}): list it once"
                )
            first.setdefault(mix, given)
        return _unique(canonical, "language")

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int]) -> list[int]:
        for s in v:
            if s < 0:
                raise ValueError(f"seed {s} is negative (seeds are integers from 0 to {INT64_MAX})")
            if s > INT64_MAX:
                raise ValueError(
                    f"seed {s} is out of range (seeds are integers from 0 to {INT64_MAX})"
                )
        return _unique(v, "seed")


class TaskSpec(Strict):
    """An lm-eval task family evaluated in some languages (default: the evaluation languages)."""

    family: str = Field(min_length=1)
    languages: list[str] | None = None
    num_fewshot: int = Field(default=0, ge=0, le=SIZE_MAX)
    limit: int | float | None = None
    batch_size: Annotated[int, Field(gt=0, le=SIZE_MAX)] | Literal["auto"] = 8

    @field_validator("languages")
    @classmethod
    def _languages(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else _unique([check_code(x) for x in v], "language")

    @field_validator("limit")
    @classmethod
    def _limit(cls, v: float | None) -> float | None:
        if v is not None and not (0 < v <= SIZE_MAX):
            raise ValueError(
                f"limit {v!r} must be > 0 and at most {SIZE_MAX} (a count, or a fraction below 1)"
            )
        return v


class EvaluationSpec(Strict):
    languages: list[str] = Field(default_factory=list)
    corpus: CorpusSpec | None = None
    max_tokens: int = Field(default=131072, gt=0, le=INT64_MAX)
    seqlen: int | None = Field(default=None, gt=0, le=SIZE_MAX)
    batch_size: int = Field(default=4, gt=0, le=SIZE_MAX)
    tasks: list[TaskSpec] = Field(default_factory=list)
    task_paths: list[str] = Field(default_factory=list)

    @field_validator("languages")
    @classmethod
    def _languages(cls, v: list[str]) -> list[str]:
        return _unique([check_code(x) for x in v], "language")


def sbatch_text_problem(value: str) -> str | None:
    """Why `value` cannot go into a `#SBATCH` line (a control character such as a newline would
    end the line and run the rest as a command in the batch script), or None."""
    for i, ch in enumerate(value):
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            return (
                f"contains a control character ({ch!r} at position {i}); sbatch options are "
                "one line of printable text"
            )
    return None


SBATCH_OPTION = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


class SlurmSpec(Strict):
    """[runner.slurm]: what reaches sbatch. Every text is one printable line (checked here)."""

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    time: str = "12:00:00"
    array_parallelism: int = Field(default=16, gt=0, le=SIZE_MAX)
    gpus_per_task: int = Field(default=1, gt=0, le=SIZE_MAX)
    cpus_per_task: int = Field(default=8, gt=0, le=SIZE_MAX)
    mem_gb: int = Field(default=64, gt=0, le=SIZE_MAX)
    extra: dict[str, str | int] = Field(default_factory=dict)

    @field_validator("partition", "account", "qos", "time")
    @classmethod
    def _one_line(cls, v: str | None) -> str | None:
        problem = None if v is None else sbatch_text_problem(v)
        if problem:
            raise ValueError(f"{v!r} {problem}")
        return v

    @field_validator("extra")
    @classmethod
    def _options(cls, v: dict[str, str | int]) -> dict[str, str | int]:
        for key, value in v.items():
            if not SBATCH_OPTION.fullmatch(key):
                raise ValueError(
                    f"{key!r} is not an sbatch option name (letters, digits, '-' and '_', "
                    "e.g. constraint or gres)"
                )
            problem = sbatch_text_problem(str(value))
            if problem:
                raise ValueError(f"{key} = {value!r} {problem}")
        return v


class RunnerSpec(Strict):
    executor: Literal["local", "slurm"] = "local"
    gpus: list[Annotated[int, Field(ge=0, le=SIZE_MAX)]] | Literal["all"] = "all"
    slots_per_gpu: int = Field(default=1, gt=0, le=SIZE_MAX)
    slurm: SlurmSpec = Field(default_factory=SlurmSpec)


class AnalysisSpec(Strict):
    """The [analysis] table: which analyses a pruned cell runs after its evaluation (not part of
    the run id: analyses add files, they never change a metric). None = on for small models
    (at most 1e9 parameters, engine/analysis/stage.py SMALL_MODEL_PARAMS), off otherwise.

    mask_rows: "auto" keeps full masks for tiny models (at most 2**24 parameters) and
    1/8 of the rows of every matrix otherwise (1 bit per kept weight = 1/128 of the bf16 size,
    0.78% before compression, under the 2% budget); "all" always full; a number in (0, 1] is the
    row fraction. neurons: LAPE thresholds of the reference code (engine/analysis/neurons.py).
    drift and neurons read the first `windows` windows of `seqlen` held-out tokens per evaluation
    language (seqlen default: min(evaluation seqlen, 512)).
    """

    masks: bool = True
    mask_rows: float | Literal["auto", "all"] = "auto"
    neurons: bool | None = None
    drift: bool | None = None
    windows: int = Field(default=4, gt=0, le=SIZE_MAX)
    seqlen: int | None = Field(default=None, gt=0, le=SIZE_MAX)
    top_rate: float = Field(default=0.05, gt=0, le=1)
    filter_rate: float = Field(default=0.95, ge=0, le=1)
    activation_bar_ratio: float = Field(default=0.95, ge=0, le=1)

    @field_validator("mask_rows")
    @classmethod
    def _rows(cls, v: float | str) -> float | str:
        if isinstance(v, (int, float)) and not 0 < v <= 1:
            raise ValueError(f"mask_rows {v!r} must be in (0, 1], or 'auto' or 'all'")
        return v


class Experiment(Strict):
    name: str = Field(min_length=1)
    description: str = ""
    models: list[ModelSpec] = Field(min_length=1)
    pruning: PruningSpec
    calibration: CalibrationSpec
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)
    runner: RunnerSpec = Field(default_factory=RunnerSpec)
    analysis: AnalysisSpec = Field(default_factory=AnalysisSpec)
    dense_baseline: bool = True

    @model_validator(mode="after")
    def _tasks_exist(self) -> Experiment:
        problems = []
        if not self.evaluation.tasks:
            return self
        index = task_index(self.evaluation.task_paths)
        for i, task in enumerate(self.evaluation.tasks):
            table = TASK_FAMILIES.get(task.family)
            if table is not None and task.languages is not None:
                # explicit languages must exist; inherited ones are taken where the family has them
                missing = [lang for lang in task.languages if lang not in table]
                if missing:
                    problems.append(
                        f"evaluation.tasks[{i}].languages: {task.family} has no "
                        f"{', '.join(missing)} (it has: {' '.join(sorted(table))})"
                    )
            if index.knows(task.family):
                continue
            known = ", ".join(index.allowed())
            problems.append(
                f"evaluation.tasks[{i}].family: unknown task family {task.family!r} "
                f"(allowed: {known}, or a task defined in evaluation.task_paths)"
            )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def runs(self) -> list[Run]:
        """The grid: dense baselines first, then model x method x sparsity x language x seed.

        A calibration-free method (magnitude) is one run per model and sparsity: it keeps the
        first calibration language and seed of the grid, so its run id is the one it always had.
        """
        ev = resolved_evaluation(self.evaluation, self.calibration)
        first = (self.calibration.languages[0], self.calibration.seeds[0])
        out: list[Run] = []
        for model in self.models:
            if self.dense_baseline:
                out.append(Run.make(self.name, model, DENSE, None, None, None, ev))
            cells = itertools.product(
                self.pruning.methods,
                self.pruning.sparsity,
                self.calibration.languages,
                self.calibration.seeds,
            )
            for method, sparsity, lang, seed in cells:
                if not uses_calibration(method) and (lang, seed) != first:
                    continue
                out.append(
                    Run.make(
                        self.name,
                        model,
                        method,
                        str(sparsity),
                        lang,
                        seed,
                        ev,
                        self.calibration,
                        analysis=self.analysis,
                        options=self.pruning.options(method),
                    )
                )
        return out


def resolved_evaluation(ev: EvaluationSpec, cal: CalibrationSpec) -> EvaluationSpec:
    """Fill defaults that depend on the calibration: corpus, seqlen, task languages."""
    tasks = [
        t if t.languages is not None else t.model_copy(update={"languages": list(ev.languages)})
        for t in ev.tasks
    ]
    return ev.model_copy(
        update={
            "corpus": ev.corpus or cal.corpus,
            "seqlen": ev.seqlen or cal.seqlen,
            "tasks": tasks,
        }
    )


class Run(BaseModel):
    """One cell of the grid, fully resolved. Its id is a hash of everything that shapes its result."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    experiment: str
    model: ModelSpec
    method: str
    sparsity: str | None
    calibration_language: str | None
    corpus: CorpusSpec | None
    nsamples: int | None
    seqlen: int | None
    seed: int | None
    evaluation: EvaluationSpec
    options: dict[str, float] | None = None  # method options (RIA's a, OWL's m and lambda)
    analysis: AnalysisSpec | None = None  # not hashed into the id

    @property
    def is_dense(self) -> bool:
        return self.method == DENSE

    @property
    def cell_id(self) -> str:
        """What the pruned model is, apart from its evaluation (see `langprune.cellid`)."""
        return cell_id(self.config())

    @classmethod
    def make(
        cls,
        experiment: str,
        model: ModelSpec,
        method: str,
        sparsity: str | None,
        language: str | None,
        seed: int | None,
        evaluation: EvaluationSpec,
        calibration: CalibrationSpec | None = None,
        *,
        analysis: AnalysisSpec | None = None,
        options: dict[str, float] | None = None,
    ) -> Run:
        fields: dict[str, Any] = {
            "model": model,
            "method": method,
            "sparsity": sparsity,
            "calibration_language": language,
            "corpus": calibration.corpus if calibration else None,
            "nsamples": calibration.nsamples if calibration else None,
            "seqlen": calibration.seqlen if calibration else None,
            "seed": seed,
            "evaluation": evaluation,
        }
        if (
            options is not None
        ):  # absent otherwise: the ids of runs without options stay as they were
            fields["options"] = dict(options)
        return cls(id=run_id(fields), experiment=experiment, analysis=analysis, **fields)

    def config(self) -> dict[str, Any]:
        """The identity of the run as plain JSON data (what its id hashes)."""
        exclude = {"id", "experiment", "analysis"} | (
            {"options"} if self.options is None else set()
        )
        return identity(self.model_dump(mode="json", exclude=exclude))


def identity(config: dict[str, Any]) -> dict[str, Any]:
    """Drop what does not change a result (labels) from a run config."""
    config = json.loads(json.dumps(config, default=_jsonable))
    config["model"].pop("label", None)
    return config


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    raise TypeError(f"not JSON-serializable: {obj!r}")


def run_id(fields: dict[str, Any]) -> str:
    """12 hex characters of SHA-256 over canonical JSON: same config -> same id, any key order."""
    canonical = json.dumps(identity(fields), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]
